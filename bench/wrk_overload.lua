-- bench/wrk_overload.lua: wrk script for bench/overload.sh. Cycles through
-- the request paths in a file (like wrk_api.lua), counts answers by class
-- (2xx, 503 with Retry-After, 503 without, other) across threads, and prints
-- one RESULT line. The p99 of the 2xx answers alone is read from wrk's
-- latency histogram at the 99 * (2xx share) percentile, which is exact when
-- every refusal is slower than every 2xx answer (repeat refusals are held
-- --shed-repeat-ms, every refusal with --shed-delay-ms, and queue-timeout
-- ones wait longer than the answers do). Refusals faster than the 2xx p99
-- (a connection's first refusal is answered at once) make it a lower bound.
--
--   wrk -t2 -c4096 -d10s -s bench/wrk_overload.lua http://127.0.0.1:PORT -- PATHS_FILE

local threads = {}
local reqs = {}
local n = 0
ok, shed, shed_bare, other = 0, 0, 0, 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    if #line > 0 then
      reqs[#reqs + 1] = wrk.format("GET", line)
    end
  end
  f:close()
  assert(#reqs > 0, "no paths in " .. args[1])
  n = (id * 7919) % #reqs
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  elseif status == 503 and headers["Retry-After"] ~= nil then
    shed = shed + 1
  elseif status == 503 then
    shed_bare = shed_bare + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local t_ok, t_shed, t_bare, t_other = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    t_ok = t_ok + t:get("ok")
    t_shed = t_shed + t:get("shed")
    t_bare = t_bare + t:get("shed_bare")
    t_other = t_other + t:get("other")
  end
  local answered = t_ok + t_shed + t_bare + t_other
  local secs = summary.duration / 1e6
  local p99_ok = 0
  if t_ok > 0 and answered > 0 then
    p99_ok = latency:percentile(99 * t_ok / answered) / 1000
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT answered=%d ok_rps=%.1f shed_rps=%.1f ok=%d shed_retry_after=%d shed_bare=%d other=%d "
      .. "p50_ms=%.3f p99_all_ms=%.3f p99_2xx_ms=%.3f socket_errors=%d timeouts=%d\n",
    answered, t_ok / secs, (t_shed + t_bare) / secs, t_ok, t_shed, t_bare, t_other,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, p99_ok,
    e.connect + e.read + e.write, e.timeout))
end
