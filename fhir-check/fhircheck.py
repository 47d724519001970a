#!/usr/bin/env python3
"""FHIR R4 check of a running Klinivo server, or of files.

Every document is checked by two independent validators:
  * fhir.schema.json  HL7's R4 (4.0.1) JSON Schema, byte for byte (install-schema.py), run by
                      schema-validate.js (Node, Ajv 6);
  * fhir.resources    the R4 (4.0.1) models of fhir.resources 6.4.0 (pydantic).
and the crawl adds its own checks of the HTTP exchange ("harness").

  fhircheck.py --base http://127.0.0.1:8080/fhir/R4 --key kv_...     crawl a server
  fhircheck.py --files a.json b.ndjson ...                           check files
  fhircheck.py --files --expect-invalid bad.json ...                 each file must be rejected
                                                                     by both validators

Exit status: 0 when nothing failed, 1 when anything did, 2 when the harness could not run.
"""

import argparse
import collections
import datetime
import email.utils
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
UNKNOWN_ID = "fhir-check-no-such-id-0"

SCHEMA = "fhir.schema.json"
MODELS = "fhir.resources"
HARNESS = "harness"
JSON_RULES = "fhir-json-rules"


# --------------------------------------------------------------------------------------------
# Validators


class ModelValidator:
    """fhir.resources 6.4.0: the FHIR R4 (4.0.1) models."""

    def __init__(self):
        try:
            import fhir.resources as fr
            import pydantic
            from fhir.resources.fhirtypesvalidators import get_fhir_model_class
            from fhir.resources.resource import Resource
        except ImportError as e:  # pragma: no cover - reported to the user
            sys.exit(f"fhircheck: fhir.resources is not installed ({e}); pip install -r fhir-check/requirements.txt")
        if fr.__fhir_version__ != "4.0.1":
            sys.exit(f"fhircheck: fhir.resources {fr.__version__} models FHIR {fr.__fhir_version__}, not R4 4.0.1")
        self.version = fr.__version__
        self.fhir_version = fr.__fhir_version__
        self.pydantic = pydantic
        self.get = get_fhir_model_class
        self.Resource = Resource

    def errors(self, doc):
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
            return ["(root): not a resource: no resourceType"]
        rt = doc["resourceType"]
        try:
            cls = self.get(rt)
        except KeyError:
            cls = None
        if cls is None or not issubclass(cls, self.Resource) or rt in ("Resource", "DomainResource", "MetadataResource"):
            return [f".resourceType: '{rt}' is not an R4 resource type"]
        try:
            cls.parse_obj(doc)
        except self.pydantic.ValidationError as e:
            out = []
            for err in e.errors():
                loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"] if p != "__root__")
                out.append(f"{loc or '(root)'}: {err['msg']}")
            return out or ["(root): rejected"]
        except Exception as e:  # a model that raises anything else has rejected the document
            return [f"(root): {type(e).__name__}: {e}"]
        return []


class SchemaValidator:
    """HL7's fhir.schema.json (R4), through schema-validate.js."""

    def __init__(self, node):
        self.node = node
        self.script = os.path.join(HERE, "schema-validate.js")
        p = subprocess.run([node, self.script, "--info"], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"fhircheck: {p.stderr.strip() or 'schema-validate.js --info failed'}")
        self.info = json.loads(p.stdout)

    def errors_many(self, docs):
        """One list of "path: message" strings per document."""
        if not docs:
            return []
        with tempfile.TemporaryFile("w+b") as tmp:
            for d in docs:
                tmp.write(json.dumps(d, ensure_ascii=False).encode("utf-8") + b"\n")
            tmp.seek(0)
            p = subprocess.run([self.node, self.script], stdin=tmp, capture_output=True)
        if p.returncode != 0:
            sys.exit(f"fhircheck: schema-validate.js failed: {p.stderr.decode(errors='replace').strip()}")
        results = [json.loads(line) for line in p.stdout.decode("utf-8").splitlines() if line.strip()]
        if len(results) != len(docs):
            sys.exit(f"fhircheck: schema-validate.js answered {len(results)} of {len(docs)} documents")
        out = []
        for r in results:
            errs = [f"{e['path'] or '(root)'}: {e['message']}" for e in r["errors"]]
            if not r["valid"] and not errs:
                errs = ["(root): does not match fhir.schema.json"]
            out.append(errs)
        return out


# --------------------------------------------------------------------------------------------
# What was checked, and what failed


class Report:
    def __init__(self):
        self.docs = []  # (where, doc, skip_nested): validated by both validators at the end
        self.failures = []  # (subject, where, checker, message); subject: Type/id, or None
        self.warnings = []
        self.counts = collections.defaultdict(collections.Counter)  # type -> {"search": n, ...}
        self.statuses = collections.defaultdict(collections.Counter)  # type -> {status: n}
        self.transaction_times = {}  # export label -> manifest transactionTime
        self.exported = collections.defaultdict(dict)  # export label -> {(type, id): resource}
        self.differs = collections.Counter()  # (type, elements) -> reads that differ from the search

    def validate(self, where, doc, skip_nested=False):
        """Queue a document for both validators; `where` says where it was found. skip_nested:
        its nested resources are queued on their own, so errors inside Bundle.entry[n].resource
        are not reported twice."""
        self.docs.append((where, doc, skip_nested))

    def fail(self, where, message, checker=HARNESS, subject=None):
        self.failures.append((subject, where, checker, message))

    def warn(self, where, message):
        self.warnings.append((where, message))

    def run_validators(self, schema, models):
        results = schema.errors_many([d for _, d, _ in self.docs])
        for (where, doc, skip_nested), schema_errs in zip(self.docs, results):
            model_errs = models.errors(doc)
            json_errs = json_rules(doc)
            for checker, errs in ((SCHEMA, schema_errs), (MODELS, model_errs), (JSON_RULES, json_errs)):
                for e in errs:
                    if skip_nested and re.match(r"^\.entry\[\d+\]\.resource[.\[]", e):
                        continue
                    self.fail(where, e + excerpt(doc, e), checker, subject=describe(doc))
        return results

    def print_failures(self, limit):
        """Each failure once: the same message about the same resource (Type/id), wherever it
        was seen (search, read, export), is one line naming the first place and the count."""
        groups = collections.OrderedDict()
        for subject, where, checker, msg in self.failures:
            key = (subject, checker, msg) if subject and "/" in subject else (subject, where, checker, msg)
            groups.setdefault(key, []).append(where)
        for n, (key, wheres) in enumerate(groups.items()):
            if n == limit:
                print(f"… and {len(groups) - n} more")
                break
            subject, checker, msg = key[0], key[-2], key[-1]
            more = f" (and {len(wheres) - 1} more: {', '.join(sorted({w.split(' ')[0] for w in wheres[1:]}))})" if len(wheres) > 1 else ""
            head = f"{subject} " if subject else ""
            print(f"FAIL [{checker}] {head}@ {wheres[0]}{more}: {msg}")
        return len(groups)


