#!/bin/sh
# Slack, e-mail and SQL actions and credentials (issue 7), through
# `cronflow run` against real peers started here, on 127.0.0.1 only:
# tests/tools/http_peer.mjs (Slack's webhook and Web API stand-ins),
# tests/tools/smtp_peer.py (aiosmtpd: plain, STARTTLS + AUTH with a
# certificate made now, a server that refuses a recipient; a port with
# nothing behind it for "down"), a PostgreSQL 15 cluster of its own
# (initdb in the temporary directory, a free port, trust auth on loopback)
# and SQLite files. Each tests/workflows/integrations/NAME.json runs with
# its expect file (tests/tools/check_run.py); received mail is parsed by
# tests/tools/check_mail.py. Secrets must not appear in the database file,
# the output or the logs. Everything started is stopped at the end.
set -u
: "${CRONFLOW:?CRONFLOW must name the cronflow binary}"
top=$(cd "$(dirname "$0")/../.." && pwd)
wf="$top/tests/workflows/integrations"
check="$top/tests/tools/check_run.py"
dir=$(mktemp -d)
peer_pid="" smtp_pid="" pg_started=""
pass=0 fail=0
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SECRET_TOKEN=tok-SECRET-5b8e2d71
SMTP_PASSWORD=smtp-pass-7f3a9c

