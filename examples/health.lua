#!/usr/bin/env lvsh
-- A director that checks its own real servers, as keepalived's checker or ldirectord would:
-- HTTP for the web service, TCP for the mail relay. Failing servers go to weight 0 (their
-- connections drain) and come back when they pass again; with every web server down the
-- sorry server takes the traffic. Runs until SIGTERM/SIGINT; SIGHUP re-applies the rules,
-- SIGUSR1 logs the monitors' table.
--   lvsh examples/health.lua                 (as root, on the director)
--   systemd: examples/lvsh-health.service    (lvsh --syslog /etc/lvsh/health.lua)
local VIP = "192.0.2.110"
local WEB = {"198.51.100.11", "198.51.100.12"}

local function rules()
  local web, mail = {}, {}
  for _, rs in ipairs(WEB) do
    web[#web + 1] = {addr = rs .. ":80", method = "nat", weight = 5}
    mail[#mail + 1] = {addr = rs .. ":25", method = "nat", weight = 1}
  end
  return {
    {addr = VIP .. ":80", scheduler = "wlc", servers = web},
    {addr = VIP .. ":25", scheduler = "rr", servers = mail},
  }
end

-- The table as it should be; prune=false leaves the sorry server and other services alone.
local function apply()
  local plan = lvs.apply(rules(), {prune = false})
  lvs.log.info("health: rules applied, " .. #plan .. " change(s)")
end
apply()

local function on_change(ev)
  -- a place for paging, metrics, or a chat message; the monitor logs the change itself
  if ev.to == "down" then lvs.log.warn("health: " .. ev.server .. " is out of " .. ev.service) end
end

local web = lvs.monitor{
  service = {addr = VIP .. ":80"},
  check = lvs.check.http{path = "/health", status = {200, 204}, body = "ok", timeout = 2},
  interval = 2, rise = 2, fall = 3,
  sorry = "127.0.0.1:8080",          -- a local "down for maintenance" page
  max_down = "50%",                   -- never take out more than half on check results alone
  on_change = on_change,
  on_panic = function(ev) lvs.log.error("health: checks failing on many servers; kept them in") end,
}
local mail = lvs.monitor{
  service = {addr = VIP .. ":25"},
  check = lvs.check.tcp{timeout = 2},
  interval = 5, rise = 1, fall = 2,
  on_change = on_change,
}

lvs.on_signal("HUP", apply)
lvs.on_signal("USR1", lvs.show_monitors)
print("health: checking " .. web.service .. " and " .. mail.service)
local why = lvs.run()
print("health: stopped (" .. why .. "); weights left as they are")