def resolve(doc, path):
    """The value at a validator's path ('.a[0].b', '(root)'), or raise LookupError."""
    node = doc
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", "" if path == "(root)" else path):
        node = node[int(index)] if index else node[name]
    return node


def excerpt(doc, error):
    """' — value: <JSON>' of what an error ("path: message") points at, cut to 240 characters."""
    path, _, msg = error.partition(": ")
    try:
        value = resolve(doc, path)
        m = re.search(r"additional properties: '([^']+)'", msg)
        if m and isinstance(value, dict) and m.group(1) in value:
            value = {m.group(1): value[m.group(1)]}
        elif path == "(root)" and isinstance(value, dict):
            value = {k: ("…" if isinstance(v, (dict, list)) else v) for k, v in value.items()}
    except (LookupError, TypeError, ValueError):
        return ""
    text = json.dumps(value, ensure_ascii=False)
    return f" — value: {text if len(text) <= 240 else text[:239] + '…'}"


def json_rules(doc, path=""):
    """FHIR's JSON rules that neither validator enforces (json.html; ele-1): no empty object, array
    or string, and null only inside an array (as padding beside its `_element` twin)."""
    errs = []
    if isinstance(doc, dict):
        if not doc:
            errs.append(f"{path or '(root)'}: empty object")
        for k, v in doc.items():
            if v is None:
                errs.append(f"{path}.{k}: null")
            else:
                errs.extend(json_rules(v, f"{path}.{k}"))
    elif isinstance(doc, list):
        if not doc:
            errs.append(f"{path}: empty array")
        for i, v in enumerate(doc):
            if v is not None:
                errs.extend(json_rules(v, f"{path}[{i}]"))
        if doc and all(v is None for v in doc):
            errs.append(f"{path}: only nulls")
    elif isinstance(doc, str) and doc == "":
        errs.append(f"{path}: empty string")
    return errs


def describe(doc):
    if isinstance(doc, dict) and isinstance(doc.get("resourceType"), str):
        rid = doc.get("id")
        return f"{doc['resourceType']}/{rid}" if rid is not None else doc["resourceType"]
    return "(not a resource)"


# --------------------------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, status, headers, body, url, accept=FHIR_JSON):
        self.status = status
        self.accept = accept  # what the request's Accept asked for
        self.headers = headers  # lower-cased names
        self.body = body
        self.url = url

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class Client:
    def __init__(self, base, key, timeout=60):
        self.base = base.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.conns = {}
        self.requests = 0

    def url(self, path):
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.base + ("" if path.startswith("/") else "/") + path

    def _conn(self, scheme, netloc, fresh=False):
        k = (scheme, netloc)
        if fresh and k in self.conns:
            self.conns.pop(k).close()
        if k not in self.conns:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            self.conns[k] = cls(netloc, timeout=self.timeout)
        return self.conns[k]

    def request(self, method, path, key=True, accept=FHIR_JSON, headers=None, body=None):
        url = self.url(path)
        u = urllib.parse.urlsplit(url)
        target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        h = {"Accept": accept}
        if key and self.key:
            h["X-API-Key"] = key if isinstance(key, str) else self.key
        h.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            h["Content-Type"] = "application/json"
        for attempt in range(2):
            conn = self._conn(u.scheme, u.netloc, fresh=attempt > 0)
            try:
                conn.request(method, target, body=data, headers=h)
                r = conn.getresponse()
                body = r.read()
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                if attempt:
                    raise
        self.requests += 1
        resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, body, url, accept)
        if r.getheader("connection", "").lower() == "close":
            self.conns.pop((u.scheme, u.netloc)).close()
        return resp


# --------------------------------------------------------------------------------------------
# The crawl


def media_type(resp):
    return (resp.header("content-type") or "").split(";")[0].strip().lower()


def expect_fhir_json(report, where, resp, status):
    """Checks status, content type and JSON; returns the parsed body, or None when any is wrong
    but the content type (a wrong one fails, the body is still used)."""
    if resp.status != status:
        report.fail(where, f"HTTP {resp.status}, expected {status}: {resp.body[:300].decode(errors='replace')}")
        return None
    # application/fhir+json; or application/json when that is what the request asked for.
    allowed = {FHIR_JSON} | ({"application/json"} if "application/json" in resp.accept else set())
    if media_type(resp) not in allowed:
        report.fail(where, f"Content-Type is {resp.header('content-type')!r}, expected {' or '.join(sorted(allowed))}")
    m = re.search(r";\s*fhirVersion=([^;\s]+)", resp.header("content-type") or "")
    if m and m.group(1).strip('"') != "4.0":
        report.fail(where, f"Content-Type {resp.header('content-type')!r}: R4's fhirVersion parameter is 4.0")
    try:
        return resp.json()
    except ValueError as e:
        report.fail(where, f"body is not JSON ({e}): {resp.body[:200]!r}")
        return None


