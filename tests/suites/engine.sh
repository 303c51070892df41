#!/bin/sh
# The workflow engine through the real binary (issue 4's "Must show"):
# `cronflow run` on every tests/workflows/NAME.json that has an expect
# file NAME.expect.json, against a local HTTP peer (tests/tools/
# http_peer.mjs on 127.0.0.1), each result checked by
# tests/tools/check_run.py; `cronflow validate` on every valid definition
# (exit 0) and, with `cronflow run`, on the invalid ones in
# tests/workflows/invalid/ (exit 2, each problem with its JSON path).
#
# Each case: the peer's stored requests and counters are cleared, the
# workflow runs with --input '{"base": "http://127.0.0.1:PORT", ...the
# expect file's "input"}', bounded by a 60 s timeout, and its wall clock
# is measured. Builds nothing: CRONFLOW names the binary.
set -u
: "${CRONFLOW:?CRONFLOW must name the cronflow binary}"
top=$(cd "$(dirname "$0")/../.." && pwd)
wf="$top/tests/workflows"
check="$top/tests/tools/check_run.py"
dir=$(mktemp -d)
peer_pid=""
pass=0 fail=0

cleanup() {
  if [ -n "$peer_pid" ]; then
    kill "$peer_pid" 2>/dev/null
    wait "$peer_pid" 2>/dev/null
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ $# -gt 1 ] && printf '%s\n' "$2"; }
now_ms() { date +%s%3N; }

# The peer: the kernel picks the port; the peer prints it first.
node "$top/tests/tools/http_peer.mjs" 0 >"$dir/peer.out" 2>"$dir/peer.err" &
peer_pid=$!
port=""
i=0
while [ $i -lt 100 ]; do
  port=$(head -n 1 "$dir/peer.out" 2>/dev/null)
  [ -n "$port" ] && break
  i=$((i + 1)); sleep 0.1
done
if [ -z "$port" ]; then
  bad "the HTTP peer did not start" "$(cat "$dir/peer.err")"
  echo "SUMMARY: $pass passed, $fail failed"
  exit 1
fi
base="http://127.0.0.1:$port"

clear_peer() { curl -s -m 5 -X DELETE "$base/requests" >/dev/null; }

# input for an expect file: the base URL and the file's "input".
input_for() {
  python3 -c 'import json,sys
e=json.load(open(sys.argv[1])); i={"base": sys.argv[2]}; i.update(e.get("input", {}))
print(json.dumps(i))' "$1" "$base"
}

workflow_for() { # expect file -> definition path
  python3 -c 'import json,os,sys
p=sys.argv[1]; e=json.load(open(p))
print(os.path.join(os.path.dirname(p), e.get("workflow") or os.path.basename(p)[:-len(".expect.json")] + ".json"))' "$1"
}

# ------------------------------------------------------------ runs
for expect in "$wf"/*.expect.json; do
  name=$(basename "$expect" .expect.json)
  def=$(workflow_for "$expect")
  if [ ! -f "$def" ]; then bad "$name: no workflow $def"; continue; fi
  clear_peer
  start=$(now_ms)
  timeout 60 "$CRONFLOW" run "$def" --input "$(input_for "$expect")" >"$dir/out.json" 2>"$dir/err.txt"
  rc=$?
  wall=$(( $(now_ms) - start ))
  if python3 "$check" "$expect" --doc "$dir/out.json" --exit "$rc" --wall-ms "$wall" \
      --stderr "$dir/err.txt" --peer "$base" >"$dir/check.txt" 2>&1; then
    ok
  else
    bad "run $name (exit $rc, ${wall} ms)" "$(grep -v '^checks:' "$dir/check.txt")"
    grep -q -i 'sanitizer\|runtime error' "$dir/err.txt" && sed -n '1,40p' "$dir/err.txt"
  fi
done

# Idempotency keys: stable across the retries of one step, different
# between two executions (a receiver dedupes by them). Two runs of the
# original workflow send two notifications with different keys.
clear_peer
for n in 1 2; do
  timeout 60 "$CRONFLOW" run "$wf/original.json" --quiet --input "{\"base\": \"$base\"}" >/dev/null 2>&1
done
keys=$(curl -s -m 5 "$base/requests?path=/notify" | python3 -c 'import json,sys
r=json.load(sys.stdin); print(len(r), len({x["headers"].get("idempotency-key") for x in r}))')
if [ "$keys" = "2 2" ]; then ok; else
  bad "two executions send different Idempotency-Keys" "  requests, distinct keys: $keys (expected 2 2)"; fi

# ------------------------------------------------------------ validate
for def in "$wf"/*.json; do
  case "$def" in *.expect.json) continue ;; esac
  out=$("$CRONFLOW" validate "$def" 2>&1)
  rc=$?
  case "$rc:$out" in
    0:*": valid"*) ok ;;
    *) bad "validate $(basename "$def") (exit $rc)" "$out" ;;
  esac
done

for expect in "$wf"/invalid/*.expect.json; do
  name=$(basename "$expect" .expect.json)
  def=$(workflow_for "$expect")
  for cmd in validate run; do
    if [ "$cmd" = run ]; then
      timeout 60 "$CRONFLOW" run "$def" --input "{\"base\": \"$base\"}" >"$dir/out.txt" 2>"$dir/err.txt"
    else
      timeout 60 "$CRONFLOW" validate "$def" >"$dir/out.txt" 2>"$dir/err.txt"
    fi
    rc=$?
    if python3 "$check" "$expect" --doc "$dir/out.txt" --exit "$rc" --stderr "$dir/err.txt" \
        >"$dir/check.txt" 2>&1; then
      ok
    else
      bad "$cmd invalid/$name (exit $rc)" "$(grep -v '^checks:' "$dir/check.txt")"
    fi
  done
done

# The peer itself must not have crashed along the way.
if kill -0 "$peer_pid" 2>/dev/null; then ok; else bad "the HTTP peer is still running" "$(cat "$dir/peer.err")"; fi

echo "SUMMARY: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
