//! The `lvs` service and real-server API against the real kernel, with ipvsadm as the oracle:
//! what lvsh writes, ipvsadm reads back identically, and the reverse.

use crate::support::*;

const CHECK: &str = include_str!("lua/check.lua");

/// One kind of service: the spec as lvsh takes (and returns) it, the ipvsadm commands that
/// make the same, and what `ipvsadm -S -n` prints for it.
struct Case {
    spec: &'static str,
    ipvsadm: &'static [&'static str],
    save: &'static str,
}

const CASES: &[Case] = &[
    Case {
        spec: r#"{proto="tcp", addr="192.0.2.110:80", scheduler="rr", servers={
            {addr="192.0.2.101:80", method="dr", weight=1}, {addr="192.0.2.102:80", method="dr", weight=3}}}"#,
        ipvsadm: &[
            "-A -t 192.0.2.110:80 -s rr",
            "-a -t 192.0.2.110:80 -r 192.0.2.101 -g -w 1",
            "-a -t 192.0.2.110:80 -r 192.0.2.102 -g -w 3",
        ],
        save: "-A -t 192.0.2.110:80 -s rr\n-a -t 192.0.2.110:80 -r 192.0.2.101:80 -g -w 1\n-a -t 192.0.2.110:80 -r 192.0.2.102:80 -g -w 3\n",
    },
    Case {
        spec: r#"{proto="udp", addr="192.0.2.53:53", scheduler="wrr", servers={
            {addr="198.51.100.1:5353", method="nat", weight=5, upper=1000, lower=800},
            {addr="198.51.100.2:5353", method="nat", weight=0, upper=10, lower=0}}}"#,
        ipvsadm: &[
            "-A -u 192.0.2.53:53 -s wrr",
            "-a -u 192.0.2.53:53 -r 198.51.100.1:5353 -m -w 5 -x 1000 -y 800",
            "-a -u 192.0.2.53:53 -r 198.51.100.2:5353 -m -w 0 -x 10 -y 0",
        ],
        save: "-A -u 192.0.2.53:53 -s wrr\n-a -u 192.0.2.53:53 -r 198.51.100.1:5353 -m -w 5\n-a -u 192.0.2.53:53 -r 198.51.100.2:5353 -m -w 0\n",
    },
    Case {
        spec: r#"{proto="sctp", addr="192.0.2.7:3868", scheduler="lc", servers={{addr="192.0.2.8:3868", method="nat", weight=2147483647}}}"#,
        ipvsadm: &[
            "-A --sctp-service 192.0.2.7:3868 -s lc",
            "-a --sctp-service 192.0.2.7:3868 -r 192.0.2.8:3868 -m -w 2147483647",
        ],
        save: "-A --sctp-service 192.0.2.7:3868 -s lc\n-a --sctp-service 192.0.2.7:3868 -r 192.0.2.8:3868 -m -w 2147483647\n",
    },
    Case {
        spec: r#"{fwmark=100, af="inet", scheduler="sh", sched_flags={"sh-fallback","sh-port"}, persistent=300,
            servers={{addr="192.0.2.21:0", method="dr", weight=1}}}"#,
        ipvsadm: &[
            "-A -f 100 -s sh -b sh-fallback,sh-port -p 300",
            "-a -f 100 -r 192.0.2.21 -g -w 1",
        ],
        save: "-A -f 100 -s sh -p 300 -b sh-fallback,sh-port\n-a -f 100 -r 192.0.2.21:0 -g -w 1\n",
    },
    Case {
        spec: r#"{fwmark=7, af="inet6", scheduler="mh", sched_flags={"mh-port"}, netmask=128,
            servers={{addr="[2001:db8::21]:0", method="dr", weight=4}}}"#,
        ipvsadm: &[
            "-A -f 7 -6 -s mh -b mh-port",
            "-a -f 7 -6 -r 2001:db8::21 -g -w 4",
        ],
        save: "-A -f 7 -6 -s mh -b mh-port\n-a -f 7 -6 -r [2001:db8::21]:0 -g -w 4\n",
    },
    Case {
        spec: r#"{proto="tcp", addr="[2001:db8::80]:443", scheduler="wlc", servers={
            {addr="[2001:db8::a]:443", method="dr", weight=1}, {addr="[2001:db8::b]:8443", method="nat", weight=2}}}"#,
        ipvsadm: &[
            "-A -t [2001:db8::80]:443",
            "-a -t [2001:db8::80]:443 -r [2001:db8::a]:443 -g",
            "-a -t [2001:db8::80]:443 -r [2001:db8::b]:8443 -m -w 2",
        ],
        save: "-A -t [2001:db8::80]:443 -s wlc\n-a -t [2001:db8::80]:443 -r [2001:db8::a]:443 -g -w 1\n-a -t [2001:db8::80]:443 -r [2001:db8::b]:8443 -m -w 2\n",
    },
    Case {
        spec: r#"{proto="udp", addr="192.0.2.5:5060", persistent=600, netmask="255.255.255.0", pe="sip", scheduler="wlc"}"#,
        ipvsadm: &["-A -u 192.0.2.5:5060 -p 600 -M 255.255.255.0 --pe sip"],
        save: "-A -u 192.0.2.5:5060 -s wlc -p 600 -M 255.255.255.0 --pe sip\n",
    },
    Case {
        spec: r#"{proto="tcp", addr="[2001:db8::1]:0", persistent=360, netmask=64, scheduler="lblc"}"#,
        ipvsadm: &["-A -t [2001:db8::1]:0 -s lblc -p -M 64"],
        save: "-A -t [2001:db8::1]:0 -s lblc -p 360 -M 64\n",
    },
    Case {
        spec: r#"{proto="udp", addr="192.0.2.9:514", scheduler="rr", ops=true, sched_flags={"flag-1","flag-3"}}"#,
        ipvsadm: &["-A -u 192.0.2.9:514 -s rr -o -b flag-1,flag-3"],
        save: "-A -u 192.0.2.9:514 -s rr -o -b flag-1,flag-3\n",
    },
    Case {
        spec: r#"{proto="tcp", addr="192.0.2.30:80", scheduler="wrr", servers={
            {addr="198.51.100.31:80", method="tun", weight=1, tun_type="ipip"},
            {addr="198.51.100.32:80", method="tun", weight=2, tun_type="gue", tun_port=6080, tun_csum="remcsum"},
            {addr="198.51.100.33:80", method="tun", weight=3, tun_type="gue", tun_port=6081, tun_csum="csum"},
            {addr="198.51.100.34:80", method="tun", weight=4, tun_type="gre", tun_csum="csum"},
            {addr="198.51.100.35:80", method="tun", weight=5, tun_type="gre", tun_csum="nocsum"}}}"#,
        ipvsadm: &[
            "-A -t 192.0.2.30:80 -s wrr",
            "-a -t 192.0.2.30:80 -r 198.51.100.31 -i -w 1",
            "-a -t 192.0.2.30:80 -r 198.51.100.32 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum",
            "-a -t 192.0.2.30:80 -r 198.51.100.33 -i -w 3 --tun-type gue --tun-port 6081 --tun-csum",
            "-a -t 192.0.2.30:80 -r 198.51.100.34 -i -w 4 --tun-type gre --tun-csum",
            "-a -t 192.0.2.30:80 -r 198.51.100.35 -i -w 5 --tun-type gre --tun-nocsum",
        ],
        save: "-A -t 192.0.2.30:80 -s wrr\n\
               -a -t 192.0.2.30:80 -r 198.51.100.31:80 -i -w 1 --tun-type ipip\n\
               -a -t 192.0.2.30:80 -r 198.51.100.32:80 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum\n\
               -a -t 192.0.2.30:80 -r 198.51.100.33:80 -i -w 3 --tun-type gue --tun-port 6081 --tun-csum\n\
               -a -t 192.0.2.30:80 -r 198.51.100.34:80 -i -w 4 --tun-type gre --tun-csum\n\
               -a -t 192.0.2.30:80 -r 198.51.100.35:80 -i -w 5 --tun-type gre --tun-nocsum\n",
    },
    Case {
        spec: r#"{proto="tcp", addr="192.0.2.40:80", scheduler="rr", servers={
            {addr="[2001:db8::40]:80", method="tun", weight=1, tun_type="ipip"}}}"#,
        ipvsadm: &[
            "-A -t 192.0.2.40:80 -s rr",
            "-a -t 192.0.2.40:80 -r [2001:db8::40]:80 -i -w 1",
        ],
        save: "-A -t 192.0.2.40:80 -s rr\n-a -t 192.0.2.40:80 -r [2001:db8::40]:80 -i -w 1 --tun-type ipip\n",
    },
];

