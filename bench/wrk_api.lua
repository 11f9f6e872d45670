-- bench/wrk_api.lua: wrk script for the API benchmarks. Cycles through the
-- request paths listed in a file (one per line; each thread starts at its own
-- offset), optionally with an Authorization: Token header, and prints one
-- machine-readable RESULT line (req/s, p50, p99, the slowest, errors) when done.
--
--   wrk -t1 -c32 -d10s -s bench/wrk_api.lua http://127.0.0.1:PORT -- PATHS_FILE [TOKEN]

local threads = {}
local reqs = {}
local n = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "r"))
  local headers = {}
  if args[2] and #args[2] > 0 then
    headers["Authorization"] = "Token " .. args[2]
  end
  for line in f:lines() do
    if #line > 0 then
      reqs[#reqs + 1] = wrk.format("GET", line, headers)
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

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000, e.status,
    e.connect + e.read + e.write + e.timeout))
end