def check_outcome(report, where, resp, status):
    """An error answer: `status` and an OperationOutcome."""
    doc = expect_fhir_json(report, where, resp, status)
    if doc is None and resp.status != status:
        try:
            doc = resp.json()  # the wrong status is reported; an OperationOutcome is still due
        except ValueError:
            return
    if doc is None:
        return
    if not isinstance(doc, dict) or doc.get("resourceType") != "OperationOutcome":
        report.fail(where, f"body is {describe(doc)}, expected an OperationOutcome")
        if not isinstance(doc, dict) or "resourceType" not in doc:
            return
    elif not doc.get("issue"):
        report.fail(where, "OperationOutcome has no issue")
    report.counts["OperationOutcome"]["error answers"] += 1
    report.validate(where, doc)


def capability_types(cs):
    types = []
    for rest in cs.get("rest") or []:
        if rest.get("mode") == "server":
            for r in rest.get("resource") or []:
                if r.get("type") and r["type"] not in types:
                    types.append(r["type"])
    return types


def advertises_export(cs):
    """(system-level, Patient-level) $export, as the CapabilityStatement advertises them."""

    def is_export(op):
        name = (op.get("name") or "").lstrip("$")
        definition = op.get("definition") or ""
        return name in ("export", "patient-export") or definition.endswith(("/export", "/patient-export"))

    system = patient = False
    for rest in cs.get("rest") or []:
        if rest.get("mode") != "server":
            continue
        system = system or any(is_export(op) for op in rest.get("operation") or [])
        for r in rest.get("resource") or []:
            if r.get("type") == "Patient":
                patient = patient or any(is_export(op) for op in r.get("operation") or [])
    return system, patient


def crawl_metadata(client, report):
    where = "GET /metadata"
    resp = client.request("GET", "metadata", key=False)
    cs = expect_fhir_json(report, where, resp, 200)
    if not isinstance(cs, dict):
        return None
    report.validate("GET /metadata", cs)
    report.counts["CapabilityStatement"]["read"] += 1
    if cs.get("resourceType") != "CapabilityStatement":
        report.fail(where, f"body is {describe(cs)}, expected a CapabilityStatement")
        return None
    if cs.get("fhirVersion") != "4.0.1":
        report.fail(where, f"fhirVersion is {cs.get('fhirVersion')!r}, expected '4.0.1'")
    fmts = cs.get("format") or []
    if not any(f in ("json", FHIR_JSON, "application/json") for f in fmts):
        report.fail(where, f"format {fmts!r} names no JSON format")
    if not any(r.get("mode") == "server" for r in cs.get("rest") or []):
        report.fail(where, "no rest entry with mode 'server'")
    return cs


def tally(report, rtype, res):
    """Counts the status (and a DocumentReference's docStatus) of a resource found."""
    st = res.get("status")
    if isinstance(st, str):
        report.statuses[rtype][st] += 1
    if rtype == "DocumentReference" and isinstance(res.get("docStatus"), str):
        report.statuses[rtype]["docStatus=" + res["docStatus"]] += 1


def required_reference(resp, cs_resource, types):
    """When a search answers 400 because a reference parameter is required (the OperationOutcome's
    issue.expression names a `reference` searchParam of the type, named after a listed type, as
    Slot's `schedule`): that (parameter, type). Else None."""
    if resp.status != 400:
        return None
    try:
        oo = resp.json()
    except ValueError:
        return None
    params = {sp.get("name"): sp.get("type") for sp in (cs_resource or {}).get("searchParam") or []}
    for issue in oo.get("issue") or [] if isinstance(oo, dict) else []:
        for expr in issue.get("expression") or []:
            target = next((t for t in types if t.lower() == str(expr).lower()), None)
            if params.get(expr) == "reference" and target:
                return expr, target
    return None


def crawl_type(client, report, rtype, max_pages, found, query="", scoped=None, count=200):
    """Searches every resource of `rtype` (with `query`), page by page, into `found` ({id: resource}).
    With `scoped` (the CapabilityStatement's entry and the types), a first answer of 400 that asks
    for a reference parameter is validated as an OperationOutcome and returned as (param, type)."""
    url = f"{rtype}?{query + '&' if query else ''}_count={count}"
    seen_urls = set()
    seen_here = set()
    page = 0
    while url:
        page += 1
        where = f"search {rtype} page {page} (GET {url if page == 1 else urllib.parse.urlsplit(url).query})"
        if url in seen_urls:
            report.fail(where, "the next link repeats an earlier page")
            break
        if page > max_pages:
            report.fail(where, f"more than {max_pages} pages")
            break
        seen_urls.add(url)
        resp = client.request("GET", url)
        if page == 1 and scoped is not None:
            need = required_reference(resp, *scoped)
            if need:
                check_outcome(report, f"{where} (without {need[0]})", resp, 400)
                return need
        bundle = expect_fhir_json(report, where, resp, 200)
        if not isinstance(bundle, dict):
            break
        report.counts["Bundle"]["searchset"] += 1
        report.validate(where, bundle, skip_nested=True)
        if bundle.get("resourceType") != "Bundle":
            report.fail(where, f"body is {describe(bundle)}, expected a Bundle")
            break
        if bundle.get("type") != "searchset":
            report.fail(where, f"Bundle.type is {bundle.get('type')!r}, expected 'searchset'")
        links = {l.get("relation"): l.get("url") for l in bundle.get("link") or [] if isinstance(l, dict)}
        if "self" not in links:
            report.fail(where, "Bundle has no link 'self'")
        matches = 0
        for n, entry in enumerate(bundle.get("entry") or []):
            res = entry.get("resource") if isinstance(entry, dict) else None
            ew = f"{where} entry[{n}]"
            if not isinstance(res, dict):
                report.fail(ew, "entry has no resource")
                continue
            mode = (entry.get("search") or {}).get("mode", "match")
            report.validate(f"search {rtype} page {page} entry[{n}]", res)
            if mode != "match":
                continue
            matches += 1
            if res.get("resourceType") != rtype:
                report.fail(ew, f"a match of a {rtype} search is a {res.get('resourceType')}")
                continue
            rid = res.get("id")
            if not isinstance(rid, str):
                report.fail(ew, f"{rtype} has no id")
                continue
            full = entry.get("fullUrl")
            if not isinstance(full, str) or not full.endswith(f"/{rtype}/{rid}"):
                report.fail(ew, f"fullUrl {full!r} does not end with /{rtype}/{rid}")
            if rid in seen_here:
                report.fail(ew, f"{rtype}/{rid} appears twice in the search")
            seen_here.add(rid)
            found[rid] = res
            tally(report, rtype, res)
        if matches > count:
            report.fail(where, f"{matches} matches on a page asked for _count={count}")
        total = bundle.get("total")
        url = links.get("next")
        if not url and isinstance(total, int) and total != len(seen_here):
            report.fail(where, f"Bundle.total is {total}, but the pages held {len(seen_here)} {rtype}")
    return None


