-- The lvsh side of the checker benchmark: N real servers (127.0.0.1:20000+i, 100 per
-- service), one TCP-check monitor per service, 1 s interval; runs until SIGTERM.
local n = tonumber(arg[1])
local rules = {}
for i = 0, n - 1 do
  local vport = 1000 + i // 100
  if i % 100 == 0 then rules[#rules + 1] = ("-A -t 192.0.2.1:%d -s rr"):format(vport) end
  rules[#rules + 1] = ("-a -t 192.0.2.1:%d -r 127.0.0.1:%d -m -w 1"):format(vport, 20000 + i)
end
lvs.restore(table.concat(rules, "\n") .. "\n")
for s = 0, (n - 1) // 100 do
  lvs.monitor{service = {addr = ("192.0.2.1:%d"):format(1000 + s)}, check = "tcp", interval = 1, timeout = 3}
end
print("READY")
io.stdout:flush()
lvs.run()
print("probes", lvs.probes_run())
