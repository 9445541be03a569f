#!/usr/bin/env lvsh
-- IPv6 services, and IPv4 real servers behind an IPv6 service (tunnelling only).
lvs.clear()
local v6 = lvs.add_service{addr = "[2001:db8::80]:80", scheduler = "rr", persistent = true, netmask = 64}
v6:add_server{addr = "[2001:db8::a]:80"}
v6:add_server{addr = "[2001:db8::b]:8080", method = "nat", weight = 2}
v6:add_server{addr = "192.0.2.50:80", method = "tun"}   -- mixed family needs method "tun"
for _, r in ipairs(v6:servers()) do print(r.addr, r.method, r.weight) end
print(v6.addr, v6.ip, v6.port, v6.af, v6.persistent, v6.netmask)
lvs.clear()
