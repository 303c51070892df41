#!/usr/bin/env python3
"""The REST API against the real server on loopback (issue 6's "Must show").

Run by tests/suites/api.sh with the binary in $CRONFLOW. Starts
`cronflow serve` on a fresh data directory, makes tokens for two
organizations with the CLI, then checks every endpoint's success and
failure paths: authentication on every operation of the OpenAPI document,
organization isolation on every route that takes an id, viewers that
cannot write, malformed bodies that never crash the server nor leave
half-written objects, sessions with CSRF, the login rate limit, webhooks
(with ?wait=true), executions (filters, cursors, cancel, re-run), and the
original system's flow end to end: create a workflow, schedule it every
second, see executions with steps, disable, see none, delete.

Prints one line per failure and ends with "SUMMARY: N passed, M failed".
Python 3 standard library only.
"""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

CRONFLOW = os.environ["CRONFLOW"]
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s%s" % (name, (": " + str(detail)[:600]) if detail != "" else ""))
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    def __init__(self, port, token=None):
        self.port, self.token, self.cookies, self.csrf = port, token, {}, None

    def call(self, method, path, body=None, headers=None, raw=None, timeout=40):
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if self.csrf and "X-CSRF-Token" not in h:
            h["X-CSRF-Token"] = self.csrf
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/json"
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";")[0]
                if value:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
        c.close()
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = text
        hdrs = {}
        for k, v in r.getheaders():
            k = k.lower()
            hdrs[k] = hdrs[k] + "\n" + v if k in hdrs else v
        return r.status, doc, hdrs


