#!/usr/bin/env python3
"""Checks for tests/suites/sched_e2e.sh: what a user would look at after the
scheduler and the engine ran inside `cronflow serve` — the executions and
their steps, the tick ledger (read from the database with sqlite3) and the
schedule's counters (`cronflow schedule show`, the command a user runs).

usage: sched_e2e_check.py CASE DB FACTS
  CASE   every_second | overlap | toggle | dst_spring | dst_fall | misfire
  DB     the server's SQLite file (the server may be stopped or running)
  FACTS  a file of "NAME VALUE" lines the suite wrote: schedule ids, instants
         and wall-clock times in ms since the epoch

Prints "ok NAME" or "FAIL NAME" (with details on the next lines) per check
and last "RESULT P F"; exits 0 when nothing failed.
"""
import datetime
import json
import os
import sqlite3
import subprocess
import sys

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL", name)
        if detail != "":
            print("  ", detail)
    return ok


def iso(ms):
    """The store's form of an instant: 2027-03-14T07:30:00.000Z."""
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def ms_of(text):
    """ISO-8601 with Z or an offset -> ms since the epoch."""
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(round(t.timestamp() * 1000))


def load_facts(path):
    facts = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                facts[parts[0]] = int(parts[1]) if parts[1].lstrip("-").isdigit() else parts[1]
    return facts


class Db:
    def __init__(self, path):
        self.path = path
        self.c = sqlite3.connect(path, timeout=10)
        self.c.row_factory = sqlite3.Row

    def execs(self, sid):
        return [dict(r) for r in self.c.execute(
            "SELECT id, scheduled_at, status, trigger_data, run_at, created_at, started_at, "
            "finished_at, error FROM executions WHERE schedule_id = ? ORDER BY id", (sid,))]

    def ticks(self, sid):
        """The schedule's ledger entries for instants (not its own events)."""
        return [dict(r) for r in self.c.execute(
            "SELECT id, scheduled_at, outcome, execution_id, detail, recorded_at FROM ticks "
            "WHERE schedule_id = ? AND scheduled_at IS NOT NULL ORDER BY id", (sid,))]

    def events(self, sid):
        return [dict(r) for r in self.c.execute(
            "SELECT id, outcome, detail, recorded_at FROM ticks WHERE schedule_id = ? "
            "AND scheduled_at IS NULL ORDER BY id", (sid,))]

    def steps(self, eid):
        return {(r[0], r[1]) for r in self.c.execute(
            "SELECT node_id, status FROM execution_steps WHERE execution_id = ?", (eid,))}

    def step_output(self, eid, node):
        r = self.c.execute("SELECT output FROM execution_steps WHERE execution_id = ? AND "
                           "node_id = ?", (eid, node)).fetchone()
        return json.loads(r[0]) if r and r[0] else None


def show(db_path, sid):
    """`cronflow schedule show`, as a user would run it; None if it fails."""
    p = subprocess.run([os.environ["CRONFLOW"], "schedule", "show", "--db", db_path, str(sid)],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)


def counters_match(name, db_path, sid, execs):
    """total/succeeded/failed/last_status agree with the executions."""
    sc = show(db_path, sid)
    if not check(name + ": schedule show works", sc is not None):
        return
    final = [e for e in execs if e["status"] in ("succeeded", "failed", "cancelled", "timed_out")]
    want = {
        "total_runs": len(execs),
        "succeeded_runs": sum(e["status"] == "succeeded" for e in execs),
        "failed_runs": sum(e["status"] in ("failed", "timed_out") for e in execs),
    }
    if final:
        want["last_status"] = max(final, key=lambda e: (e["finished_at"] or 0, e["id"]))["status"]
    got = {k: sc.get(k) for k in want}
    check(name + ": the schedule's counters match its executions", got == want,
          "schedule show %s, executions say %s" % (got, want))


def one_tick_per_instant(name, ticks, instants):
    """Every expected instant has exactly one ledger entry, and no other
    instant has any."""
    by = {}
    for t in ticks:
        by.setdefault(t["scheduled_at"], []).append(t)
    bad = [(iso(i), len(by.get(i, []))) for i in instants if len(by.get(i, [])) != 1]
    extra = sorted(iso(i) for i in set(by) - set(instants))
    check(name + ": one ledger entry per expected instant, none for others", not bad and not extra,
          "instants without exactly one entry %s; unexpected %s" % (bad[:10], extra[:10]))
    return {i: by[i][0] for i in instants if len(by.get(i, [])) == 1}


