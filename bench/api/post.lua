-- wrk script: POST validate-cron with a fixed body, and the token (if any)
-- from the environment (BENCH_TOKEN).
wrk.method = "POST"
wrk.body = '{"expression":"0 9 * * 1-5","timezone":"Europe/London","count":5}'
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
