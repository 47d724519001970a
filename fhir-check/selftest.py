#!/usr/bin/env python3
"""The crawler against a small FHIR server with known faults: each must be reported.

  selftest.py     (in the venv of requirements.txt, with the schema installed, as .ci/fhir runs it)

The server serves samples/valid/ (and many more patients, so that searches page), with one fault
of each kind the crawl looks for planted in it. The crawl must report every planted fault, by the
checker that should see it, and nothing else. Last line: `selftest: N passed, M failed`.
"""

import copy
import glob
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "kv_selftest"

# (checker, texts the failure line must contain): one per planted fault.
EXPECTED = [
    ("fhir.schema.json", "Patient/p7 @ search Patient page 1 entry[7] (and 3 more: $export, GET): .gender: should be equal to one of the allowed values"),
    ("fhir.resources", ("Slot/s1 @ search Slot page 1 entry[0] (and ", "): .status: field required")),
    ("fhir-json-rules", "Bundle @ search GET /Patient?_id=fhir-check-no-such-id-0: .entry: empty array"),
    ("fhir-json-rules", "Practitioner/3 @ search Practitioner page 1 entry[0] (and 2 more: $export, GET): .telecom: empty array"),
    ("harness", "search Patient page 2 (GET _count=200&_offset=200): 201 matches on a page asked for _count=200"),
    ("harness", "GET /Location/fhir-check-no-such-id-0 (unknown id): body is (not a resource), expected an OperationOutcome"),
    ("harness", "GET /Encounter/9: Content-Type is 'application/json', expected application/fhir+json"),
    ("harness", "/_file/Organization): line 2 is a Location, in the Organization file"),
    ("harness", "search QuestionnaireResponse: no QuestionnaireResponse in the server's data"),
]


def load_samples():
    res = {}
    for f in sorted(glob.glob(os.path.join(HERE, "samples/valid/*.json")) + glob.glob(os.path.join(HERE, "samples/valid/*.ndjson"))):
        text = open(f, encoding="utf-8").read()
        docs = [json.loads(line) for line in text.splitlines() if line.strip()] if f.endswith(".ndjson") else [json.loads(text)]
        for d in docs:
            if d["resourceType"] not in ("Bundle", "OperationOutcome", "CapabilityStatement", "QuestionnaireResponse"):
                res.setdefault(d["resourceType"], {})[d["id"]] = d
    for i in range(450):
        res["Patient"][f"p{i}"] = {"resourceType": "Patient", "id": f"p{i}", "gender": "x" if i == 7 else "other"}
    res["Practitioner"]["3"]["telecom"] = []  # planted: an empty array
    res["Slot"]["s1"] = {"resourceType": "Slot", "id": "s1", "schedule": {"reference": "Schedule/3"},
                         "start": "2030-01-01T10:00:00Z", "end": "2030-01-01T10:30:00Z"}  # planted: no status
    return res


