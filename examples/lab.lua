#!/usr/bin/env lvsh
-- The classic LVS-DR experiment, end to end, with network namespaces on a bridge:
--   a client, a director with the VIP as the alias eth0:1, and two real servers with
--   arp_ignore/arp_announce and the VIP on lo:2, each serving "from <its address>".
-- The textbook uses 192.168.1.0/24; this lab uses the documentation range 192.0.2.0/24.
-- Run it in the sandbox kernel: scripts/lab   (or: scripts/lab examples/lab.lua wrr)
local sched = ... or "rr"
local VIP, DIP, CIP = "192.0.2.110", "192.0.2.100", "192.0.2.200"
local RS = {"192.0.2.101", "192.0.2.102"}

require("lablib").run(function(lab)
  lab:plug("client", "eth0", CIP)
  lab:plug("director", "eth0", DIP)
  for i, addr in ipairs(RS) do lab:plug("rs" .. i, "eth0", addr) end

  -- real servers: ARP settings and the VIP on lo:2, and a web server
  for i, addr in ipairs(RS) do
    lvs.with_netns(lab:ns("rs" .. i), function()
      for _, change in ipairs(lvs.realserver{vip = VIP, dev = "lo", label = "lo:2", arp_devs = {"all", "eth0"}}) do
        print("rs" .. i .. ": " .. change)
      end
    end)
    lab:web("rs" .. i, addr)
  end

  -- the director: the VIP as eth0:1, and the service (ipvsadm -A -t VIP:80 -s rr; -a ... -g -w 1)
  lvs.with_netns(lab:ns("director"), function()
    for _, change in ipairs(lvs.director{vip = VIP .. "/24", dev = "eth0", label = "eth0:1"}) do print("director: " .. change) end
    local weights = sched == "wrr" and {3, 1} or {1, 1}
    local svc = lvs.add_service{addr = VIP .. ":80", scheduler = sched}
    svc:add_server{addr = RS[1], method = "dr", weight = weights[1]}
    svc:add_server{addr = RS[2], method = "dr", weight = weights[2]}
  end)

  -- the client fetches the VIP again and again
  local n = sched == "wrr" and 40 or 6
  local answers, count, ports = lab:fetch(VIP, n, n <= 10)
  local a, b = count["from " .. RS[1]] or 0, count["from " .. RS[2]] or 0
  print(string.format("client: %d answers from %s, %d from %s", a, RS[1], b, RS[2]))
  assert(a > 0 and b > 0, "both real servers must answer")
  if sched == "rr" then
    for i = 2, n do assert(answers[i] ~= answers[i - 1], "rr alternates") end
  elseif sched == "wrr" then
    assert(a == 30 and b == 10, "wrr with weights 3:1 over 40 requests gives 30:10")
  end

  lvs.with_netns(lab:ns("director"), function()
    lvs.list()
    lvs.list_connections()
    -- each client port went to the real server that answered it, and the entry says so
    -- (the kernel lists connections by position in a table every namespace shares: while
    -- other namespaces make and drop connections, one read can miss an entry; read again)
    local by_port = {}
    for _ = 1, 3 do
      for _, c in ipairs(lvs.connections{vip = VIP .. ":80"}) do by_port[c.client] = c.real end
      local missing = false
      for _, port in ipairs(ports) do missing = missing or not by_port[CIP .. ":" .. port] end
      if not missing then break end
    end
    for i, port in ipairs(ports) do
      local real = by_port[CIP .. ":" .. port]
      assert(real and answers[i] == "from " .. real:match("^[^:]+"),
        string.format("client port %d: answered %s, entry says %s", port, answers[i], tostring(real)))
    end
    print(string.format("director: %d connection entries, each with the real server that answered", #ports))
  end)

  -- and back down: the real servers and the director as they were
  for i = 1, #RS do
    lvs.with_netns(lab:ns("rs" .. i), function()
      lvs.realserver{vip = VIP, dev = "lo", label = "lo:2", arp_devs = {"all", "eth0"}, down = true}
    end)
  end
  lvs.with_netns(lab:ns("director"), function() lvs.director{vip = VIP .. "/24", dev = "eth0", down = true} end)
end)
print("lab: done")
