#!/usr/bin/env lvsh
-- LVS-TUN real servers: plain IPIP, GUE (UDP encapsulation) and GRE, with checksum options.
lvs.clear()
local svc = lvs.add_service{addr = "192.0.2.60:80", scheduler = "wrr"}
svc:add_server{addr = "203.0.113.1", method = "tun"}                                   -- ipip
svc:add_server{addr = "203.0.113.2", method = "tun", tun_type = "gue", tun_port = 6080, tun_csum = "remcsum"}
svc:add_server{addr = "203.0.113.3", method = "tun", tun_type = "gre", tun_csum = "csum"}
for _, r in ipairs(svc:servers()) do
  print(r.addr, r.method, r.tun_type, r.tun_port or "-", r.tun_csum or "-")
end
lvs.clear()