def ledger_names_executions(name, ticks, execs):
    """A tick that ran names its execution, whose scheduled_at is the tick's."""
    at = {e["id"]: e["scheduled_at"] for e in execs}
    runs = [t for t in ticks if t["outcome"] in ("fired", "missed_fired", "queued", "replaced")]
    bad = [(t["id"], t["outcome"], t["execution_id"]) for t in runs
           if at.get(t["execution_id"]) != t["scheduled_at"]]
    named = sorted(t["execution_id"] for t in runs)
    check(name + ": each run's ledger entry names its execution, each execution has one",
          not bad and named == sorted(at), "bad %s; named %s, executions %s" % (bad[:5], named, sorted(at)))


def all_succeeded(name, db, execs, nodes):
    bad = [(e["id"], e["status"], e["error"]) for e in execs if e["status"] != "succeeded"]
    check(name + ": every execution succeeded", not bad, bad[:5])
    want = {(n, "succeeded") for n in nodes}
    bad = [(e["id"], sorted(db.steps(e["id"]))) for e in execs if db.steps(e["id"]) != want]
    check(name + ": every execution recorded its steps (%s) as succeeded" % ", ".join(nodes),
          not bad, bad[:5])


def intervals_disjoint(execs, start_key, end_key):
    """Pairs of executions whose [start, end] overlap."""
    iv = sorted((e[start_key], e[end_key] or 1 << 62, e["id"]) for e in execs)
    return [(a[2], b[2]) for a, b in zip(iv, iv[1:]) if b[0] < a[1]]


def max_concurrent(execs):
    points = []
    for e in execs:
        if e["started_at"] and e["finished_at"]:
            points += [(e["started_at"], 1), (e["finished_at"], -1)]
    n = best = 0
    for _, d in sorted(points, key=lambda p: (p[0], p[1])):
        n += d
        best = max(best, n)
    return best


# ---------------------------------------------------------------- cases

def case_every_second(db, f):
    """1. `* * * * * *` bounded to ten instants: ten executions, each once."""
    sid, start = f["s_every"], f["every_start"]
    name = "every second"
    ex = db.execs(sid)
    want = [start + 1000 * k for k in range(10)]
    got = [e["scheduled_at"] for e in ex]
    check(name + ": 10 executions", len(ex) == 10, "got %d" % len(ex))
    check(name + ": one execution for each of 10 consecutive seconds, none twice",
          sorted(got) == want, "scheduled_at %s, expected %s..%s" % (
              [iso(g) for g in sorted(got)], iso(want[0]), iso(want[-1])))
    all_succeeded(name, db, ex, ["start", "log"])
    bad = []
    for e in ex:
        td = json.loads(e["trigger_data"])
        if (td.get("schedule_id") != sid or td.get("scheduled_at") != iso(e["scheduled_at"])
                or td.get("late") is not False or td.get("catch_up") is not False
                or td.get("timezone") != "UTC"):
            bad.append((e["id"], td))
    check(name + ": trigger data: the instant, on time, not a catch-up", not bad, bad[:3])
    bad = [(e["id"], db.step_output(e["id"], "log")) for e in ex
           if (db.step_output(e["id"], "log") or {}).get("message") != "fired " + iso(e["scheduled_at"])]
    check(name + ": the log step saw its own trigger.scheduled_at", not bad, bad[:3])
    late = [(iso(e["scheduled_at"]), e["started_at"] - e["scheduled_at"]) for e in ex
            if not e["started_at"] or e["started_at"] - e["scheduled_at"] >= 1000]
    check(name + ": each started within a second of its instant", not late, late[:5])
    ticks = db.ticks(sid)
    by = one_tick_per_instant(name, ticks, want)
    check(name + ": every ledger entry says fired",
          all(t["outcome"] == "fired" for t in ticks), [(iso(t["scheduled_at"]), t["outcome"])
                                                          for t in ticks if t["outcome"] != "fired"][:5])
    ledger_names_executions(name, ticks, ex)
    counters_match(name, db.path, sid, ex)
    sc = show(db.path, sid) or {}
    check(name + ": last_fire_at is the last instant", sc.get("last_fire_at") == iso(want[-1]),
          sc.get("last_fire_at"))


