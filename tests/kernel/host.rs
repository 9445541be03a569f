//! Host setup from Lua: sysctls, addresses and links against what `ip` and /proc/sys show,
//! role helpers that leave a namespace as they found it, namespaces, and the DR lab.

use crate::support::*;

fn lvsh_err(chunk: &str) -> String {
    let (code, _, err) = lvsh(chunk);
    assert_eq!(code, 1, "lvsh -e {chunk:?} should fail; stderr: {err}");
    err.lines().next().unwrap_or_default().to_string()
}

#[test]
fn sysctls_both_ways() {
    in_netns(|| {
        let out = lvsh_ok(
            r#"print(lvs.sysctl.get("net.ipv4.conf.all.arp_ignore"), math.type(lvs.sysctl.get("net.ipv4.conf.all.arp_ignore")))
               lvs.sysctl.set("net.ipv4.conf.all.arp_ignore", 1)
               lvs.sysctl.set("/proc/sys/net/ipv4/conf/lo/arp_announce", "2")
               print(lvs.sysctl.vs().conntrack, lvs.sysctl.vs().expire_nodest_conn)"#,
        );
        assert_eq!(out, "0\tinteger\n0\t0\n");
        assert_eq!(
            std::fs::read_to_string("/proc/thread-self/net/../../sys/net/ipv4/conf/all/arp_ignore")
                .unwrap_or_default()
                .trim(),
            ""
        );
        assert_eq!(sh("sysctl -n net.ipv4.conf.all.arp_ignore").trim(), "1");
        assert_eq!(sh("sysctl -n net.ipv4.conf.lo.arp_announce").trim(), "2");
        sh("sysctl -qw net.ipv4.ip_forward=1");
        assert_eq!(lvsh_ok("print(lvs.sysctl.get('net.ipv4.ip_forward'))"), "1\n");
    });
}

