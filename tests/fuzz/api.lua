-- Calls every `lvs` function with hostile arguments, in a dry run on the host: any answer
-- (a value or a raised error) is fine; a panic or an abort ends the process and fails the
-- test that runs this (tests/robust.rs). Only loopback addresses: nothing leaves the host.
local seed, rounds = tonumber(arg[1]) or 1, tonumber(arg[2]) or 200
math.randomseed(seed)

-- functions that change the host (its addresses, links, sysctls, namespaces, files) or
-- wait for a long time are left out
local skip = {
  ["addr.add"] = true, ["addr.del"] = true, ["link.add_ipip"] = true, ["link.del"] = true,
  ["link.up"] = true, ["link.down"] = true, ["sysctl.set"] = true, ["sysctl.vs"] = true,
  netns = true, with_netns = true, realserver = true, director = true, save = true,
  ["log.file"] = true, run = true, sleep = true, wait_drains = true,
}

local big = {}
for i = 1, 2000 do big[i] = i end
local wide = {}
for i = 1, 300 do wide["k" .. i] = i end
local deep = {}
local t = deep
for _ = 1, 200 do t.x = {}; t = t.x end

local strings = {
  "", "x", ("x"):rep(70000), "\255\254\0binary", "127.0.0.1:1", "127.0.0.1", "[::1]:1",
  "::1", "0.0.0.0:0", "127.0.0.1:65536", "127.0.0.1:-1", "tcp", "udp", "sctp", "rr", "mh",
  "wlc", "http", "-1", "1e400", "nan", "http://127.0.0.1:1/", "fwmark:1", "-A -t 127.0.0.1:80 -s rr",
  "-A -t 127.0.0.1:80 -s rr\n-a -t 127.0.0.1:80 -r 127.0.0.2:80 -m -w 1\n",
  "-a -t 127.0.0.1:80 -r 127.0.0.3:80 -g -w 99999999999",
  "-A -t 127.0.0.1:81 -s rr -p 0 -M 255.255.255.255\n-E -t 127.0.0.1:81 -s nosuch",
  "-C", "-Z", "-L -n", "-S -n", "--help", "%s%s%n", "\n\n\n", "TERM", "HUP", "down",
}
local numbers = {
  0, 1, -1, 2^31, 2^32, 2^63, -2^63, 1e308, -1e308, 0/0, 1/0, -1/0, 0.5, 65535, 65536,
  math.maxinteger, math.mininteger, 3.7,
}
local function fn_value() return function() return true, "ok" end end

local value
local function random_table(depth)
  local k = math.random(8)
  if k == 1 then return {} end
  if k == 2 then return big end
  if k == 3 then return wide end
  if k == 4 then return deep end
  local t = {}
  local fields = {
    "addr", "port", "protocol", "proto", "fwmark", "scheduler", "sched", "weight", "method",
    "forward", "timeout", "persistent", "netmask", "flags", "pe", "servers", "check",
    "interval", "rise", "fall", "headers", "url", "host", "status", "body", "service",
    "server", "u_threshold", "l_threshold", "state", "mcast_ifn", "syncid", "tcp", "udp",
    "tcpfin", "dry_run", "prune", "drain", "format", "stats", "rate", "quorum", "max_down",
    "sorry", "on_change", "cmd", "argv", "send", "expect", "name", "type", "tls", "path",
  }
  for _ = 1, math.random(6) do
    t[fields[math.random(#fields)]] = value(depth + 1)
  end
  if math.random(4) == 1 then t[1] = value(depth + 1) end
  return t
end

function value(depth)
  depth = depth or 0
  local k = math.random(depth > 2 and 4 or 6)
  if k == 1 then return nil end
  if k == 2 then return strings[math.random(#strings)] end
  if k == 3 then return numbers[math.random(#numbers)] end
  if k == 4 then return math.random(2) == 1 end
  if k == 5 then return random_table(depth) end
  return ({ fn_value(), lvs, coroutine.create(function() end), io.stdout })[math.random(4)]
end

local names = {}
for k, v in pairs(lvs) do
  if type(v) == "function" then
    names[#names + 1] = k
  elseif type(v) == "table" then
    for k2, v2 in pairs(v) do
      if type(v2) == "function" then names[#names + 1] = k .. "." .. k2 end
    end
  end
end
table.sort(names)

local function lookup(name)
  local a, b = name:match("^(%w+)%.([%w_]+)$")
  if a then return lvs[a][b] end
  return lvs[name]
end

-- rules text made of ipvsadm's own words in random order, and lines cut or repeated
local words = {
  "-A", "-E", "-D", "-a", "-e", "-d", "-C", "-R", "-S", "-Z", "-L", "-l", "-n", "-t", "-u",
  "--sctp-service", "-f", "-s", "-p", "-M", "-r", "-g", "-m", "-i", "-w", "-x", "-y", "-b",
  "--pe", "--tun-type", "--tun-port", "--tun-nocsum", "--set", "--start-daemon", "--mcast-interface",
  "--syncid", "rr", "wrr", "mh", "sh", "sip", "127.0.0.1:80", "127.0.0.2", "[::1]:80", "::1",
  "1", "0", "-1", "65536", "4294967296", "flag-1,flag-2", "mh-port,mh-fallback", "#", "\t",
  "255.255.255.255", "128", "ipip", "gue", "gre", "\255", "--exact", "--stats", "x",
}
local function rules_text()
  local lines = {}
  for i = 1, math.random(0, 12) do
    local l = {}
    for j = 1, math.random(0, 12) do l[j] = words[math.random(#words)] end
    lines[i] = table.concat(l, " ")
  end
  return table.concat(lines, "\n") .. (math.random(2) == 1 and "\n" or "")
end
for _ = 1, rounds * 5 do
  local text = rules_text()
  pcall(lvs.restore, text)
  pcall(lvs.apply, text, { dry_run = math.random(2) == 1, prune = math.random(2) == 1 })
  pcall(lvs.ipvsadm, (text:gsub("\n.*", "")))
  pcall(lvs.clear)
end

lvs.budget(0.5)
local calls, raised = 0, 0
for _ = 1, rounds do
  for _, name in ipairs(names) do
    if not skip[name] then
      local args = {}
      local n = math.random(0, 3)
      for i = 1, n do args[i] = value() end
      local ok = pcall(lookup(name), table.unpack(args, 1, n))
      calls = calls + 1
      if not ok then raised = raised + 1 end
    end
  end
  -- the table grows with what the calls added: keep it small
  pcall(lvs.clear)
end
print(string.format("fuzz: %d calls, %d raised", calls, raised))
