-- The lvsh side of the host checker benchmark, run with --dry-run (the table lives in lvsh's
-- in-memory IPVS; the probes go to real listeners on loopback): N real servers, 10,000 per
-- address from 127.0.0.1 (ports 20000 up), 100 per service, one monitor per service, checks
-- every 1 s. KIND is tcp (half_open, as HAProxy's connect check), tcp-full or http.
local n, kind = tonumber(arg[1]), arg[2] or "tcp"
local rules = {}
for i = 0, n - 1 do
  local vport = 1000 + i // 100
  if i % 100 == 0 then rules[#rules + 1] = ("-A -t 192.0.2.1:%d -s rr"):format(vport) end
  rules[#rules + 1] = ("-a -t 192.0.2.1:%d -r 127.0.0.%d:%d -m -w 1"):format(vport, 1 + i // 10000, 20000 + i % 10000)
end
lvs.restore(table.concat(rules, "\n") .. "\n")
local check = ({
  tcp = lvs.check.tcp{half_open = true},
  ["tcp-full"] = lvs.check.tcp{},
  http = lvs.check.http{path = "/"},
})[kind]
for s = 0, (n - 1) // 100 do
  lvs.monitor{service = {addr = ("192.0.2.1:%d"):format(1000 + s)}, check = check, interval = 1, timeout = 3}
end
print("READY")
io.stdout:flush()
lvs.run()
