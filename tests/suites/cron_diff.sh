#!/bin/sh
# The differential test against cron-parser, the npm library the system
# cronflow replaces used: thousands of random expressions x zones x start
# instants (many within hours of real DST transitions), answered by
# cron-parser (tests/diff/gen.mjs) and by cronflow (build/asan/tools/
# cron_batch), every answer of ours also checked against an independent
# brute-force reading of the DST rule (tests/diff/oracle.mjs), and every
# disagreement either one of the classes documented in docs/cron.md
# ("Differences from cron-parser") or a failure (tests/diff/compare.mjs).
#
# Environment: BUILD_DIR (default build/asan), DIFF_SEED (default 1),
# DIFF_CASES (default 4000), DIFF_JOBS (cron-parser worker threads),
# DIFF_VERBOSE=1 (an example of each class), DIFF_KEEP=DIR (keep the cases
# and both sides' answers in DIR).
#
# cron-parser is installed from tests/diff/package-lock.json with `npm ci`
# when tests/diff/node_modules is missing; without network that fails with
# a message saying so.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$top/build/asan}
diff_dir=$top/tests/diff
batch=$build/tools/cron_batch

fail() {
  echo "cron_diff: $*"
  echo "SUMMARY: 0 passed, 1 failed"
  exit 1
}

command -v node >/dev/null 2>&1 || fail "node is missing (scripts/install-deps test installs it)"
command -v zdump >/dev/null 2>&1 || fail "zdump is missing (Debian package libc-bin)"
[ -x "$batch" ] || fail "$batch is missing: run 'make test-build' first"

pinned=$(cd "$diff_dir" && node -e 'console.log(require("./package-lock.json").packages["node_modules/cron-parser"].version)') ||
  fail "cannot read tests/diff/package-lock.json"
installed=$(cd "$diff_dir" && node -e 'console.log(require("cron-parser/package.json").version)' 2>/dev/null)
if [ "$installed" != "$pinned" ]; then
  command -v npm >/dev/null 2>&1 || fail "npm is missing (scripts/install-deps test installs it)"
  echo "installing cron-parser $pinned with npm ci"
  if ! (cd "$diff_dir" && timeout 300 npm ci --no-audit --no-fund >npm-ci.log 2>&1); then
    cat "$diff_dir/npm-ci.log"
    rm -f "$diff_dir/npm-ci.log"
    fail "npm ci could not install cron-parser $pinned from tests/diff/package-lock.json (is the npm registry reachable?)"
  fi
  rm -f "$diff_dir/npm-ci.log"
fi

work=${DIFF_KEEP:-}
if [ -n "$work" ]; then
  mkdir -p "$work" || fail "cannot create $work"
else
  work=$(mktemp -d) || fail "cannot create a temporary directory"
  trap 'rm -rf "$work"' EXIT
fi

start=$(date +%s)
timeout 600 node "$diff_dir/gen.mjs" "$work" || fail "generating the cases failed (tests/diff/gen.mjs)"
gen_done=$(date +%s)
timeout 300 "$batch" <"$work/cases.tsv" >"$work/ours.txt" || fail "cron_batch failed (exit $?)"
[ "$(wc -l <"$work/cases.tsv")" -eq "$(wc -l <"$work/ours.txt")" ] || fail "cron_batch answered $(wc -l <"$work/ours.txt") of $(wc -l <"$work/cases.tsv") cases"
ours_done=$(date +%s)
timeout 600 node "$diff_dir/compare.mjs" "$work"
rc=$?
echo "times: cron-parser $((gen_done - start))s, cronflow $((ours_done - gen_done))s, comparison $(($(date +%s) - ours_done))s"
exit $rc