def starts_soon(resource, minutes=10):
    """Whether a resource's `start` is before now + `minutes` (free Slots are computed per request)."""
    try:
        start = datetime.datetime.fromisoformat(str(resource.get("start")).replace("Z", "+00:00"))
    except ValueError:
        return False
    return start <= datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)


def read_each(client, report, rtype, found):
    for rid, from_search in found.items():
        path = f"{rtype}/{urllib.parse.quote(rid, safe='')}"
        where = f"GET /{path}"
        resp = client.request("GET", path)
        if resp.status == 404 and rtype == "Slot" and starts_soon(from_search):
            report.warn(where, "404: a free Slot starting about now may have gone since the search")
            continue
        doc = expect_fhir_json(report, where, resp, 200)
        if not isinstance(doc, dict):
            continue
        report.counts[rtype]["read"] += 1
        report.validate(f"GET /{path}", doc)
        if doc.get("resourceType") != rtype or doc.get("id") != rid:
            report.fail(where, f"answered {describe(doc)}")
        elif doc != from_search:
            keys = sorted(k for k in set(doc) | set(from_search) if doc.get(k) != from_search.get(k))
            report.differs[(rtype, ", ".join(keys))] += 1


def search_cases(client, report, types, found, entries, deferred):
    """An empty searchset (`_id` of nothing), `_id` of one resource, and `_count=1` paging of a
    small type, which must page through exactly what `_count=200` found."""
    needs = dict(deferred)
    for rtype in types:
        params = {sp.get("name") for sp in (entries.get(rtype) or {}).get("searchParam") or []}
        if "_id" not in params or not found[rtype]:
            continue
        first = next(iter(found[rtype]))
        scope = ""
        if rtype in needs:  # Slot?schedule=…: the scope of the resource looked for
            ref = (found[rtype][first].get(needs[rtype][0]) or {}).get("reference")
            if not isinstance(ref, str):
                continue
            scope = f"{needs[rtype][0]}={urllib.parse.quote(ref, safe='/')}&"
        for rid, want in ((UNKNOWN_ID, set()), (first, None)):
            path = f"{rtype}?{scope}_id={urllib.parse.quote(rid, safe='')}"
            where = f"search GET /{path}"
            bundle = expect_fhir_json(report, where, client.request("GET", path), 200)
            if bundle is None:
                continue
            report.validate(where, bundle, skip_nested=True)  # its entries were validated in the crawl
            report.counts["Bundle"]["searchset"] += 1
            ids = {(e.get("resource") or {}).get("id") for e in bundle.get("entry") or [] if isinstance(e, dict)}
            if ids != (want if want is not None else {rid}):
                shown = sorted(map(str, ids))
                report.fail(where, f"expected {sorted(want) if want is not None else [rid]}, found {len(ids)}: "
                                   f"{shown[:4]}{' …' if len(shown) > 4 else ''}")
    # A parameter the server does not support: ignored, with an OperationOutcome entry
    # (search.mode outcome) that says so; refused under Prefer: handling=strict.
    rtype = next((t for t in types if t not in needs), None)
    if rtype:
        path = f"{rtype}?fhir-check-unknown=1&_count=1"
        where = f"search GET /{path}"
        bundle = expect_fhir_json(report, where, client.request("GET", path), 200)
        if isinstance(bundle, dict):
            report.validate(where, bundle, skip_nested=True)
            report.counts["Bundle"]["searchset"] += 1
            for n, e in enumerate(bundle.get("entry") or []):
                if isinstance(e, dict) and (e.get("search") or {}).get("mode") == "outcome":
                    report.validate(f"{where} entry[{n}]", e.get("resource"))
            modes = [(e.get("search") or {}).get("mode") for e in bundle.get("entry") or [] if isinstance(e, dict)]
            if "outcome" not in modes:
                report.warn(where, "no OperationOutcome entry (search.mode outcome) about the parameter ignored")
        check_outcome(report, f"{where} (Prefer: handling=strict)",
                      client.request("GET", path, headers={"Prefer": "handling=strict"}), 400)
    small = [t for t in types if 2 <= len(found[t]) <= 20 and t not in needs]
    if small:
        rtype = small[0]
        got = {}
        crawl_type(client, report, rtype, 100, got, count=1)
        if set(got) != set(found[rtype]):
            report.fail(f"search {rtype}?_count=1", f"paging one at a time found {sorted(got)}, _count=200 found {sorted(found[rtype])}")


