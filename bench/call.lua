-- wrk script: POSTs one tools/call of get_current_weather, the same bytes to
-- every server (protocol 2025-06-18 without a session: every server under test
-- serves it statelessly), and counts the answers that are not a successful
-- tool result. The summary is one `BENCH {json}` line for the runner.

wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_current_weather",'
  .. '"arguments":{"latitude":52.52,"longitude":13.41}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, failed, sample = 0, 0, ""
end

function response(status, headers, body)
  if status == 200 and body:find('"structuredContent"', 1, true)
      and body:find('"temperature":6.3', 1, true) and not body:find('"isError":true', 1, true) then
    ok = ok + 1
  else
    failed = failed + 1
    if sample == "" then sample = status .. " " .. body:sub(1, 300) end
  end
end

function done(summary, latency, requests)
  local good, bad, example = 0, 0, ""
  for _, thread in ipairs(threads) do
    good = good + thread:get("ok")
    bad = bad + thread:get("failed")
    if example == "" then example = thread:get("sample") end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"ok":%d,"failed":%d,"socket_errors":%d,"duration_us":%d,'
      .. '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, good, bad, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99)))
  if example ~= "" then io.write("SAMPLE " .. example:gsub("\n", " ") .. "\n") end
end
