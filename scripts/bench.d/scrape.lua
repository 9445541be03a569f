-- The lvsh side of the scrape benchmark: 2,000 services x 10 real servers (22,000 rules);
-- the first 1,000 services' servers (10,000) are listeners on loopback under TCP checks every
-- 10 s (1,000 checks a second, what the sandbox's one CPU keeps up with), the others stand
-- for unmonitored services. Serves its metrics on 127.0.0.1:9917.
local rules = {}
for s = 0, 1999 do
  local vip = ("192.0.2.1:%d"):format(1000 + s)
  rules[#rules + 1] = ("-A -t %s -s wrr"):format(vip)
  for r = 0, 9 do
    local server
    if s < 1000 then
      server = ("127.0.0.1:%d"):format(20000 + s * 10 + r)
    else
      server = ("203.0.113.%d:%d"):format(1 + r, 1000 + s)
    end
    rules[#rules + 1] = ("-a -t %s -r %s -m -w %d"):format(vip, server, 1 + r % 5)
  end
end
lvs.restore(table.concat(rules, "\n") .. "\n")
for s = 0, 999 do
  lvs.monitor{service = {addr = ("192.0.2.1:%d"):format(1000 + s)}, check = "tcp", interval = tonumber(os.getenv("INTERVAL") or 10), timeout = 3}
end
lvs.metrics{listen = "127.0.0.1:9917"}
print("READY")
io.stdout:flush()
lvs.run()