fn run_case(case: &'static Case) {
    in_netns(move || {
        // lvsh writes, ipvsadm reads
        lvsh_ok(&format!("lvs.add_service({})", case.spec));
        assert_eq!(
            ipvsadm_settled("-S -n", case.save),
            case.save,
            "lvsh wrote {}",
            case.spec
        );
        let lvsh_listing = ipvsadm("-L -n --thresholds --persistent-conn");
        lvsh_ok("lvs.clear()");
        assert_eq!(ipvsadm("-S -n"), "");
        // ipvsadm writes, lvsh reads
        for cmd in case.ipvsadm {
            ipvsadm(cmd);
        }
        assert_eq!(ipvsadm_settled("-S -n", case.save), case.save);
        let listing = ipvsadm_settled("-L -n --thresholds --persistent-conn", &lvsh_listing);
        assert_eq!(listing, lvsh_listing);
        lvsh_ok(&format!(
            "{CHECK}\nlocal spec = {}\nlocal all = lvs.services()\nassert(#all == 1)\ncheck(spec, find(all, spec))\n\
             check(spec, lvs.get_service(spec))",
            case.spec
        ));
    });
}

#[test]
fn every_kind_of_service_both_ways() {
    let handles: Vec<_> = CASES
        .iter()
        .map(|c| std::thread::spawn(move || run_case(c)))
        .collect();
    for h in handles {
        h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    }
}

