#!/usr/bin/env lvsh
-- A complete director, to run for months and steer while it runs: the rules applied, HTTP
-- and TCP monitors, a sorry server, a control socket to attach to, and a drift watch that
-- puts back what someone changed by hand.
--   lvsh examples/director.lua                 (as root; its socket: /run/lvsh/director.sock)
--   systemd: examples/lvsh-director.service    (lvsh --syslog /etc/lvsh/director.lua)
--   lvsh attach director                       (a REPL inside the running director)
--   lvsh attach director -e 'lvs.show_monitors()'
--   lvsh attach director --events | jq .       (every state change, one JSON object a line)
local VIP = os.getenv("LVSH_DIRECTOR_VIP") or "192.0.2.120"
local WEB = {"198.51.100.21", "198.51.100.22"}

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

-- prune=false: other services on this director, and the sorry server, are left alone
local plan = lvs.apply(rules(), {prune = false})
lvs.log.info("director: rules applied, " .. #plan .. " change(s)")

local web = lvs.monitor{
  service = {addr = VIP .. ":80"},
  check = lvs.check.http{path = "/health", status = {200, 204}, body = "ok", timeout = 2},
  interval = 2, rise = 2, fall = 3,
  sorry = "127.0.0.1:8080",          -- a local "down for maintenance" page
  max_down = "50%",                   -- never take out more than half on check results alone
}
local mail = lvs.monitor{
  service = {addr = VIP .. ":25"},
  check = lvs.check.tcp{timeout = 2},
  interval = 5, rise = 1, fall = 2,
}

-- What the monitors and overrides do on purpose (weights, the sorry server, drains) is not
-- drift; a service or server deleted or edited by hand is put back, unless it is a mass
-- change (more than 20 operations: an operator at work), which is only reported.
lvs.watch{desired = rules, every = 5, action = "revert", max_changes = 20}

lvs.on_event(function(ev)
  -- a place for paging or a chat message; every event is logged by the director already
  if ev.kind == "quorum" and not ev.up then lvs.log.error("director: " .. ev.service .. " lost its quorum") end
end)
lvs.on_signal("USR1", lvs.show_monitors)
print("director: checking " .. web.service .. " and " .. mail.service)
local why = lvs.run()
print("director: stopped (" .. why .. "); weights left as they are")
