#!/usr/bin/env lvsh
-- The classic LVS-DR experiment, end to end, with network namespaces on a bridge:
--   a client, a director with the VIP as the alias eth0:1, and two real servers with
--   arp_ignore/arp_announce and the VIP on lo:2, each serving "from <its address>".
-- The textbook uses 192.168.1.0/24; this lab uses the documentation range 192.0.2.0/24.
-- Run it in the sandbox kernel: scripts/lab   (or: scripts/lab examples/lab.lua wrr)
local sched = ... or "rr"
local VIP, DIP, CIP = "192.0.2.110", "192.0.2.100", "192.0.2.200"
local RS = {"192.0.2.101", "192.0.2.102"}
math.randomseed(os.time())
local tag = string.format("%04x", math.random(0, 0xffff))
local ns = {switch = "sw" .. tag, client = "cli" .. tag, director = "dir" .. tag, rs1 = "rs1" .. tag, rs2 = "rs2" .. tag}

local function sh(cmd)
  local ok = os.execute(cmd)
  if not ok then error("failed: " .. cmd, 2) end
end
local function read(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

-- the wiring (plain ip commands: this part is the lab's scaffolding, not LVS)
for _, n in pairs(ns) do sh("ip netns add " .. n) end
sh("ip -n " .. ns.switch .. " link add br0 type bridge && ip -n " .. ns.switch .. " link set br0 up")
local function plug(name, addr)
  sh(string.format("ip link add eth0 netns %s type veth peer name p-%s netns %s", ns[name], name, ns.switch))
  sh(string.format("ip -n %s link set p-%s master br0 && ip -n %s link set p-%s up", ns.switch, name, ns.switch, name))
  sh(string.format("ip -n %s addr add %s/24 dev eth0 && ip -n %s link set eth0 up && ip -n %s link set lo up",
    ns[name], addr, ns[name], ns[name]))
end
plug("client", CIP)
plug("director", DIP)
plug("rs1", RS[1])
plug("rs2", RS[2])

local function cleanup()
  for _, n in pairs(ns) do os.execute("ip netns pids " .. n .. " 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del " .. n .. " 2>/dev/null") end
  os.execute("rm -rf /tmp/lvsh-lab-" .. tag)
end

local ok, err = pcall(function()
  -- real servers: ARP settings and the VIP on lo:2 (lvs.realserver), and a web server
  for i, name in ipairs{"rs1", "rs2"} do
    lvs.with_netns(ns[name], function()
      for _, change in ipairs(lvs.realserver{vip = VIP, dev = "lo", label = "lo:2", arp_devs = {"all", "eth0"}}) do
        print(name .. ": " .. change)
      end
    end)
    local root = "/tmp/lvsh-lab-" .. tag .. "/" .. name
    sh("mkdir -p " .. root)
    local f = assert(io.open(root .. "/index.html", "w"))
    f:write("from " .. RS[i] .. "\n")
    f:close()
    sh(string.format("ip netns exec %s busybox httpd -p 80 -h %s", ns[name], root))
  end

  -- the director: the VIP as eth0:1, and the service (ipvsadm -A -t VIP:80 -s rr; -a ... -g -w 1)
  lvs.with_netns(ns.director, function()
    for _, change in ipairs(lvs.director{vip = VIP .. "/24", dev = "eth0", label = "eth0:1"}) do print("director: " .. change) end
    local weights = sched == "wrr" and {3, 1} or {1, 1}
    local svc = lvs.add_service{addr = VIP .. ":80", scheduler = sched}
    svc:add_server{addr = RS[1], method = "dr", weight = weights[1]}
    svc:add_server{addr = RS[2], method = "dr", weight = weights[2]}
  end)

  -- the client fetches the VIP again and again
  local n = sched == "wrr" and 40 or 6
  local answers, count = {}, {}
  for i = 1, n do
    local out = read(string.format("ip netns exec %s curl -s --max-time 5 http://%s/", ns.client, VIP)):gsub("%s+$", "")
    answers[i] = out
    count[out] = (count[out] or 0) + 1
    if n <= 10 then print("client: " .. out) end
  end
  local a, b = count["from " .. RS[1]] or 0, count["from " .. RS[2]] or 0
  print(string.format("client: %d answers from %s, %d from %s", a, RS[1], b, RS[2]))
  assert(a > 0 and b > 0, "both real servers must answer")
  if sched == "rr" then
    for i = 2, n do assert(answers[i] ~= answers[i - 1], "rr alternates") end
  elseif sched == "wrr" then
    assert(a == 30 and b == 10, "wrr with weights 3:1 over 40 requests gives 30:10")
  end

  lvs.with_netns(ns.director, function()
    lvs.list()
    lvs.list_connections()
    -- every client port went to one real server, and the entries say which
    local per_server = {}
    for _, c in ipairs(lvs.connections{vip = VIP .. ":80"}) do
      assert(c.client:match("^" .. CIP:gsub("%.", "%%.") .. ":%d+$"), c.client)
      per_server[c.real] = (per_server[c.real] or 0) + 1
    end
    assert(per_server[RS[1] .. ":80"] == a and per_server[RS[2] .. ":80"] == b, "connection entries match the answers")
    print(string.format("director: %d connection entries, in states such as FIN_WAIT/TIME_WAIT", a + b))
  end)

  -- and back down: the real servers and director as they were
  for _, name in ipairs{"rs1", "rs2"} do
    lvs.with_netns(ns[name], function() lvs.realserver{vip = VIP, dev = "lo", label = "lo:2", arp_devs = {"all", "eth0"}, down = true} end)
  end
  lvs.with_netns(ns.director, function() lvs.director{vip = VIP .. "/24", dev = "eth0", down = true} end)
end)
cleanup()
if not ok then error(err, 0) end
print("lab: done")
