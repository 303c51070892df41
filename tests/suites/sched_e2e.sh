#!/bin/sh
# The scheduler end to end (issue 5's "Must show"): the real binary, with
# the workflow engine running the executions inside `cronflow serve`,
# schedules made and changed with the CLI, checked from the database
# (tests/tools/sched_e2e_check.py reads it with sqlite3) and from
# `cronflow schedule show`:
#
#  1. `* * * * * *` bounded to ten instants: ten executions, each second
#     once, all succeeded with their steps, counters that match;
#  2. a 2.5 s workflow every second under each overlap policy (skip, allow,
#     queue_one, replace): what ran, what waited, what the ledger says;
#  5. disable, enable and delete from another process while serving;
#     (1, 2 and 5 share one server and one window of real time)
#  3. DST in America/New_York on an injected clock (`serve --clock`): the
#     spring-forward 02:30 is shifted to 03:30 EDT and says so; on the
#     fall-back day 01:30 fires once (EDT), hourly :30 twice, 02:30 once;
#  4. misfire policies after downtime: the server is stopped, the cursors of
#     yearly schedules are moved back to 2020, the server is restarted.
#
# kill -9 is sched_kill.sh's. Loopback only; every wait is bounded; the
# servers are stopped by pid. CRONFLOW names the (ASan) binary.
# shellcheck disable=SC2154 # the s_* schedule ids are set by add_schedule (eval)
set -u
: "${CRONFLOW:?CRONFLOW must name the cronflow binary}"
top=$(cd "$(dirname "$0")/../.." && pwd)
checker="$top/tests/tools/sched_e2e_check.py"
dir=$(mktemp -d)
facts="$dir/facts"
: >"$facts"
srv=0
pass=0 fail=0

