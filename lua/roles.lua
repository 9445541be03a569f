-- Role helpers: every step an LVS real server or director needs, and its undoing.
-- Each returns the list of changes it made, and is safe to run twice. What a helper changes
-- is remembered in /run/lvsh, so that `down = true` puts back exactly what was there.
local lvs = ...

local STATE_DIR = "/run/lvsh"

local function state_file(role, vip)
  local ns = io.open("/proc/thread-self/ns/net") and
    (io.popen("readlink /proc/thread-self/ns/net"):read("l") or ""):gsub("%W", "") or ""
  return string.format("%s/%s-%s-%s", STATE_DIR, role, ns, (vip:gsub("[^%w]", "_")))
end

local function load_state(path)
  local f = io.open(path)
  if not f then return nil end
  local saved = {}
  for line in f:lines() do
    local k, v = line:match("^(%S+) (.*)$")
    if k then saved[#saved + 1] = {k, v} end
  end
  f:close()
  return saved
end

local function save_state(path, saved)
  os.execute("mkdir -p " .. STATE_DIR)
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "w"))
  for _, kv in ipairs(saved) do f:write(kv[1], " ", tostring(kv[2]), "\n") end
  f:close()
  assert(os.rename(tmp, path))
end

local function check(t, known, what)
  for k in pairs(t) do
    if not known[k] then error(string.format("%s: unknown field '%s'", what, k), 3) end
  end
end

-- Sets sysctls, remembering the values found (only the first time: a second run must not
-- remember its own changes as the originals).
local function set_all(settings, saved, changes)
  local remembered = {}
  for _, kv in ipairs(saved) do remembered[kv[1]] = true end
  -- (a "link-down" entry is a note for `down`, not a sysctl)
  for _, s in ipairs(settings) do
    local name, want = s[1], s[2]
    local have = lvs.sysctl.get(name)
    if not remembered[name] then saved[#saved + 1] = {name, have} end
    if have ~= want then
      lvs.sysctl.set(name, want)
      changes[#changes + 1] = string.format("%s %s -> %s", name, tostring(have), tostring(want))
    end
  end
end

local function restore_all(saved, changes)
  for _, kv in ipairs(saved) do
    local name, old = kv[1], tonumber(kv[2]) or kv[2]
    if name == "link-down" then goto next end
    if lvs.sysctl.get(name) ~= old then
      lvs.sysctl.set(name, old)
      changes[#changes + 1] = string.format("%s back to %s", name, tostring(old))
    end
    ::next::
  end
end

local function vip_of(spec, default_prefix)
  local vip = spec.vip
  if type(vip) ~= "string" then error("vip: expected an address such as \"192.0.2.110\", got " .. tostring(vip), 3) end
  local ip, prefix = vip:match("^([^/]+)/?(%d*)$")
  if not ip or not (ip:match("^%d+%.%d+%.%d+%.%d+$") or ip:find(":")) then
    error("bad vip '" .. vip .. "': not an address such as 192.0.2.110", 3)
  end
  return ip, (prefix ~= "" and tonumber(prefix)) or (ip:find(":") and 128 or default_prefix)
end

-- lvs.realserver{vip=, dev="lo", label=, arp_devs={"all", ...}, method="dr"|"tun", down=}
function lvs.realserver(spec)
  check(spec, {vip = 1, dev = 1, label = 1, arp_devs = 1, method = 1, down = 1}, "realserver")
  local ip, prefix = vip_of(spec, 32)
  local method = spec.method or "dr"
  if method ~= "dr" and method ~= "tun" then error("bad method '" .. tostring(method) .. "': expected \"dr\" or \"tun\"", 2) end
  local dev = spec.dev or (method == "tun" and "tunl0" or "lo")
  local arp_devs = spec.arp_devs or {"all"}
  local path = state_file("realserver", ip)
  local changes = {}
  local addr = {dev = dev, addr = ip .. "/" .. prefix, label = spec.label}
  if spec.down then
    local changed, what = lvs.addr.del{dev = dev, addr = addr.addr}
    if changed then changes[#changes + 1] = what end
    local saved = load_state(path) or {}
    local link_was_down = false
    for _, kv in ipairs(saved) do
      if kv[1] == "link-down" and kv[2] == dev then link_was_down = true end
    end
    restore_all(saved, changes)
    if link_was_down and lvs.link.down(dev) then changes[#changes + 1] = "set " .. dev .. " down" end
    os.remove(path)
    return changes
  end
  local settings = {}
  for _, d in ipairs(arp_devs) do
    settings[#settings + 1] = {"net.ipv4.conf." .. d .. ".arp_ignore", 1}
    settings[#settings + 1] = {"net.ipv4.conf." .. d .. ".arp_announce", 2}
  end
  if method == "tun" then
    -- the inner packets come from the clients: strict reverse-path filtering would drop them
    settings[#settings + 1] = {"net.ipv4.conf." .. dev .. ".rp_filter", 0}
    settings[#settings + 1] = {"net.ipv4.conf.all.rp_filter", 0}
  end
  local saved = load_state(path) or {}
  if method == "tun" and lvs.link.up(dev) then
    changes[#changes + 1] = "set " .. dev .. " up"
    saved[#saved + 1] = {"link-down", dev}
  end
  local ok, err = pcall(set_all, settings, saved, changes)
  save_state(path, saved)
  if not ok then error(err, 2) end
  local changed, what = lvs.addr.add(addr)
  if changed then changes[#changes + 1] = what end
  return changes
end

-- lvs.director{vip="192.0.2.110/24", dev="eth0", label="eth0:1", method="dr"|"nat"|"tun", down=}
function lvs.director(spec)
  check(spec, {vip = 1, dev = 1, label = 1, method = 1, down = 1}, "director")
  local ip, prefix = vip_of(spec, 32)
  if type(spec.dev) ~= "string" then error("dev: the director's interface is required (e.g. \"eth0\")", 2) end
  local method = spec.method or "dr"
  if method ~= "dr" and method ~= "nat" and method ~= "tun" then
    error("bad method '" .. tostring(method) .. "': expected \"dr\", \"nat\" or \"tun\"", 2)
  end
  local path = state_file("director", ip)
  local changes = {}
  local addr = {dev = spec.dev, addr = ip .. "/" .. prefix, label = spec.label}
  if spec.down then
    local changed, what = lvs.addr.del{dev = spec.dev, addr = addr.addr}
    if changed then changes[#changes + 1] = what end
    restore_all(load_state(path) or {}, changes)
    os.remove(path)
    return changes
  end
  local saved = load_state(path) or {}
  if method == "nat" then
    local ok, err = pcall(set_all, {{"net.ipv4.ip_forward", 1}}, saved, changes)
    save_state(path, saved)
    if not ok then error(err, 2) end
  else
    save_state(path, saved)
  end
  local changed, what = lvs.addr.add(addr)
  if changed then changes[#changes + 1] = what end
  return changes
end