def error_cases(client, report, types, limited_key=None):
    # An unknown id of every type: 404 and an OperationOutcome.
    for rtype in types:
        path = f"{rtype}/{UNKNOWN_ID}"
        check_outcome(report, f"GET /{path} (unknown id)", client.request("GET", path), 404)
    rtype = types[0] if types else "Patient"
    # A _count that is not a number, and one out of 1..200.
    for bad in ("abc", "-1"):
        path = f"{rtype}?_count={bad}"
        check_outcome(report, f"GET /{path} (bad _count)", client.request("GET", path), 400)
    # No key, and a key that does not exist.
    check_outcome(report, f"GET /{rtype} (no key)", client.request("GET", rtype, key=False), 401)
    wrong = "kv_" + "0" * 42
    check_outcome(report, f"GET /{rtype} (unknown key)", client.request("GET", rtype, key=wrong), 401)
    # A key without the permission a type needs: 403 (and the type it may read: 200).
    if limited_key:
        for t, status in (("Appointment", 403), ("Patient", 200)):
            if t in types:
                resp = client.request("GET", f"{t}?_count=1", key=limited_key)
                where = f"GET /{t}?_count=1 (key with READ_PATIENTS only)"
                if status == 403:
                    check_outcome(report, where, resp, 403)
                else:
                    doc = expect_fhir_json(report, where, resp, 200)
                    if doc is not None:
                        report.validate(where, doc)
    # Other ways of asking for FHIR JSON: Accept: application/json, and _format=json.
    for where, path, accept in ((f"GET /{rtype}?_count=1 (Accept: application/json)", f"{rtype}?_count=1", "application/json"),
                                (f"GET /{rtype}?_count=1&_format=json (Accept: */*)", f"{rtype}?_count=1&_format=json", "*/*")):
        doc = expect_fhir_json(report, where, client.request("GET", path, accept=accept), 200)
        if doc is not None:
            report.validate(where, doc)
    # A format the server does not serve (XML): 406.
    check_outcome(report, f"GET /{rtype}?_count=1 (Accept: application/fhir+xml)",
                  client.request("GET", f"{rtype}?_count=1", accept="application/fhir+xml"), 406)
    # A resource type the server does not serve.
    # What the facade does not do, each a 4xx OperationOutcome: a type not served, an
    # interaction not offered (create, delete, history), a path that means nothing.
    someid = "1"
    cases = [("GET", "Observation", "type not served")] if "Observation" not in types else []
    cases += [("POST", rtype, "create"), ("DELETE", f"{rtype}/{someid}", "delete"),
              ("GET", f"{rtype}/{someid}/_history", "history"), ("GET", "fhir-check/no/such/path", "no such path")]
    for method, path, why in cases:
        resp = client.request(method, path, body={} if method == "POST" else None)
        where = f"{method} /{path} ({why})"
        if 400 <= resp.status < 500:
            check_outcome(report, where, resp, resp.status)
        else:
            report.fail(where, f"HTTP {resp.status}, expected a 4xx OperationOutcome")


def retry_after(resp, default=1.0):
    v = resp.header("retry-after")
    if not v:
        return default
    try:
        return max(0.0, float(v))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(v).timestamp()
            return max(0.0, when - time.time())
        except (TypeError, ValueError):
            return default