cleanup() {
  if [ "$srv" -gt 0 ]; then
    kill -9 "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ $# -gt 1 ] && printf '%s\n' "$2"; }
now_ms() { date +%s%3N; }
iso() { date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%SZ; } # whole seconds
fact() { echo "$1 $2" >>"$facts"; }

# q DB SQL: the first column of the first row (or nothing).
q() {
  python3 -c 'import sqlite3, sys
r = sqlite3.connect(sys.argv[1], timeout=10).execute(sys.argv[2]).fetchone()
print("" if r is None else r[0])' "$1" "$2"
}

# wait_for DB SQL TENTHS: until SQL gives 1, at most TENTHS tenths of a second.
wait_for() {
  i=0
  while [ $i -lt "$3" ]; do
    [ "$(q "$1" "$2")" = 1 ] && return 0
    i=$((i + 1))
    sleep 0.1
  done
  return 1
}

# sleep_until MS: sleeps until the wall clock reaches MS (at most 30 s).
sleep_until() {
  i=0
  while [ $i -lt 300 ] && [ "$(now_ms)" -lt "$1" ]; do
    i=$((i + 1))
    sleep 0.1
  done
}

# add_schedule NAME DB OPTIONS...: creates a schedule, records NAME = its id.
add_schedule() {
  sname=$1 sdb=$2
  shift 2
  out=$("$CRONFLOW" schedule add --db "$sdb" "$@" 2>&1)
  id=$(printf '%s' "$out" | sed -n 's/^{"id":\([0-9]*\),.*/\1/p')
  if [ -z "$id" ]; then
    bad "schedule add $sname ($*)" "$out"
    id=0
  fi
  fact "$sname" "$id"
  eval "$sname=$id"
}

alive() { # pid: running (not gone, not a zombie waiting to be reaped)
  [ -r "/proc/$1/stat" ] && [ "$(sed 's/^.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}

# start_server DB LOG [serve options...]: starts it on loopback, waits for
# its "serving on" line (10 s at most).
start_server() {
  sdb=$1 slog=$2
  shift 2
  : >"$slog"
  "$CRONFLOW" serve --listen 127.0.0.1:0 --db "$sdb" "$@" >>"$slog" 2>&1 &
  srv=$!
  i=0
  while [ $i -lt 100 ] && ! grep -q 'serving on' "$slog"; do
    alive "$srv" || break
    i=$((i + 1))
    sleep 0.1
  done
  if grep -q 'serving on' "$slog"; then ok; else bad "server started ($slog)" "$(tail -n 20 "$slog")"; fi
}

# stop_server LABEL LOG: SIGTERM, 15 s to stop, then it must have exited 0
# (ASan reports leaks at exit) with no sanitizer report in its log.
stop_server() {
  kill -TERM "$srv" 2>/dev/null
  i=0
  while [ $i -lt 150 ] && alive "$srv"; do
    i=$((i + 1))
    sleep 0.1
  done
  if alive "$srv"; then
    kill -9 "$srv" 2>/dev/null
    bad "$1: the server stops within 15 s of SIGTERM"
  fi
  wait "$srv"
  st=$?
  srv=0
  if [ "$st" -eq 0 ] && ! grep -q -i 'sanitizer\|runtime error' "$2"; then ok; else
    bad "$1: the server stopped cleanly (exit $st)" "$(grep -v '^cronflow sched:' "$2" | tail -n 40)"
  fi
}

# run_check CASE DB: the checker's lines; its failures are ours.
run_check() {
  python3 "$checker" "$1" "$2" "$facts" >"$dir/check.out" 2>&1
  rc=$?
  res=$(sed -n 's/^RESULT \([0-9]*\) \([0-9]*\)$/\1 \2/p' "$dir/check.out" | tail -n 1)
  if [ -z "$res" ]; then
    bad "$1 checks ran (exit $rc)" "$(cat "$dir/check.out")"
    return
  fi
  pass=$((pass + ${res% *}))
  fail=$((fail + ${res#* }))
  # print failures with their detail lines
  awk '/^FAIL /{p=1; print; next} /^(ok|RESULT) /{p=0} p' "$dir/check.out"
  [ "$rc" -eq 0 ] || [ "${res#* }" -gt 0 ] || bad "$1 checker exit $rc" "$(cat "$dir/check.out")"
}

cat >"$dir/tick.json" <<'EOF'
{"name": "tick", "nodes": [
  {"id": "start", "type": "trigger"},
  {"id": "log", "type": "action", "action": "log_message",
   "params": {"message": "fired {{ trigger.scheduled_at }}"}}],
 "edges": [{"from": "start", "to": "log"}]}
EOF
cat >"$dir/slow.json" <<'EOF'
{"name": "slow", "nodes": [
  {"id": "start", "type": "trigger"},
  {"id": "wait", "type": "action", "action": "sleep", "params": {"duration_ms": 2500}}],
 "edges": [{"from": "start", "to": "wait"}]}
EOF

add_workflows() { # DB: sets tick and slow to the workflows' ids
  tick=$("$CRONFLOW" workflow add --db "$1" "$dir/tick.json") || bad "workflow add tick" "$tick"
  slow=$("$CRONFLOW" workflow add --db "$1" "$dir/slow.json") || bad "workflow add slow" "$slow"
}

# ================================================= 1, 2, 5: real time
db="$dir/real.db"
log="$dir/real.log"
add_workflows "$db"
start=$(( ($(now_ms) / 1000 + 3) * 1000 )) # a whole second, after the server is up
fact every_start "$start"
fact overlap_start "$start"
fact overlap_count 8
add_schedule s_every "$db" --workflow "$tick" --cron '* * * * * *' \
  --starts-at "$(iso "$start")" --ends-at "$(iso $((start + 9000)))"
for policy in skip allow queue_one replace; do
  add_schedule "s_$policy" "$db" --workflow "$slow" --cron '* * * * * *' --overlap "$policy" \
    --starts-at "$(iso "$start")" --ends-at "$(iso $((start + 7000)))"
done
add_schedule s_toggle "$db" --workflow "$tick" --cron '* * * * * *' --overlap allow
start_server "$db" "$log"

# 5: it runs, is disabled, enabled again, deleted; each change made by
# this (another) process.
if wait_for "$db" "SELECT count(*) >= 2 FROM executions WHERE schedule_id = $s_toggle" 60; then ok; else
  bad "the toggled schedule fired twice within 6 s of the server's start"; fi
out=$("$CRONFLOW" schedule disable --db "$db" "$s_toggle" 2>&1)
fact toggle_disabled "$(now_ms)"
case $out in *'"enabled":false'*) ok ;; *) bad "schedule disable says enabled false" "$out" ;; esac
sleep 2.5
fact toggle_enable_call "$(now_ms)"
out=$("$CRONFLOW" schedule enable --db "$db" "$s_toggle" 2>&1)
fact toggle_enabled "$(now_ms)"
case $out in *'"enabled":true'*) ok ;; *) bad "schedule enable says enabled true" "$out" ;; esac
sleep 2.5
out=$("$CRONFLOW" schedule delete --db "$db" "$s_toggle" 2>&1)
t_del=$(now_ms)
fact toggle_deleted "$t_del"
case $out in *'"deleted":true'*) ok ;; *) bad "schedule delete says deleted" "$out" ;; esac
if "$CRONFLOW" schedule show --db "$db" "$s_toggle" >/dev/null 2>&1; then
  bad "schedule show of a deleted schedule fails"; else ok; fi
if "$CRONFLOW" schedule list --db "$db" | python3 -c 'import json, sys
sys.exit(int(sys.argv[1]) in [s["id"] for s in json.load(sys.stdin)])' "$s_toggle"; then ok; else
  bad "schedule list leaves the deleted schedule out"; fi

