-- Role helpers: every step an LVS real server or director needs, and its undoing.
-- Each returns the list of changes it made, and is safe to run twice. What a helper changes
-- is remembered in /run/lvsh, so that `down = true` puts back exactly what was there.
local lvs, H = ...

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

-- whole or not at all, through a fresh temporary name (Rust's files::write_atomic)
local function save_state(path, saved)
  local out = {}
  for _, kv in ipairs(saved) do out[#out + 1] = kv[1] .. " " .. tostring(kv[2]) .. "\n" end
  local ok, err = H.write_state(path, table.concat(out))
  if not ok then error(err, 0) end
end

local function check(t, known, what)
  for k in pairs(t) do
    if not known[k] then error(string.format("%s: unknown field '%s'", what, k), 3) end
  end
end

-- The VIP, device, label and arp_devs, checked before anything is changed; errors name the
-- caller's field and point at the caller's line.
local function checked(spec, dev, arp_devs)
  local ip, prefix, err = H.check{vip = spec.vip, dev = dev, label = spec.label, arp_devs = arp_devs}
  if not ip then error(err, 3) end
  return ip, prefix
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

local function link_is_up(dev)
  for _, l in ipairs(lvs.link.list()) do
    if l.name == dev then return l.up end
  end
  return false
end

-- Puts a role in place: `settings` (sysctl, value) pairs, `up_dev` brought up if it is down,
-- then the address. What is found is remembered in the state file before anything changes
-- (only the first time: a second run must not remember its own changes as the originals),
-- so a run cut short can still be undone with `down`; a step that fails undoes the steps
-- before it, and the state file is as it was.
local function bring_up(path, settings, up_dev, addr)
  local before = load_state(path)
  local saved, remembered = {}, {}
  for _, kv in ipairs(before or {}) do
    saved[#saved + 1] = kv
    remembered[kv[1] == "link-down" and "link-down " .. kv[2] or kv[1]] = true
  end
  local have = {}
  for i, s in ipairs(settings) do
    have[i] = lvs.sysctl.get(s[1])
    if not remembered[s[1]] then
      saved[#saved + 1] = {s[1], have[i]}
      remembered[s[1]] = true
    end
  end
  local raise = up_dev and not link_is_up(up_dev)
  if raise and not remembered["link-down " .. up_dev] then saved[#saved + 1] = {"link-down", up_dev} end
  save_state(path, saved)
  local changes, undo = {}, {}
  local ok, err = pcall(function()
    if raise and lvs.link.up(up_dev) then
      changes[#changes + 1] = "set " .. up_dev .. " up"
      undo[#undo + 1] = function() lvs.link.down(up_dev) end
    end
    for i, s in ipairs(settings) do
      local name, want, had = s[1], s[2], have[i]
      if had ~= want then
        lvs.sysctl.set(name, want)
        changes[#changes + 1] = string.format("%s %s -> %s", name, tostring(had), tostring(want))
        undo[#undo + 1] = function() lvs.sysctl.set(name, had) end
      end
    end
    local changed, what = lvs.addr.add(addr)
    if changed then changes[#changes + 1] = what end
  end)
  if not ok then
    for i = #undo, 1, -1 do pcall(undo[i]) end
    if before then pcall(save_state, path, before) else os.remove(path) end
    error((tostring(err):gsub("^lvs/roles%.lua:%d+: ", "")), 3)
  end
  return changes
end

-- lvs.realserver{vip=, dev="lo", label=, arp_devs={"all", ...}, method="dr"|"tun", down=}
function lvs.realserver(spec)
  if type(spec) ~= "table" then error("realserver: expected a table such as {vip=\"192.0.2.110\"}", 2) end
  check(spec, {vip = 1, dev = 1, label = 1, arp_devs = 1, method = 1, down = 1}, "realserver")
  local method = spec.method or "dr"
  if method ~= "dr" and method ~= "tun" then error("bad method '" .. tostring(method) .. "': expected \"dr\" or \"tun\"", 2) end
  local dev = spec.dev or (method == "tun" and "tunl0" or "lo")
  local arp_devs = spec.arp_devs or {"all"}
  if type(arp_devs) ~= "table" then
    error("bad arp_devs " .. tostring(arp_devs) .. ": must be a list such as {\"all\", \"eth0\"}", 2)
  end
  if spec.down then
    local ip, prefix = checked(spec, nil, nil)
    local path = state_file("realserver", ip)
    local changes = {}
    local changed, what = lvs.addr.del{dev = dev, addr = ip .. "/" .. prefix}
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
  local ip, prefix = checked(spec, dev, arp_devs)
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
  return bring_up(state_file("realserver", ip), settings, method == "tun" and dev or nil,
    {dev = dev, addr = ip .. "/" .. prefix, label = spec.label})
end

-- lvs.director{vip="192.0.2.110/24", dev="eth0", label="eth0:1", method="dr"|"nat"|"tun", down=}
function lvs.director(spec)
  if type(spec) ~= "table" then error("director: expected a table such as {vip=\"192.0.2.110/24\", dev=\"eth0\"}", 2) end
  check(spec, {vip = 1, dev = 1, label = 1, method = 1, down = 1}, "director")
  if type(spec.dev) ~= "string" then error("dev: the director's interface is required (e.g. \"eth0\")", 2) end
  local method = spec.method or "dr"
  if method ~= "dr" and method ~= "nat" and method ~= "tun" then
    error("bad method '" .. tostring(method) .. "': expected \"dr\", \"nat\" or \"tun\"", 2)
  end
  if spec.down then
    local ip, prefix = checked(spec, nil, nil)
    local path = state_file("director", ip)
    local changes = {}
    local changed, what = lvs.addr.del{dev = spec.dev, addr = ip .. "/" .. prefix}
    if changed then changes[#changes + 1] = what end
    restore_all(load_state(path) or {}, changes)
    os.remove(path)
    return changes
  end
  local ip, prefix = checked(spec, spec.dev, nil)
  local settings = method == "nat" and {{"net.ipv4.ip_forward", 1}} or {}
  return bring_up(state_file("director", ip), settings, nil,
    {dev = spec.dev, addr = ip .. "/" .. prefix, label = spec.label})
end
