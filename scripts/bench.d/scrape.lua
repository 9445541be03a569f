-- The lvsh side of the scrape benchmark: 22,100 rules. 100 services of 100 real servers each
-- (10,000 servers, listeners on loopback) are under TCP checks every 10 s: 1,000 checks a
-- second, what the sandbox's one CPU keeps up with (a few big services of a bigger table: the
-- monitors dump their services, cheaper here than shared reads of the whole table).
-- 1,000 more services of 11 servers each stand for the unmonitored rest of the table.
-- Serves its metrics on 127.0.0.1:9917.
local rules = {}
local function service(vip, servers)
  rules[#rules + 1] = ("-A -t %s -s wrr"):format(vip)
  for r, server in ipairs(servers) do
    rules[#rules + 1] = ("-a -t %s -r %s -m -w %d"):format(vip, server, 1 + r % 5)
  end
end
for s = 0, 99 do
  local servers = {}
  for r = 0, 99 do servers[#servers + 1] = ("127.0.0.1:%d"):format(20000 + s * 100 + r) end
  service(("192.0.2.1:%d"):format(1000 + s), servers)
end
for s = 0, 999 do
  local servers = {}
  for r = 1, 11 do servers[#servers + 1] = ("203.0.113.%d:%d"):format(r, 2000 + s) end
  service(("192.0.2.2:%d"):format(2000 + s), servers)
end
lvs.restore(table.concat(rules, "\n") .. "\n")
for s = 0, 99 do
  lvs.monitor{service = {addr = ("192.0.2.1:%d"):format(1000 + s)}, check = "tcp",
    interval = tonumber(os.getenv("INTERVAL") or 10), timeout = 3}
end
lvs.metrics{listen = "127.0.0.1:9917"}
print("READY")
io.stdout:flush()
lvs.run()