# The windows end at start+9 s (1) and start+7 s (2); then every execution
# must reach its end (queue_one's last one waits 2.5 s behind another).
sleep_until $((start + 9500))
sleep_until $((t_del + 3000))
if wait_for "$db" "SELECT count(*) = 0 FROM executions WHERE status IN ('queued', 'running')" 150; then ok; else
  bad "every execution finished within 15 s of the last fire" \
    "$(q "$db" "SELECT group_concat(id || ':' || status || ':' || schedule_id, ' ') FROM executions WHERE status IN ('queued', 'running')")"
fi
fact toggle_end "$(now_ms)"
stop_server "every second / overlap / toggle" "$log"
run_check every_second "$db"
run_check overlap "$db"
run_check toggle "$db"

# ================================================= 3: DST, injected clock
# Spring forward, 2027-03-14: 02:00 EST -> 03:00 EDT (07:00Z). At 60x the
# scheduler's clock reaches 07:30Z a second after the start. Executions
# are queued and run on the real clock.
db="$dir/spring.db"
log="$dir/spring.log"
add_workflows "$db"
add_schedule s_spring "$db" --workflow "$tick" --cron '30 2 * * *' --timezone America/New_York
fact spring_real_start "$(now_ms)"
start_server "$db" "$log" --clock 2027-03-14T07:29:00Z --clock-speed 60
if wait_for "$db" "SELECT count(*) >= 1 FROM executions WHERE status = 'succeeded'" 100; then ok; else
  bad "spring-forward: a run succeeded within 10 s (virtual 07:39Z)"; fi
sleep 0.5
fact spring_real_end "$(now_ms)"
stop_server "DST spring-forward" "$log"
run_check dst_spring "$db"

# Fall back, 2027-11-07: 02:00 EDT -> 01:00 EST (06:00Z). At 1200x one
# virtual hour takes 3 s: 05:30Z after 0.75 s, 06:30Z after 3.75 s, 07:30Z
# after 6.75 s. A grace of an hour keeps a slow (ASan) fire on time at
# that speed: this is about which instants fire, not how late.
db="$dir/fall.db"
log="$dir/fall.log"
add_workflows "$db"
add_schedule s_fall_0130 "$db" --workflow "$tick" --cron '30 1 * * *' \
  --timezone America/New_York --grace-ms 3600000
add_schedule s_fall_hourly "$db" --workflow "$tick" --cron '30 * * * *' \
  --timezone America/New_York --grace-ms 3600000
add_schedule s_fall_0230 "$db" --workflow "$tick" --cron '30 2 * * *' \
  --timezone America/New_York --grace-ms 3600000
fact fall_real_start "$(now_ms)"
start_server "$db" "$log" --clock 2027-11-07T05:15:00Z --clock-speed 1200
if wait_for "$db" "SELECT count(*) >= 1 FROM executions WHERE schedule_id = $s_fall_0230 AND status = 'succeeded'" 150; then ok; else
  bad "fall-back: the 02:30 EST run succeeded within 15 s (virtual 10:15Z)"; fi
fact fall_real_end "$(now_ms)"
stop_server "DST fall-back" "$log"
run_check dst_fall "$db"

# ================================================= 4: misfire after downtime
# Yearly schedules (nothing fires while the test runs). The server runs,
# stops; while it is down their cursors are moved back to 2020-01-01, so
# every New Year since was missed (beyond the 60 s grace); it restarts.
db="$dir/misfire.db"
log="$dir/misfire.log"
add_workflows "$db"
add_schedule s_misfire_skip "$db" --workflow "$tick" --cron '0 0 1 1 *' --misfire skip
add_schedule s_misfire_once "$db" --workflow "$tick" --cron '0 0 1 1 *' --misfire once
# The default overlap (skip): the catch-up runs of one `all` still all run.
add_schedule s_misfire_all "$db" --workflow "$tick" --cron '0 0 1 1 *' --misfire all --misfire-limit 3
start_server "$db" "$log"
sleep 1
stop_server "misfire: first run" "$log"
cp "$log" "$dir/misfire-first.log"
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
with db:
    n = db.execute("UPDATE schedules SET next_fire_at = 1577836800000 WHERE id IN (?, ?, ?)",
                   sys.argv[2:]).rowcount
sys.exit(n != 3)' "$db" "$s_misfire_skip" "$s_misfire_once" "$s_misfire_all" ||
  bad "moving the cursors back to 2020"
fact misfire_restart "$(now_ms)"
start_server "$db" "$log"
if wait_for "$db" "SELECT count(*) >= 4 AND sum(status = 'succeeded') = count(*) FROM executions" 100; then ok; else
  bad "misfire: the catch-up runs finished within 10 s"; fi
sleep 0.5
stop_server "misfire: restart" "$log"
run_check misfire "$db"

echo "SUMMARY: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
