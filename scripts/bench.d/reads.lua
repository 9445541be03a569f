-- The lvsh side of the table-read benchmark: every service of the namespace's table monitored
-- (a Lua check that passes, every INTERVAL s); prints how the monitors read the table per
-- interval over WINDOW s, and the CPU lvsh used meanwhile. Run once as is and once with
-- LVSH_SHARED_READ=0 (each monitor dumps its service every interval).
local interval = tonumber(os.getenv("INTERVAL") or 1)
local window = tonumber(os.getenv("WINDOW") or 10)
local function ok() return true end
local n = 0
for _, s in ipairs(lvs.services()) do
  lvs.monitor{service = {addr = s.addr}, check = ok, interval = interval}
  n = n + 1
end
local function ticks()
  local f = assert(io.open("/proc/self/stat"))
  local stat = f:read("a")
  f:close()
  -- utime and stime: fields 14 and 15, counted after the command's closing parenthesis
  local rest = stat:match("%) (.*)")
  local fields = {}
  for w in rest:gmatch("%S+") do fields[#fields + 1] = w end
  return tonumber(fields[12]) + tonumber(fields[13])
end
lvs.sleep(2 * interval + 1)
local r0, t0 = lvs.monitor_reads(), ticks()
lvs.sleep(window)
local r1, t1 = lvs.monitor_reads(), ticks()
local per = window / interval
print(("%d %.1f %.1f %.1f"):format(n, (r1.dumps - r0.dumps) / per, (r1.shared - r0.shared) / per,
  (t1 - t0) / window))
