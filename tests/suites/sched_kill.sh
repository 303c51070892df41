#!/bin/sh
# The real binary: 200 schedules firing every second (made with the CLI,
# with every misfire policy, some with a 1 s grace so that downtime makes
# misses, some with overlap skip so that the ledger records skips). The
# server is killed with kill -9 at random points over several rounds and
# restarted after a random downtime. Afterwards, for every schedule and
# every second between its first and last recorded instant, there must be
# exactly one execution or exactly one ledger entry saying why not, every
# execution must have its ledger entry, and misses must have happened
# (else the test proved nothing).
set -u
: "${CRONFLOW:?CRONFLOW must name the cronflow binary}"
dir=$(mktemp -d)
trap '[ "$pid" -gt 0 ] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
pid=0
db="$dir/k.db"
rounds=${SCHED_KILL_ROUNDS:-4}
echo '{"name":"tick","nodes":[]}' >"$dir/wf.json"
wf=$("$CRONFLOW" workflow add --db "$db" "$dir/wf.json") || exit 1

# 200 schedules, four CLI processes at a time.
seq 0 199 | xargs -P 4 -I{} sh -c '
  i={}; case $((i % 3)) in 0) m=skip ;; 1) m=once ;; 2) m=all ;; esac
  o=allow; [ $((i % 10)) -eq 9 ] && o=skip
  g=60000; [ $((i % 2)) -eq 0 ] && g=1000
  "$1" schedule add --db "$2" --workflow "$3" --cron "* * * * * *" --misfire $m \
    --misfire-limit 2 --overlap $o --grace-ms $g >/dev/null || echo "add $i failed"
' sh "$CRONFLOW" "$db" "$wf" >"$dir/add.log" 2>&1
if [ -s "$dir/add.log" ]; then cat "$dir/add.log"; exit 1; fi

rand_tenths() { # lo hi -> a random number of tenths of a second, printed as s.t
  n=$(( $1 + $(od -An -N2 -tu2 /dev/urandom) % ($2 - $1 + 1) ))
  echo "$((n / 10)).$((n % 10))"
}

start() {
  "$CRONFLOW" serve --listen 127.0.0.1:0 --db "$db" >>"$dir/serve.log" 2>&1 &
  pid=$!
}

for r in $(seq 1 "$rounds"); do
  start
  sleep "$(rand_tenths 8 25)"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  sleep "$(rand_tenths 15 25)" # down: fires older than 1 s grace are missed
done
start
sleep 3
kill -TERM "$pid"
wait "$pid"
status=$?
pid=0
[ "$status" -eq 0 ] || { echo "FAIL the last server did not stop cleanly ($status)"; cat "$dir/serve.log"; }

python3 - "$db" "$status" <<'EOF'
import re, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
passed = failed = 0
def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL", name, detail)

check("clean stop", sys.argv[2] == "0")
schedules = [r[0] for r in db.execute("SELECT id FROM schedules ORDER BY id")]
check("200 schedules", len(schedules) == 200, len(schedules))
bad = []
for sid in schedules:
    execs = {}
    for eid, at in db.execute("SELECT id, scheduled_at FROM executions WHERE schedule_id = ?", (sid,)):
        execs.setdefault(at, []).append(eid)
    why = {}       # instant -> ticks explaining a missing execution
    fired = {}     # execution id -> its ledger entries
    for at, outcome, eid, detail in db.execute(
            "SELECT scheduled_at, outcome, execution_id, detail FROM ticks WHERE schedule_id = ? "
            "AND scheduled_at IS NOT NULL", (sid,)):
        if outcome in ("fired", "missed_fired", "queued", "replaced"):
            fired.setdefault(eid, []).append(at)
            continue
        m = re.match(r"(?:at least )?(\d+) missed fires from", detail)
        span = int(m.group(1)) if m else 1
        for k in range(span):
            why.setdefault(at + k * 1000, []).append(outcome)
    instants = set(execs) | set(why)
    if not instants:
        bad.append((sid, "never fired"))
        continue
    lo, hi = min(instants), max(instants)
    for t in range(lo, hi + 1, 1000):
        n_exec, n_why = len(execs.get(t, [])), len(why.get(t, []))
        if n_exec + n_why != 1:
            bad.append((sid, t, n_exec, why.get(t)))
    for at, ids in execs.items():
        for eid in ids:
            if fired.get(eid) != [at]:
                bad.append((sid, "execution without its ledger entry", eid, fired.get(eid)))
check("every (schedule, second) has exactly one execution or one reason", not bad, bad[:10])
missed = db.execute("SELECT count(*) FROM ticks WHERE outcome = 'missed'").fetchone()[0]
caught = db.execute("SELECT count(*) FROM ticks WHERE outcome = 'missed_fired'").fetchone()[0]
skipped = db.execute("SELECT count(*) FROM ticks WHERE outcome = 'skipped_overlap'").fetchone()[0]
runs = db.execute("SELECT count(*) FROM executions").fetchone()[0]
check("downtime made missed fires", missed > 0, missed)
check("misfire policies caught some up", caught > 0, caught)
check("overlap skip recorded skips", skipped > 0, skipped)
check("executions ran", runs > 200 * 3, runs)
late = db.execute("SELECT count(*) FROM executions WHERE json_extract(trigger_data, '$.late')").fetchone()[0]
print(f"  executions {runs}, missed {missed}, caught up {caught}, skipped by overlap {skipped}, late {late}")
print(f"SUMMARY: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
