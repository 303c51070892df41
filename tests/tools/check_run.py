#!/usr/bin/env python3
"""check_run.py — checks one `cronflow run` result against an expect file.

    check_run.py EXPECT.json --doc RUN.json --exit CODE [--wall-ms MS]
                 [--stderr FILE] [--peer http://127.0.0.1:PORT]

RUN.json is what `cronflow run` printed on stdout (the shape of
GET /api/executions/{id}); CODE its exit status; MS the wall-clock time
the suite measured. Prints one line per failed check and exits 1 if any
failed, 0 otherwise; the last line is "checks: N passed, M failed".

The expect file (all keys optional except where noted):

  "workflow":  "name.json"  the definition to run (default: the expect
                            file's name without .expect) — read by the suite
  "input":     {...}        merged into the --input the suite passes
  "exit":      0            cronflow's exit status
  "status":    "succeeded"  the execution's status
  "error":     "text" | ["text", ...]   substrings of the execution's error
  "duration_ms": {"min": 200, "max": 1000}   the document's duration_ms
  "wall_ms":   {"min": 0, "max": 3000}       the suite's wall clock
  "doc":       {"result.notify.status": 200} values at dotted paths of the
                                             whole document
  "logs":      [{"node_id": "report", "level": "info", "message": "30 events"}]
               each must match some log line (message: substring)
  "no_logs":   [{...}]      no log line may match
  "stderr":    ["text"]     substrings of cronflow's stderr
  "no_stderr": ["text"]     substrings that must not be in it
  "problems":  [["nodes[2].id", "duplicate"], ...]  validation problems: a
                            stderr line "  PATH: ..." (or PATH.key..., PATH[...)
                            holding the text, for each
  "no_stdout": true         nothing on stdout (an invalid definition)
  "nodes": {
    "ID": {
      "runs":        1            number of step records for the node
                                  (its iteration count)
      "not_run":     true         no record that ran (succeeded, failed,
                                  timed_out, running) — a skipped node
      "status":      "succeeded"  status of every record of the node (or a
                                  matcher such as {"$in": [...]})
      "attempts":    3            attempts of every record
      "iterations":  [0, 1] | {"from": 0, "to": 999} | {"values": [...]}
                                  the set of iterations recorded, each once
      "output":      {"body.length": 30}  paths below the record's output
      "step":        {"input.url": ...}   paths below the record itself
      "error":       "text" | [...]       substrings of the record's error
      "iteration":   5            which record "output"/"step"/"error"
                                  look at (default: the only one, or the
                                  first when several)
      "at": {"1048576": {"output": {...}}}  checks on given iterations
    }
  }
  "peer": [{"get": "/requests?path=/notify", "expect": {"length": 1}}]
               GET from the peer; paths below its JSON answer

A path is dotted: "output.body.0.type"; a part that is a number indexes
an array; "length" of an array, string or object is its size (when it
is not a key). Expected values compare exactly, with JSON types (30 is
not "30", 1 is not true, 3 is not 3.0). An expected value may be a
matcher object with one key starting with "$":
  {"$contains": "text"}   string contains (or array contains the value)
  {"$in": [a, b]}         one of these values
  {"$starts": "text"}     string starts with
  {"$ends": "text"}       string ends with
  {"$type": "number"}     JSON type: null boolean number integer string
                          array object
  {"$min": 1, "$max": 5}  number in range (both or either)
  {"$absent": true}       the path does not exist
  {"$seq": [start, step, count]}  array start, start+step, ... (count items)
  {"$any": true}          exists, any value
"""
import json
import sys
import urllib.request

MISSING = object()
RAN = {"succeeded", "failed", "timed_out", "running", "cancelled"}


