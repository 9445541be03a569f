#!/usr/bin/env lvsh
-- LVS-NAT: the director stands between the clients (203.0.113.0/24) and the real servers
-- (198.51.100.0/24), which use it as their gateway; it rewrites addresses both ways.
-- Run it in the sandbox kernel: scripts/lab examples/lab-nat.lua
local VIP = "203.0.113.110"
local RS = {"198.51.100.11", "198.51.100.12"}

require("lablib").run(function(lab)
  lab:plug("client", "eth0", "203.0.113.2", "outside")
  lab:plug("director", "eth0", "203.0.113.1", "outside")
  lab:plug("director", "eth1", "198.51.100.1", "inside")
  for i, addr in ipairs(RS) do
    lab:plug("rs" .. i, "eth0", addr, "inside")
    lab:sh("ip -n " .. lab:ns("rs" .. i) .. " route add default via 198.51.100.1")
    lab:web("rs" .. i, addr)
  end

  lvs.with_netns(lab:ns("director"), function()
    for _, change in ipairs(lvs.director{vip = VIP .. "/24", dev = "eth0", label = "eth0:1", method = "nat"}) do
      print("director: " .. change)
    end
    lvs.apply({{addr = VIP .. ":80", scheduler = "rr", servers = {
      {addr = RS[1], method = "nat"}, {addr = RS[2], method = "nat"}}}})
  end)

  local answers, count = lab:fetch(VIP, 6, true)
  assert((count["from " .. RS[1]] or 0) == 3 and (count["from " .. RS[2]] or 0) == 3, "rr over two real servers")
  for i = 2, #answers do assert(answers[i] ~= answers[i - 1], "rr alternates") end

  lvs.with_netns(lab:ns("director"), function()
    lvs.list{stats = true}
    lvs.list_connections()
    lvs.director{vip = VIP .. "/24", dev = "eth0", method = "nat", down = true}
  end)
end)
print("lab-nat: done")