RES = load_samples()
TYPES = list(RES) + ["QuestionnaireResponse"]  # planted: a listed type with nothing in it
JOBS = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def send(self, code, body, ct="application/fhir+json; fhirVersion=4.0", headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ct)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def outcome(self, code, issue_code, msg, expression=None):
        issue = {"severity": "error", "code": issue_code, "diagnostics": msg}
        if expression:
            issue["expression"] = [expression]
        self.send(code, {"resourceType": "OperationOutcome", "issue": [issue]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.outcome(405, "not-supported", "read-only")

    def do_DELETE(self):
        job = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
        if JOBS.pop(job, None) is None:
            return self.outcome(404, "not-found", "no such export")
        self.send(202, b"", "text/plain")

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        path = u.path[len("/fhir/R4/"):]
        base = f"http://{self.headers['Host']}/fhir/R4"
        parts = path.split("/")
        if path == "metadata":
            cs = json.load(open(os.path.join(HERE, "samples/valid/capability-statement.json")))
            cs["rest"][0]["resource"] = [
                {"type": t, "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [{"name": "_id", "type": "token"}]} for t in TYPES]
            return self.send(200, cs)
        if self.headers.get("X-API-Key") != KEY:
            return self.outcome(401, "login", "no key")
        if "xml" in (self.headers.get("Accept") or ""):
            return self.outcome(406, "not-supported", "JSON only")
        if parts[0] == "_file":
            rtype = parts[1]
            lines = [json.dumps(r) for r in RES[rtype].values()]
            if rtype == "Organization":
                lines.append(json.dumps(RES["Location"]["1"]))  # planted: a line of another type
            return self.send(200, ("\n".join(lines) + "\n").encode(), "application/fhir+ndjson")
        if parts[0] == "_job":
            job = JOBS.get(parts[1])
            if job is None:
                return self.outcome(404, "not-found", "no such export")
            if time.time() < job["ready"]:
                return self.send(202, b"", "text/plain", {"Retry-After": "1", "X-Progress": "working"})
            manifest = {"transactionTime": job["time"], "request": job["request"], "requiresAccessToken": True,
                        "output": [{"type": t, "url": f"{base}/_file/{t}"} for t in job["types"]], "error": []}
            return self.send(200, manifest, "application/json")
        if parts[-1] == "$export":
            if self.headers.get("Prefer") != "respond-async":
                return self.outcome(400, "invalid", "send Prefer: respond-async", "Prefer")
            if q.get("_outputFormat", "application/fhir+ndjson") != "application/fhir+ndjson":
                return self.outcome(400, "invalid", "ndjson only", "_outputFormat")
            if "_since" in q and not q["_since"][:1].isdigit():
                return self.outcome(400, "invalid", "_since: an instant", "_since")
            types = [t for t in q.get("_type", ",".join(RES)).split(",") if t in RES]
            if "_since" in q:
                types = []
            job = str(len(JOBS) + 1) + f"-{time.time():.0f}"
            JOBS[job] = {"ready": time.time() + 0.5, "request": base + self.path[len("/fhir/R4"):], "types": types,
                         "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            return self.send(202, b"", "text/plain", {"Content-Location": f"{base}/_job/{job}"})
        rtype = parts[0]
        if rtype not in TYPES:
            return self.outcome(404, "not-supported", f"{rtype} is not served")
        if len(parts) > 2:
            return self.outcome(404, "not-found", "no such path")
        if len(parts) == 2:
            found = RES.get(rtype, {}).get(parts[1])
            if found is None:
                if rtype == "Location":
                    return self.send(404, {"error": "not_found"})  # planted: not an OperationOutcome
                return self.outcome(404, "not-found", "unknown id")
            if rtype == "Encounter":
                return self.send(200, found, "application/json")  # planted: not application/fhir+json
            return self.send(200, found)
        try:
            count = int(q.get("_count", "50"))
            assert 1 <= count <= 200
        except (ValueError, AssertionError):
            return self.outcome(400, "invalid", "_count: 1 to 200", "_count")
        ids = sorted(RES.get(rtype, {}), key=lambda i: (len(i), i))
        if "_id" in q:
            ids = [i for i in ids if i == q["_id"]]
        known = {"_count", "_offset", "_id", "_format"}
        unknown = [k for k in q if k not in known]
        if unknown and self.headers.get("Prefer") == "handling=strict":
            return self.outcome(400, "invalid", f"unknown parameter {unknown[0]}", unknown[0])
        offset = int(q.get("_offset", "0"))
        page = ids[offset:offset + count]
        if rtype == "Patient" and offset == 200:
            page = ids[offset:offset + count + 1]  # planted: one more than _count
        links = [{"relation": "self", "url": f"{base}/{rtype}?_count={count}&_offset={offset}"}]
        if offset + len(page) < len(ids):
            links.append({"relation": "next", "url": f"{base}/{rtype}?_count={count}&_offset={offset + len(page)}"})
        entries = [{"fullUrl": f"{base}/{rtype}/{i}", "resource": RES[rtype][i], "search": {"mode": "match"}} for i in page]
        if unknown:
            entries.append({"resource": {"resourceType": "OperationOutcome", "issue": [
                {"severity": "warning", "code": "not-supported", "diagnostics": f"ignored: {unknown[0]}"}]},
                "search": {"mode": "outcome"}})
        bundle = {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
        if not entries and rtype != "Patient":
            del bundle["entry"]  # (the planted empty array is Patient's alone)
        return self.send(200, bundle)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/fhir/R4"
    p = subprocess.run([sys.executable, os.path.join(HERE, "fhircheck.py"), "--base", base, "--key", KEY,
                        "--export-timeout", "30", "--max-errors", "1000"], capture_output=True, text=True)
    server.shutdown()
    fails = [line for line in p.stdout.splitlines() if line.startswith("FAIL [")]
    passed = failed = 0
    matched = set()
    for checker, text in EXPECTED:
        texts = (text,) if isinstance(text, str) else text
        hit = [f for f in fails if f.startswith(f"FAIL [{checker}]") and all(t in f for t in texts)]
        if hit:
            passed += 1
            matched.update(hit)
        else:
            failed += 1
            print(f"selftest: not reported: [{checker}] {text}")
    for f in fails:
        if f not in matched:
            failed += 1
            print(f"selftest: reported but not planted: {f}")
    if p.returncode != 1:
        failed += 1
        print(f"selftest: fhircheck.py exited {p.returncode}, expected 1")
    if failed:
        print(p.stdout[-6000:])
        print(p.stderr[-3000:], file=sys.stderr)
    print(f"selftest: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
