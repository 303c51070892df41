-- wrk script: GET with the token from the environment (BENCH_TOKEN).
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