def overlap_common(db, f, policy):
    sid, start = f["s_" + policy], f["overlap_start"]
    name = "overlap " + policy
    instants = [start + 1000 * k for k in range(f["overlap_count"])]
    ex = db.execs(sid)
    ticks = db.ticks(sid)
    by = one_tick_per_instant(name, ticks, instants)
    ledger_names_executions(name, ticks, ex)
    return sid, name, instants, ex, ticks, by


def blocker_active(name, ex, skipped):
    """A fire skipped by overlap names an execution of the schedule that was
    still queued or running when the fire was recorded."""
    ids = {e["id"]: e for e in ex}
    bad = []
    for t in skipped:
        words = t["detail"].split()
        eid = None
        for i, w in enumerate(words[:-1]):
            if w == "execution" and words[i + 1].isdigit():
                eid = int(words[i + 1])
        e = ids.get(eid)
        if not e or not (e["created_at"] <= t["recorded_at"] <= (e["finished_at"] or 1 << 62)):
            bad.append((iso(t["scheduled_at"]), t["detail"], e and (e["created_at"], e["finished_at"]),
                        t["recorded_at"]))
    check(name + ": each skipped fire names an execution still in the way", not bad, bad[:5])


def case_overlap(db, f):
    """2. A 2.5 s workflow every second under skip, allow, queue_one, replace."""
    # skip: never two at once; the fires in between are skipped_overlap.
    sid, name, instants, ex, ticks, by = overlap_common(db, f, "skip")
    outcomes = [by[i]["outcome"] for i in instants if i in by]
    check(name + ": outcomes are fired or skipped_overlap",
          set(outcomes) <= {"fired", "skipped_overlap"}, outcomes)
    check(name + ": some fires were skipped, some ran",
          outcomes.count("skipped_overlap") >= 2 and outcomes.count("fired") >= 2, outcomes)
    overlap = intervals_disjoint(ex, "created_at", "finished_at")
    check(name + ": never two executions queued or running at once", not overlap, overlap[:5])
    blocker_active(name, ex, [t for t in ticks if t["outcome"] == "skipped_overlap"])
    all_succeeded(name, db, ex, ["start", "wait"])
    counters_match(name, db.path, sid, ex)

    # allow: every fire runs, beside the ones still running.
    sid, name, instants, ex, ticks, by = overlap_common(db, f, "allow")
    outcomes = [by[i]["outcome"] for i in instants if i in by]
    check(name + ": every fire ran", outcomes == ["fired"] * len(instants) and len(ex) == len(instants),
          "%d executions, outcomes %s" % (len(ex), outcomes))
    conc = max_concurrent(ex)
    check(name + ": runs overlapped (at least 2 at once)", conc >= 2, "at most %d at once" % conc)
    all_succeeded(name, db, ex, ["start", "wait"])
    counters_match(name, db.path, sid, ex)

    # queue_one: one runs, at most one waits, further fires are skipped.
    sid, name, instants, ex, ticks, by = overlap_common(db, f, "queue_one")
    outcomes = [by[i]["outcome"] for i in instants if i in by]
    check(name + ": outcomes are fired, queued or skipped_overlap",
          set(outcomes) <= {"fired", "queued", "skipped_overlap"}, outcomes)
    check(name + ": some fires queued, some skipped",
          "queued" in outcomes and "skipped_overlap" in outcomes, outcomes)
    overlap = intervals_disjoint(ex, "started_at", "finished_at")
    check(name + ": never two running at once", not overlap, overlap[:5])
    waiting = intervals_disjoint(ex, "created_at", "started_at")
    check(name + ": never two waiting at once", not waiting, waiting[:5])
    # A fire is queued while another runs, and skipped while one waits.
    # recorded_at is taken just before the fire's transaction looks, so
    # "while" means at some point of [recorded_at, recorded_at + 100 ms]
    # (and "none" means not over the whole of it).
    bad = []
    end = 1 << 62
    for t in ticks:
        at, soon = t["recorded_at"], t["recorded_at"] + 100
        others = [e for e in ex if e["id"] != t["execution_id"]]
        runs = [e for e in others if e["started_at"] and e["started_at"] <= soon
                and (e["finished_at"] or end) > at]
        waits = [e for e in others if e["created_at"] <= soon and (e["started_at"] or end) > at]
        busy = [e for e in others if (e["started_at"] and e["started_at"] <= at
                                      and (e["finished_at"] or end) > soon)
                or (e["created_at"] <= at and (e["started_at"] or end) > soon)]
        if ((t["outcome"] == "queued" and not runs) or (t["outcome"] == "fired" and busy)
                or (t["outcome"] == "skipped_overlap" and not waits)):
            bad.append((iso(t["scheduled_at"]), t["outcome"], t["detail"],
                        [e["id"] for e in runs], [e["id"] for e in waits]))
    check(name + ": queued while one ran, skipped while one waited, fired when none did",
          not bad, bad[:5])
    # A queued run starts when the run before it ends (the store releases
    # it; the worker may take up to its poll interval to claim it).
    by_start = sorted((e for e in ex if e["started_at"]), key=lambda e: e["started_at"])
    slow = []
    for prev, e in zip(by_start, by_start[1:]):
        if e["created_at"] < prev["finished_at"]:  # it waited behind prev
            gap = e["started_at"] - prev["finished_at"]
            if gap > 1000:
                slow.append((e["id"], gap))
    check(name + ": a waiting run starts within a second of the previous one's end", not slow, slow)
    all_succeeded(name, db, ex, ["start", "wait"])
    counters_match(name, db.path, sid, ex)

    # replace: every fire runs; the one before it is cancelled.
    sid, name, instants, ex, ticks, by = overlap_common(db, f, "replace")
    outcomes = [by[i]["outcome"] for i in instants if i in by]
    check(name + ": the first fire ran, every later one replaced the one before",
          outcomes == ["fired"] + ["replaced"] * (len(instants) - 1), outcomes)
    ex_sorted = sorted(ex, key=lambda e: e["scheduled_at"])
    statuses = [e["status"] for e in ex_sorted]
    check(name + ": the replaced runs were cancelled, the last one succeeded",
          statuses == ["cancelled"] * (len(instants) - 1) + ["succeeded"], statuses)
    bad = []
    for prev, e in zip(ex_sorted, ex_sorted[1:]):
        t = by.get(e["scheduled_at"])
        named = t["detail"].split("replaced execution ")[-1] if t else ""
        named = {int(w) for w in named.replace(",", " ").split() if w.isdigit()}
        if prev["id"] not in named:
            bad.append((e["id"], t and t["detail"], prev["id"]))
    check(name + ": each replaced entry names the execution it replaced", not bad, bad[:5])
    # The engine looks for cancel requests every 100 ms; a second is ample.
    slow = [(prev["id"], prev["status"], prev["finished_at"] and prev["finished_at"] - e["created_at"])
            for prev, e in zip(ex_sorted, ex_sorted[1:])
            if not prev["finished_at"] or prev["finished_at"] - e["created_at"] > 1000]
    check(name + ": a replaced run ends within 1 s of the fire that replaced it", not slow,
          "(execution, status, ms from the replacing fire to its end) %s" % slow[:8])
    counters_match(name, db.path, sid, ex)


