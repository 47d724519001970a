#!/usr/bin/env node
// Validates FHIR R4 JSON documents against HL7's fhir.schema.json (R4, 4.0.1) with Ajv 6 (the
// schema is draft-06). install-schema.py puts the schema in place; this refuses any other file.
//
// stdin: one JSON document per line. stdout: one line per input line, in order:
//   {"i": <line number from 0>, "valid": true|false, "errors": [{"path", "message"}...]}
// `--info` prints what is in use (Ajv, schema path, id and SHA-256) and exits.
//   FHIR_CHECK_SCHEMA    the schema file (default: fhir-check/.schema/fhir.schema.json)
//   FHIR_CHECK_NODE_DIR  the directory whose node_modules holds ajv (default: fhir-check)
//
// The verdict is the whole schema's (a `oneOf` over every resource type). When a document fails,
// the errors are explained per resource: the document is checked against its own type's definition,
// and every resource nested in it (Bundle.entry.resource, contained, an OperationOutcome in a
// response, Parameters.parameter.resource) against its own, each reported at its path; so one bad
// field in one entry gives one error, not a failure of every branch of the oneOf.
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const readline = require('readline');
const { createRequire } = require('module');

const source = JSON.parse(fs.readFileSync(path.join(__dirname, 'schema-source.json'), 'utf8'));
const SCHEMA_ID = 'http://hl7.org/fhir/json-schema/4.0';
const SCHEMA_DIALECT = 'http://json-schema.org/draft-06/schema#';

function die(msg) {
  process.stderr.write(`schema-validate: ${msg}\n`);
  process.exit(2);
}

const schemaPath = process.env.FHIR_CHECK_SCHEMA || path.join(__dirname, '.schema', 'fhir.schema.json');
if (!fs.existsSync(schemaPath)) die(`${schemaPath} is missing: run install-schema.py first`);
const schemaBytes = fs.readFileSync(schemaPath);
const schemaSha = crypto.createHash('sha256').update(schemaBytes).digest('hex');
const schema = JSON.parse(schemaBytes.toString('utf8'));

// HL7's R4 4.0.1 file: the published bytes, its id and dialect, the resourceType discriminator over
// the R4 resource list (EffectEvidenceSynthesis exists only in R4), and 4.0.1 among FHIR versions.
if (schemaSha !== source.sha256) die(`${schemaPath} has sha256 ${schemaSha}, expected ${source.sha256}`);
if (schema.id !== SCHEMA_ID) die(`schema id is ${schema.id}, expected ${SCHEMA_ID}`);
if (schema.$schema !== SCHEMA_DIALECT) die(`schema $schema is ${schema.$schema}, expected ${SCHEMA_DIALECT}`);
const disc = schema.discriminator || {};
if (disc.propertyName !== 'resourceType' || !disc.mapping || !disc.mapping.EffectEvidenceSynthesis) {
  die('schema has no R4 resourceType discriminator');
}
if (!schema.definitions.CapabilityStatement.properties.fhirVersion.enum.includes('4.0.1')) {
  die('schema does not know FHIR 4.0.1');
}
const resourceTypes = new Set(Object.keys(disc.mapping));

const nodeDir = process.env.FHIR_CHECK_NODE_DIR || __dirname;
const pkgRequire = createRequire(path.join(path.resolve(nodeDir), 'package.json'));
let Ajv;
try {
  Ajv = pkgRequire('ajv');
} catch (e) {
  die(`ajv is not installed under ${nodeDir}/node_modules: run npm ci in fhir-check/ or set FHIR_CHECK_NODE_DIR`);
}
const ajvPkg = pkgRequire('ajv/package.json');
const draft06 = pkgRequire('ajv/lib/refs/json-schema-draft-06.json');

if (process.argv.includes('--info')) {
  process.stdout.write(JSON.stringify({
    source: `${source.package}@${source.version}`,
    ajv: ajvPkg.version,
    schema: schemaPath,
    id: schema.id,
    $schema: schema.$schema,
    sha256: schemaSha,
    resourceTypes: resourceTypes.size,
  }) + '\n');
  process.exit(0);
}

// Ajv 6 with the draft-06 meta-schema, no logging.
function newAjv(opts) {
  const ajv = new Ajv(Object.assign({ logger: false }, opts));
  ajv.addMetaSchema(draft06);
  return ajv;
}
const whole = newAjv({}).compile(schema);
const detail = newAjv({ allErrors: true });
detail.addSchema(schema, 'fhir');
const perType = new Map();
function typeValidator(type) {
  if (!perType.has(type)) {
    const v = detail.getSchema(`fhir#/definitions/${type}`);
    if (!v) die(`no definition for ${type}`);
    perType.set(type, v);
  }
  return perType.get(type);
}

// A placeholder that is a valid resource, put where a nested resource was once that resource has
// been checked on its own.
const PLACEHOLDER = { resourceType: 'Basic', code: { text: 'placeholder' } };

function isResource(x) {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && typeof x.resourceType === 'string';
}

function formatError(prefix, e) {
  let message = e.message || e.keyword;
  const p = e.params || {};
  if (p.additionalProperty !== undefined) message += `: '${p.additionalProperty}'`;
  else if (p.allowedValues !== undefined) message += `: ${JSON.stringify(p.allowedValues)}`;
  else if (p.allowedValue !== undefined) message += `: ${JSON.stringify(p.allowedValue)}`;
  return { path: prefix + (e.dataPath || ''), message };
}

// Errors of `doc` (a resource) at `prefix`, each nested resource explained on its own.
function explain(doc, prefix) {
  const out = [];
  if (!isResource(doc)) {
    out.push({ path: prefix || '(root)', message: 'not a resource: no resourceType' });
    return out;
  }
  if (!resourceTypes.has(doc.resourceType)) {
    out.push({ path: `${prefix}.resourceType`, message: `'${doc.resourceType}' is not an R4 resource type` });
    return out;
  }
  const copy = JSON.parse(JSON.stringify(doc));
  const walk = (node, at) => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => {
        if (isResource(item)) {
          out.push(...explain(item, `${at}[${i}]`));
          node[i] = PLACEHOLDER;
        } else walk(item, `${at}[${i}]`);
      });
    } else if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (isResource(v)) {
          out.push(...explain(v, `${at}.${k}`));
          node[k] = PLACEHOLDER;
        } else walk(v, `${at}.${k}`);
      }
    }
  };
  walk(copy, prefix);
  const validate = typeValidator(doc.resourceType);
  if (!validate(copy)) for (const e of validate.errors) out.push(formatError(prefix, e));
  return out;
}

function check(doc) {
  if (whole(doc)) return { valid: true, errors: [] };
  let errors = explain(doc, '');
  if (errors.length === 0) {
    errors = (whole.errors || []).slice(0, 5).map((e) => formatError('', e));
    if (errors.length === 0) errors = [{ path: '(root)', message: 'does not match fhir.schema.json' }];
  }
  return { valid: false, errors };
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let i = 0;
const lines = [];
rl.on('line', (line) => {
  let result;
  try {
    result = check(JSON.parse(line));
  } catch (err) {
    result = { valid: false, errors: [{ path: '(root)', message: `not JSON: ${err.message}` }] };
  }
  lines.push(JSON.stringify(Object.assign({ i }, result)));
  i += 1;
  if (lines.length >= 256) process.stdout.write(lines.splice(0).join('\n') + '\n');
});
rl.on('close', () => {
  if (lines.length) process.stdout.write(lines.join('\n') + '\n');
});
