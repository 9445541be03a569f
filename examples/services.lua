#!/usr/bin/env lvsh
-- Services and real servers: add, inspect, edit, delete. Runs in the sandbox:
--   scripts/lab examples/services.lua
lvs.clear()

-- A web service with three NAT real servers; a missing port takes the service's.
local web = lvs.add_service{
  addr = "192.0.2.10:80", scheduler = "wrr",
  servers = {
    {addr = "198.51.100.11", method = "nat", weight = 3},
    {addr = "198.51.100.12", method = "nat", weight = 1},
  },
}
web:add_server{addr = "198.51.100.13:8080", method = "nat", weight = 1, upper = 500, lower = 400}
print(web.addr, web.scheduler, #web:servers() .. " servers")

-- Weights change in place; the server keeps its connections.
web:edit_server{addr = "198.51.100.12", weight = 0}   -- drain it
web:edit{scheduler = "wlc"}
for _, r in ipairs(web:servers()) do print("", r.addr, r.method, r.weight, r.upper, r.lower) end

-- Persistence: a client sticks to its server for 10 minutes, per /24.
lvs.add_service{addr = "192.0.2.10:443", persistent = 600, netmask = "255.255.255.0",
  servers = {"192.0.2.21", "192.0.2.22"}}

-- UDP with one-packet scheduling (each datagram scheduled on its own), e.g. syslog or DNS.
lvs.add_service{proto = "udp", addr = "192.0.2.10:53", scheduler = "rr", ops = true,
  servers = {{addr = "198.51.100.53", method = "nat"}}}

for _, s in ipairs(lvs.services()) do
  print(s.proto, s.addr, s.scheduler, s.persistent, s.netmask, s.ops, #s.servers)
end

-- Errors name the object; nothing is half-applied.
local ok, err = pcall(lvs.add_service, {addr = "192.0.2.10:80"})
print(ok, err)

web:del_server("198.51.100.13:8080")
web:delete()
print(#lvs.services() .. " services left")
lvs.clear()
