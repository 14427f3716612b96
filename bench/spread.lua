-- wrk script for bench/run.sh's disk mode: spreads requests round robin
-- over an object set, <prefix>1 .. <prefix><n>, and reports like report.lua
-- (whose done() hook it loads from beside itself):
--
--   wrk -t1 -c64 -d10s -s bench/spread.lua http://127.0.0.1:28190/ -- /obj/64k/ 512
--
-- The requests are formatted once, in init(), so the client spends no more
-- per request than choosing the next one.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local requests, n, i = {}, 0, 0

function init(args)
  local prefix, count = args[1], tonumber(args[2])
  if prefix == nil or count == nil or count < 1 then
    error("spread.lua: want arguments <path prefix> <object count>, e.g. -- /obj/64k/ 512")
  end
  for k = 1, count do
    requests[k] = wrk.format("GET", prefix .. k)
  end
  n = count
end

-- request is also called once before init (wrk checks the request it
-- would pipeline); then it answers wrk's default request.
function request()
  if n == 0 then
    return wrk.format()
  end
  i = i % n + 1
  return requests[i]
end
