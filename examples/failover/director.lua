-- The director config that examples/failover.lua reads (its first .lua argument).
-- Both directors of the pair use the same file; keepalived decides which is master.
return {
  vip = "192.0.2.100/24",      -- same prefix as keepalived's virtual_ipaddress, if it has one
  dev = "eth0",
  label = "eth0:vip",
  sync = {ifname = "eth0", syncid = 51},
  log = "/var/log/lvsh-failover.log",
  rules = {
    {addr = "192.0.2.100:7000", scheduler = "rr", servers = {
      {addr = "192.0.2.20", method = "dr", weight = 1},
    }},
  },
}
