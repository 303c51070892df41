#!/bin/sh
# cron_oracle.sh - randomized differential test of cron next/prev across DST.
#
# Random expressions (biased to the hours clocks change and to the day
# rules) x DST-heavy zones (New York, London, Lord Howe, Sydney, Santiago,
# Kolkata, Havana, Troll, Chatham, Dublin, St Johns, Casablanca, Apia,
# Tehran, Moscow, Sao Paulo, Kiritimati, Adak, Gaza) x start instants near
# offset changes from 1883 to 9999: `$CRONFLOW cron next` and `--prev` must
# match the independent oracle (tests/oracle/cron_oracle.py, Python's
# zoneinfo over the system tzdata), and next/prev must retrace each other
# on the binary alone (next(prev(t)) == t for fires, prev(next(t))). Before
# that, every block of tests/cron/*.cases is re-checked against the oracle.
#
# Env: CRONFLOW (default build/asan/cronflow); ORACLE_SEED (default 1) picks
# the random sequence, so a failure is reproduced by re-running with the
# same seed; ORACLE_CASES (default 500) triples; ORACLE_BUDGET (default 100)
# seconds after which no new batch starts. Prints "SUMMARY: N passed,
# M failed" (each comparison and each round trip is one check).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CRONFLOW:-$top/build/asan/cronflow}
export TZ=UTC LC_ALL=C
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if ! command -v python3 >/dev/null 2>&1; then
  echo "cron_oracle: python3 is needed for the oracle"
  echo "SUMMARY: 0 passed, 1 failed"
  exit 1
fi
if [ ! -x "$bin" ]; then
  echo "cron_oracle: no executable at $bin (build it with make test-build)"
  echo "SUMMARY: 0 passed, 1 failed"
  exit 1
fi
if ! python3 -c 'import zoneinfo; zoneinfo.ZoneInfo("Australia/Lord_Howe")' 2>/dev/null; then
  echo "cron_oracle: Python's zoneinfo cannot read the system tzdata"
  echo "SUMMARY: 0 passed, 1 failed"
  exit 1
fi

oracle=$top/tests/oracle/cron_oracle.py
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The case files must still agree with the oracle (someone may have edited
# an expected line); each block counts as one check.
python3 "$oracle" check "$top"/tests/cron/*.cases >"$log" 2>&1
check_rc=$?
grep -v '^checked ' "$log"
line=$(grep '^checked ' "$log")
echo "cron_oracle: case files: $line"
agree=$(echo "$line" | sed -n 's/.* \([0-9]*\) agree.*/\1/p')
differ=$(echo "$line" | sed -n 's/.* \([0-9]*\) differ.*/\1/p')
agree=${agree:-0} differ=${differ:-1}
[ "$check_rc" = 0 ] || [ "$differ" -gt 0 ] || differ=1

seed=${ORACLE_SEED:-1}
echo "cron_oracle: ORACLE_SEED=$seed (set it to reproduce or to vary the run)"
python3 "$oracle" random --binary "$bin" --seed "$seed" \
  --cases "${ORACLE_CASES:-500}" --budget "${ORACLE_BUDGET:-100}" >"$log" 2>&1
random_rc=$?
grep -v '^SUMMARY' "$log"
summary=$(grep '^SUMMARY' "$log" | tail -n 1)
passed=$(echo "$summary" | sed -n 's/^SUMMARY: \([0-9]*\) passed.*/\1/p')
failed=$(echo "$summary" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
passed=${passed:-0} failed=${failed:-1}
[ "$random_rc" = 0 ] || [ "$failed" -gt 0 ] || failed=1

echo "SUMMARY: $((agree + passed)) passed, $((differ + failed)) failed"
[ $((differ + failed)) -eq 0 ]
