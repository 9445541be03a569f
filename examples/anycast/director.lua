#!/usr/bin/env lvsh
-- One director of the anycast lab (examples/lab-anycast.lua), run in its namespace:
--   lvsh --name NAME examples/anycast/director.lua VIP SERVERS INCLUDE BIRD_SOCKET [reverse]
-- SERVERS is a comma-separated list of DR real servers. The service is mh with mh-port, so
-- every director maps a flow (client address and port) to the same real server; `reverse`
-- adds the servers one by one in the opposite order, and lvsh still leaves the kernel's list
-- in the one order that makes the same Maglev table.
local vip, list, include, sock, order = ...
assert(vip and list and include and sock, "usage: director.lua VIP SERVERS INCLUDE BIRD_SOCKET [reverse]")
local servers = {}
for a in list:gmatch("[^,]+") do servers[#servers + 1] = {addr = a, method = "dr", weight = 1} end

local svc = {addr = vip .. ":7", scheduler = "mh", sched_flags = {"mh-port"}}
if order == "reverse" then
  local s = lvs.add_service(svc)
  for i = #servers, 1, -1 do s:add_server(servers[i]) end
else
  svc.servers = servers
  lvs.apply{svc}
end

local m = lvs.monitor{
  service = {addr = vip .. ":7"}, check = lvs.check.tcp{timeout = 0.5},
  interval = 0.5, rise = 1, fall = 2, quorum = 1,
}
-- the VIP is announced while the monitor's quorum is met and lvsh is alive; a loop stalled
-- for a second cuts the device, and with it the route
local any = lvs.anycast{vips = {vip}, monitors = {m}, hang = 1, linger = 0.5,
                        bird = {include = include, socket = sock}}
lvs.log.info("director: " .. lvs.mh_table{addr = vip .. ":7"}.fingerprint .. " is the mh fingerprint")
print("READY")
lvs.run()