def case_toggle(db, f):
    """5. disable, enable and delete from another process while serving."""
    sid = f["s_toggle"]
    name = "enable/disable/delete"
    t_dis, t_en0, t_en, t_del, t_end = (f["toggle_disabled"], f["toggle_enable_call"],
                                        f["toggle_enabled"], f["toggle_deleted"], f["toggle_end"])
    ex = db.execs(sid)
    at = sorted(e["scheduled_at"] for e in ex)
    before = [a for a in at if a < t_dis]
    check(name + ": it fired before being disabled", len(before) >= 1, [iso(a) for a in at])
    gaps = [iso(b) for a, b in zip(before, before[1:]) if b - a != 1000]
    check(name + ": before that, every second once", not gaps, gaps)
    # The fire's compare-and-set names enabled = 1: once the CLI has
    # committed, no fire can be written. created_at is taken before the
    # commit, so every execution written before the change has created_at
    # before the moment the CLI returned.
    during = [(iso(e["scheduled_at"]), e["created_at"]) for e in ex
              if t_dis < e["created_at"] < t_en0 or t_dis < e["scheduled_at"] < t_en0]
    check(name + ": no execution after disable returned (until enable)", not during,
          "disabled at %s: %s" % (iso(t_dis), during))
    after_en = [a for a in at if t_en0 < a < t_del]
    check(name + ": fires resumed within 2.5 s of enable",
          bool(after_en) and after_en[0] <= t_en + 2500,
          "enabled at %s, fires after: %s" % (iso(t_en), [iso(a) for a in after_en]))
    gaps = [iso(b) for a, b in zip(after_en, after_en[1:]) if b - a != 1000]
    check(name + ": after enable, every second once", not gaps, gaps)
    late = [iso(e["scheduled_at"]) for e in ex if t_en0 < e["scheduled_at"] and
            json.loads(e["trigger_data"]).get("catch_up")]
    ticks = db.ticks(sid)
    quiet = [(iso(t["scheduled_at"]), t["outcome"]) for t in ticks
             if t_dis < t["scheduled_at"] < t_en0 or t["outcome"] == "missed"]
    check(name + ": the disabled time left no missed fires and no catch-up",
          not quiet and not late, (quiet[:5], late[:5]))
    gone = [(iso(e["scheduled_at"]), e["created_at"]) for e in ex if e["created_at"] > t_del]
    check(name + ": a deleted schedule never fired again (watched %.1f s)" % ((t_end - t_del) / 1000),
          not gone, "deleted at %s: %s" % (iso(t_del), gone))
    after_del = [(iso(t["scheduled_at"]), t["outcome"]) for t in ticks if t["recorded_at"] > t_del]
    check(name + ": and its ledger has nothing after the deletion", not after_del, after_del[:5])
    ev = [e["outcome"] for e in db.events(sid)]
    check(name + ": the ledger records enabled (created), disabled, enabled, deleted",
          ev == ["enabled", "disabled", "enabled", "deleted"], ev)
    all_succeeded(name, db, ex, ["start", "log"])
    ledger_names_executions(name, ticks, ex)


