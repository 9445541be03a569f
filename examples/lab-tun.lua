#!/usr/bin/env lvsh
-- LVS-TUN: the director forwards each request inside an IPIP packet; the real servers hold the
-- VIP on their tunnel device (tunl0) and answer the client directly.
-- Run it in the sandbox kernel: scripts/lab examples/lab-tun.lua
local VIP, CIP = "192.0.2.110", "192.0.2.200"
local RS = {"192.0.2.101", "192.0.2.102"}

require("lablib").run(function(lab)
  lab:plug("client", "eth0", CIP)
  lab:plug("director", "eth0", "192.0.2.100")
  for i, addr in ipairs(RS) do
    lab:plug("rs" .. i, "eth0", addr)
    lvs.with_netns(lab:ns("rs" .. i), function()
      for _, change in ipairs(lvs.realserver{vip = VIP, method = "tun", arp_devs = {"all", "eth0"}}) do
        print("rs" .. i .. ": " .. change)
      end
    end)
    lab:web("rs" .. i, addr)
  end

  lvs.with_netns(lab:ns("director"), function()
    lvs.director{vip = VIP .. "/24", dev = "eth0", label = "eth0:1", method = "tun"}
    local svc = lvs.add_service{addr = VIP .. ":80", scheduler = "rr"}
    for _, addr in ipairs(RS) do svc:add_server{addr = addr, method = "tun", tun_type = "ipip"} end
  end)

  local answers, count = lab:fetch(VIP, 6, true)
  assert((count["from " .. RS[1]] or 0) == 3 and (count["from " .. RS[2]] or 0) == 3, "rr over two real servers")

  lvs.with_netns(lab:ns("director"), function()
    lvs.list{tun_info = true, format = "ipvsadm"}
    lvs.director{vip = VIP .. "/24", dev = "eth0", down = true}
  end)
  for i = 1, #RS do
    lvs.with_netns(lab:ns("rs" .. i), function() lvs.realserver{vip = VIP, method = "tun", arp_devs = {"all", "eth0"}, down = true} end)
  end
end)
print("lab-tun: done")
