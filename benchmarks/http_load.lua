-- wrk script of benchmarks/http_load.py: GET each line of the targets file in turn
-- ("PATH TOKEN", the token optional), then print the figures as one JSON line.
local targets = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    local path, token = line:match("^(%S+)%s*(%S*)$")
    if path then targets[#targets + 1] = { path, token } end
  end
  i = math.random(#targets)
end

function request()
  i = i % #targets + 1
  local target = targets[i]
  local headers = {}
  if target[2] ~= "" then headers["Authorization"] = "Bearer " .. target[2] end
  return wrk.format("GET", target[1], headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "non_2xx": %d, "socket_errors": %d, "timeouts": %d, ' ..
    '"p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3))
end