def case_dst_spring(db, f):
    """3a. 30 2 * * * in New York on 2027-03-14: 02:30 does not exist."""
    sid = f["s_spring"]
    name = "DST spring-forward 30 2 * * *"
    ex = db.execs(sid)
    want = ms_of("2027-03-14T07:30:00Z")
    check(name + ": exactly one execution, at 2027-03-14T07:30:00Z (03:30 EDT)",
          [e["scheduled_at"] for e in ex] == [want], [iso(e["scheduled_at"]) for e in ex])
    if ex:
        td = json.loads(ex[0]["trigger_data"])
        check(name + ": trigger data says 03:30-04:00 in America/New_York",
              td.get("scheduled_at") == "2027-03-14T07:30:00.000Z"
              and td.get("scheduled_local") == "2027-03-14T03:30:00-04:00"
              and td.get("timezone") == "America/New_York", td)
        real = ex[0]["run_at"]
        check(name + ": the execution was queued on the real clock",
              f["spring_real_start"] <= real <= f["spring_real_end"],
              "run_at %s, server ran %s..%s" % (iso(real), iso(f["spring_real_start"]),
                                                 iso(f["spring_real_end"])))
    ticks = db.ticks(sid)
    check(name + ": the ledger entry says fired, dst_shifted",
          len(ticks) == 1 and ticks[0]["outcome"] == "fired" and "dst_shifted" in ticks[0]["detail"],
          [(iso(t["scheduled_at"]), t["outcome"], t["detail"]) for t in ticks])
    all_succeeded(name, db, ex, ["start", "log"])
    counters_match(name, db.path, sid, ex)


def local_time_is(name, ex, want):
    """The first execution's trigger data gives the instant in local time."""
    if ex:
        td = json.loads(ex[0]["trigger_data"])
        check(name + ": its local time is " + want[11:], td.get("scheduled_local") == want, td)


