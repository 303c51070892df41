#!/bin/sh
# `cronflow serve` over real HTTP on loopback: health and readiness, the
# zone list, validate-cron (valid, invalid, DST-shifted, bad requests), the
# body cap, the embedded UI, unknown paths and methods, and a clean stop on
# SIGTERM with the data file created.
set -u
: "${CRONFLOW:?CRONFLOW must name the cronflow binary}"
dir=$(mktemp -d)
pass=0 fail=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); printf 'FAIL %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3"; fi
}
contains() { # name needle haystack
  case "$3" in *"$2"*) pass=$((pass + 1)) ;; *)
    fail=$((fail + 1)); printf 'FAIL %s\n  expected to contain: %s\n  actual: %s\n' "$1" "$2" "$3" ;; esac
}

# Pick a free port by letting the kernel choose, then asking which it was.
# An API token for the routes under /api/ (made before the first start).
token=$("$CRONFLOW" token create --db "$dir/sub/dir/cronflow.db" --role viewer | tail -n 1)
auth="Authorization: Bearer $token"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$CRONFLOW" serve --listen "127.0.0.1:$port" --db "$dir/sub/dir/cronflow.db" >"$dir/out" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
i=0
until curl -s -o /dev/null "$base/healthz"; do
  i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1
done

post() { curl -s -X POST -H "$auth" -H 'Content-Type: application/json' --data-binary "$1" "$base/api/utils/validate-cron"; }
code() { curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$@"; }

check "healthz" '{"status":"ok","version":"'"$("$CRONFLOW" --version | cut -d' ' -f2)"'"}' "$(curl -s "$base/healthz")"
check "readyz" '{"status":"ready"}' "$(curl -s "$base/readyz")"
check "data file created" "yes" "$([ -f "$dir/sub/dir/cronflow.db" ] && echo yes)"
zones=$(curl -s -H "$auth" "$base/api/timezones")
check "timezones needs a token" "401" "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/timezones")"
contains "timezones has New York" '"America/New_York"' "$zones"
contains "timezones has Lord Howe" '"Australia/Lord_Howe"' "$zones"

r=$(post '{"expression":"30 2 * * *","timezone":"America/New_York","count":3,"from":"2024-03-09T00:00:00Z"}')
check "validate-cron DST preview" '{"valid":true,"expression":"30 2 * * *","timezone":"America/New_York","description":"At 02:30","has_seconds":false,"next_runs":[{"utc":"2024-03-09T07:30:00Z","local":"2024-03-09T02:30:00-05:00","dst_shifted":false,"dst_repeat":false},{"utc":"2024-03-10T07:30:00Z","local":"2024-03-10T03:30:00-04:00","dst_shifted":true,"dst_repeat":false},{"utc":"2024-03-11T06:30:00Z","local":"2024-03-11T02:30:00-04:00","dst_shifted":false,"dst_repeat":false}]}' "$r"
r=$(post '{"expression":"30 * * * *","timezone":"America/New_York","count":2,"from":"2024-11-03T05:00:00Z"}')
contains "validate-cron fold second pass" '{"utc":"2024-11-03T06:30:00Z","local":"2024-11-03T01:30:00-05:00","dst_shifted":false,"dst_repeat":true}' "$r"
r=$(post '{"expression":"0 9 * * 1-5","timezone":"Europe/London","count":1,"from":"2024-07-05T09:00:00+01:00"}')
contains "validate-cron describes" '"description":"At 09:00, Monday through Friday"' "$r"
contains "validate-cron skips the weekend" '"local":"2024-07-08T09:00:00+01:00"' "$r"
check "validate-cron invalid expression" '{"valid":false,"error":{"message":"minute field, column 3: 61 is out of range 0-59","field":"minute","column":3}}' "$(post '{"expression":"0 61 * * * *"}')"
check "validate-cron never fires" '{"valid":false,"error":{"message":"day-of-month field, column 5: no chosen day exists in the chosen months (such as February 30), so the expression can never fire","field":"day_of_month","column":5}}' "$(post '{"expression":"0 0 30 2 *"}')"
check "validate-cron unknown zone" '{"valid":false,"error":{"message":"unknown time zone '"'"'Mars/Base'"'"' (IANA names such as Europe/London)","field":"timezone"}}' "$(post '{"expression":"* * * * *","timezone":"Mars/Base"}')"
check "validate-cron missing expression" '{"error":{"code":"invalid_request","message":"expression: required, a string such as \"0 9 * * 1-5\""}}' "$(post '{}')"
check "validate-cron bad count" "400" "$(code -X POST --data-binary '{"expression":"* * * * *","count":1000}' "$base/api/utils/validate-cron")"
check "validate-cron not JSON" "400" "$(code -X POST --data-binary 'expression=1' "$base/api/utils/validate-cron")"
check "validate-cron JSON array" "400" "$(code -X POST --data-binary '[1,2]' "$base/api/utils/validate-cron")"
check "body over the cap" "413" "$(head -c 1100000 /dev/zero | tr '\0' ' ' | curl -s -o /dev/null -w '%{http_code}' -H "$auth" -X POST --data-binary @- "$base/api/utils/validate-cron")"
check "unknown api path" "404" "$(code "$base/api/nothing")"
check "wrong method" "405" "$(code -X DELETE "$base/healthz")"
check "index page" "200" "$(code "$base/")"
contains "index is the UI" '<title>cronflow</title>' "$(curl -s "$base/")"
contains "index has a CSP" "Content-Security-Policy: default-src 'self'" "$(curl -s -D - -o /dev/null "$base/")"
check "app.js served" "200" "$(code "$base/app.js")"
check "server still healthy after bad input" '{"status":"ready"}' "$(curl -s "$base/readyz")"

kill -TERM "$pid"
wait "$pid"
check "clean exit on SIGTERM" "0" "$?"
contains "announces stop" "SIGTERM received" "$(cat "$dir/out")"
# Another server already on the port: a clear error, exit 1.
python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",'"$port"')); s.listen(); time.sleep(3)' &
busy=$!
sleep 0.5
"$CRONFLOW" serve --listen "127.0.0.1:$port" --db "$dir/b.db" >"$dir/out2" 2>&1
check "port in use exits 1" "1" "$?"
contains "port in use says so" "in use" "$(cat "$dir/out2")"
kill "$busy" 2>/dev/null; wait "$busy" 2>/dev/null
"$CRONFLOW" serve --listen "nonsense" >"$dir/out3" 2>&1
check "bad --listen exits 2" "2" "$?"
rm -rf "$dir"
echo "SUMMARY: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
