#!/usr/bin/env lvsh
-- Firewall-mark services: one virtual service for every packet the firewall marks (e.g. HTTP
-- and HTTPS together, so a client keeps its server across both). Mark with nftables/iptables:
--   iptables -t mangle -A PREROUTING -d 192.0.2.10 -p tcp -m multiport --dports 80,443 -j MARK --set-mark 1
lvs.clear()
local fw = lvs.add_service{fwmark = 1, scheduler = "sh", sched_flags = {"sh-fallback", "sh-port"},
  persistent = 300}
fw:add_server{addr = "192.0.2.31", method = "dr"}
fw:add_server{addr = "192.0.2.32", method = "dr"}

-- The IPv6 twin: fwmark services carry their address family.
local fw6 = lvs.add_service{fwmark = 1, af = "inet6", scheduler = "mh", sched_flags = {"mh-port"}}
fw6:add_server{addr = "[2001:db8::31]", method = "dr"}

for _, s in ipairs(lvs.services()) do
  print("FWM", s.fwmark, s.af, s.scheduler, table.concat(s.sched_flags, ","), #s.servers .. " servers")
end
lvs.clear()
