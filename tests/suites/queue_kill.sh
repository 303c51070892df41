#!/bin/sh
# Kill -9 worker processes at random points while executions run; restart;
# every accepted execution must end exactly once as succeeded, none lost, no
# succeeded step run again. Repeated over several databases and seeds.
set -u
: "${BUILD_DIR:?}"
tool="$BUILD_DIR/tools/queue_worker"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
total_pass=0 total_fail=0
rounds=${QUEUE_KILL_ROUNDS:-3}
for trial in $(seq 1 "$rounds"); do
  db="$dir/q$trial.db" log="$dir/steps$trial.log"
  "$tool" enqueue "$db" 200 3 40 || exit 1
  for kill in $(seq 1 8); do
    "$tool" run "$db" 6 800 "$log" &
    pid=$!
    # A random moment between 0.1 and 1.0 s into the run.
    sleep "0.$(( ($(od -An -N2 -tu2 /dev/urandom) % 9) + 1 ))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  "$tool" run "$db" 6 800 "$log" --until-empty || exit 1
  out=$("$tool" check "$db" 200 3 "$log")
  echo "trial $trial: $out" | sed 's/^/  /'
  p=$(echo "$out" | sed -n 's/^SUMMARY: \([0-9]*\) passed.*/\1/p')
  f=$(echo "$out" | sed -n 's/^SUMMARY: [0-9]* passed, \([0-9]*\) failed.*/\1/p')
  total_pass=$((total_pass + ${p:-0})) total_fail=$((total_fail + ${f:-1}))
done
echo "SUMMARY: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