cleanup() {
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null && wait "$peer_pid" 2>/dev/null
  [ -n "$smtp_pid" ] && kill "$smtp_pid" 2>/dev/null && wait "$smtp_pid" 2>/dev/null
  [ -n "$pg_started" ] && $as_pg "$PGBIN/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ $# -gt 1 ] && printf '%s\n' "$2"; }
now_ms() { date +%s%3N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
finish() { echo "SUMMARY: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

# ------------------------------------------------------------ peers
node "$top/tests/tools/http_peer.mjs" 0 >"$dir/peer.out" 2>"$dir/peer.err" &
peer_pid=$!

# aiosmtpd is Debian's python3-aiosmtpd: the system's python3 has it even
# when another python3 comes first on PATH.
smtp_python=""
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import aiosmtpd' 2>/dev/null; then smtp_python=$p; break; fi
done
[ -n "$smtp_python" ] || { bad "python3-aiosmtpd is not installed (scripts/install-deps test)"; finish; }
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$dir/smtp.key" -out "$dir/smtp.crt" >/dev/null 2>&1 \
  || { bad "openssl cannot make a test certificate"; finish; }
mkdir "$dir/mail"
"$smtp_python" "$top/tests/tools/smtp_peer.py" "$dir/mail" "$dir/smtp.crt" "$dir/smtp.key" \
  >"$dir/smtp.out" 2>"$dir/smtp.err" &
smtp_pid=$!

# PostgreSQL: a cluster of our own, trust on loopback, no fsync. Its
# programs refuse to run as root: as root they run as the postgres user
# (the postgresql package creates it), in directories it owns.
pg_port=$(free_port)
as_pg=""
mkdir "$dir/pg" "$dir/pgsock"
chmod 755 "$dir"
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$dir/pg" "$dir/pgsock" 2>/dev/null
  as_pg="runuser -u postgres --"
fi
if [ -x "$PGBIN/initdb" ] && $as_pg "$PGBIN/initdb" -D "$dir/pg" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1 &&
   $as_pg "$PGBIN/pg_ctl" -D "$dir/pg" -w -t 30 -l "$dir/pgsock/pg.log" \
     -o "-p $pg_port -k $dir/pgsock -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null 2>&1; then
  pg_started=1
else
  bad "PostgreSQL 15 cannot start (postgresql package, $PGBIN)" "$(tail -5 "$dir/initdb.log" "$dir/pgsock/pg.log" 2>/dev/null)"
fi

i=0 port="" smtp=""
while [ $i -lt 150 ]; do
  port=$(head -n 1 "$dir/peer.out" 2>/dev/null)
  smtp=$(head -n 1 "$dir/smtp.out" 2>/dev/null)
  [ -n "$port" ] && [ -n "$smtp" ] && break
  i=$((i + 1)); sleep 0.1
done
[ -n "$port" ] || { bad "the HTTP peer did not start" "$(cat "$dir/peer.err")"; finish; }
[ -n "$smtp" ] || { bad "the SMTP peer did not start" "$(cat "$dir/smtp.err")"; finish; }
base="http://127.0.0.1:$port"
down_port=$(free_port)

python3 - "$dir" "$base" "$smtp" "$down_port" "$pg_port" "$SECRET_TOKEN" "$SMTP_PASSWORD" <<'PY'
import json, sys
d, base, smtp, down, pg, token, smtp_pass = sys.argv[1:]
smtp = json.loads(smtp)
pg_url = f"postgresql://postgres@127.0.0.1:{pg}/postgres"
creds = {
  "slack_hook": {"type": "slack", "data": {"webhook_url": base + "/slack/webhook"}},
  "slack_bot": {"type": "slack", "data": {"token": "xoxb-test-token", "api_base": base + "/slack/api"}},
  "mail": {"type": "smtp", "data": {"host": "127.0.0.1", "port": smtp["plain"], "security": "none"}},
  "mail_tls": {"type": "smtp", "data": {"host": "127.0.0.1", "port": smtp["tls"], "security": "starttls",
               "username": "mailer", "password": smtp_pass, "from": "Ops <ops-bot@example.com>",
               "ca_file": d + "/smtp.crt"}},
  "mail_refusing": {"type": "smtp", "data": {"host": "127.0.0.1", "port": smtp["refusing"], "security": "none"}},
  "mail_down": {"type": "smtp", "data": {"host": "127.0.0.1", "port": int(down), "security": "none"}},
  "pg": {"type": "postgres", "data": {"url": pg_url}},
  "pg_ro": {"type": "postgres", "data": {"url": pg_url}, "read_only": True},
  "lite": {"type": "sqlite", "data": {"path": d + "/lite.db"}},
  "lite_ro": {"type": "sqlite", "data": {"path": d + "/lite.db"}, "read_only": True},
  "api": {"type": "bearer", "data": {"token": token}},
}
json.dump(creds, open(d + "/creds.json", "w"))
PY
python3 -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).close()' "$dir/lite.db"

clear_peer() { curl -s -m 5 -X DELETE "$base/requests" >/dev/null; }
input_for() {
  python3 -c 'import json,sys
e=json.load(open(sys.argv[1])); i={"base": sys.argv[2]}; i.update(e.get("input", {}))
print(json.dumps(i))' "$1" "$base"
}

# ------------------------------------------------------------ runs
run_case() { # name [extra cronflow args...]
  name=$1; shift
  if [ "$name" = sql_postgres ] && [ -z "$pg_started" ]; then bad "run $name: no PostgreSQL"; return; fi
  expect="$wf/$name.expect.json"
  clear_peer
  start=$(now_ms)
  timeout 60 "$CRONFLOW" run "$wf/$name.json" --credentials "$dir/creds.json" \
    --input "$(input_for "$expect")" "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  rc=$?
  wall=$(( $(now_ms) - start ))
  if python3 "$check" "$expect" --doc "$dir/$name.out" --exit "$rc" --wall-ms "$wall" \
      --stderr "$dir/$name.err" --peer "$base" >"$dir/check.txt" 2>&1; then
    ok
  else
    bad "run $name (exit $rc, ${wall} ms)" "$(grep -v '^checks:' "$dir/check.txt")"
    grep -q -i 'sanitizer\|runtime error' "$dir/$name.err" && sed -n '1,40p' "$dir/$name.err"
  fi
}

for name in slack slack_refused slack_ratelimited slack_hang email_refused email_down sql_postgres sql_sqlite; do
  run_case "$name"
done

run_case email
if python3 "$top/tests/tools/check_mail.py" "$dir/mail" full >"$dir/mail.txt" 2>&1; then ok; else
  bad "the received message (MIME, headers, parts, escaping, attachments)" "$(cat "$dir/mail.txt")"; fi
run_case email_tls
if python3 "$top/tests/tools/check_mail.py" "$dir/mail" tls >"$dir/mail.txt" 2>&1; then ok; else
  bad "the message sent with STARTTLS and AUTH" "$(cat "$dir/mail.txt")"; fi

# ------------------------------------------------------------ secrets
# A kept database: the secret must be in none of its files (sealed), nor
# in the output or the logs; the e-mail log and the credentials are there.
mkdir "$dir/kept"
run_case secrets --db "$dir/kept/cronflow.db"
run_case email_refused --db "$dir/kept/cronflow.db"
found=$(grep -l -a -r -e "$SECRET_TOKEN" -e "$SMTP_PASSWORD" -e "xoxb-test-token" \
  "$dir/kept" "$dir"/*.out "$dir"/*.err 2>/dev/null)
if [ -z "$found" ]; then ok; else bad "secrets appear in files" "$found"; fi
perm=$(stat -c %a "$dir/kept/cronflow.key" 2>/dev/null)
if [ "$perm" = 600 ]; then ok; else bad "the key file is created with mode 600 (got '$perm')"; fi
listing=$("$CRONFLOW" credential list --db "$dir/kept/cronflow.db" 2>&1)
case "$listing" in
  *"api	bearer	[\"token\"]"*"mail_tls	smtp	[\"host\",\"port\",\"security\",\"username\",\"password\",\"from\",\"ca_file\"]"*) ok ;;
  *) bad "credential list shows names, types and fields" "$listing" ;;
esac
case "$listing" in *"$SECRET_TOKEN"*|*"$SMTP_PASSWORD"*) bad "credential list shows a value" ;; *) ok ;; esac
log_rows=$(python3 -c 'import sqlite3,sys
c=sqlite3.connect(sys.argv[1]); print(c.execute("select status, recipients, smtp_response from email_log").fetchall())' "$dir/kept/cronflow.db")
case "$log_rows" in
  *"('failed', '{\"to\":[\"refused@example.com\"],\"cc\":[],\"bcc\":[]}', '550 5.1.1"*) ok ;;
  *) bad "the e-mail log has the refused message with the server's answer" "$log_rows" ;;
esac
# Another key cannot open them; the error says so without a value.
out=$(CRONFLOW_MASTER_KEY=$(head -c 32 /dev/urandom | base64) "$CRONFLOW" run "$wf/secrets.json" \
  --db "$dir/kept/cronflow.db" --input "{\"base\": \"$base\"}" 2>&1)
case "$out" in *"master key"*) ok ;; *) bad "a wrong master key is a clear error" "$(echo "$out" | tail -3)" ;; esac
# Bad credential data is refused with the field named.
out=$("$CRONFLOW" credential add --db "$dir/kept/cronflow.db" --name x --type smtp --data '{"hots": "a"}' 2>&1)
case "$out" in *"data.hots: not a field of a smtp credential"*) ok ;; *) bad "bad credential data is refused" "$out" ;; esac

kill -0 "$peer_pid" 2>/dev/null && ok || bad "the HTTP peer is still running"
kill -0 "$smtp_pid" 2>/dev/null && ok || bad "the SMTP peer is still running" "$(cat "$dir/smtp.err")"
finish
