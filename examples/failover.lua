#!/usr/bin/env lvsh
-- A keepalived notify hook for an LVS director pair. keepalived moves the VIP between the
-- directors with VRRP; this script makes the director role follow it:
--   MASTER  VIP alias up, the rules applied (lvs.apply), sync daemon as master
--   BACKUP  VIP alias down, the rules applied (so synced connections find their servers),
--           sync daemon as backup
--   FAULT   VIP alias down, no sync daemon (stop as well)
--
-- Use it as any of keepalived's notify scripts:
--   notify        "/usr/bin/lvsh /etc/lvsh/failover.lua /etc/lvsh/director.lua"
--                 (keepalived appends: INSTANCE name STATE priority)
--   notify_master "/usr/bin/lvsh /etc/lvsh/failover.lua /etc/lvsh/director.lua MASTER"
-- or, better, as the reader of keepalived's notify FIFO, which delivers the transitions in
-- order (keepalived runs notify scripts without waiting for them, so two scripts of a quick
-- MASTER-BACKUP-MASTER flap can overlap):
--   global_defs { vrrp_notify_fifo /run/keepalived/vrrp.fifo
--                 vrrp_notify_fifo_script "/usr/bin/lvsh /etc/lvsh/failover.lua /etc/lvsh/director.lua" }
--   (keepalived appends the FIFO's path and writes lines such as: INSTANCE "VI_1" MASTER 100)
-- The config file (examples/failover/director.lua shows one) returns a table:
--   {vip=, dev=, label=, rules=<a list of service specs, or an ipvsadm -S file>,
--    sync={ifname=, syncid=}, log=<a file for these lines>}
-- Without a config file argument, /etc/lvsh/director.lua is read.

local STATES = {MASTER = true, BACKUP = true, FAULT = true, STOP = true}
local state, conf_path, fifo
for _, a in ipairs(arg) do
  if STATES[a:upper()] then state = a:upper()
  elseif a:match("%.lua$") then conf_path = a
  elseif a:sub(1, 1) == "/" then fifo = a
  end
end
if not state and not fifo then
  io.stderr:write("usage: lvsh failover.lua [CONFIG.lua] MASTER|BACKUP|FAULT|STOP\n" ..
    "       lvsh failover.lua [CONFIG.lua] FIFO    (keepalived's vrrp_notify_fifo_script)\n")
  os.exit(2)
end
conf_path = conf_path or "/etc/lvsh/director.lua"
local conf = dofile(conf_path)
if conf.log then lvs.log.file(conf.log) end
local log = lvs.log

local function step(what, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then log.info(state .. ": " .. what) else log.error(state .. ": " .. what .. " failed: " .. tostring(err)) end
  return ok
end

local function vip_up()
  if conf.vip then lvs.addr.add{dev = conf.dev, addr = conf.vip, label = conf.label} end
end
local function vip_down()
  if conf.vip then lvs.addr.del{dev = conf.dev, addr = conf.vip} end
end
local function rules()
  local plan = lvs.apply(conf.rules)
  log.info(state .. ": " .. #plan .. " change(s) to the IPVS table")
end
local function running(which)
  for _, d in ipairs(lvs.daemons()) do
    if d.state == which then return true end
  end
  return false
end
local function sync(which)
  for _, other in ipairs{"master", "backup"} do
    if other ~= which and running(other) then lvs.stop_daemon(other) end
  end
  if which and conf.sync and not running(which) then
    lvs.start_daemon{state = which, ifname = conf.sync.ifname, syncid = conf.sync.syncid}
  end
end

local function become(new)
  state = new
  log.info("failover: " .. state .. " (config " .. conf_path .. ")")
  if state == "MASTER" then
    -- rules first: the moment the VIP answers, the table must be there
    step("rules applied", rules)
    step("VIP " .. tostring(conf.vip) .. " up on " .. tostring(conf.dev), vip_up)
    step("sync daemon master", sync, "master")
  elseif state == "BACKUP" then
    step("VIP " .. tostring(conf.vip) .. " down", vip_down)
    step("rules applied", rules)
    step("sync daemon backup", sync, "backup")
  else
    step("VIP " .. tostring(conf.vip) .. " down", vip_down)
    step("sync daemons stopped", sync, nil)
  end
end

if not fifo then
  become(state)
  return
end
-- The FIFO: one transition per line, in order. keepalived keeps its end open; when it
-- closes it (a restart), open it again.
log.info("failover: reading transitions from " .. fifo)
while true do
  local f, err = io.open(fifo)
  if not f then log.error("failover: " .. err); os.exit(1) end
  for line in f:lines() do
    local kind, name, new = line:match('^(%u+) "?([^"%s]+)"? (%u+)')
    if kind == "INSTANCE" or kind == "GROUP" then
      if STATES[new] then become(new) else log.info("failover: " .. name .. " " .. new .. ": nothing to do") end
    end
  end
  f:close()
end
