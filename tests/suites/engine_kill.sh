#!/bin/sh
# An execution's process killed with kill -9 mid-run, then resumed by
# another process (issue 4: steps recorded through the store's checkpoints;
# issue 3: nothing lost, nothing that succeeded run twice).
#
# Each round: `cronflow run --db DB` runs six sequential HTTP steps (300 ms
# each) against the test peer and is killed with SIGKILL after a chosen
# delay; the steps recorded as succeeded at that moment are read from the
# database; `cronflow serve --db DB` is started, claims the execution once
# its lease has expired (10 s) and finishes it. Then: the execution
# succeeded with six succeeded steps; every step that had succeeded before
# the kill was requested exactly once in all; every other step at least once
# and at most twice (the one in flight at the kill may run again: delivery
# is at-least-once per step).
set -u
: "${CRONFLOW:?CRONFLOW must name the cronflow binary}"
top=$(cd "$(dirname "$0")/../.." && pwd)
wf="$top/tests/workflows/kill/steps.json"
dir=$(mktemp -d)
peer_pid="" serve_pid="" run_pid=""
pass=0 fail=0

cleanup() {
  for p in $run_pid $serve_pid $peer_pid; do
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ $# -gt 1 ] && printf '%s\n' "$2"; }
check() { # name expected actual
  if [ "$2" = "$3" ]; then ok; else bad "$1" "  expected: $2
  actual:   $3"; fi
}

node "$top/tests/tools/http_peer.mjs" 0 >"$dir/peer.out" 2>"$dir/peer.err" &
peer_pid=$!
port="" i=0
while [ $i -lt 100 ] && [ -z "$port" ]; do
  port=$(head -n 1 "$dir/peer.out" 2>/dev/null); i=$((i + 1)); sleep 0.1
done
if [ -z "$port" ]; then
  bad "the HTTP peer did not start" "$(cat "$dir/peer.err")"
  echo "SUMMARY: $pass passed, $fail failed"; exit 1
fi
base="http://127.0.0.1:$port"

# query DB SQL: one value per line
query() {
  python3 -c 'import sqlite3,sys
c=sqlite3.connect(sys.argv[1], timeout=10)
for r in c.execute(sys.argv[2]): print("|".join("" if v is None else str(v) for v in r))' "$1" "$2"
}

round=0
for delay in 0.5 1.3; do
  round=$((round + 1))
  db="$dir/r$round.db"
  curl -s -m 5 -X DELETE "$base/requests" >/dev/null
  "$CRONFLOW" run --db "$db" --quiet "$wf" --input "{\"base\": \"$base\"}" \
    >"$dir/run$round.out" 2>"$dir/run$round.err" &
  run_pid=$!
  sleep "$delay"
  kill -9 "$run_pid" 2>/dev/null
  wait "$run_pid" 2>/dev/null
  run_pid=""
  before=$(query "$db" "select node_id from execution_steps where status = 'succeeded' and node_id glob 's[0-9]' order by node_id" | tr '\n' ' ')
  status=$(query "$db" "select status from executions where id = 1")
  check "round $round: the killed run left its execution running" "running" "$status"

  "$CRONFLOW" serve --db "$db" --listen 127.0.0.1:0 >"$dir/serve$round.out" 2>&1 &
  serve_pid=$!
  i=0
  while [ $i -lt 300 ]; do
    status=$(query "$db" "select status from executions where id = 1")
    [ "$status" = "succeeded" ] || [ "$status" = "failed" ] && break
    i=$((i + 1)); sleep 0.1
  done
  kill -TERM "$serve_pid" 2>/dev/null
  wait "$serve_pid"
  rc=$?
  serve_pid=""
  check "round $round: serve stopped cleanly" "0" "$rc"
  check "round $round: the execution resumed and succeeded" "succeeded" "$status"
  steps=$(query "$db" "select count(*) from execution_steps where execution_id = 1 and status = 'succeeded' and node_id glob 's[0-9]'")
  check "round $round: six steps succeeded" "6" "$steps"
  resumes=$(query "$db" "select resumes from executions where id = 1")
  check "round $round: claimed again after the lost lease" "1" "$resumes"

  counts=$(curl -s -m 5 "$base/requests?path=/slow" | python3 -c 'import json,sys,urllib.parse
n={}
for r in json.load(sys.stdin):
    q=urllib.parse.parse_qs(urllib.parse.urlparse(r["url"]).query)
    s="s"+q["step"][0]; n[s]=n.get(s,0)+1
print(" ".join("%s=%d" % (k, n.get(k,0)) for k in ["s1","s2","s3","s4","s5","s6"]))')
  for s in s1 s2 s3 s4 s5 s6; do
    c=$(echo "$counts" | tr ' ' '\n' | sed -n "s/^$s=//p")
    case " $before " in
      *" $s "*) check "round $round: $s, done before the kill, was not run again" "1" "$c" ;;
      *) if [ "$c" -ge 1 ] && [ "$c" -le 2 ]; then ok; else
           bad "round $round: $s ran $c times (1 or 2 expected; before the kill: $before)"; fi ;;
    esac
  done
  [ -n "$before" ] && ok || bad "round $round: no step had succeeded before the kill (delay $delay s too short?)"
  grep -q "ERROR: AddressSanitizer\|runtime error" "$dir/serve$round.out" &&
    bad "round $round: sanitizer report" "$(cat "$dir/serve$round.out")"
done

echo "SUMMARY: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
