#!/usr/bin/env lvsh
-- Active-active directors behind ECMP: a router running BIRD 2 learns the VIP over BGP from
-- three directors, each running BIRD 2 and lvsh (examples/anycast/director.lua: mh with
-- mh-port, DR, a monitor, lvs.anycast), and spreads flows over them by layer-4 hash; three
-- DR real servers answer an echo service that names them. Then one director at a time
-- fails — kill -9, SIGTERM, its real servers unreachable from it, its event loop stalled —
-- while long-lived connections run, and comes back; the lab prints how many of the
-- connections that were on it kept working with the same real server.
-- Run it in the sandbox kernel: scripts/lab examples/lab-anycast.lua
local VIP = "198.51.100.10"
local ROUTER, CLIENT = "192.0.2.1", "203.0.113.2"
local DIRECTORS = {"192.0.2.11", "192.0.2.12", "192.0.2.13"}
local SERVERS = {"192.0.2.21", "192.0.2.22", "192.0.2.23"}
local HOLD = 180 -- long-lived connections per failure: about 60 on the director that fails (never under 30)
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "examples"
local FLOWS = here .. "/anycast/flows.py"
-- this lvsh, to run the directors with (io.popen's shell is its child)
local LVSH = (function()
  local p = assert(io.popen("readlink /proc/$PPID/exe"))
  local path = p:read("l")
  p:close()
  return path or "lvsh"
end)()

local function now()
  local p = assert(io.popen("date +%s.%N"))
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

require("lablib").run(function(lab)
  local dir = lab.dir
  lab:sh("mkdir -p " .. dir)
  lab:plug("router", "eth0", ROUTER)
  lab:plug("router", "eth1", "203.0.113.1", "cli")
  lab:plug("client", "eth0", CLIENT, "cli")
  lab:sh("ip -n " .. lab:ns("client") .. " route add default via 203.0.113.1")
  lab:sh("ip netns exec " .. lab:ns("router") .. " sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1")
  for i, addr in ipairs(SERVERS) do
    local role = "rs" .. i
    lab:plug(role, "eth0", addr)
    lab:sh("ip -n " .. lab:ns(role) .. " route add default via " .. ROUTER)
    lvs.with_netns(lab:ns(role), function()
      lvs.realserver{vip = VIP, dev = "lo", arp_devs = {"all", "eth0"}}
    end)
    lab:sh(string.format("ip netns exec %s python3 %s serve %s 7 >/dev/null 2>&1 &", lab:ns(role), FLOWS, role))
  end

  -- the router: BGP with each director, their routes merged into one multipath route
  local conf = {"router id " .. ROUTER .. ";", "protocol device { scan time 10; }",
    "protocol kernel { merge paths yes limit 16; ipv4 { import none; export where source = RTS_BGP; }; }",
    "template bgp director { local " .. ROUTER .. " as 65000; hold time 3; keepalive time 1;",
    "  connect delay time 1; connect retry time 1; error wait time 1, 5; graceful restart off;",
    "  ipv4 { import where net = " .. VIP .. "/32; export none; }; }"}
  for i, d in ipairs(DIRECTORS) do
    conf[#conf + 1] = string.format("protocol bgp d%d from director { neighbor %s as 65001; }", i, d)
  end
  local function write(path, text)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
  end
  write(dir .. "/router.conf", table.concat(conf, "\n") .. "\n")
  lab:sh(string.format("ip netns exec %s bird -c %s/router.conf -s %s/router.ctl", lab:ns("router"), dir, dir))

  -- the directors: lvsh first (it writes the file BIRD includes), then BIRD
  local pids = {}
  local function start_director(i, order)
    local role, d = "d" .. i, DIRECTORS[i]
    local include, sock = dir .. "/" .. role .. "-anycast.conf", dir .. "/" .. role .. ".ctl"
    os.remove(include)
    local p = assert(io.popen(string.format(
      "ip netns exec %s %s --name any-%s-%s %s/anycast/director.lua %s %s %s %s %s >%s/%s.log 2>&1 & echo $!",
      lab:ns(role), LVSH, role, lab.tag, here, VIP, table.concat(SERVERS, ","), include, sock, order or "", dir, role)))
    pids[i] = p:read("l")
    p:close()
    for _ = 1, 100 do
      if io.open(include) then break end
      lvs.sleep(0.1)
    end
    assert(io.open(include), role .. ": lvsh did not write " .. include .. ": " .. lab:read("cat " .. dir .. "/" .. role .. ".log"))
  end
  for i, d in ipairs(DIRECTORS) do
    local role = "d" .. i
    lab:plug(role, "eth0", d)
    start_director(i, i == 3 and "reverse" or nil)
    write(string.format("%s/%s.conf", dir, role), table.concat({
      "router id " .. d .. ";", "protocol device { scan time 10; }",
      string.format('include "%s/%s-anycast.conf";', dir, role),
      "protocol bgp upstream { local " .. d .. " as 65001; neighbor " .. ROUTER .. " as 65000;",
      "  hold time 3; keepalive time 1; connect delay time 1; connect retry time 1;",
      "  error wait time 1, 5; graceful restart off;",
      "  ipv4 { import none; export filter lvsh_anycast_export; }; }"}, "\n") .. "\n")
    lab:sh(string.format("ip netns exec %s bird -c %s/%s.conf -s %s/%s.ctl", lab:ns(role), dir, role, dir, role))
  end

  local function paths()
    local out = lab:read("ip -n " .. lab:ns("router") .. " route show " .. VIP)
    local n = select(2, out:gsub("nexthop", ""))
    if n == 0 and out:find("via") then n = 1 end
    return n, out
  end
  local function wait_paths(want, limit)
    local start = now()
    while now() - start < limit do
      if paths() == want then return now() end
      lvs.sleep(0.05)
    end
    local n, out = paths()
    error(string.format("the router has %d path(s) to %s after %.0f s, not %d:\n%s", n, VIP, limit, want, out))
  end
  wait_paths(3, 30)
  print("router: " .. (select(2, paths())):gsub("\n$", ""):gsub("\n", "\nrouter: "))

  local function on_director(i, f) return lvs.with_netns(lab:ns("d" .. i), f) end
  local function fingerprints()
    local fp = {}
    for i = 1, 3 do fp[i] = on_director(i, function() return lvs.mh_table{addr = VIP .. ":7"} end) end
    return fp
  end
  local fp = fingerprints()
  print(string.format("mh fingerprints: d1 %s, d2 %s, d3 %s (d3 added its servers in the opposite order)",
    fp[1].fingerprint, fp[2].fingerprint, fp[3].fingerprint))
  assert(fp[1].fingerprint == fp[2].fingerprint and fp[2].fingerprint == fp[3].fingerprint, "the fingerprints differ")

  -- new flows: how many each director scheduled, as the connection entries that appeared on it
  -- (the counters are summed by the kernel's estimator only every 2 s). A set, not a count:
  -- entries of earlier rounds expire meanwhile (TIME_WAIT, 2 min), and a difference of counts
  -- would then go negative or hide a new entry.
  local function scheduled()
    local sets = {}
    for i = 1, 3 do
      sets[i] = {}
      on_director(i, function()
        for _, c in ipairs(lvs.connections{vip = VIP .. ":7"}) do sets[i][c.client] = true end
      end)
    end
    return sets
  end
  local function new_flows(n)
    local before = scheduled()
    local answered = lab:read(string.format("ip netns exec %s python3 %s spread %s 7 %d", lab:ns("client"), FLOWS, VIP, n))
    local after = scheduled()
    local spread = {}
    for i = 1, 3 do
      spread[i] = 0
      for client in pairs(after[i]) do
        if not before[i][client] then spread[i] = spread[i] + 1 end
      end
    end
    return spread, tonumber(answered) or 0
  end
  local spread, answered = new_flows(300)
  print(string.format("spread: d1 %d, d2 %d, d3 %d of 300 new connections (%.1f%%, %.1f%%, %.1f%%), %d answered",
    spread[1], spread[2], spread[3], spread[1] / 3, spread[2] / 3, spread[3] / 3, answered))
  for i = 1, 3 do assert(spread[i] >= 45, "d" .. i .. " got under 15% of the new connections") end

  -- long-lived connections through one director's failure and return
  local function state(file)
    local f = io.open(file)
    if not f then return nil end
    local text = f:read("a")
    f:close()
    local conns = {}
    for port, rest in text:gmatch('"port": (%d+)(.-)}') do
      conns[tonumber(port)] = {
        server = rest:match('"server": "([^"]*)"'),
        changed = rest:match('"changed": true') ~= nil,
        closed = rest:match('"closed": true') ~= nil,
        last = tonumber(rest:match('"last": ([%d.]+)')),
      }
    end
    return conns
  end
  local figures = {}
  local function through(i, what, fail, recover)
    local file = string.format("%s/hold-%d-%s.json", dir, i, what:gsub("%W", ""))
    local p = assert(io.popen(string.format("ip netns exec %s python3 %s hold %s 7 %d %s >/dev/null 2>&1 & echo $!",
      lab:ns("client"), FLOWS, VIP, HOLD, file)))
    local holder = p:read("l")
    p:close()
    local conns
    for _ = 1, 200 do
      conns = state(file)
      local all = conns and next(conns) ~= nil
      for _, c in pairs(conns or {}) do all = all and c.server ~= nil end
      if all then break end
      lvs.sleep(0.1)
    end
    -- the connections this director scheduled, by client port
    local mine = {}
    on_director(i, function()
      for _, c in ipairs(lvs.connections{vip = VIP .. ":7"}) do
        local port = tonumber(c.client:match(":(%d+)$"))
        if conns[port] then mine[port] = true end
      end
    end)
    local t0 = now()
    fail()
    local t1 = wait_paths(2, 20)
    local first
    while not first and now() - t1 < 10 do
      for port in pairs(mine) do
        local c = (state(file) or {})[port]
        if c and c.last and c.last > t1 then first = now() break end
      end
      if not first then lvs.sleep(0.05) end
    end
    lvs.sleep(3)
    local function survivors(set)
      local cs, ok, n = state(file), 0, 0
      local fresh = now() - 1.5
      for port in pairs(set) do
        n = n + 1
        local c = cs[port]
        if c and not c.closed and not c.changed and c.last and c.last > fresh then ok = ok + 1 end
      end
      return ok, n
    end
    local ok, n = survivors(mine)
    print(string.format("%s of d%d: the router's route down to 2 paths after %.2f s, the first answer on a moved connection after %.2f s",
      what, i, t1 - t0, (first or now()) - t0))
    print(string.format("connections survived: %d/%d (%.1f%%)", ok, n, 100 * ok / math.max(n, 1)))
    figures[#figures + 1] = {what = what, route = t1 - t0, first = (first or now()) - t0, ok = ok, n = n}
    assert(n >= 30, what .. ": fewer than 30 connections were on d" .. i)
    assert(ok >= 0.95 * n, what .. ": under 95% of the connections survived")
    -- new connections meanwhile go to the other two
    local spread, answered = new_flows(60)
    print(string.format("%s of d%d: new connections d1 %d, d2 %d, d3 %d of 60 (%d answered)", what, i, spread[1], spread[2], spread[3], answered))
    assert(spread[i] == 0 and answered == 60, what .. ": new connections still reach d" .. i .. " or fail")
    -- and back: announced again, and the connections ECMP moves back to it keep working
    local t2 = now()
    recover()
    local t3 = wait_paths(3, 30)
    lvs.sleep(3)
    local all = {}
    for port in pairs(state(file)) do all[port] = true end
    local back_ok, back_n = survivors(all)
    print(string.format("d%d back: 3 paths after %.2f s; connections survived: %d/%d (%.1f%%)",
      i, t3 - t2, back_ok, back_n, 100 * back_ok / math.max(back_n, 1)))
    assert(back_ok >= 0.95 * back_n, what .. ": under 95% of the connections survived the return")
    local spread = new_flows(90)
    print(string.format("d%d back: new connections d1 %d, d2 %d, d3 %d of 90", i, spread[1], spread[2], spread[3]))
    assert(spread[i] >= 14, what .. ": d" .. i .. " got under 15% of the new connections after its return")
    lab:sh("kill " .. holder)
  end

  through(1, "kill -9", function() lab:sh("kill -9 " .. pids[1]) end, function() start_director(1) end)
  through(2, "SIGTERM", function() lab:sh("kill -TERM " .. pids[2]) end, function() start_director(2) end)
  local blocked = {}
  for _, s in ipairs(SERVERS) do blocked[#blocked + 1] = "ip -n " .. lab:ns("d3") .. " route %s prohibit " .. s end
  through(3, "quorum lost", function()
    for _, b in ipairs(blocked) do lab:sh(b:format("add")) end
  end, function()
    for _, b in ipairs(blocked) do lab:sh(b:format("del")) end
  end)
  through(1, "loop stalled", function()
    lab:sh(string.format("%s attach any-d1-%s -e 'lvs.budget(30) lvs.after(0, function() local t = os.clock() while os.clock() - t < 12 do end end)' >/dev/null",
      LVSH, lab.tag))
  end, function() end)

  print("benchmark: failure       route change   first moved answer   survived")
  for _, f in ipairs(figures) do
    print(string.format("benchmark: %-13s %8.2f s %14.2f s %8d/%d", f.what, f.route, f.first, f.ok, f.n))
  end
  for i = 1, 3 do os.execute("kill " .. pids[i] .. " 2>/dev/null") end
  for _, role in ipairs{"router", "d1", "d2", "d3"} do
    os.execute(string.format("birdc -s %s/%s.ctl down >/dev/null 2>&1", dir, role))
  end
end)
print("lab: done")