def bulk_export(client, report, label, kickoff_path, timeout, expect_types=None):
    """Kick-off, poll, fetch every output; returns {type: lines} or None."""
    where = f"{label} kick-off (GET {kickoff_path})"
    resp = client.request("GET", kickoff_path, headers={"Prefer": "respond-async"})
    if resp.status != 202:
        report.fail(where, f"HTTP {resp.status}, expected 202: {resp.body[:300].decode(errors='replace')}")
        if resp.body.strip().startswith(b"{"):
            try:
                report.validate(f"{label} kick-off answer", resp.json())
            except ValueError:
                pass
        return None
    status_url = resp.header("content-location")
    if not status_url:
        report.fail(where, "202 without Content-Location")
        return None
    status_url = urllib.parse.urljoin(client.url(kickoff_path), status_url)
    deadline = time.time() + timeout
    polls = 0
    while True:
        polls += 1
        resp = client.request("GET", status_url, accept="application/json")
        pw = f"{label} status (GET {status_url})"
        if resp.status == 202:
            wait = retry_after(resp)
            if time.time() + min(wait, 0.2) > deadline:
                report.fail(pw, f"still 202 after {timeout:.0f} s ({polls} polls, X-Progress {resp.header('x-progress')!r})")
                client.request("DELETE", status_url)
                return None
            time.sleep(min(max(wait, 0.2), max(0.0, deadline - time.time())))
            continue
        if resp.status != 200:
            report.fail(pw, f"HTTP {resp.status}, expected 200 or 202: {resp.body[:300].decode(errors='replace')}")
            if resp.body.strip().startswith(b"{"):
                try:
                    report.validate(f"{label} status answer", resp.json())
                except ValueError:
                    pass
            return None
        break
    try:
        manifest = resp.json()
    except ValueError as e:
        report.fail(pw, f"manifest is not JSON: {e}")
        return None
    mw = f"{label} manifest"
    for field, kind in (("transactionTime", str), ("request", str), ("requiresAccessToken", bool), ("output", list)):
        if not isinstance(manifest.get(field), kind):
            report.fail(mw, f"{field} is {manifest.get(field)!r}, expected a {kind.__name__}")
    tt = manifest.get("transactionTime")
    report.transaction_times[label] = tt
    if isinstance(tt, str) and not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", tt):
        report.fail(mw, f"transactionTime {tt!r} is not a FHIR instant")
    if "error" in manifest and not isinstance(manifest["error"], list):
        report.fail(mw, f"error is {manifest['error']!r}, expected an array")
    per_type = collections.Counter()
    for kind in ("output", "error"):
        for n, item in enumerate(manifest.get(kind) or []):
            iw = f"{mw} {kind}[{n}]"
            if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not isinstance(item.get("type"), str):
                report.fail(iw, f"{item!r} has no type and url")
                continue
            url = urllib.parse.urljoin(status_url, item["url"])
            resp = client.request("GET", url, accept=NDJSON)
            fw = f"{label} {kind} {item['type']} (GET {url})"
            if resp.status != 200:
                report.fail(fw, f"HTTP {resp.status}, expected 200")
                continue
            if media_type(resp) != NDJSON:
                report.fail(fw, f"Content-Type is {resp.header('content-type')!r}, expected {NDJSON}")
            lines = resp.body.decode("utf-8", errors="replace").split("\n")
            count = 0
            for ln, line in enumerate(lines, 1):
                if not line.strip():
                    if ln != len(lines):
                        report.fail(fw, f"line {ln} is empty")
                    continue
                try:
                    doc = json.loads(line)
                except ValueError as e:
                    report.fail(fw, f"line {ln} is not JSON: {e}")
                    continue
                count += 1
                report.validate(f"{label} {kind} {item['type']} line {ln}", doc)
                if kind == "output" and isinstance(doc, dict) and isinstance(doc.get("id"), str):
                    report.exported[label][(item["type"], doc["id"])] = doc
                if isinstance(doc, dict) and doc.get("resourceType") != item["type"]:
                    report.fail(fw, f"line {ln} is a {doc.get('resourceType')}, in the {item['type']} file")
            if kind == "output":
                per_type[item["type"]] += count
                if item.get("count") is not None and item["count"] != count:
                    report.fail(fw, f"count is {item['count']}, the file has {count} lines")
            else:
                report.fail(fw, f"the export reported {count} error(s) (each is validated above)")
    for t, n in per_type.items():
        report.counts[t][label] += n
    if expect_types is not None:
        extra = set(per_type) - set(expect_types)
        if extra:
            report.fail(mw, f"outputs of types not asked for: {sorted(extra)}")
    # Done with it: DELETE the status URL (202), after which it is gone.
    resp = client.request("DELETE", status_url)
    if resp.status != 202:
        report.fail(f"{label} DELETE {status_url}", f"HTTP {resp.status}, expected 202")
    resp = client.request("GET", status_url, accept="application/json")
    if resp.status not in (404, 410):
        report.fail(f"{label} status after DELETE (GET {status_url})", f"HTTP {resp.status}, expected 404")
    elif resp.body.strip().startswith(b"{"):
        check_outcome(report, f"{label} status after DELETE (GET {status_url})", resp, resp.status)
    return per_type


# Patients with little or nothing optional, written through the REST API (/api/v1) before the
# crawl, so that the facade's handling of absent data is checked too: the demo clinic's patients
# have every field filled in.
EDGE_PATIENTS = [
    {"firstName": "Edge", "lastName": "Minimal"},
    {"firstName": "Edge", "lastName": "Emptyaddress", "address": {}},
    {"firstName": "Édith", "lastName": "Ø'Brien-Łukasiewicz", "sex": "other", "email": "edith@example.com",
     "address": {"line2": "Apt 4", "city": None, "country": "FR"}},
    {"firstName": "Edge", "lastName": "Phoneonly", "phone": "+14155550199", "dateOfBirth": "1900-01-01",
     "address": {"postalCode": "94110"}},
]


def seed_edge_cases(client, report, api):
    """Creates EDGE_PATIENTS through the REST API; returns the FHIR ids ("Patient" -> ids)."""
    ids = []
    run = f"{time.time():.0f}"
    for n, patient in enumerate(EDGE_PATIENTS):
        body = dict(patient, externalId=f"fhir-check-{run}-{n}")
        resp = client.request("POST", f"{api}/patients", accept="application/json", body=body,
                              headers={"Idempotency-Key": f"fhir-check-{run}-{n}"})
        if resp.status not in (200, 201):
            report.warn(f"POST {api}/patients", f"{json.dumps(body)} answered HTTP {resp.status}: {resp.body[:200]!r}")
            continue
        ids.append(str(resp.json()["id"]))
    print(f"seeded {len(ids)} edge-case Patients through {api}: {', '.join(ids)}", file=sys.stderr)
    return ids