def case_dst_fall(db, f):
    """3b. 2027-11-07 in New York: 01:00-02:00 happens twice."""
    first, second, third = (ms_of("2027-11-07T05:30:00Z"), ms_of("2027-11-07T06:30:00Z"),
                            ms_of("2027-11-07T07:30:00Z"))
    name = "DST fall-back 30 1 * * *"
    ex = db.execs(f["s_fall_0130"])
    check(name + ": exactly one execution, at 05:30Z (the first 01:30, EDT), none at 06:30Z",
          [e["scheduled_at"] for e in ex] == [first], [iso(e["scheduled_at"]) for e in ex])
    local_time_is(name, ex, "2027-11-07T01:30:00-04:00")
    ticks = db.ticks(f["s_fall_0130"])
    check(name + ": the ledger has only the 05:30Z fire",
          [(t["scheduled_at"], t["outcome"]) for t in ticks] == [(first, "fired")],
          [(iso(t["scheduled_at"]), t["outcome"]) for t in ticks])
    all_succeeded(name, db, ex, ["start", "log"])

    name = "DST fall-back 30 * * * *"
    ex = db.execs(f["s_fall_hourly"])
    at = sorted(e["scheduled_at"] for e in ex)
    check(name + ": fires at 05:30Z and 06:30Z (01:30 EDT and 01:30 EST), hourly, each once",
          at[:3] == [first, second, third] and all(b - a == 3600000 for a, b in zip(at, at[1:])),
          [iso(a) for a in at])
    local = {e["scheduled_at"]: json.loads(e["trigger_data"]).get("scheduled_local") for e in ex}
    check(name + ": local times 01:30-04:00, 01:30-05:00, 02:30-05:00",
          [local.get(first), local.get(second), local.get(third)] ==
          ["2027-11-07T01:30:00-04:00", "2027-11-07T01:30:00-05:00", "2027-11-07T02:30:00-05:00"],
          [local.get(first), local.get(second), local.get(third)])
    all_succeeded(name, db, ex, ["start", "log"])

    name = "DST fall-back 30 2 * * *"
    ex = db.execs(f["s_fall_0230"])
    check(name + ": exactly one execution, at 07:30Z (02:30 EST)",
          [e["scheduled_at"] for e in ex] == [third], [iso(e["scheduled_at"]) for e in ex])
    local_time_is(name, ex, "2027-11-07T02:30:00-05:00")
    if ex:
        check(name + ": the execution was queued on the real clock",
              f["fall_real_start"] <= ex[0]["run_at"] <= f["fall_real_end"], iso(ex[0]["run_at"]))
    all_succeeded(name, db, ex, ["start", "log"])


def case_misfire(db, f):
    """4. Yearly schedules whose cursor was moved back to 2020 while the
    server was down: every New Year since was missed."""
    first = ms_of("2020-01-01T00:00:00Z")
    now_year = datetime.datetime.fromtimestamp(f["misfire_restart"] / 1000,
                                               datetime.timezone.utc).year
    missed = [ms_of("%d-01-01T00:00:00Z" % y) for y in range(2020, now_year + 1)]
    next_year = "%d-01-01T00:00:00.000Z" % (now_year + 1)

    for policy, runs in (("skip", []), ("once", missed[-1:]), ("all", missed[-3:])):
        sid = f["s_misfire_" + policy]
        name = "misfire %s" % policy + (" (limit 3)" if policy == "all" else "")
        ex = db.execs(sid)
        ticks = db.ticks(sid)
        by = one_tick_per_instant(name, ticks, missed)
        got = [e["scheduled_at"] for e in ex]
        check(name + ": runs %s" % ([iso(r) for r in runs] or "none"), got == runs,
              [iso(g) for g in got])
        outcomes = [(iso(i), by[i]["outcome"]) for i in missed if i in by]
        want = [(iso(i), "missed_fired" if i in runs else "missed") for i in missed]
        check(name + ": the ledger says missed_fired for those, missed for the rest",
              outcomes == want, outcomes)
        why = {"skip": "", "once": "only the most recent", "all": "over the misfire limit of 3"}[policy]
        bad = [(iso(i), by[i]["detail"]) for i in missed
               if i in by and i not in runs and why not in by[i]["detail"]]
        check(name + ": each missed entry says why (%r)" % why, not bad, bad[:3])
        td = [json.loads(e["trigger_data"]) for e in ex]
        check(name + ": the runs' trigger data says catch_up",
              all(t.get("catch_up") is True for t in td), td[:3])
        if policy == "all":
            order = [e["scheduled_at"] for e in sorted(ex, key=lambda e: (e["run_at"], e["id"]))]
            check(name + ": queued oldest first", order == runs, [iso(o) for o in order])
        all_succeeded(name, db, ex, ["start", "log"])
        ledger_names_executions(name, ticks, ex)
        counters_match(name, db.path, sid, ex)
        sc = show(db.path, sid) or {}
        check(name + ": the cursor moved on to %s" % next_year, sc.get("next_fire_at") == next_year,
              sc.get("next_fire_at"))


CASES = {
    "every_second": case_every_second,
    "overlap": case_overlap,
    "toggle": case_toggle,
    "dst_spring": case_dst_spring,
    "dst_fall": case_dst_fall,
    "misfire": case_misfire,
}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in CASES:
        sys.exit(__doc__)
    facts = load_facts(sys.argv[3])
    try:
        CASES[sys.argv[1]](Db(sys.argv[2]), facts)
    except Exception as e:  # a crash in a check is a failed check, not a silent pass
        import traceback
        check("%s checks ran to the end" % sys.argv[1], False,
              "".join(traceback.format_exception(e)).strip())
    print("RESULT %d %d" % (passed, failed))
    sys.exit(1 if failed else 0)
