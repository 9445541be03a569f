-- Test: LVS-DR traffic through the lab scaffolding, then lvsh's listings against ipvsadm's,
-- read at the same moment (ipvsadm, lvsh, ipvsadm again, until the two ipvsadm reads agree).
local VIP = "192.0.2.110"
require("lablib").run(function(lab)
  lab:plug("client", "eth0", "192.0.2.200")
  lab:plug("director", "eth0", "192.0.2.100")
  for i, addr in ipairs{"192.0.2.101", "192.0.2.102"} do
    lab:plug("rs" .. i, "eth0", addr)
    lvs.with_netns(lab:ns("rs" .. i), function() lvs.realserver{vip = VIP, arp_devs = {"all", "eth0"}} end)
    lab:web("rs" .. i, addr)
  end
  local dir = lab:ns("director")
  lvs.with_netns(dir, function()
    lvs.director{vip = VIP .. "/24", dev = "eth0", label = "eth0:1"}
    lvs.add_service{addr = VIP .. ":80", scheduler = "rr", servers = {"192.0.2.101", "192.0.2.102"}}
  end)
  lab:fetch(VIP, 8)
  local function settled(args, ours)
    for _ = 1, 40 do
      local a = lab:read("ip netns exec " .. dir .. " ipvsadm " .. args)
      local b = ours()
      local c = lab:read("ip netns exec " .. dir .. " ipvsadm " .. args)
      if a == c then return a, b end
    end
    error("the figures never settled: " .. args)
  end
  lvs.with_netns(dir, function()
    for _, case in ipairs{
      {"-L -n --stats", {stats = true}}, {"-L -n --stats --exact", {stats = true, exact = true}},
      {"-L -n --rate", {rate = true}}, {"-L -n", {}}, {"-L -n --persistent-conn", {persistent_conn = true}},
    } do
      local opts = case[2]
      opts.format, opts.print = "ipvsadm", false
      local want, got = settled(case[1], function() return lvs.list(opts) end)
      assert(got == want, case[1] .. " differs:\nipvsadm:\n" .. want .. "\nlvsh:\n" .. got)
      print("same: " .. case[1])
    end
    -- connection entries, with the countdown masked (it ticks between the reads)
    local function mask(s) return (s:gsub("\n(%u+%s+)%d+:%d+", "\n%1--:--")) end
    local want, got = settled("-L -n -c", function() return lvs.list_connections{format = "ipvsadm", print = false} end)
    assert(mask(got) == mask(want), "-L -n -c differs:\n" .. want .. "\n" .. got)
    assert(#lvs.connections{vip = VIP .. ":80"} == 8)
    print("same: -L -n -c")
  end)
end)
