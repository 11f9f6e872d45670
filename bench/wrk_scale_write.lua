-- bench/wrk_scale_write.lua: write load for bench/scale.sh and
-- bench/online_migrate.sh. Every request is a real write (nothing repeats):
--   article   POST /api/articles, a new title each time
--   favorite  POST /api/articles/article-K/favorite, K walking over 1..N
--   follow    POST /api/profiles/userK/follow, K walking over 1..N (N: users)
--   mixed     reads (global list, tag, article, feed) with one write in 8
--   online    what stays fast on any schema, half writes: article, profile,
--             comments and small ?author=/?favorited= pages; new articles,
--             favorites, follows, comments (bench/online_migrate.sh)
-- with Authorization: Token TOKEN. Prints the same RESULT line as
-- bench/wrk_api.lua, plus the slowest request (max_ms).
--
--   wrk -t1 -c16 -d5s -s bench/wrk_scale_write.lua URL -- MODE TOKEN N [SEED]

local mode, token, n, k, thread_seed, users
local counter = 0

function init(args)
  mode = args[1]
  token = args[2]
  n = tonumber(args[3])
  thread_seed = tonumber(args[4] or "1") * 7919 + math.floor(os.time() % 100000)
  k = thread_seed % n
  users = math.max(1, math.floor(n / 10))
  assert(mode and token and n and n > 0, "usage: -- MODE TOKEN N [SEED]")
end

local function headers()
  return { ["Authorization"] = "Token " .. token, ["Content-Type"] = "application/json" }
end

local function next_k()
  k = k % n + 1
  return k
end

local function article()
  counter = counter + 1
  local title = string.format("scale write %d %d %d", thread_seed, counter, math.random(1, 1e9))
  local body = string.format(
    '{"article":{"title":"%s","description":"written by the benchmark","body":"A body of a new article.","tagList":["tag%d","bench"]}}',
    title, counter % 2000 + 1)
  return wrk.format("POST", "/api/articles", headers(), body)
end

function request()
  if mode == "article" then
    return article()
  elseif mode == "favorite" then
    return wrk.format("POST", "/api/articles/article-" .. next_k() .. "/favorite", headers())
  elseif mode == "follow" then
    return wrk.format("POST", "/api/profiles/user" .. next_k() .. "/follow", headers())
  elseif mode == "mixed" then
    counter = counter + 1
    local r = counter % 8
    if r == 0 then
      return article()
    elseif r == 1 then
      return wrk.format("POST", "/api/articles/article-" .. next_k() .. "/favorite", headers())
    elseif r == 2 then
      return wrk.format("GET", "/api/articles/feed?limit=20", headers())
    elseif r == 3 then
      return wrk.format("GET", "/api/articles?tag=tag1&limit=20")
    elseif r == 4 then
      return wrk.format("GET", "/api/articles/article-" .. next_k())
    elseif r == 5 then
      return wrk.format("GET", "/api/articles?limit=20&offset=" .. (counter % 500) * 20)
    elseif r == 6 then
      return wrk.format("GET", "/api/profiles/user" .. next_k())
    end
    return wrk.format("GET", "/api/articles?limit=20")
  end
  if mode == "online" then
    counter = counter + 1
    local r = counter % 8
    local j = next_k()
    if r == 0 then
      return article()
    elseif r == 1 then
      return wrk.format("POST", "/api/articles/article-" .. j .. "/favorite", headers())
    elseif r == 2 then
      return wrk.format("POST", "/api/profiles/user" .. (j % users + 1) .. "/follow", headers())
    elseif r == 3 then
      return wrk.format("POST", "/api/articles/article-" .. j .. "/comments", headers(),
        '{"comment":{"body":"A comment written during the migration."}}')
    elseif r == 4 then
      return wrk.format("GET", "/api/articles/article-" .. j)
    elseif r == 5 then
      return wrk.format("GET", "/api/articles/article-" .. j .. "/comments")
    elseif r == 6 then
      return wrk.format("GET", "/api/profiles/user" .. (j % users + 1))
    end
    -- users past the first thousand write and favorite few articles
    local author = users > 2000 and (1000 + j % (users - 1000)) or (j % users + 1)
    return wrk.format("GET", "/api/articles?limit=20&author=user" .. author)
  end
  error("unknown mode " .. tostring(mode))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000, e.status,
    e.connect + e.read + e.write + e.timeout))
end