def crawl(args, report):
    client = Client(args.base, args.key, timeout=args.timeout)
    seeded = []
    if args.seed_edge_cases:
        api = args.api or re.sub(r"/fhir/R4/?$", "", args.base.rstrip("/")) + "/api/v1"
        seeded = seed_edge_cases(client, report, api)
    cs = crawl_metadata(client, report)
    if cs is None:
        return client
    types = capability_types(cs)
    print(f"CapabilityStatement lists {len(types)} resource types: {', '.join(types)}", file=sys.stderr)
    for t in args.expect_types or []:
        if t not in types:
            report.fail("GET /metadata", f"the CapabilityStatement does not list {t}")
    entries = {r.get("type"): r for rest in cs.get("rest") or [] for r in rest.get("resource") or []}
    found = {t: {} for t in types}
    deferred = []
    for rtype in types:
        t0 = time.time()
        need = crawl_type(client, report, rtype, args.max_pages, found[rtype], scoped=(entries.get(rtype), types))
        if need:
            deferred.append((rtype, need))
            continue
        print(f"  {rtype}: {len(found[rtype])} ({time.time() - t0:.1f} s)", file=sys.stderr)
    # Types whose search needs a reference (Slot?schedule=…): searched once per resource of that type.
    for rtype, (param, target) in deferred:
        t0 = time.time()
        for tid in found.get(target, {}):
            crawl_type(client, report, rtype, args.max_pages, found[rtype], query=f"{param}={target}/{tid}")
        print(f"  {rtype}: {len(found[rtype])}, searched by {param} over {len(found.get(target, {}))} {target} "
              f"({time.time() - t0:.1f} s)", file=sys.stderr)
    # Earlier versions of a document are not search matches: a client reaches them through
    # `relatesTo` (and a Bulk Data export holds them). Follow every link, validate what it names,
    # and count it with the rest.
    docs = found.get("DocumentReference", {})
    pending = [rel for doc in list(docs.values()) for rel in doc.get("relatesTo") or []]
    while pending:
        ref = ((pending.pop().get("target") or {}).get("reference") or "")
        rtype, _, rid = ref.partition("/")
        if rtype != "DocumentReference" or not rid or rid in docs:
            continue
        where = f"GET /{ref} (relatesTo)"
        doc = expect_fhir_json(report, where, client.request("GET", f"DocumentReference/{urllib.parse.quote(rid, safe='')}"), 200)
        if not isinstance(doc, dict):
            continue
        report.validate(where, doc)
        docs[rid] = doc
        tally(report, "DocumentReference", doc)
        pending.extend(doc.get("relatesTo") or [])
    for pid in seeded:
        if pid not in found.get("Patient", {}):
            report.fail("search Patient", f"the edge-case Patient/{pid} written through the REST API was not found")
    for rtype in types:
        report.counts[rtype]["search"] += len(found[rtype])
        if not found[rtype]:
            report.fail(f"search {rtype}", f"no {rtype} in the server's data: every listed type must be covered")
        read_each(client, report, rtype, found[rtype])
    search_cases(client, report, types, found, entries, deferred)
    error_cases(client, report, types, args.limited_key)
    system, patient = advertises_export(cs)
    if args.no_export:
        pass
    elif not (system or patient):
        report.warn("GET /metadata", "no $export advertised: Bulk Data not checked")
    else:
        fmt = "_outputFormat=" + urllib.parse.quote(NDJSON, safe="")
        if system:
            got = bulk_export(client, report, "$export", f"$export?{fmt}", args.export_timeout)
            # What the export holds and no search showed (earlier versions of a note): read each.
            extra = collections.defaultdict(dict)
            for (t, rid), doc in report.exported["$export"].items():
                if t in found and rid not in found[t]:
                    extra[t][rid] = doc
            for t, docs in extra.items():
                read_each(client, report, t, docs)
                for doc in docs.values():
                    tally(report, t, doc)
                shown = sorted(docs)
                report.warn("$export", f"{len(docs)} {t} exported that no search showed, read by id: "
                                       f"{shown[:5]}{' …' if len(shown) > 5 else ''}")
            if got is not None:
                for t in types:
                    if t not in got and any(r == t for r, _ in deferred):
                        continue  # computed per scope (free Slots), not exported
                    if got.get(t, 0) != report.counts[t]["search"] + len(extra.get(t, {})):
                        report.warn("$export", f"{got.get(t, 0)} {t} exported, {report.counts[t]['search']} found by search")
            some = [t for t in ("Patient", "Appointment") if t in types] or types[:1]
            bulk_export(client, report, "$export _type", f"$export?{fmt}&_type={','.join(some)}", args.export_timeout, expect_types=some)
            # _since: only what changed after it; a time after the first export's, so (nothing
            # having been written since) the answer should be empty. Whatever comes is validated.
            since = report.transaction_times.get("$export")
            if since:
                q = urllib.parse.quote(since, safe="")
                got = bulk_export(client, report, "$export _since", f"$export?{fmt}&_since={q}", args.export_timeout)
                if got and sum(got.values()):
                    report.warn("$export _since", f"{dict(got)} changed since {since}")
        if patient:
            bulk_export(client, report, "Patient/$export", f"Patient/$export?{fmt}", args.export_timeout)
        # Kick-offs the server must refuse with 400 and an OperationOutcome.
        kick = "$export" if system else "Patient/$export"
        for why, query, headers in (
            ("no Prefer: respond-async", fmt, {}),
            ("_outputFormat not NDJSON", "_outputFormat=text%2Fcsv", {"Prefer": "respond-async"}),
            ("_since not an instant", f"{fmt}&_since=yesterday", {"Prefer": "respond-async"}),
        ):
            path = f"{kick}?{query}"
            check_outcome(report, f"GET /{path} ({why})", client.request("GET", path, headers=headers), 400)
        # Cancel a fresh export at once: 202, and its status is gone.
        kick = "$export" if system else "Patient/$export"
        resp = client.request("GET", f"{kick}?{fmt}", headers={"Prefer": "respond-async"})
        loc = resp.header("content-location")
        if resp.status == 202 and loc:
            loc = urllib.parse.urljoin(client.url(kick), loc)
            resp = client.request("DELETE", loc)
            if resp.status != 202:
                report.fail(f"cancel {kick} (DELETE {loc})", f"HTTP {resp.status}, expected 202")
            resp = client.request("GET", loc, accept="application/json")
            if resp.status not in (404, 410):
                report.fail(f"status after cancel (GET {loc})", f"HTTP {resp.status}, expected 404")
        else:
            report.fail(f"cancel {kick}", f"kick-off answered HTTP {resp.status}")
    for pair in args.expect_status or []:
        rtype, _, status = pair.partition(":")
        if not report.statuses[rtype][status]:
            report.fail(f"search {rtype}", f"no {rtype} with {status}, searched, linked or exported: that case is not covered")
    return client


# --------------------------------------------------------------------------------------------
# Files


