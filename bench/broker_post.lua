-- wrk script for bench/broker.sh: POSTs binary-mode CloudEvents (a
-- dev.khappy.picture.stored event with a small JSON body) with ids unique
-- per thread and request. Anything but 202 is counted and reported.
local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  not_accepted = 0
  body = '{"pictureid": 1, "sha256": "0000000000000000000000000000000000000000000000000000000000000000"}'
end

function request()
  counter = counter + 1
  local headers = {
    ["ce-specversion"] = "1.0",
    ["ce-id"] = "bench-" .. thread_id .. "-" .. counter,
    ["ce-source"] = "/bench/broker",
    ["ce-type"] = "dev.khappy.picture.stored",
    ["ce-pictureid"] = tostring(counter),
    ["ce-traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/", headers, body)
end

function response(status, headers, body)
  if status ~= 202 then
    not_accepted = not_accepted + 1
  end
end

function done(summary, latency, requests)
  local refused = 0
  for _, thread in ipairs(threads) do
    refused = refused + thread:get("not_accepted")
  end
  io.write(string.format("not accepted (status other than 202): %d\n", refused))
end
