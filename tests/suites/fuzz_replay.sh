#!/bin/sh
# Replays every fuzz target's corpus under ASan+UBSan (SQLite's fuzzcheck
# idea): what the fuzzer once found stays fixed.
#
#  - $BUILD_DIR/fuzz/replay_<name> over fuzz/corpus/<name>/, for every
#    fuzz/fuzz_<name>.c;
#  - replay_tzif also over the system's real zone files, read in place from
#    $TZDIR or /usr/share/zoneinfo (tzdata is a build dependency).
#
# Each input that runs to completion counts as passed. A crash or a broken
# invariant aborts the replay; it counts as failed and its output (which
# names the input and carries the sanitizer's stack) is shown.
# Last line: "SUMMARY: N passed, M failed"; exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
build=${BUILD_DIR:-$top/build/asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# replay LABEL COMMAND... : runs a replay (find -exec may make it several)
# and adds up the SUMMARY lines it printed.
replay() {
  label=$1
  shift
  "$@" >"$log" 2>&1
  rc=$?
  p=$(sed -n 's/^SUMMARY: \([0-9]*\) passed, [0-9]* failed$/\1/p' "$log" |
    awk '{ s += $1 } END { print s + 0 }')
  f=$(sed -n 's/^SUMMARY: [0-9]* passed, \([0-9]*\) failed$/\1/p' "$log" |
    awk '{ s += $1 } END { print s + 0 }')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    echo "no input was replayed" >>"$log"
    f=1
  fi
  passed=$((passed + p)) failed=$((failed + f))
  if [ "$f" -ne 0 ]; then
    tail -n 60 "$log"
    echo "FAIL $label ($p passed, $f failed)"
  else
    echo "ok   $label ($p inputs)"
  fi
}

targets=0
for src in fuzz/fuzz_*.c; do
  [ -f "$src" ] || continue
  name=${src#fuzz/fuzz_}
  name=${name%.c}
  targets=$((targets + 1))
  bin="$build/fuzz/replay_$name"
  if [ ! -x "$bin" ]; then
    echo "FAIL $name: $bin is missing (run make test-build)"
    failed=$((failed + 1))
    continue
  fi
  if [ -d "fuzz/corpus/$name" ]; then
    replay "corpus/$name" "$bin" "fuzz/corpus/$name"
  else
    echo "FAIL $name: fuzz/corpus/$name is missing"
    failed=$((failed + 1))
  fi
  if [ "$name" = tzif ]; then
    zoneinfo=${TZDIR:-/usr/share/zoneinfo}
    if [ -d "$zoneinfo" ]; then
      replay "$zoneinfo" find "$zoneinfo" -type f -exec "$bin" {} +
    else
      echo "FAIL tzif: $zoneinfo does not exist (install tzdata)"
      failed=$((failed + 1))
    fi
  fi
done
if [ "$targets" -eq 0 ]; then
  echo "FAIL: no fuzz/fuzz_*.c targets found"
  failed=$((failed + 1))
fi

echo "SUMMARY: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
