#!/usr/bin/env lvsh
-- Timeouts, counters, the sync daemon and kernel info.
local info = lvs.info()
print("IPVS " .. info.version .. ", connection table size " .. info.conn_tab_size)

local t = lvs.timeouts()
print("timeouts (tcp tcpfin udp):", t.tcp, t.tcpfin, t.udp)
lvs.set_timeouts{tcp = 7200}            -- fields not given stay as they are
lvs.set_timeouts{tcp = t.tcp}           -- and back

-- Connection synchronisation to a backup director (here on lo, inside the sandbox).
lvs.start_daemon{state = "master", ifname = "lo", syncid = 1}
for _, d in ipairs(lvs.daemons()) do
  print(d.state, d.ifname, d.syncid, d.group, d.port, d.ttl)
end
lvs.stop_daemon("master")

lvs.clear()
local s = lvs.add_service{addr = "192.0.2.70:80"}
print("conns", s.stats.conns, "cps", s.rate.cps)
s:zero()                                -- or lvs.zero() for every service
lvs.clear()
