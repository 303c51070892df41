#!/bin/sh
# The data file's failures, as a person meets them through the binary:
# each is a clear one-line error and a non-zero exit, and nothing that was
# acknowledged is lost. Migrations apply once; a database written by a
# newer cronflow is refused; a read-only file, a database locked by another
# process, and a file that is not a database each say so.
set -u
: "${CRONFLOW:?CRONFLOW must name the cronflow binary}"
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); printf 'FAIL %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3"; fi
}
contains() { # name needle haystack
  case "$3" in *"$2"*) pass=$((pass + 1)) ;; *)
    fail=$((fail + 1)); printf 'FAIL %s\n  expected to contain: %s\n  actual: %s\n' "$1" "$2" "$3" ;; esac
}
lines() { printf '%s\n' "$1" | grep -c .; }

db="$dir/a/b/cronflow.db"
out=$("$CRONFLOW" migrate --db "$db" 2>&1); rc=$?
check "migrate creates and migrates" "0" "$rc"
# As many migrations as there are files, each applied once.
n=$(ls src/store/migrations/sqlite/*.sql | wc -l)
[ "$n" -eq 1 ] && plural="" || plural="s"
contains "migrate reports the version" "schema version $n ($n migration$plural applied)" "$out"
out=$("$CRONFLOW" migrate --db "$db" 2>&1)
contains "migrations apply once" "(0 migrations applied)" "$out"

# Written by a newer cronflow.
cp "$db" "$dir/newer.db"
python3 - "$dir/newer.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO schema_migrations VALUES (42, '0042_future.sql', 0)")
c.commit()
PY
out=$("$CRONFLOW" migrate --db "$dir/newer.db" 2>&1); rc=$?
check "newer schema exits 1" "1" "$rc"
contains "newer schema says so" "written by a newer cronflow" "$out"
check "newer schema: one line" "1" "$(lines "$out")"
out=$("$CRONFLOW" serve --listen 127.0.0.1:0 --db "$dir/newer.db" 2>&1); rc=$?
check "serve refuses a newer schema" "1" "$rc"
contains "serve says why" "schema version 42" "$out"

# Not a database at all.
head -c 4096 /dev/urandom >"$dir/garbage.db"
out=$("$CRONFLOW" migrate --db "$dir/garbage.db" 2>&1); rc=$?
check "garbage file exits 1" "1" "$rc"
contains "garbage file says so" "not a database" "$out"

# A database locked by another process (a new file, mid-transaction in
# another program): the error names the lock, nothing of the holder's is
# lost, and once the lock is gone the same command works.
python3 - "$dir/locked.db" "$dir/locked" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
c.execute("CREATE TABLE holder (x)")
c.execute("INSERT INTO holder VALUES (77)")
open(sys.argv[2], "w").close()
time.sleep(8)
c.execute("COMMIT")
PY
holder=$!
i=0; until [ -f "$dir/locked" ] || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.05; done
out=$("$CRONFLOW" migrate --db "$dir/locked.db" 2>&1); rc=$?
check "locked database exits 1" "1" "$rc"
contains "locked database says so" "locked" "$out"
wait "$holder"
rows=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM holder').fetchone()[0])" "$dir/locked.db")
check "the holder's commit is kept" "1" "$rows"
out=$("$CRONFLOW" migrate --db "$dir/locked.db" 2>&1); rc=$?
check "after the lock, migrate works" "0" "$rc"

# A read-only file, as an unprivileged user (root ignores file modes).
"$CRONFLOW" migrate --db "$dir/ro.db" >/dev/null 2>&1
chmod 444 "$dir/ro.db"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  run_as() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
else
  run_as() { "$@"; }
fi
out=$(run_as "$CRONFLOW" migrate --db "$dir/ro.db" 2>&1); rc=$?
check "read-only file exits 1" "1" "$rc"
contains "read-only file says so" "read-only" "$out"
check "read-only: one line" "1" "$(lines "$out")"

# A directory that cannot be created.
out=$("$CRONFLOW" migrate --db "/proc/cronflow/x.db" 2>&1); rc=$?
check "uncreatable directory exits 1" "1" "$rc"
contains "uncreatable directory says so" "cannot create the directory" "$out"

echo "SUMMARY: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