#[test]
fn thresholds_show_in_the_listing() {
    in_netns(|| {
        lvsh_ok(r#"lvs.add_service{addr="192.0.2.1:80", servers={{addr="192.0.2.2", upper=100, lower=50}}}"#);
        let out = ipvsadm("-L -n --thresholds");
        assert!(
            out.contains("  -> 192.0.2.2:80                 100        50         0          0"),
            "{out}"
        );
    });
}

#[test]
fn every_scheduler_of_the_kernel() {
    in_netns(|| {
        let scheds = [
            "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
        ];
        for (i, s) in scheds.iter().enumerate() {
            lvsh_ok(&format!(
                r#"lvs.add_service{{addr="192.0.2.{}:80", scheduler="{s}"}}"#,
                i + 1
            ));
            ipvsadm(&format!("-A -t 198.51.100.{}:80 -s {s}", i + 1));
        }
        let save = ipvsadm("-S -n");
        for (i, s) in scheds.iter().enumerate() {
            assert!(
                save.contains(&format!("-A -t 192.0.2.{}:80 -s {s}\n", i + 1)),
                "{save}"
            );
        }
        let out = lvsh_ok(&format!(
            "for i, s in ipairs({{'{}'}}) do assert(lvs.get_service{{addr='198.51.100.'..i..':80'}}.scheduler == s) end print('ok')",
            scheds.join("','")
        ));
        assert_eq!(out, "ok\n");
    });
}

#[test]
fn edits_both_ways() {
    in_netns(|| {
        lvsh_ok(
            r#"local s = lvs.add_service{addr="192.0.2.1:80", scheduler="rr", servers={{addr="192.0.2.2", weight=1}}}
                   s:edit{scheduler="sh", sched_flags={"sh-port"}, persistent=120}
                   s:edit_server{addr="192.0.2.2", weight=7, method="nat", upper=9}"#,
        );
        assert_eq!(
            ipvsadm("-S -n"),
            "-A -t 192.0.2.1:80 -s sh -p 120 -b sh-port\n-a -t 192.0.2.1:80 -r 192.0.2.2:80 -m -w 7\n"
        );
        assert!(ipvsadm("-L -n --thresholds").contains("192.0.2.2:80                 9          0"));
        // an edit changes only what it names
        lvsh_ok(
            r#"lvs.edit_service{addr="192.0.2.1:80", persistent=false}
                   lvs.edit_server({addr="192.0.2.1:80"}, {addr="192.0.2.2", weight=8})"#,
        );
        assert_eq!(
            ipvsadm("-S -n"),
            "-A -t 192.0.2.1:80 -s sh -b sh-port\n-a -t 192.0.2.1:80 -r 192.0.2.2:80 -m -w 8\n"
        );
        // ipvsadm edits, lvsh reads
        ipvsadm("-E -t 192.0.2.1:80 -s wrr -p 60");
        ipvsadm("-e -t 192.0.2.1:80 -r 192.0.2.2 -i -w 3 -x 5 -y 2");
        lvsh_ok(&format!(
            r#"{CHECK}
               check({{addr="192.0.2.1:80", scheduler="wrr", persistent=60, sched_flags={{}},
                      servers={{{{addr="192.0.2.2:80", method="tun", weight=3, upper=5, lower=2}}}}}},
                     lvs.get_service{{addr="192.0.2.1:80"}})"#
        ));
    });
}

#[test]
fn deletes_both_ways() {
    in_netns(|| {
        lvsh_ok(
            r#"local s = lvs.add_service{addr="192.0.2.1:80", servers={"192.0.2.2", "192.0.2.3"}}
                   lvs.add_service{fwmark=3}"#,
        );
        ipvsadm("-d -t 192.0.2.1:80 -r 192.0.2.2");
        ipvsadm("-D -f 3");
        let out = lvsh_ok(
            r#"local s = lvs.get_service{addr="192.0.2.1:80"}
                             print(#s.servers, s.servers[1].addr, lvs.get_service{fwmark=3})
                             s:del_server("192.0.2.3")
                             print(#s:servers())
                             s:delete()
                             print(lvs.get_service{addr="192.0.2.1:80"}, #lvs.services())"#,
        );
        assert_eq!(out, "1\t192.0.2.3:80\tnil\n0\nnil\t0\n");
        assert_eq!(ipvsadm("-S -n"), "");
    });
}

#[test]
fn objects_are_data_with_methods() {
    in_netns(|| {
        let out = lvsh_ok(
            r#"local s = lvs.add_service{addr="192.0.2.1:80", scheduler="rr"}
               s:add_server{addr="192.0.2.2", weight=2}
               s:refresh()
               print(s.proto, s.addr, s.ip, s.port, s.af, s.scheduler, s.persistent, s.netmask, s.ops, #s.sched_flags)
               local r = s.servers[1]
               print(r.addr, r.ip, r.port, r.method, r.weight, r.upper, r.lower, r.active, r.inactive, r.persist)
               print(math.type(s.stats.conns), math.type(s.rate.cps), math.type(r.stats.inbytes))
               print(s == lvs.get_service(s), s == lvs.services()[1])
               s:zero()
               print(lvs.info().version, lvs.info().conn_tab_size)
               local t = lvs.timeouts() print(t.tcp, t.tcpfin, t.udp)
               lvs.set_timeouts{tcp=1000, udp=200}
               t = lvs.timeouts() print(t.tcp, t.tcpfin, t.udp)"#,
        );
        assert_eq!(
            out,
            "tcp\t192.0.2.1:80\t192.0.2.1\t80\tinet\trr\tfalse\t255.255.255.255\tfalse\t0\n\
             192.0.2.2:80\t192.0.2.2\t80\tdr\t2\t0\t0\t0\t0\t0\n\
             integer\tinteger\tinteger\n\
             true\ttrue\n\
             1.2.1\t4096\n\
             900\t120\t300\n\
             1000\t120\t200\n"
        );
        assert_eq!(
            ipvsadm("-L --timeout"),
            "Timeout (tcp tcpfin udp): 1000 120 200\n"
        );
    });
}

#[test]
fn sync_daemons() {
    in_netns(|| {
        lvsh_ok(
            r#"lvs.start_daemon{state="master", ifname="lo", syncid=9}
                   lvs.start_daemon{state="backup", ifname="lo", syncid=9, group="239.1.1.1", port=8900, ttl=3}"#,
        );
        let out = ipvsadm("-L --daemon");
        assert!(
            out.starts_with(
                "master sync daemon (mcast=lo, syncid=9, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("backup sync daemon (mcast=lo, syncid=9, maxlen="),
            "{out}"
        );
        assert!(out.contains("group=239.1.1.1, port=8900, ttl=3)"), "{out}");
        let out = lvsh_ok(
            r#"for _, d in ipairs(lvs.daemons()) do print(d.state, d.ifname, d.syncid, d.group, d.port, d.ttl) end
                             lvs.stop_daemon("backup") print(#lvs.daemons())"#,
        );
        assert_eq!(
            out,
            "master\tlo\t9\t224.0.0.81\t8848\t1\nbackup\tlo\t9\t239.1.1.1\t8900\t3\n1\n"
        );
        ipvsadm("--stop-daemon master");
        ipvsadm("--start-daemon backup --mcast-interface lo --syncid 4");
        assert_eq!(
            lvsh_ok("local d = lvs.daemons() print(#d, d[1].state, d[1].syncid)"),
            "1\tbackup\t4\n"
        );
    });
}