#[test]
fn addresses_both_ways() {
    in_netns(|| {
        sh("ip link add eth0 type dummy && ip link set eth0 up");
        let out = lvsh_ok(
            r#"print(lvs.addr.add{dev="eth0", addr="192.0.2.100/24"})
               print(lvs.addr.add{dev="eth0", addr="192.0.2.110/24", label="eth0:1"})
               print(lvs.addr.add{dev="eth0", addr="192.0.2.110/24", label="eth0:1"})
               print(lvs.addr.add{dev="eth0", addr="2001:db8::110/64"})
               print(lvs.addr.del{dev="eth0", addr="192.0.2.99/24"})"#,
        );
        assert_eq!(
            out,
            "true\tadded 192.0.2.100/24 to eth0\n\
             true\tadded 192.0.2.110/24 to eth0:1\n\
             false\t192.0.2.110/24 is already on eth0\n\
             true\tadded 2001:db8::110/64 to eth0\n\
             false\t192.0.2.99/24 was not on eth0\n"
        );
        let ip = sh("ip -o addr show dev eth0");
        assert!(
            ip.contains("inet 192.0.2.110/24 scope global secondary eth0:1"),
            "{ip}"
        );
        assert!(ip.contains("inet6 2001:db8::110/64 scope global"), "{ip}");
        sh("ip addr add 198.51.100.7/24 dev eth0 label eth0:7");
        let out = lvsh_ok(
            r#"local rows = {}
               for _, a in ipairs(lvs.addr.list("eth0")) do
                 if a.family == "inet" then rows[#rows + 1] = table.concat({a.dev, a.addr, a.prefix, a.label, a.scope}, "\t") end
               end
               table.sort(rows) print(table.concat(rows, "\n"))
               print(lvs.addr.del{dev="eth0", addr="192.0.2.110/24"})"#,
        );
        assert_eq!(
            out,
            "eth0\t192.0.2.100\t24\teth0\tglobal\n\
             eth0\t192.0.2.110\t24\teth0:1\tglobal\n\
             eth0\t198.51.100.7\t24\teth0:7\tglobal\n\
             true\tdeleted 192.0.2.110/24 from eth0\n"
        );
        assert!(!sh("ip -o addr show dev eth0").contains("192.0.2.110"));
    });
}

#[test]
fn links() {
    in_netns(|| {
        sh("ip link add d1 type dummy");
        let out = lvsh_ok(
            r#"local function find(n) for _, l in ipairs(lvs.link.list()) do if l.name == n then return l end end end
               print(find("d1").up, lvs.link.up("d1"), lvs.link.up("d1"), find("d1").up, find("lo").up)
               print(lvs.link.add_ipip{name="tun1", remote="203.0.113.9"}, lvs.link.add_ipip{name="tun1"}, find("tun1").kind)
               print(lvs.link.del("tun1"), lvs.link.del("tun1"))"#,
        );
        assert_eq!(
            out,
            "false\ttrue\tfalse\ttrue\ttrue\ntrue\tfalse\tipip\ntrue\tfalse\n"
        );
    });
}

/// What a role helper may touch: addresses and the ARP, rp_filter and forwarding sysctls.
fn snapshot() -> String {
    let mut s = sh("ip -o addr");
    for name in [
        "net.ipv4.conf.all.arp_ignore",
        "net.ipv4.conf.all.arp_announce",
        "net.ipv4.conf.eth0.arp_ignore",
        "net.ipv4.conf.eth0.arp_announce",
        "net.ipv4.conf.all.rp_filter",
        "net.ipv4.conf.tunl0.rp_filter",
        "net.ipv4.ip_forward",
    ] {
        s += &format!("{name}={}", sh(&format!("sysctl -n {name} 2>/dev/null || true")));
    }
    // a device that has once been up keeps its queueing discipline (noqueue for noop) when
    // taken down again: kernel bookkeeping, not configuration, so it is left out
    s + &sh("ip -o link show tunl0 2>/dev/null || true").replace("qdisc noqueue", "qdisc noop")
}

#[test]
fn role_helpers_are_idempotent_and_undo_exactly() {
    in_netns(|| {
        sh("ip link add eth0 type dummy && ip link set eth0 up && ip addr add 192.0.2.100/24 dev eth0");
        sh("sysctl -qw net.ipv4.conf.all.arp_announce=1");
        let before = snapshot();
        let out = lvsh_ok(
            r#"local c = lvs.realserver{vip="192.0.2.110", label="lo:2", arp_devs={"all", "eth0"}}
               print(#c) print(#lvs.realserver{vip="192.0.2.110", label="lo:2", arp_devs={"all", "eth0"}})"#,
        );
        assert_eq!(
            out, "5\n0\n",
            "four sysctls (one was set already... and the VIP), then nothing"
        );
        let ip = sh("ip -o addr show dev lo");
        assert!(ip.contains("inet 192.0.2.110/32 scope global lo:2"), "{ip}");
        assert_eq!(sh("sysctl -n net.ipv4.conf.eth0.arp_ignore").trim(), "1");
        assert_eq!(sh("sysctl -n net.ipv4.conf.all.arp_announce").trim(), "2");
        lvsh_ok(r#"lvs.realserver{vip="192.0.2.110", label="lo:2", arp_devs={"all", "eth0"}, down=true}"#);
        assert_same_text(&snapshot(), &before, "after realserver down");
        // a TUN real server and the directors
        lvsh_ok(r#"lvs.realserver{vip="192.0.2.111", method="tun"}"#);
        assert_eq!(sh("sysctl -n net.ipv4.conf.tunl0.rp_filter").trim(), "0");
        assert!(sh("ip -o addr show dev tunl0").contains("192.0.2.111/32"));
        lvsh_ok(r#"lvs.realserver{vip="192.0.2.111", method="tun", down=true}"#);
        lvsh_ok(
            r#"lvs.director{vip="192.0.2.110/24", dev="eth0", label="eth0:1", method="nat"}
                   lvs.director{vip="192.0.2.110/24", dev="eth0", label="eth0:1", method="nat"}"#,
        );
        assert!(sh("ip -o addr show dev eth0").contains("192.0.2.110/24 scope global secondary eth0:1"));
        assert_eq!(sh("sysctl -n net.ipv4.ip_forward").trim(), "1");
        lvsh_ok(r#"lvs.director{vip="192.0.2.110/24", dev="eth0", down=true}"#);
        assert_same_text(&snapshot(), &before, "after every helper is down");
    });
}

/// The role helpers' state files of this thread's namespace.
fn state_files() -> Vec<String> {
    let ns: String = std::fs::read_link("/proc/thread-self/ns/net")
        .unwrap()
        .to_string_lossy()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let mut v: Vec<String> = std::fs::read_dir("/run/lvsh")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(&format!("-{ns}-")))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A bad argument is found before anything changes (no sysctl set, no state file), and the
/// message names the caller's field; a step that fails later undoes the ones before it.
#[test]
fn role_helpers_check_before_they_change_anything() {
    in_netns(|| {
        sh("ip link add eth0 type dummy && ip link set eth0 up");
        let before = snapshot();
        let cases: &[(&str, &str)] = &[
            (
                r#"lvs.realserver{vip="zz:zz"}"#,
                "bad vip \"zz:zz\": not an address such as 192.0.2.110",
            ),
            (
                r#"lvs.realserver{vip="192.0.2.110/99"}"#,
                "bad vip \"192.0.2.110/99\": the prefix must be 0 to 32",
            ),
            (
                r#"lvs.realserver{vip="192.0.2.110", dev="nosuchdev"}"#,
                "bad dev \"nosuchdev\": no such device",
            ),
            (
                r#"lvs.realserver{vip="192.0.2.110", method="tun", dev="nosuchdev"}"#,
                "bad dev \"nosuchdev\": no such device",
            ),
            (
                r#"lvs.realserver{vip="192.0.2.110", label="eth0:2"}"#,
                "bad label \"eth0:2\": must be lo or start with 'lo:'",
            ),
            (
                r#"lvs.realserver{vip="192.0.2.110", arp_devs={"all", "eth9"}}"#,
                "bad arp_devs \"eth9\": no such device",
            ),
            (r#"lvs.realserver{vip=110}"#, "bad vip 110: must be a string"),
            (
                r#"lvs.director{vip="2001:db8::1/129", dev="eth0", method="nat"}"#,
                "bad vip \"2001:db8::1/129\": the prefix must be 0 to 128",
            ),
            (
                r#"lvs.director{vip="192.0.2.110/24", dev="nosuchdev", method="nat"}"#,
                "bad dev \"nosuchdev\": no such device",
            ),
        ];
        for (chunk, want) in cases {
            let msg = lvsh_err(chunk);
            assert!(msg.contains(want), "{chunk}:\n  got  {msg}\n  want {want}");
            assert!(msg.starts_with("lvsh: (command line):1: "), "{chunk}: {msg}");
            assert!(!msg.contains("bad addr"), "{chunk}: {msg}");
            assert_same_text(&snapshot(), &before, chunk);
            assert_eq!(state_files(), Vec::<String>::new(), "{chunk}");
        }
        // the address cannot be added (IPv6 is off on lo) after the ARP sysctls were set:
        // they are put back and no state is left
        sh("sysctl -qw net.ipv6.conf.lo.disable_ipv6=1");
        {
            let before = snapshot();
            let msg = lvsh_err(r#"lvs.realserver{vip="2001:db8::110", arp_devs={"all", "eth0"}}"#);
            assert!(msg.contains("2001:db8::110"), "{msg}");
            assert_same_text(&snapshot(), &before, "after a failed realserver");
            assert_eq!(state_files(), Vec::<String>::new());
        }
        // and a good call still works, and is undone
        let before = snapshot();
        lvsh_ok(r#"lvs.realserver{vip="192.0.2.110", arp_devs={"all", "eth0"}}"#);
        assert_eq!(state_files().len(), 1);
        lvsh_ok(r#"lvs.realserver{vip="192.0.2.110", arp_devs={"all", "eth0"}, down=true}"#);
        assert_eq!(state_files(), Vec::<String>::new());
        assert_same_text(&snapshot(), &before, "after realserver down");
    });
}

#[test]
fn host_errors_are_clear() {
    in_netns(|| {
        let cases: &[(&str, &str)] = &[
            (
                r#"lvs.addr.add{dev="nosuch0", addr="192.0.2.1/24"}"#,
                "no such device 'nosuch0'",
            ),
            (
                r#"lvs.addr.add{dev="lo", addr="192.0.2.300/24"}"#,
                "bad addr \"192.0.2.300/24\": not an address such as 192.0.2.110/24",
            ),
            (
                r#"lvs.addr.add{dev="lo", addr="192.0.2.1/24", label="eth9:1"}"#,
                "label 'eth9:1' must be the device name or start with 'lo:'",
            ),
            (r#"lvs.link.up("nosuch0")"#, "no such device 'nosuch0'"),
            (
                r#"lvs.sysctl.get("net.ipv4.no_such_thing")"#,
                "no such sysctl: net.ipv4.no_such_thing",
            ),
            (
                r#"lvs.sysctl.set("net.ipv4.conf.all.arp_ignore", "lots")"#,
                "sysctl net.ipv4.conf.all.arp_ignore: cannot set \"lots\": the kernel refused the value",
            ),
            (
                r#"lvs.realserver{vip="not-an-ip"}"#,
                "bad vip \"not-an-ip\": not an address such as 192.0.2.110",
            ),
            (
                r#"lvs.director{vip="192.0.2.1/24"}"#,
                "dev: the director's interface is required",
            ),
            (
                r#"lvs.director{vip="192.0.2.1/24", dev="nosuch0"}"#,
                "bad dev \"nosuch0\": no such device",
            ),
            (
                r#"lvs.netns("no-such-ns")"#,
                "no such network namespace 'no-such-ns'",
            ),
        ];
        for (chunk, want) in cases {
            let msg = lvsh_err(chunk);
            assert!(msg.contains(want), "{chunk}:\n  got  {msg}\n  want {want}");
        }
        let out = lvsh_unprivileged(r#"lvs.addr.add{dev="lo", addr="192.0.2.1/32"}"#);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("permission denied (run as root)"), "{err}");
    });
}

#[test]
fn namespaces_switch_and_come_back() {
    in_netns(|| {
        let name = format!("nst{}", std::process::id());
        sh(&format!("ip netns add {name}"));
        let out = lvsh_ok(&format!(
            r#"lvs.add_service{{addr="192.0.2.1:80"}}
               lvs.with_netns("{name}", function()
                 lvs.link.up("lo")
                 lvs.add_service{{addr="192.0.2.2:80"}}
                 print(#lvs.services(), lvs.services()[1].addr)
               end)
               print(#lvs.services(), lvs.services()[1].addr)
               lvs.netns("{name}") print(lvs.services()[1].addr)
               lvs.netns() print(lvs.services()[1].addr)"#
        ));
        sh(&format!("ip netns del {name}"));
        assert_eq!(
            out,
            "1\t192.0.2.2:80\n1\t192.0.2.1:80\n192.0.2.2:80\n192.0.2.1:80\n"
        );
    });
}

#[test]
fn the_dr_lab_splits_as_the_scheduler_promises() {
    in_netns(|| {
        let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/lab.lua");
        let out = run(env!("CARGO_BIN_EXE_lvsh"), &[lab, "wrr"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("client: 30 answers from 192.0.2.101, 10 from 192.0.2.102"),
            "{text}"
        );
        assert!(text.contains("lab: done"), "{text}");
    });
}
