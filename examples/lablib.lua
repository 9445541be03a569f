-- Scaffolding shared by the labs: namespaces wired to bridges, web servers, a client, and
-- clean-up. (Plain ip commands: this is the lab's wiring, not LVS; the LVS steps are in the
-- labs themselves.) Used as: local lab = require("lablib").new()
local M = {}
local Lab = {}
Lab.__index = Lab

-- This process's id: two labs started in the same second (tests run them side by side) must
-- not draw the same names.
local function pid()
  local f = io.open("/proc/self/stat")
  local n = f and tonumber(f:read("a"):match("^(%d+)"))
  if f then f:close() end
  return n or 0
end

function M.new()
  math.randomseed(os.time() + math.floor(os.clock() * 1e6) + pid())
  local self = setmetatable({tag = string.format("%x%02x", pid(), math.random(0, 0xff)), names = {}, switches = {}}, Lab)
  self.dir = "/tmp/lvsh-lab-" .. self.tag
  return self
end

function Lab:sh(cmd)
  if not os.execute(cmd) then error("failed: " .. cmd, 2) end
end

function Lab:read(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

-- The namespace of a role ("client", "director", "rs1", ...), created on first use.
function Lab:ns(role)
  if not self.names[role] then
    self.names[role] = role .. self.tag
    self:sh("ip netns add " .. self.names[role])
    self:sh("ip -n " .. self.names[role] .. " link set lo up")
  end
  return self.names[role]
end

-- Connects `role` to the bridge `switch` with a device `dev` holding `addr` (a /24).
function Lab:plug(role, dev, addr, switch)
  switch = switch or "lan"
  local sw = self:ns("sw-" .. switch)
  if not self.switches[switch] then
    self.switches[switch] = true
    self:sh("ip -n " .. sw .. " link add br0 type bridge && ip -n " .. sw .. " link set br0 up")
  end
  local port = "p" .. #self:read("ip -n " .. sw .. " -o link"):gsub("[^\n]", "")
  self:sh(string.format("ip link add %s netns %s type veth peer name %s netns %s", dev, self:ns(role), port, sw))
  self:sh(string.format("ip -n %s link set %s master br0 && ip -n %s link set %s up", sw, port, sw, port))
  self:sh(string.format("ip -n %s addr add %s/24 dev %s && ip -n %s link set %s up", self:ns(role), addr, dev, self:ns(role), dev))
end

-- A web server in `role` whose page says "from <addr>".
function Lab:web(role, addr)
  local root = self.dir .. "/" .. role
  self:sh("mkdir -p " .. root)
  local f = assert(io.open(root .. "/index.html", "w"))
  f:write("from " .. addr .. "\n")
  f:close()
  self:sh(string.format("ip netns exec %s busybox httpd -p 80 -h %s", self:ns(role), root))
end

-- Fetches http://vip/ n times from the client; returns the answers, a count per answer, and
-- the client port each fetch used.
function Lab:fetch(vip, n, show)
  local answers, count, ports = {}, {}, {}
  for i = 1, n do
    local out = self:read(string.format("ip netns exec %s curl -s --max-time 5 -w '\\n%%{local_port}' http://%s/",
      self:ns("client"), vip))
    local body, port = out:match("^(.-)%s*\n(%d+)$")
    answers[i], ports[i] = body or out, tonumber(port)
    count[answers[i]] = (count[answers[i]] or 0) + 1
    if show then print("client: " .. answers[i]) end
  end
  return answers, count, ports
end

function Lab:cleanup()
  for _, n in pairs(self.names) do
    os.execute("ip netns pids " .. n .. " 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del " .. n .. " 2>/dev/null")
  end
  os.execute("rm -rf " .. self.dir)
end

-- Runs `body(lab)`, then cleans up; errors are raised after the clean-up.
function M.run(body)
  local lab = M.new()
  local ok, err = pcall(body, lab)
  lab:cleanup()
  if not ok then error(err, 0) end
end

return M
