//! Large tables read back complete: 10,000 services with 50,000 real servers.

use crate::support::*;

#[test]
fn serial_ten_thousand_services_fifty_thousand_servers_read_back() {
    in_netns(|| {
        // made by ipvsadm -R, the independent writer
        let mut rules = String::new();
        for i in 0..10_000u32 {
            let (ip, port) = (format!("192.0.2.{}", 1 + i / 40), 1000 + i % 40);
            rules.push_str(&format!("-A -t {ip}:{port} -s wrr\n"));
            for r in 1..=5u32 {
                rules.push_str(&format!(
                    "-a -t {ip}:{port} -r 203.0.113.{r}:{port} -m -w {}\n",
                    (i + r) % 7
                ));
            }
        }
        ipvsadm_restore(&rules);
        let out = lvsh_ok(
            r#"local all = lvs.services()
               local seen, servers, bad = {}, 0, 0
               for _, s in ipairs(all) do
                 local i = (tonumber(s.ip:match("%d+$")) - 1) * 40 + (s.port - 1000)
                 if seen[i] or s.scheduler ~= "wrr" or #s.servers ~= 5 then bad = bad + 1 end
                 seen[i] = true
                 for _, r in ipairs(s.servers) do
                   servers = servers + 1
                   local n = tonumber(r.ip:match("%d+$"))
                   if r.port ~= s.port or r.method ~= "nat" or r.weight ~= (i + n) % 7 then bad = bad + 1 end
                 end
               end
               print(#all, servers, bad)"#,
        );
        assert_eq!(out, "10000\t50000\t0\n");
    });
}
