-- Methods of the service objects that lvs.add_service, lvs.get_service and lvs.services
-- return. The objects are plain tables of data; these methods call the lvs functions.
local lvs = ...

local Service = { __name = "lvs.Service" }
Service.__index = Service

-- The key fields, which name the service in every call.
local function key(self)
  return { proto = self.proto, addr = self.addr, fwmark = self.fwmark, af = self.af }
end

local function replace(self, fresh)
  for k in pairs(self) do self[k] = nil end
  for k, v in pairs(fresh) do self[k] = v end
  return self
end

function Service:add_server(rs) return lvs.add_server(key(self), rs) end
function Service:edit_server(rs) return lvs.edit_server(key(self), rs) end
function Service:del_server(addr) return lvs.del_server(key(self), addr) end
function Service:delete() return lvs.del_service(key(self)) end
function Service:zero() return lvs.zero(key(self)) end
function Service:mh_table() return lvs.mh_table(key(self)) end
function Service:mh_server(client) return lvs.mh_server(key(self), client) end

function Service:edit(fields)
  local spec = key(self)
  for k, v in pairs(fields or {}) do spec[k] = v end
  return replace(self, lvs.edit_service(spec))
end

function Service:refresh()
  local fresh = lvs.get_service(key(self))
  if not fresh then
    error("no such service: " .. (self.addr and (self.proto or "tcp"):upper() .. " " .. self.addr
      or ("FWM " .. tostring(self.fwmark))), 2)
  end
  return replace(self, fresh)
end

-- Two services are equal when their configuration is: counters and rates do not count.
local volatile = { stats = true, rate = true, active = true, inactive = true, persist = true }
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not volatile[k] and not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if not volatile[k] and a[k] == nil then return false end
  end
  return true
end
Service.__eq = same

-- `servers` is both the field holding the real servers read with the service and, called
-- as svc:servers(), a fresh read of them from the kernel.
local ServerList = { __name = "lvs.ServerList" }
function ServerList.__call(_, self)
  local fresh = lvs.get_service(key(self))
  return fresh and fresh.servers or setmetatable({}, ServerList)
end

return { Service = Service, ServerList = ServerList }
