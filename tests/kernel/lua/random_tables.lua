-- Test helper: random service tables from small pools (so that current and desired overlap),
-- as lvs.apply specs and as the ipvsadm rules that make the same table.
local function pick(t) return t[math.random(#t)] end

function random_table(seed)
  math.randomseed(seed)
  local list, rules = {}, {}
  local used = {}
  for _ = 1, math.random(0, 5) do
    local vip = "192.0.2." .. math.random(1, 6) .. ":80"
    if not used[vip] then
      used[vip] = true
      local sched = pick{"rr", "wrr", "sh", "wlc"}
      local persistent = pick{false, false, 60, 300}
      local svc = {addr = vip, scheduler = sched, persistent = persistent, servers = {}}
      local line = "-A -t " .. vip .. " -s " .. sched .. (persistent and (" -p " .. persistent) or "")
      rules[#rules + 1] = line
      local rs_used = {}
      for _ = 1, math.random(0, 4) do
        local host = "198.51.100." .. math.random(1, 5)
        if not rs_used[host] then
          rs_used[host] = true
          local method = pick{"dr", "nat", "tun"}
          local weight = math.random(0, 5)
          local upper = pick{0, 0, 100}
          local lower = upper > 0 and pick{0, 50} or 0
          svc.servers[#svc.servers + 1] = {addr = host, method = method, weight = weight, upper = upper, lower = lower}
          local sw = ({dr = "-g", nat = "-m", tun = "-i"})[method]
          rules[#rules + 1] = string.format("-a -t %s -r %s %s -w %d -x %d -y %d", vip, host, sw, weight, upper, lower)
        end
      end
      list[#list + 1] = svc
    end
  end
  return list, table.concat(rules, "\n") .. "\n"
end