def cli(*args):
    p = subprocess.run([CRONFLOW] + list(args), capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("cronflow %s failed: %s" % (" ".join(args), p.stderr))
    return p.stdout.strip().splitlines()[-1]


def wait_for(fn, seconds=20, step=0.1):
    end = time.time() + seconds
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def flow(name, nodes=None, edges=None, **extra):
    d = {"name": name,
         "nodes": nodes or [{"id": "start", "type": "trigger"},
                            {"id": "say", "type": "action", "action": "log_message",
                             "params": {"message": "hello {{ trigger.input.who }}"}}],
         "edges": edges if edges is not None else [{"from": "start", "to": "say"}]}
    d.update(extra)
    return d


def sleeper(name, ms):
    return flow(name, [{"id": "start", "type": "trigger"},
                       {"id": "nap", "type": "action", "action": "sleep", "params": {"duration_ms": ms}}],
                [{"from": "start", "to": "nap"}])


def main():
    work = tempfile.mkdtemp(prefix="cronflow-api-")
    db = os.path.join(work, "data", "cronflow.db")
    # Tokens before the first start: the organization has no user yet, so
    # the server's first start still creates the admin.
    t_admin = cli("token", "create", "--db", db, "--name", "admin-script")
    t_view = cli("token", "create", "--db", db, "--role", "viewer", "--name", "viewer")
    t_edit = cli("token", "create", "--db", db, "--role", "editor", "--name", "editor")
    check("cli token format", re.fullmatch(r"cft_[0-9a-f]{40}", t_admin), t_admin)
    p = subprocess.run([CRONFLOW, "token", "create", "--db", db, "--org", "nowhere"],
                       capture_output=True, text=True)
    check("cli token for a missing organization fails", p.returncode == 1, p.stderr)
    p = subprocess.run([CRONFLOW, "token", "create", "--db", db, "--role", "root"],
                       capture_output=True, text=True)
    check("cli token bad role exits 2", p.returncode == 2, p.stderr)

    port = free_port()
    out = open(os.path.join(work, "serve.out"), "w+")
    server = subprocess.Popen([CRONFLOW, "serve", "--listen", "127.0.0.1:%d" % port, "--db", db],
                              stdout=out, stderr=subprocess.STDOUT)
    try:
        anon = Client(port)
        up = wait_for(lambda: _alive(anon), 30)
        if not check("server starts", up):
            out.seek(0)
            print(out.read())
            return
        # The second organization, made while the server runs (the CLI
        # writes to the same database).
        cli("user", "create", "--db", db, "--org", "other", "--email", "bob@other.example",
            "--password", "bob-password-1", "--role", "admin")
        t_other = cli("token", "create", "--db", db, "--org", "other", "--name", "other")
        try:
            run_tests(port, work, out, t_admin, t_view, t_edit, t_other)
        except (OSError, http.client.HTTPException, KeyError, TypeError) as e:
            check("the tests ran to the end", False, repr(e))
    finally:
        server.terminate()
        try:
            rc = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            rc = server.wait()
        out.seek(0)
        log = out.read()
        check("server exits cleanly", rc == 0, (rc, log[-3000:]))
        check("no sanitizer report", "ERROR: AddressSanitizer" not in log and "runtime error" not in log,
              log[-3000:])
    print("SUMMARY: %d passed, %d failed" % (passed, failed))


def _alive(c):
    try:
        return c.call("GET", "/healthz")[0] == 200
    except OSError:
        return False


def run_tests(port, work, out, t_admin, t_view, t_edit, t_other):
    anon = Client(port)
    A, V, E, B = Client(port, t_admin), Client(port, t_view), Client(port, t_edit), Client(port, t_other)

    # ------------------------------------------------ public and unknown
    st, doc, _ = anon.call("GET", "/healthz")
    check("healthz", st == 200 and doc["status"] == "ok", doc)
    st, doc, _ = anon.call("GET", "/readyz")
    check("readyz", st == 200 and doc["status"] == "ready", doc)
    st, spec, _ = anon.call("GET", "/api/openapi.json")
    check("openapi served without auth", st == 200 and spec["openapi"].startswith("3."), st)
    st, doc, _ = A.call("GET", "/api/nothing")
    check("unknown api path 404", st == 404 and doc["error"]["code"] == "not_found", doc)
    st, doc, h = A.call("PATCH", "/api/workflows")
    check("wrong method 405 with Allow", st == 405 and h.get("allow") == "GET, POST", (st, h))
    st, doc, _ = A.call("GET", "/api/workflows?" + "&".join("a%d=1" % i for i in range(40)))
    check("too many query arguments 400", st == 400, (st, doc))

    # ------------------------------------------------ authentication on every operation
    ops = [(m.upper(), p, o) for p, item in spec["paths"].items() for m, o in item.items()]
    check("openapi lists the operations", len(ops) >= 30, len(ops))
    for method, path, o in ops:
        if o.get("security") == []:
            continue
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        st, doc, h = anon.call(method, concrete, body={} if method in ("POST", "PUT", "PATCH") else None)
        check("no token 401: %s %s" % (method, path),
              st == 401 and doc["error"]["code"] == "unauthenticated" and "www-authenticate" in h, (st, doc))
        st, doc, _ = Client(port, "cft_" + "0" * 40).call(method, concrete)
        check("bad token 401: %s %s" % (method, path), st == 401, (st, doc))
    st, doc, _ = anon.call("GET", "/api/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    check("non-bearer Authorization 401", st == 401 and doc["error"]["code"] == "invalid_token", doc)

    # ------------------------------------------------ me
    st, doc, _ = A.call("GET", "/api/me")
    check("me", st == 200 and doc["organization"]["name"] == "default" and doc["role"] == "admin"
          and doc["auth"] == "token", doc)
    st, doc, _ = B.call("GET", "/api/me")
    check("me of the other organization", st == 200 and doc["organization"]["name"] == "other", doc)
    st, doc, _ = V.call("GET", "/api/me")
    check("me as viewer", doc["role"] == "viewer", doc)

    # ------------------------------------------------ workflows
    st, wf, h = A.call("POST", "/api/workflows", flow("hello"))
    check("create workflow 201", st == 201 and wf["id"] > 0 and wf["version"] == 1
          and wf["definition"]["name"] == "hello", (st, wf))
    check("create sets Location", h.get("location") == "/api/workflows/%d" % wf["id"], h)
    wid = wf["id"]
    st, doc, _ = A.call("GET", "/api/workflows/%d" % wid)
    check("get workflow", st == 200 and doc["name"] == "hello" and doc["definition"]["nodes"][1]["id"] == "say", doc)
    st, doc, _ = A.call("PUT", "/api/workflows/%d" % wid, flow("hello v2"))
    check("update makes version 2", st == 200 and doc["version"] == 2 and doc["name"] == "hello v2", doc)
    st, doc, _ = A.call("GET", "/api/workflows/%d/versions" % wid)
    check("versions newest first", st == 200 and [v["version"] for v in doc["items"]] == [2, 1], doc)
    st, doc, _ = A.call("GET", "/api/workflows/%d/versions?limit=1" % wid)
    check("versions page 1", st == 200 and [v["version"] for v in doc["items"]] == [2] and doc["next_cursor"], doc)
    st, doc2, _ = A.call("GET", "/api/workflows/%d/versions?limit=1&cursor=%s" % (wid, doc["next_cursor"]))
    check("versions page 2", st == 200 and [v["version"] for v in doc2["items"]] == [1], doc2)
    st, doc, _ = A.call("GET", "/api/workflows/%d/versions/1" % wid)
    check("version 1 is immutable", st == 200 and doc["definition"]["name"] == "hello" and doc["version"] == 1, doc)
    st, doc, _ = A.call("GET", "/api/workflows/%d/versions/9" % wid)
    check("missing version 404", st == 404, doc)
    st, doc, h = A.call("GET", "/api/workflows/%d/export" % wid)
    check("export is the definition", st == 200 and doc["name"] == "hello v2" and "attachment" in h.get("content-disposition", ""), (doc, h))
    st, imp, _ = A.call("POST", "/api/workflows/import", doc)
    check("import makes a new workflow", st == 201 and imp["id"] != wid and imp["name"] == "hello v2", imp)
    st, doc, _ = A.call("POST", "/api/workflows/validate", flow("fine"))
    check("validate valid", st == 200 and doc["valid"] is True and doc["nodes"] == 2, doc)
    bad = flow("bad", [{"id": "start", "type": "trigger"},
                       {"id": "x", "type": "action", "action": "no_such_action"}],
               [{"from": "start", "to": "x"}, {"from": "x", "to": "nowhere"}])
    st, doc, _ = A.call("POST", "/api/workflows/validate", bad)
    check("validate invalid lists problems", st == 200 and doc["valid"] is False and len(doc["problems"]) >= 2
          and all("path" in p for p in doc["problems"]), doc)
    st, doc, _ = A.call("POST", "/api/workflows", bad)
    check("create invalid 422 with every problem and its path",
          st == 422 and doc["error"]["code"] == "invalid_workflow" and len(doc["error"]["problems"]) >= 2
          and any(p["path"].startswith("nodes[1]") for p in doc["error"]["problems"])
          and doc["error"].get("field"), doc)
    # Paging through workflows.
    for i in range(3):
        A.call("POST", "/api/workflows", flow("page %d" % i))
    seen, cursor, pages = [], None, 0
    while True:
        st, doc, _ = A.call("GET", "/api/workflows?limit=2" + ("&cursor=" + cursor if cursor else ""))
        if st != 200:
            break
        seen += [w["id"] for w in doc["items"]]
        pages += 1
        cursor = doc["next_cursor"]
        if not cursor or pages > 10:
            break
    check("workflow pages cover every workflow once", len(seen) == 5 and len(set(seen)) == 5 and pages == 3, (seen, pages))
    st, doc, _ = A.call("GET", "/api/workflows?cursor=12345")
    check("a forged cursor 400", st == 400 and doc["error"]["code"] == "invalid_cursor", doc)
    for q in ("limit=0", "limit=1001", "limit=abc"):
        st, doc, _ = A.call("GET", "/api/workflows?" + q)
        check("bad %s 400" % q, st == 400 and doc["error"]["field"] == "limit", doc)

    # ------------------------------------------------ roles
    st, doc, _ = V.call("GET", "/api/workflows/%d" % wid)
    check("viewer reads", st == 200, doc)
    for method, path, body in [("POST", "/api/workflows", flow("v")), ("PUT", "/api/workflows/%d" % wid, flow("v")),
                               ("DELETE", "/api/workflows/%d" % wid, None), ("POST", "/api/workflows/%d/run" % wid, {}),
                               ("POST", "/api/workflows/%d/webhook" % wid, None), ("POST", "/api/tokens", {"name": "x"}),
                               ("POST", "/api/workflows/%d/schedule" % wid, {"cron": "* * * * *"})]:
        st, doc, _ = V.call(method, path, body)
        check("viewer cannot %s %s" % (method, path), st == 403 and doc["error"]["code"] == "forbidden", (st, doc))
    # Every operation that needs more than the viewer role, as the OpenAPI
    # document says: 403 before anything runs.
    for method, path, o in ops:
        if o.get("x-access") not in ("write", "admin"):
            continue
        concrete = re.sub(r"\{[^}]+\}", str(wid), path)
        st, doc, _ = V.call(method, concrete, {} if method in ("POST", "PUT", "PATCH") else None)
        check("viewer 403: %s %s" % (method, path), st == 403, (st, doc))
    # Every operation that takes a JSON body refuses a broken one with 400.
    for method, path, o in ops:
        if "requestBody" not in o or o.get("security") == []:
            continue
        concrete = re.sub(r"\{[^}]+\}", str(wid), path)
        st, doc, _ = A.call(method, concrete, raw=b'{"broken": ')
        # (404 first where the path names nothing: the object is checked
        # before the body is read.)
        check("broken JSON 400: %s %s" % (method, path),
              (st == 400 and doc["error"]["code"] == "invalid_json") or
              (st == 404 and doc["error"]["code"] == "not_found"), (st, doc))
    st, doc, _ = V.call("POST", "/api/utils/validate-cron", {"expression": "* * * * *"})
    check("viewer validates cron", st == 200 and doc["valid"], doc)
    st, doc, _ = E.call("GET", "/api/users")
    check("editor cannot list users", st == 403, doc)
    st, doc, _ = V.call("GET", "/api/workflows/%d" % wid)
    check("viewer's write attempts changed nothing", doc["version"] == 2, doc)

    # ------------------------------------------------ malformed bodies
    def count_workflows():
        return len(A.call("GET", "/api/workflows?limit=1000")[1]["items"])
    before = count_workflows()
    cases = [
        ("not JSON", b"{nope", 400, "invalid_json"),
        ("a JSON array", b"[1,2]", 400, "invalid_json"),
        ("deep nesting", b"[" * 100000 + b"]" * 100000, 400, "too_deep"),
        ("duplicate keys", b'{"name":"a","name":"b","nodes":[]}', 400, "invalid_json"),
        ("truncated", json.dumps(flow("t")).encode()[:-5], 400, "invalid_json"),
        ("invalid UTF-8", b'{"name":"\xff\xfe","nodes":[]}', 400, "invalid_json"),
        ("wrong types", json.dumps({"name": 5, "nodes": "x"}).encode(), 422, "invalid_workflow"),
        ("unknown node field", json.dumps(flow("u", [{"id": "start", "type": "trigger", "bogus": 1}], [])).encode(), 422, "invalid_workflow"),
    ]
    for name, raw, status, code in cases:
        st, doc, _ = A.call("POST", "/api/workflows", raw=raw)
        check("malformed (%s) %d %s" % (name, status, code),
              st == status and isinstance(doc, dict) and doc["error"]["code"] == code, (st, doc))
    st, doc, _ = A.call("POST", "/api/workflows", raw=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    check("2 MB body 413", st == 413 and doc["error"]["code"] == "body_too_large", (st, doc))
    st, doc, _ = A.call("PUT", "/api/workflows/%d" % wid, raw=b"[" * 5000)
    check("malformed update 400", st == 400, doc)
    check("malformed bodies wrote nothing", count_workflows() == before and
          A.call("GET", "/api/workflows/%d" % wid)[1]["version"] == 2)
    st, doc, _ = A.call("POST", "/api/tokens", {"name": "x", "colour": "red"})
    check("unknown field 422 names it", st == 422 and doc["error"]["code"] == "unknown_field"
          and doc["error"]["field"] == "colour", doc)
    st, doc, _ = A.call("POST", "/api/tokens", {"name": 7})
    check("wrong type 422 names the field", st == 422 and doc["error"]["field"] == "name", doc)
    st, doc, _ = A.call("POST", "/api/tokens", {})
    check("missing field 422", st == 422 and doc["error"]["code"] == "missing_field", doc)
    st, doc, _ = A.call("POST", "/api/workflows/%d/run" % wid, {"input": {}, "extra": 1})
    check("run with an unknown field 422", st == 422 and doc["error"]["field"] == "extra", doc)
    check("server alive after bad input", _alive(anon))

    # ------------------------------------------------ runs and executions
    st, doc, h = A.call("POST", "/api/workflows/%d/run" % wid, {"input": {"who": "world"}})
    check("run 202 with execution id", st == 202 and doc["execution_id"] > 0 and
          h.get("location") == "/api/executions/%d" % doc["execution_id"], (st, doc))
    xid = doc["execution_id"]
    ex = wait_for(lambda: _finished(A, xid))
    check("run succeeds", ex and ex["status"] == "succeeded" and ex["workflow_version"] == 2
          and ex["trigger"] == "manual" and ex["trigger_data"]["input"] == {"who": "world"}, ex)
    check("execution has steps and logs", ex and [s["node_id"] for s in ex["steps"]] == ["start", "say"]
          and any("hello world" in l["message"] for l in ex["logs"]), ex)
    st, doc, _ = A.call("POST", "/api/workflows/%d/run" % wid)
    check("run without a body", st == 202, doc)
    xid2 = doc["execution_id"]
    wait_for(lambda: _finished(A, xid2))
    st, doc, _ = A.call("GET", "/api/executions?workflow_id=%d" % wid)
    check("executions by workflow, newest first", st == 200 and [e["id"] for e in doc["items"]] == [xid2, xid], doc)
    st, doc, _ = A.call("GET", "/api/executions?workflow_id=%d&limit=1" % wid)
    st, doc2, _ = A.call("GET", "/api/executions?workflow_id=%d&limit=1&cursor=%s" % (wid, doc["next_cursor"]))
    check("execution cursor pages", [e["id"] for e in doc["items"] + doc2["items"]] == [xid2, xid], (doc, doc2))
    st, doc, _ = A.call("GET", "/api/executions?status=succeeded&workflow_id=%d" % wid)
    check("filter by status", st == 200 and len(doc["items"]) == 2, doc)
    st, doc, _ = A.call("GET", "/api/executions?status=failed&workflow_id=%d" % wid)
    check("filter by another status", st == 200 and doc["items"] == [], doc)
    st, doc, _ = A.call("GET", "/api/executions?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z")
    check("filter by time range", st == 200 and doc["items"] == [] and doc["next_cursor"] is None, doc)
    st, doc, _ = A.call("GET", "/api/executions?since=2000-01-01T00:00:00Z&workflow_id=%d" % wid)
    check("since includes recent", len(doc["items"]) == 2, doc)
    for q, field in (("status=done", "status"), ("since=yesterday", "since"), ("workflow_id=-3", "workflow_id"),
                     ("limit=1001", "limit"), ("cursor=zzz", "cursor")):
        st, doc, _ = A.call("GET", "/api/executions?" + q)
        check("executions bad %s 400" % q, st == 400 and doc["error"]["field"] == field, doc)
    st, doc, _ = A.call("GET", "/api/executions/%d" % 999999)
    check("missing execution 404", st == 404, doc)
    st, doc, _ = A.call("POST", "/api/executions/%d/rerun" % xid, {"from": "start"})
    check("rerun from start: a new execution", st == 202 and doc["id"] != xid and doc["trigger"] == "rerun"
          and doc["trigger_data"]["input"] == {"who": "world"}, doc)
    rid = doc["id"]
    ex = wait_for(lambda: _finished(A, rid))
    check("rerun succeeds", ex and ex["status"] == "succeeded", ex)
    st, doc, _ = A.call("POST", "/api/executions/%d/rerun" % xid, {"from": "failed"})
    check("rerun of a succeeded one from the failed step 409", st == 409, doc)
    st, doc, _ = A.call("POST", "/api/executions/%d/rerun" % xid, {"from": "middle"})
    check("rerun bad from 422", st == 422 and doc["error"]["field"] == "from", doc)
    # A failing run re-run from its failed step keeps its id.
    st, fw, _ = A.call("POST", "/api/workflows", flow("fails", [
        {"id": "start", "type": "trigger"},
        {"id": "get", "type": "action", "action": "http_request", "params": {"url": "http://127.0.0.1:1/"}}],
        [{"from": "start", "to": "get"}]))
    st, doc, _ = A.call("POST", "/api/workflows/%d/run" % fw["id"])
    fid = doc["execution_id"]
    ex = wait_for(lambda: _finished(A, fid))
    check("failing run fails", ex and ex["status"] == "failed" and ex["error"], ex)
    st, doc, _ = A.call("POST", "/api/executions/%d/rerun" % fid, {"from": "failed"})
    check("rerun from the failed step resumes the same execution", st == 202 and doc["id"] == fid, doc)
    ex = wait_for(lambda: _finished(A, fid, attempt=2))
    check("resumed execution ran a second attempt", ex and ex["attempt"] == 2, ex)
    # Cancel: a long sleep, cancelled while it runs.
    st, sw, _ = A.call("POST", "/api/workflows", sleeper("naps", 20000))
    st, doc, _ = A.call("POST", "/api/workflows/%d/run" % sw["id"])
    sid = doc["execution_id"]
    wait_for(lambda: A.call("GET", "/api/executions/%d" % sid)[1]["status"] == "running")
    st, doc, _ = V.call("POST", "/api/executions/%d/cancel" % sid)
    check("viewer cannot cancel", st == 403, doc)
    st, doc, _ = A.call("POST", "/api/executions/%d/cancel" % sid)
    check("cancel accepted", st == 202, (st, doc))
    ex = wait_for(lambda: _finished(A, sid), 25)
    check("cancelled while running", ex and ex["status"] == "cancelled", ex)
    st, doc, _ = A.call("POST", "/api/executions/%d/rerun" % sid, {"from": "start"})
    check("rerun of a cancelled execution", st == 202, doc)
    if st == 202:
        A.call("POST", "/api/executions/%d/cancel" % doc["id"])

    # ------------------------------------------------ webhooks
    st, hook, _ = A.call("POST", "/api/workflows/%d/webhook" % wid)
    check("webhook secret", st == 200 and hook["url"].startswith("/hooks/") and len(hook["secret"]) >= 40, hook)
    st, doc, _ = A.call("GET", "/api/workflows/%d" % wid)
    check("workflow says it has a webhook", doc["has_webhook"] is True, doc)
    st, doc, _ = anon.call("POST", hook["url"] + "?source=test&n=2", {"who": "hook"},
                           headers={"X-Custom": "yes", "Authorization": "Bearer secret-not-kept"})
    check("webhook 202 without auth", st == 202 and doc["execution_id"] > 0, (st, doc))
    hx = doc.get("execution_id") if isinstance(doc, dict) else None
    ex = wait_for(lambda: _finished(A, hx)) if hx else None
    td = ex["trigger_data"] if ex else {}
    check("webhook trigger data: body, query, headers", ex and ex["trigger"] == "webhook" and td["body"] == {"who": "hook"}
          and td["query"] == {"source": "test", "n": "2"} and td["headers"].get("x-custom") == "yes", td)
    check("webhook never keeps Authorization", "authorization" not in td.get("headers", {}), td)
    t0 = time.time()
    st, doc, _ = anon.call("POST", hook["url"] + "?wait=true", {"who": "waiter"})
    check("webhook ?wait=true answers with the result", st == 200 and doc["status"] == "succeeded"
          and any("hello waiter" in l["message"] for l in doc["logs"]), (st, doc))
    check("webhook wait is quick", time.time() - t0 < 10, time.time() - t0)
    st, doc, _ = anon.call("POST", hook["url"], raw=b"plain text body", headers={"Content-Type": "text/plain"})
    check("webhook text body", st == 202, doc)
    st, doc, _ = anon.call("POST", hook["url"], raw=b"{bad", headers={"Content-Type": "application/json"})
    check("webhook bad JSON 400", st == 400, doc)
    st, doc, _ = anon.call("POST", hook["url"] + "?timeout=999&wait=true", {})
    check("webhook bad timeout 400", st == 400, doc)
    st, hook2, _ = A.call("POST", "/api/workflows/%d/webhook" % wid)
    st, doc, _ = anon.call("POST", hook["url"], {})
    check("rotated secret: old URL 404", st == 404, doc)
    st, doc, _ = anon.call("POST", hook2["url"], {})
    check("rotated secret: new URL works", st == 202, doc)
    st, doc, _ = A.call("DELETE", "/api/workflows/%d/webhook" % wid)
    st2, doc2, _ = anon.call("POST", hook2["url"], {})
    check("webhook removed", st == 204 and st2 == 404, (st, st2))
    st, sw2, _ = A.call("POST", "/api/workflows", sleeper("slow hook", 3000))
    st, sh, _ = A.call("POST", "/api/workflows/%d/webhook" % sw2["id"])
    t0 = time.time()
    st, doc, _ = anon.call("POST", sh["url"] + "?wait=true&timeout=1", {})
    check("webhook wait runs out: 202 with the running execution", st == 202 and doc["status"] in ("queued", "running")
          and 0.8 < time.time() - t0 < 5, (st, doc, time.time() - t0))

    # ------------------------------------------------ tokens
    st, doc, _ = E.call("POST", "/api/tokens", {"name": "too strong", "role": "admin"})
    check("editor cannot make an admin token", st == 403, doc)
    st, tok, _ = E.call("POST", "/api/tokens", {"name": "read only", "role": "viewer"})
    check("editor makes a viewer token, shown once", st == 201 and tok["token"].startswith("cft_")
          and tok["prefix"] == tok["token"][:12] and tok["role"] == "viewer", tok)
    N = Client(port, tok["token"])
    st, doc, _ = N.call("GET", "/api/me")
    check("new token works", st == 200 and doc["role"] == "viewer", doc)
    st, doc, _ = A.call("GET", "/api/tokens")
    listed = {t["id"]: t for t in doc["items"]}
    check("token list never shows tokens", st == 200 and tok["id"] in listed and
          all("token" not in t for t in doc["items"]), doc)
    check("token list shows last use", listed.get(tok["id"], {}).get("last_used_at"), listed.get(tok["id"]))
    st, doc, _ = A.call("POST", "/api/tokens", {"name": "old", "expires_at": "2001-01-01T00:00:00Z"})
    check("token expiring in the past 422", st == 422 and doc["error"]["field"] == "expires_at", doc)
    st, doc, _ = A.call("DELETE", "/api/tokens/%d" % tok["id"])
    check("revoke 204", st == 204, (st, doc))
    st, doc, _ = N.call("GET", "/api/me")
    check("revoked token 401 at once", st == 401, doc)
    st, doc, _ = A.call("DELETE", "/api/tokens/%d" % tok["id"])
    check("revoke twice 404", st == 404, doc)

    # ------------------------------------------------ users, sessions, CSRF, rate limit
    st, doc, _ = A.call("POST", "/api/users", {"email": "carol@example.com", "password": "carol-pass-9", "role": "editor"})
    check("admin adds a user", st == 201 and doc["email"] == "carol@example.com" and doc["role"] == "editor", doc)
    st, doc, _ = A.call("POST", "/api/users", {"email": "carol@example.com", "password": "another-pass"})
    check("same e-mail twice 409", st == 409, doc)
    st, doc, _ = A.call("POST", "/api/users", {"email": "short@example.com", "password": "x"})
    check("short password 422", st == 422 and doc["error"]["field"] == "password", doc)
    S = Client(port)
    st, doc, h = S.call("POST", "/api/auth/login", {"email": "carol@example.com", "password": "carol-pass-9"})
    cookie = h.get("set-cookie", "")
    check("login sets an HttpOnly SameSite=Strict session cookie", st == 200 and "cronflow_session" in S.cookies
          and "HttpOnly" in cookie and "SameSite=Strict" in cookie, (st, doc, h))
    S.csrf = None
    csrf = doc.get("csrf_token") if isinstance(doc, dict) else None
    st, doc, _ = S.call("GET", "/api/me")
    check("session authenticates", st == 200 and doc["auth"] == "session" and doc["user"]["email"] == "carol@example.com", doc)
    st, doc, _ = S.call("POST", "/api/workflows", flow("by session"))
    check("session write without CSRF token 403", st == 403 and doc["error"]["code"] == "csrf_failed", doc)
    st, doc, _ = S.call("POST", "/api/workflows", flow("by session"), headers={"X-CSRF-Token": "0" * 40})
    check("session write with a wrong CSRF token 403", st == 403, doc)
    st, doc, _ = S.call("POST", "/api/workflows", flow("by session"), headers={"X-CSRF-Token": csrf})
    check("session write with the CSRF token", st == 201, doc)
    S.csrf = csrf
    st, doc, _ = S.call("POST", "/api/auth/logout")
    check("logout", st == 200, doc)
    st, doc, _ = Client(port).call("GET", "/api/me", headers={"Cookie": "cronflow_session=" + "ab" * 32})
    check("unknown session 401", st == 401, doc)
    S2 = Client(port)
    S2.cookies = dict(S.cookies)
    st, doc, _ = S2.call("GET", "/api/me")
    check("session ended after logout", st == 401, (st, doc))
    # The first start's admin, printed once.
    out.flush()
    out.seek(0)
    printed = out.read()
    m = re.search(r"password: (\S+)", printed)
    check("first start printed the admin's password", m, printed[:500])
    if m:
        st, doc, _ = Client(port).call("POST", "/api/auth/login", {"email": "admin@localhost", "password": m.group(1)})
        check("the first admin signs in", st == 200 and doc["user"]["role"] == "admin", doc)
    st, doc, _ = Client(port).call("POST", "/api/auth/login", {"email": "carol@example.com"})
    check("login without password 422", st == 422, doc)
    st, doc, _ = Client(port).call("POST", "/api/auth/login", {"email": "nobody@example.com", "password": "whatever1"})
    check("unknown user 401 like a wrong password", st == 401 and doc["error"]["code"] == "invalid_credentials", doc)
    codes = [Client(port).call("POST", "/api/auth/login", {"email": "carol@example.com", "password": "wrong-%d" % i})[0]
             for i in range(5)]
    st, doc, h = Client(port).call("POST", "/api/auth/login", {"email": "carol@example.com", "password": "carol-pass-9"})
    check("login rate limit: 429 with Retry-After after 5 failures", codes == [401] * 5 and st == 429
          and int(h.get("retry-after", "0")) > 0, (codes, st, h))
    if m:
        users_admin(port, A, B, V, E, m.group(1))

    # ------------------------------------------------ organizations
    st, bw, _ = B.call("POST", "/api/workflows", flow("other's"))
    st, doc, _ = B.call("POST", "/api/workflows/%d/run" % bw["id"])
    bx = doc["execution_id"]
    wait_for(lambda: _finished(B, bx))
    st, btok, _ = B.call("POST", "/api/tokens", {"name": "b2"})
    ids = {"id": bw["id"], "version": 1}
    st, doc, _ = B.call("POST", "/api/credentials", {"name": "b-secret", "type": "bearer", "data": {"token": "t0ps3cret"}})
    check("the other organization makes a credential", st == 201, (st, doc))
    st, doc, _ = B.call("POST", "/api/email/templates", {"name": "b-mail", "subject": "hi", "text": "hello"})
    check("the other organization makes an e-mail template", st == 201, (st, doc))
    st, bs, _ = B.call("POST", "/api/workflows/%d/schedule" % bw["id"], {"cron": "0 0 1 1 *", "enabled": False})
    check("the other organization schedules its workflow", st == 201, (st, bs))
    if st == 201:
        ids["schedule"] = bs["id"]
    for method, path, o in ops:
        if o.get("security") == [] or "{" not in path:
            continue
        if path.startswith("/api/executions/"):
            concrete = path.replace("{id}", str(bx))
        elif path.startswith("/api/tokens/"):
            concrete = path.replace("{id}", str(btok["id"]))
        elif path.startswith("/api/credentials/"):
            concrete = path.replace("{name}", "b-secret")
        elif path.startswith("/api/email/templates/"):
            concrete = path.replace("{name}", "b-mail")
        elif path.startswith("/api/schedules/"):
            concrete = path.replace("{id}", str(ids.get("schedule", 1)))
        elif path.startswith("/api/users/"):
            concrete = path.replace("{id}", str(_user_id(B, "bob@other.example")))
        else:
            concrete = re.sub(r"\{(\w+)\}", lambda mm: str(ids[mm.group(1)]), path)
        body = ({"data": {"token": "stolen"}} if "credentials" in path else
                {"subject": "x", "text": "y"} if "templates" in path else
                flow("hijack") if method == "PUT" else {"cron": "* * * * *"} if "schedule" in path else {})
        st, doc, _ = A.call(method, concrete, body if method in ("POST", "PUT", "PATCH") else None)
        check("other organization's id 404: %s %s" % (method, path), st == 404, (st, doc))
    st, doc, _ = B.call("GET", "/api/workflows/%d" % bw["id"])
    check("the other organization's workflow is untouched", st == 200 and doc["version"] == 1 and doc["name"] == "other's", doc)
    st, doc, _ = B.call("GET", "/api/me", headers={})
    st, doc, _ = A.call("GET", "/api/workflows?limit=1000")
    check("lists never show the other organization's workflows", bw["id"] not in [w["id"] for w in doc["items"]], doc)
    st, doc, _ = A.call("GET", "/api/executions?limit=1000")
    check("lists never show the other organization's executions", bx not in [e["id"] for e in doc["items"]], doc)
    st, doc, _ = A.call("GET", "/api/executions?workflow_id=%d" % bw["id"])
    check("filtering by the other's workflow finds nothing", doc["items"] == [], doc)
    st, doc, _ = A.call("GET", "/api/credentials")
    check("credential list is per organization", st == 200 and "b-secret" not in json.dumps(doc), doc)
    st, doc, _ = B.call("GET", "/api/credentials/b-secret")
    check("a credential never shows its value", st == 200 and "t0ps3cret" not in json.dumps(doc), doc)
    st, doc, _ = B.call("POST", "/api/email/preview", {"template": "b-mail", "data": {}})
    check("e-mail preview renders", st == 200 and doc.get("subject") == "hi", (st, doc))
    st, doc, _ = A.call("GET", "/api/email/log?limit=5")
    check("e-mail log is a list", st == 200 and doc["items"] == [] and doc["next_cursor"] is None, (st, doc))
    st, doc, _ = A.call("GET", "/api/email/log?execution_id=x")
    check("e-mail log bad execution_id 400", st == 400, (st, doc))
    st, doc, _ = A.call("GET", "/api/email/templates")
    check("template list is per organization", st == 200 and "b-mail" not in json.dumps(doc), doc)
    st, doc, _ = A.call("GET", "/api/tokens?limit=1000")
    check("token list is per organization", btok["id"] not in [t["id"] for t in doc["items"]], doc)
    st, doc, _ = B.call("GET", "/api/workflows")
    check("the other organization sees only its own", [w["id"] for w in doc["items"]] == [bw["id"]], doc)

    # ------------------------------------------------ schedules: the original's flow end to end
    schedules(port, A, B, V, ids)

    # ------------------------------------------------ delete
    st, doc, _ = A.call("DELETE", "/api/workflows/%d" % wid)
    check("delete 204", st == 204, (st, doc))
    st, doc, _ = A.call("GET", "/api/workflows/%d" % wid)
    check("deleted workflow 404", st == 404, doc)
    st, doc, _ = A.call("GET", "/api/executions/%d" % xid)
    check("a deleted workflow's executions stay", st == 200, doc)
    st, doc, _ = A.call("DELETE", "/api/workflows/%d" % wid)
    check("delete twice 404", st == 404, doc)
    check("readyz at the end", anon.call("GET", "/readyz")[0] == 200)


def _user_id(c, email):
    st, doc, _ = c.call("GET", "/api/users?limit=1000")
    found = [u["id"] for u in doc["items"] if u["email"] == email] if st == 200 else []
    return found[0] if found else 999999


def _users(c):
    st, doc, _ = c.call("GET", "/api/users?limit=1000")
    return {u["email"]: u for u in doc["items"]} if st == 200 else {}


def _login(port, email, password):
    s = Client(port)
    st, doc, _ = s.call("POST", "/api/auth/login", {"email": email, "password": password})
    if st == 200:
        s.csrf = doc["csrf_token"]
    return st, s, doc


def users_admin(port, A, B, V, E, admin_password):
    """What an admin and a user of the organization check: changing users
    (name, role, disabled), and changing one's own password."""
    st, AS, doc = _login(port, "admin@localhost", admin_password)
    if not check("the admin signs in for the user checks", st == 200, doc):
        return
    me_id = doc["user"]["id"]
    st, dave, _ = A.call("POST", "/api/users", {"email": "dave@example.com", "password": "dave-pass-1",
                                                "name": "Dave", "role": "editor"})
    if not check("admin adds dave", st == 201, dave):
        return
    did = dave["id"]
    st, DS, _ = _login(port, "dave@example.com", "dave-pass-1")
    st2, tok, _ = DS.call("POST", "/api/tokens", {"name": "dave's script"})
    check("dave signs in and makes a token", st == 200 and st2 == 201, (st, st2, tok))
    DT = Client(port, tok.get("token"))
    check("dave's session and token work", DS.call("GET", "/api/me")[0] == 200
          and DT.call("GET", "/api/me")[1]["role"] == "editor")

    # Name and role: the answer is the user, as GET /api/users lists it.
    st, doc, _ = AS.call("PATCH", "/api/users/%d" % did, {"name": "David", "role": "viewer"})
    check("PATCH name and role 200", st == 200 and doc["name"] == "David" and doc["role"] == "viewer"
          and doc["disabled"] is False and doc["email"] == "dave@example.com", (st, doc))
    listed = _users(A).get("dave@example.com", {})
    check("GET /api/users shows the change", listed.get("name") == "David" and listed.get("role") == "viewer", listed)
    check("PATCH answers the same shape as the list", isinstance(doc, dict) and set(doc) == set(listed), (doc, listed))
    st, doc, _ = DT.call("POST", "/api/workflows", flow("by a demoted user"))
    check("a demoted user's token loses the role at once", st == 403, (st, doc))
    st, doc, _ = DS.call("GET", "/api/me")
    check("a demoted user's session shows the new role at once", st == 200 and doc["role"] == "viewer", doc)
    st, doc, _ = AS.call("PATCH", "/api/users/%d" % did, {"role": "editor", "name": None})
    check("null leaves a field as it is", st == 200 and doc["name"] == "David" and doc["role"] == "editor", doc)

    # Disabling: the session and the token stop at once, sign-in fails.
    check("dave's session and token are in use", DS.call("GET", "/api/me")[0] == 200
          and DT.call("GET", "/api/me")[0] == 200)
    st, doc, _ = A.call("PATCH", "/api/users/%d" % did, {"disabled": True})
    check("disable 200", st == 200 and doc["disabled"] is True, (st, doc))
    st, doc, _ = DS.call("GET", "/api/me")
    check("a disabled user's session 401 at once", st == 401, (st, doc))
    st, doc, _ = DT.call("GET", "/api/me")
    check("a disabled user's token 401 at once", st == 401, (st, doc))
    st, doc, _ = Client(port).call("POST", "/api/auth/login", {"email": "dave@example.com", "password": "dave-pass-1"})
    check("a disabled user cannot sign in", st == 401 and doc["error"]["code"] == "invalid_credentials", (st, doc))
    check("the list shows the user disabled", _users(A).get("dave@example.com", {}).get("disabled") is True)
    st, doc, _ = A.call("PATCH", "/api/users/%d" % did, {"disabled": False})
    check("enable again 200", st == 200 and doc["disabled"] is False, (st, doc))
    st, DS2, doc = _login(port, "dave@example.com", "dave-pass-1")
    check("an enabled user signs in again", st == 200, doc)
    check("the old session stays ended", DS.call("GET", "/api/me")[0] == 401)
    check("the user's token works again", DT.call("GET", "/api/me")[0] == 200)

    # An admin cannot lock themselves out, nor leave the organization
    # without an enabled admin.
    st, doc, _ = AS.call("PATCH", "/api/users/%d" % me_id, {"disabled": True})
    check("an admin disabling themselves 409", st == 409 and doc["error"]["field"] == "disabled"
          and "yourself" in doc["error"]["message"], (st, doc))
    st, doc, _ = AS.call("PATCH", "/api/users/%d" % me_id, {"role": "editor"})
    check("an admin lowering their own role 409", st == 409 and doc["error"]["field"] == "role"
          and "own role" in doc["error"]["message"], (st, doc))
    st, doc, _ = AS.call("PATCH", "/api/users/%d" % me_id, {"name": "The Admin", "role": "admin", "disabled": False})
    check("an admin changes their own name", st == 200 and doc["name"] == "The Admin" and doc["role"] == "admin", doc)
    for body in ({"role": "viewer"}, {"disabled": True}):
        st, doc, _ = A.call("PATCH", "/api/users/%d" % me_id, body)
        check("taking the last admin away 409: %s" % json.dumps(body), st == 409
              and "at least one enabled admin" in doc["error"]["message"], (st, doc))
    me = _users(A).get("admin@localhost", {})
    check("the last admin is unchanged", me.get("role") == "admin" and me.get("disabled") is False, me)
    check("the admin's session still works", AS.call("GET", "/api/me")[0] == 200)
    st, doc, _ = A.call("PATCH", "/api/users/%d" % did, {"role": "admin"})
    st2, doc2, _ = AS.call("PATCH", "/api/users/%d" % did, {"role": "editor"})
    check("another admin can be demoted while one is left", st == 200 and doc["role"] == "admin"
          and st2 == 200 and doc2["role"] == "editor", (doc, doc2))

    # Who may, and which users.
    for who, c in (("editor token", E), ("viewer token", V), ("editor session", DS2)):
        st, doc, _ = c.call("PATCH", "/api/users/%d" % did, {"name": "Hacked"})
        check("%s cannot change users 403" % who, st == 403 and doc["error"]["code"] == "forbidden", (st, doc))
    bob = _user_id(B, "bob@other.example")
    st, doc, _ = A.call("PATCH", "/api/users/%d" % bob, {"disabled": True, "name": "Mallory"})
    check("another organization's user 404", st == 404 and doc["error"]["code"] == "not_found", (st, doc))
    bob_now = _users(B).get("bob@other.example", {})
    check("the other organization's user is untouched", bob_now.get("disabled") is False
          and bob_now.get("name") != "Mallory", bob_now)
    st, doc, _ = A.call("PATCH", "/api/users/999999", {"name": "nobody"})
    check("a missing user 404", st == 404, (st, doc))
    st, doc, _ = A.call("PATCH", "/api/users/abc", {"name": "nobody"})
    check("a user id that is not a number 404", st == 404, (st, doc))
    st, doc, h = A.call("GET", "/api/users/%d" % did)
    check("GET on a user path 405 with Allow", st == 405 and h.get("allow") == "PATCH", (st, h))

    # Bad bodies name the field and change nothing.
    for body, field, code in (({"role": "root"}, "role", "invalid_field"),
                              ({"role": 3}, "role", "invalid_field"),
                              ({"disabled": "yes"}, "disabled", "invalid_field"),
                              ({"disabled": 1}, "disabled", "invalid_field"),
                              ({"name": 5}, "name", "invalid_field"),
                              ({"name": "x" * 201}, "name", "invalid_field"),
                              ({"name": "ok", "colour": "red"}, "colour", "unknown_field"),
                              ({"email": "new@example.com"}, "email", "unknown_field")):
        st, doc, _ = A.call("PATCH", "/api/users/%d" % did, body)
        check("PATCH %s 422 names %s" % (json.dumps(body)[:40], field), st == 422
              and doc["error"]["code"] == code and doc["error"]["field"] == field, (st, doc))
    for raw in (b'{"name": ', b"[1]", b"null"):
        st, doc, _ = A.call("PATCH", "/api/users/%d" % did, raw=raw)
        check("PATCH %r 400" % raw, st == 400 and doc["error"]["code"] == "invalid_json", (st, doc))
    d = _users(A).get("dave@example.com", {})
    check("bad bodies changed nothing", d.get("name") == "David" and d.get("role") == "editor"
          and d.get("disabled") is False and d.get("email") == "dave@example.com", d)

    # A user changes their own password.
    st, DS3, _ = _login(port, "dave@example.com", "dave-pass-1")
    check("dave has a second session", st == 200 and DS3.call("GET", "/api/me")[0] == 200)
    st, doc, _ = DS2.call("POST", "/api/auth/password", {"current_password": "not-my-pass", "new_password": "dave-new-pass-2"})
    check("a wrong current password 403", st == 403 and doc["error"]["field"] == "current_password", (st, doc))
    st, doc, _ = DS2.call("POST", "/api/auth/password", {"current_password": "dave-pass-1", "new_password": "short"})
    check("a short new password 422 names it", st == 422 and doc["error"]["field"] == "new_password", (st, doc))
    for body, field in (({"new_password": "dave-new-pass-2"}, "current_password"),
                        ({"current_password": "dave-pass-1", "new_password": "dave-new-pass-2", "x": 1}, "x"),
                        ({"current_password": "dave-pass-1", "new_password": 12345678}, "new_password"),
                        ({"current_password": "dave-pass-1", "new_password": "dave-pass-1"}, "new_password")):
        st, doc, _ = DS2.call("POST", "/api/auth/password", body)
        check("password change %s 422 names %s" % (sorted(body), field), st == 422
              and doc["error"]["field"] == field, (st, doc))
    st, doc, _ = DS2.call("POST", "/api/auth/password", {"current_password": "dave-pass-1", "new_password": "dave-new-pass-2"},
                          headers={"X-CSRF-Token": "0" * 40})
    check("a password change by session needs the CSRF token", st == 403 and doc["error"]["code"] == "csrf_failed", (st, doc))
    check("the refused changes kept the password", _login(port, "dave@example.com", "dave-pass-1")[0] == 200)
    st, doc, _ = DS2.call("POST", "/api/auth/password", {"current_password": "dave-pass-1", "new_password": "dave-new-pass-2"})
    check("password change 204", st == 204, (st, doc))
    check("the session that changed it stays valid", DS2.call("GET", "/api/me")[0] == 200)
    check("the user's other session ended", DS3.call("GET", "/api/me")[0] == 401)
    check("the user's token still works", DT.call("GET", "/api/me")[0] == 200)
    st, doc, _ = Client(port).call("POST", "/api/auth/login", {"email": "dave@example.com", "password": "dave-pass-1"})
    check("the old password no longer signs in", st == 401, (st, doc))
    st, DS4, doc = _login(port, "dave@example.com", "dave-new-pass-2")
    check("the new password signs in", st == 200, doc)
    st, doc, _ = A.call("POST", "/api/auth/password", {"current_password": "x" * 8, "new_password": "y" * 8})
    check("a token with no user cannot change a password 403", st == 403 and doc["error"]["code"] == "forbidden"
          and "no user" in doc["error"]["message"], (st, doc))
    st, doc, _ = DT.call("POST", "/api/auth/password", {"current_password": "dave-new-pass-2", "new_password": "dave-third-pass-3"})
    check("a user's token changes the user's password", st == 204, (st, doc))
    check("a change by token ends every session of the user",
          DS2.call("GET", "/api/me")[0] == 401 and DS4.call("GET", "/api/me")[0] == 401)
    check("the third password signs in", _login(port, "dave@example.com", "dave-third-pass-3")[0] == 200)

    # Wrong current passwords count toward the sign-in limit.
    A.call("POST", "/api/users", {"email": "erin@example.com", "password": "erin-pass-1", "role": "viewer"})
    st, ES, _ = _login(port, "erin@example.com", "erin-pass-1")
    codes = [ES.call("POST", "/api/auth/password", {"current_password": "guess-%d-xx" % i, "new_password": "erin-pass-2"})[0]
             for i in range(5)]
    st, doc, h = ES.call("POST", "/api/auth/password", {"current_password": "erin-pass-1", "new_password": "erin-pass-2"})
    check("wrong current passwords are limited like sign-ins: 429", codes == [403] * 5 and st == 429
          and int(h.get("retry-after", "0")) > 0, (codes, st, doc))
    st, doc, _ = Client(port).call("POST", "/api/auth/login", {"email": "erin@example.com", "password": "erin-pass-1"})
    check("and the same limit holds for signing in", st == 429, (st, doc))
    check("a blocked change kept the password", ES.call("GET", "/api/me")[0] == 200)


def _finished(c, xid, attempt=1):
    st, doc, _ = c.call("GET", "/api/executions/%d" % xid)
    if st == 200 and doc["status"] not in ("queued", "running") and doc["attempt"] >= attempt:
        return doc
    return None


def schedules(port, A, B, V, ids):
    st, wf, _ = A.call("POST", "/api/workflows", flow("every second"))
    wid = wf["id"]
    body = {"cron": "* * * * * *", "timezone": "Europe/London", "enabled": True,
            "misfire_policy": "once", "overlap_policy": "allow", "input": {"who": "cron"}}
    st, sc, h = A.call("POST", "/api/workflows/%d/schedule" % wid, body)
    check("create schedule 201", st == 201 and sc["workflow_id"] == wid and sc["enabled"] is True
          and sc["cron"] == "* * * * * *" and sc["timezone"] == "Europe/London", (st, sc))
    if st != 201:
        return
    ids["schedule"] = sc["id"]
    check("schedule has next run in UTC and local time", sc["next_run_at"] and sc["next_run_at"].endswith("Z")
          and sc["next_run_local"] and sc["next_run_local"][-6] in "+-", sc)
    st, doc, _ = A.call("POST", "/api/workflows/%d/schedule" % wid, body)
    check("a second schedule for the workflow 409", st == 409, doc)
    for bad, field in (({"cron": "61 * * * *"}, "cron"), ({"cron": "* * * * *", "timezone": "Mars/Base"}, "timezone"),
                       ({"cron": "* * * * *", "overlap_policy": "never"}, "overlap_policy"),
                       ({"cron": "* * * * *", "colour": 1}, "colour"), ({"timezone": "UTC"}, "cron"),
                       ({"cron": "* * * * *", "enabled": "yes"}, "enabled")):
        st2, w2, _ = A.call("POST", "/api/workflows", flow("bad schedule"))
        st, doc, _ = A.call("POST", "/api/workflows/%d/schedule" % w2["id"], bad)
        check("bad schedule 422 names %s" % field, st == 422 and doc["error"].get("field") == field, doc)
    st, doc, _ = A.call("GET", "/api/workflows/%d/schedule" % wid)
    check("read schedule", st == 200 and doc["id"] == sc["id"], doc)
    ex = wait_for(lambda: _scheduled(A, sc["id"], 2), 15)
    check("executions appear every second", ex and len(ex) >= 2 and all(e["trigger"] == "schedule" for e in ex), ex)
    if ex:
        done = wait_for(lambda: _finished(A, ex[-1]["id"]))
        check("scheduled execution has steps", done and [s["node_id"] for s in done["steps"]] == ["start", "say"]
              and done["schedule_id"] == sc["id"] and done["scheduled_at"], done)
    st, doc, _ = A.call("GET", "/api/schedules")
    mine = [s for s in doc["items"] if s["id"] == sc["id"]] if st == 200 else []
    check("schedule list with counters", mine and mine[0]["total_runs"] >= 2 and "successful_runs" in mine[0]
          and "failed_runs" in mine[0] and mine[0]["last_run_at"], doc)
    st, doc, _ = B.call("GET", "/api/schedules")
    check("the other organization does not see it", st == 200 and sc["id"] not in [s["id"] for s in doc["items"]], doc)
    st, doc, _ = A.call("GET", "/api/schedules/%d/ticks?limit=2" % sc["id"])
    check("tick ledger", st == 200 and any(t["outcome"] == "fired" for t in doc["items"]) and doc["next_cursor"], doc)
    st, doc, _ = V.call("PATCH", "/api/workflows/%d/schedule" % wid, {"enabled": False})
    check("viewer cannot disable", st == 403, doc)
    st, doc, _ = A.call("PATCH", "/api/workflows/%d/schedule" % wid, {"enabled": False})
    check("disable", st == 200 and doc["enabled"] is False and doc["next_run_at"] is None, doc)
    time.sleep(1.5)  # a fire in flight at the moment of the change may still land
    count = len(_scheduled(A, sc["id"], 0) or [])
    time.sleep(2.5)
    after = len(_scheduled(A, sc["id"], 0) or [])
    check("no more executions once disabled", after == count, (count, after))
    st, doc, _ = A.call("PATCH", "/api/workflows/%d/schedule" % wid, {"cron": "0 9 * * 1-5", "timezone": "America/New_York"})
    check("change the expression", st == 200 and doc["cron"] == "0 9 * * 1-5" and doc["enabled"] is False, doc)
    st, doc, _ = A.call("PATCH", "/api/workflows/%d/schedule" % wid, {"cron": "nonsense"})
    check("bad change 422 and nothing changed", st == 422 and A.call("GET", "/api/workflows/%d/schedule" % wid)[1]["cron"] == "0 9 * * 1-5", doc)
    st, doc, _ = A.call("DELETE", "/api/workflows/%d/schedule" % wid)
    check("delete schedule 204", st == 204, (st, doc))
    st, doc, _ = A.call("GET", "/api/workflows/%d/schedule" % wid)
    check("deleted schedule 404", st == 404, doc)
    st, doc, _ = A.call("GET", "/api/schedules/%d/ticks" % sc["id"])
    check("a deleted schedule's ledger stays readable", st == 200 and doc["items"][0]["outcome"] == "deleted", doc)
    st, doc, _ = A.call("DELETE", "/api/workflows/%d" % wid)
    check("delete the scheduled workflow", st == 204, doc)


def _scheduled(c, sid, at_least):
    st, doc, _ = c.call("GET", "/api/executions?schedule_id=%d&limit=1000" % sid)
    if st == 200 and len(doc["items"]) >= at_least:
        return doc["items"]
    return None


if __name__ == "__main__":
    main()
    sys.exit(1 if failed else 0)
