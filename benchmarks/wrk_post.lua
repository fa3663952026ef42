-- wrk script for benchmarks/serving.py: POST one JSON body per request, rotating through a file of bodies.
--
--   WRK_TOKEN=<bearer token> wrk -t1 -c32 -d20s --latency -s benchmarks/wrk_post.lua URL -- BODIES_FILE
--
-- BODIES_FILE holds one request body per line (JSON, no newlines inside); each connection's thread
-- sends them in turn, starting at a different line per thread. WRK_TOKEN, when set and not empty,
-- is sent as "Authorization: Bearer <token>" (read from the environment, so that it does not show
-- in the process list). At the end one line "WRK_JSON {...}" gives the figures as JSON (latencies in
-- microseconds) for the script to parse, beside wrk's own report.

local bodies = {}
local next_body = 0
local threads_made = 0

-- Runs in the main Lua state, once per thread before it starts: gives each thread its index.
function setup(thread)
  thread:set("thread_index", threads_made)
  threads_made = threads_made + 1
end

function init(args)
  local path = args[1]
  if path == nil then
    error("usage: wrk ... -s wrk_post.lua URL -- BODIES_FILE")
  end
  for line in io.lines(path) do
    if #line > 0 then
      bodies[#bodies + 1] = line
    end
  end
  if #bodies == 0 then
    error("no request bodies in " .. path)
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  local token = os.getenv("WRK_TOKEN")
  if token ~= nil and #token > 0 then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
  -- Threads start at different bodies (each thread has its own Lua state and its own counter).
  next_body = ((thread_index or 0) * 7) % #bodies
end

function request()
  next_body = (next_body % #bodies) + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "non_2xx_3xx": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, ' ..
    '"latency_mean_us": %.1f, "latency_max_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect, e.read, e.write, e.timeout,
    latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