def load_files(paths, report):
    loaded = []  # (label, doc)
    for p in paths:
        try:
            text = open(p, encoding="utf-8").read()
        except OSError as e:
            report.fail(p, f"cannot read: {e}")
            continue
        if p.endswith(".ndjson"):
            for ln, line in enumerate(text.split("\n"), 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except ValueError as e:
                    report.fail(f"{p}:{ln}", f"not JSON: {e}")
                    continue
                loaded.append((f"{p}:{ln}", doc))
        else:
            try:
                doc = json.loads(text)
            except ValueError as e:
                report.fail(p, f"not JSON: {e}")
                continue
            loaded.append((p, doc))
    return loaded


# --------------------------------------------------------------------------------------------


def find_node(arg):
    node = arg or shutil.which("node")
    if not node:
        sys.exit("fhircheck: node is not on PATH (--node)")
    return node


def print_counts(report):
    cols = ["files", "search", "read", "$export", "$export _type", "$export _since", "Patient/$export", "searchset", "error answers"]
    cols = [c for c in cols if any(c in v for v in report.counts.values())]
    if not cols:
        return
    w = max(len(t) for t in report.counts) + 2
    print("type".ljust(w) + "".join(c.rjust(max(len(c) + 2, 8)) for c in cols))
    for t in sorted(report.counts):
        print(t.ljust(w) + "".join(str(report.counts[t].get(c, 0)).rjust(max(len(c) + 2, 8)) for c in cols))
    for t in sorted(report.statuses):
        print(f"  {t} status: " + ", ".join(f"{k} {n}" for k, n in sorted(report.statuses[t].items())))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", help="the FHIR base URL, e.g. http://127.0.0.1:8080/fhir/R4")
    ap.add_argument("--key", default=os.environ.get("KLINIVO_KEY"), help="an X-API-Key (default $KLINIVO_KEY)")
    ap.add_argument("--files", action="store_true", help="check the JSON / NDJSON files named instead of a server")
    ap.add_argument("--expect-invalid", action="store_true", help="with --files: each document must be rejected by both validators")
    ap.add_argument("--expect-types", type=lambda s: [t for t in s.split(",") if t], help="types the CapabilityStatement must list")
    ap.add_argument("--expect-status", type=lambda s: [t for t in s.split(",") if t],
                    help="Type:status pairs some resource must have, e.g. Appointment:cancelled,DocumentReference:docStatus=amended")
    ap.add_argument("--seed-edge-cases", action="store_true",
                    help="first write patients with little or nothing optional through the REST API (changes the server's data)")
    ap.add_argument("--api", help="the REST API base for --seed-edge-cases (default: --base with /fhir/R4 replaced by /api/v1)")
    ap.add_argument("--limited-key", help="a key with READ_PATIENTS only: Appointment must answer 403, Patient 200")
    ap.add_argument("--export-timeout", type=float, default=300, help="seconds one Bulk Data export may take (default 300)")
    ap.add_argument("--no-export", action="store_true", help="skip Bulk Data even if advertised")
    ap.add_argument("--max-pages", type=int, default=1000, help="pages of one search at most (default 1000)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per HTTP request (default 60)")
    ap.add_argument("--node", help="the node binary (default: node on PATH)")
    ap.add_argument("--max-errors", type=int, default=200, help="print at most this many failures (all are counted)")
    ap.add_argument("paths", nargs="*", help="with --files: the files")
    args = ap.parse_args()
    if args.files == bool(args.base):
        ap.error("give either --base (with --key) or --files")
    if args.base and not args.key:
        ap.error("--base needs --key (or $KLINIVO_KEY)")
    if args.files and not args.paths:
        ap.error("--files needs files")

    schema = SchemaValidator(find_node(args.node))
    models = ModelValidator()
    i = schema.info
    print(f"validators: {SCHEMA} id {i['id']} sha256 {i['sha256'][:12]}… via {i['source']} (Ajv {i['ajv']}); "
          f"{MODELS} {models.version} (FHIR {models.fhir_version})", file=sys.stderr)

    report = Report()
    t0 = time.time()
    if args.files:
        loaded = load_files(args.paths, report)
        for label, doc in loaded:
            report.validate(label, doc)
            report.counts[describe(doc).split("/")[0]]["files"] += 1
        if args.expect_invalid:
            results = schema.errors_many([d for _, d in loaded])
            bad = 0
            for (label, doc), schema_errs in zip(loaded, results):
                model_errs = models.errors(doc)
                print(f"{label} {describe(doc)}\n  {SCHEMA}: {'; '.join(schema_errs) or 'ACCEPTED'}\n  {MODELS}: {'; '.join(model_errs) or 'ACCEPTED'}")
                if not schema_errs or not model_errs:
                    bad += 1
            print(f"{len(loaded) - bad} rejected by both validators, {bad} accepted by one or both")
            print(f"{len(loaded) - bad} passed, {bad} failed")
            sys.exit(1 if bad or report.failures or not loaded else 0)
    else:
        client = crawl(args, report)
        print(f"{client.requests} requests in {time.time() - t0:.1f} s", file=sys.stderr)

    report.run_validators(schema, models)
    print_counts(report)
    for (rtype, keys), n in sorted(report.differs.items()):
        report.warn(f"GET /{rtype}/{{id}}", f"{n} read(s) differ from the search Bundle's copy in: {keys}")
    for where, msg in report.warnings:
        print(f"warning: {where}: {msg}")
    distinct = report.print_failures(args.max_errors)
    docs = len(report.docs)
    failed_docs = len({(s, w) for s, w, c, _ in report.failures if c != HARNESS})
    by = collections.Counter(c for _, _, c, _ in report.failures)
    print(f"{docs} documents validated by {SCHEMA}, {MODELS} and {JSON_RULES}; {len(report.failures)} errors "
          f"({by[SCHEMA]} {SCHEMA}, {by[MODELS]} {MODELS}, {by[JSON_RULES]} {JSON_RULES}, {by[HARNESS]} {HARNESS}), "
          f"{distinct} distinct")
    print(f"fhir-check: {docs - failed_docs} passed, {failed_docs + by[HARNESS]} failed")
    sys.exit(1 if report.failures else 0)


if __name__ == "__main__":
    main()