def jtype(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "real"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def same(a, b):
    """Exact JSON equality, types included."""
    if jtype(a) != jtype(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def get_path(value, path):
    if path in ("", "."):
        return value
    for part in path.split("."):
        if isinstance(value, dict):
            if part in value:
                value = value[part]
            elif part == "length":
                value = len(value)
            else:
                return MISSING
        elif isinstance(value, list):
            if part == "length":
                value = len(value)
            else:
                try:
                    i = int(part)
                except ValueError:
                    return MISSING
                if not -len(value) <= i < len(value):
                    return MISSING
                value = value[i]
        elif isinstance(value, str) and part == "length":
            value = len(value)
        else:
            return MISSING
    return value


def short(v, n=300):
    s = "(missing)" if v is MISSING else json.dumps(v, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


def matches(actual, want):
    """(ok, why) for one expected value or matcher."""
    if isinstance(want, dict) and want and all(k.startswith("$") for k in want):
        for op, arg in want.items():
            if op == "$absent":
                if (actual is MISSING) != bool(arg):
                    return False, "expected absent" if arg else "expected present"
                continue
            if actual is MISSING:
                return False, "missing"
            if op == "$any":
                continue
            if op == "$contains":
                if isinstance(actual, str) and isinstance(arg, str):
                    ok = arg in actual
                elif isinstance(actual, list):
                    ok = any(same(x, arg) for x in actual)
                else:
                    ok = False
                if not ok:
                    return False, f"expected to contain {short(arg)}"
            elif op == "$in":
                if not any(same(actual, x) for x in arg):
                    return False, f"expected one of {short(arg)}"
            elif op == "$starts":
                if not (isinstance(actual, str) and actual.startswith(arg)):
                    return False, f"expected to start with {short(arg)}"
            elif op == "$ends":
                if not (isinstance(actual, str) and actual.endswith(arg)):
                    return False, f"expected to end with {short(arg)}"
            elif op == "$type":
                t = jtype(actual)
                ok = t == arg or (arg == "number" and t in ("integer", "real"))
                if not ok:
                    return False, f"expected type {arg}, got {t}"
            elif op in ("$min", "$max"):
                if jtype(actual) not in ("integer", "real"):
                    return False, "expected a number"
                if op == "$min" and actual < arg:
                    return False, f"expected >= {arg}"
                if op == "$max" and actual > arg:
                    return False, f"expected <= {arg}"
            elif op == "$seq":
                start, step, count = arg
                exp = [start + step * i for i in range(count)]
                if not same(actual, exp):
                    bad = "not an array"
                    if isinstance(actual, list):
                        bad = f"{len(actual)} items"
                        for i, (x, y) in enumerate(zip(actual, exp)):
                            if not same(x, y):
                                bad += f"; item {i} is {short(x)}, expected {y}"
                                break
                    return False, f"expected the sequence {start}, {start + step}, ... ({count} items): {bad}"
            else:
                return False, f"unknown matcher {op}"
        return True, ""
    if actual is MISSING:
        return False, "missing"
    if not same(actual, want):
        return False, f"expected {short(want)}"
    return True, ""


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"  FAIL {what}" + (f": {detail}" if detail else ""))
        return cond

    def value(self, where, actual, want):
        good, why = matches(actual, want)
        self.ok(good, where, f"{why}; actual {short(actual)}" if not good else "")

    def paths(self, prefix, base, spec):
        for path, want in spec.items():
            self.value(f"{prefix}.{path}", get_path(base, path), want)


def as_list(x):
    return x if isinstance(x, list) else [x]


def iteration_set(spec):
    if isinstance(spec, list):
        return spec
    if "values" in spec:
        return spec["values"]
    return list(range(spec["from"], spec["to"] + 1))


def check_record(c, where, rec, spec):
    if "output" in spec:
        c.paths(f"{where}.output", rec.get("output"), spec["output"])
    if "step" in spec:
        c.paths(where, rec, spec["step"])
    for text in as_list(spec.get("error", [])):
        err = rec.get("error") or ""
        c.ok(text in err, f"{where}.error contains {text!r}", f"actual {short(rec.get('error'))}")


def check_node(c, node, spec, steps):
    recs = [s for s in steps if s.get("node_id") == node]
    where = f"nodes.{node}"
    if "runs" in spec:
        c.ok(len(recs) == spec["runs"], f"{where}: {spec['runs']} step record(s)",
             f"found {len(recs)}: " + short([(r.get("iteration"), r.get("status")) for r in recs]))
    if spec.get("not_run"):
        ran = [r for r in recs if r.get("status") in RAN]
        c.ok(not ran, f"{where}: not run",
             "found " + short([(r.get("iteration"), r.get("status")) for r in ran]))
    if "status" in spec:
        bad = [r for r in recs if not matches(r.get("status"), spec["status"])[0]]
        detail = "no record"
        if bad:
            detail = (f"{len(bad)} of {len(recs)} differ, e.g. iteration {bad[0].get('iteration')}: "
                      f"{bad[0].get('status')!r} (error {short(bad[0].get('error'))})")
        c.ok(recs and not bad, f"{where}.status is {short(spec['status'])}", detail)
    if "attempts" in spec:
        bad = [r for r in recs if r.get("attempts") != spec["attempts"]]
        c.ok(recs and not bad, f"{where}.attempts == {spec['attempts']}",
             f"actual {short([r.get('attempts') for r in recs][:10])}" if recs else "no record")
    if "iterations" in spec:
        want = iteration_set(spec["iterations"])
        got = sorted(r.get("iteration") for r in recs)
        ok = got == sorted(want)
        detail = ""
        if not ok:
            missing = sorted(set(want) - set(got))[:10]
            extra = sorted(set(got) - set(want))[:10]
            dups = len(got) - len(set(got))
            detail = f"{len(got)} records; missing {missing}; unexpected {extra}; duplicates {dups}"
        c.ok(ok, f"{where}.iterations", detail)
    if any(k in spec for k in ("output", "step", "error")):
        rec = None
        if "iteration" in spec:
            rec = next((r for r in recs if r.get("iteration") == spec["iteration"]), None)
        elif recs:
            rec = recs[0]
        if c.ok(rec is not None, f"{where}: a record to check", "no such record"):
            check_record(c, where, rec, spec)
    for it, sub in spec.get("at", {}).items():
        rec = next((r for r in recs if r.get("iteration") == int(it)), None)
        if c.ok(rec is not None, f"{where}[{it}]: a record", "no such record"):
            check_record(c, f"{where}[{it}]", rec, sub)
            if "status" in sub:
                c.value(f"{where}[{it}].status", rec.get("status"), sub["status"])
            if "attempts" in sub:
                c.value(f"{where}[{it}].attempts", rec.get("attempts"), sub["attempts"])


def log_matches(line, want):
    for k, v in want.items():
        if k == "message":
            if v not in (line.get("message") or ""):
                return False
        elif line.get(k) != v:
            return False
    return True


def main(argv):
    args = {"--doc": None, "--exit": None, "--wall-ms": None, "--stderr": None, "--peer": None}
    expect_path = None
    i = 0
    while i < len(argv):
        if argv[i] in args and i + 1 < len(argv):
            args[argv[i]] = argv[i + 1]
            i += 2
        elif expect_path is None:
            expect_path = argv[i]
            i += 1
        else:
            print(f"check_run.py: unexpected argument {argv[i]!r}", file=sys.stderr)
            return 2
    if not expect_path or args["--doc"] is None:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    with open(expect_path, encoding="utf-8") as f:
        exp = json.load(f)
    c = Checker()

    if args["--exit"] is not None and "exit" in exp:
        c.value("exit code", int(args["--exit"]), exp["exit"])
    doc = None
    try:
        with open(args["--doc"], encoding="utf-8") as f:
            text = f.read()
        doc = json.loads(text) if text.strip() else None
    except (OSError, ValueError) as e:
        if not exp.get("no_stdout"):
            c.ok(False, "the result document is JSON", str(e))
    if doc is None and exp.get("exit", 0) in (0, 1):
        c.ok(False, "a result document on stdout", "stdout is empty")
    stderr = ""
    if args["--stderr"]:
        with open(args["--stderr"], encoding="utf-8", errors="replace") as f:
            stderr = f.read()
    for text in as_list(exp.get("stderr", [])):
        c.ok(text in stderr, f"stderr contains {text!r}", short(stderr[-600:], 700))
    for text in as_list(exp.get("no_stderr", [])):
        c.ok(text not in stderr, f"stderr does not contain {text!r}")
    lines = stderr.splitlines()
    show_stderr = False
    for path, text in exp.get("problems", []):
        def fits(line):
            if not line.startswith("  " + path):
                return False
            rest = line[2 + len(path):]
            return rest[:1] in (":", ".", "[") and text in rest
        if not c.ok(any(fits(l) for l in lines), f"problem {path}: ...{text}..."):
            show_stderr = True
    if show_stderr:
        print("  stderr was:\n" + "\n".join("    " + l for l in lines[:60]))
    if exp.get("no_stdout"):
        with open(args["--doc"], encoding="utf-8", errors="replace") as f:
            out = f.read()
        c.ok(out.strip() == "", "nothing on stdout", short(out))
    if "wall_ms" in exp and args["--wall-ms"] is not None:
        c.value("wall-clock ms", int(args["--wall-ms"]), {"$" + k: v for k, v in exp["wall_ms"].items()})

    if isinstance(doc, dict):
        if "status" in exp:
            c.value("status", doc.get("status"), exp["status"])
        for text in as_list(exp.get("error", [])):
            c.ok(text in (doc.get("error") or ""), f"error contains {text!r}", f"actual {short(doc.get('error'))}")
        if "duration_ms" in exp:
            c.value("duration_ms", doc.get("duration_ms"), {"$" + k: v for k, v in exp["duration_ms"].items()})
        c.paths("doc", doc, exp.get("doc", {}))
        logs = doc.get("logs") or []
        for want in exp.get("logs", []):
            c.ok(any(log_matches(l, want) for l in logs), f"a log line like {short(want)}",
                 f"{len(logs)} lines, e.g. " + short([l.get("message") for l in logs][:5]))
        for want in exp.get("no_logs", []):
            c.ok(not any(log_matches(l, want) for l in logs), f"no log line like {short(want)}")
        steps = doc.get("steps") or []
        for node, spec in exp.get("nodes", {}).items():
            check_node(c, node, spec, steps)

    for p in exp.get("peer", []):
        if not args["--peer"]:
            c.ok(False, f"peer {p['get']}", "no --peer given")
            continue
        try:
            with urllib.request.urlopen(args["--peer"] + p["get"], timeout=10) as r:
                answer = json.load(r)
        except Exception as e:  # noqa: BLE001 — any failure is a failed check
            c.ok(False, f"peer {p['get']}", str(e))
            continue
        c.paths(f"peer{p['get']}", answer, p.get("expect", {}))

    print(f"checks: {c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
