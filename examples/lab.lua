#!/usr/bin/env lvsh
-- The LVS-DR service of the classic lab: a virtual service with two real servers, rr,
-- direct routing, weight 1 each (ipvsadm -A -t VIP:80 -s rr; ipvsadm -a ... -g -w 1).
-- The textbook uses 192.168.1.0/24; lvsh's examples use the documentation range
-- 192.0.2.0/24 instead. (The full lab with namespaces and HTTP servers comes with the
-- director/real-server helpers.)
local VIP = "192.0.2.110"

lvs.clear()
local svc = lvs.add_service{addr = VIP .. ":80", scheduler = "rr"}
svc:add_server{addr = "192.0.2.101", method = "dr", weight = 1}
svc:add_server{addr = "192.0.2.102", method = "dr", weight = 1}

local function show()
  for _, s in ipairs(lvs.services()) do
    print(string.format("%s %s %s", s.proto:upper(), s.addr or ("FWM " .. s.fwmark), s.scheduler))
    for _, r in ipairs(s.servers) do
      print(string.format("  -> %-22s %-4s weight %d  active %d  inactive %d",
        r.addr, r.method, r.weight, r.active, r.inactive))
    end
  end
end

show()
