//! Anycast: the lab (examples/lab-anycast.lua) with BIRD 2 on a router and three directors,
//! its failures and returns asserted by the lab itself and its figures checked here; and
//! lvs.anycast's device, addresses and include file on their own.

use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn serial_anycast_lab_spreads_flows_and_keeps_them_through_each_failure() {
    require_sandbox();
    let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/lab-anycast.lua");
    let out = run(env!("CARGO_BIN_EXE_lvsh"), &[lab]);
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    // scripts/test prints the lab's figures after the kernel tests
    let _ = std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/anycast-lab.txt"),
        text.as_bytes(),
    );
    assert!(
        out.status.success(),
        "the lab failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spread = text.lines().find(|l| l.starts_with("spread:")).unwrap();
    let fp = text.lines().find(|l| l.starts_with("mh fingerprints:")).unwrap();
    let prints: Vec<&str> = fp
        .split(", ")
        .map(|p| {
            p.split_whitespace()
                .nth(if p.starts_with("mh") { 3 } else { 1 })
                .unwrap()
        })
        .collect();
    assert!(prints.windows(2).all(|w| w[0] == w[1]), "{fp}");
    assert!(spread.contains("of 300 new connections"), "{spread}");
    let survived: Vec<(u32, u32)> = text
        .lines()
        .filter_map(|l| l.split("connections survived: ").nth(1))
        .map(|s| {
            let (a, b) = s.split_once(' ').unwrap().0.split_once('/').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    // four failures, each followed by the director's return
    assert_eq!(survived.len(), 8, "{text}");
    for (ok, n) in survived {
        assert!(
            n >= 30 && f64::from(ok) >= 0.95 * f64::from(n),
            "{ok}/{n}:\n{text}"
        );
    }
    for what in ["kill -9", "SIGTERM", "quorum lost", "loop stalled"] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("benchmark: {what}"))),
            "{what}:\n{text}"
        );
    }
}

fn addrs(dev: &str) -> String {
    run("ip", &["-o", "addr", "show", "dev", dev])
        .stdout
        .iter()
        .map(|b| *b as char)
        .collect()
}

fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_vip_is_on_the_device_while_the_quorum_holds_and_the_device_dies_with_lvsh() {
    in_netns(|| {
        sh("ip addr add 192.0.2.21/32 dev lo");
        let listener = std::net::TcpListener::bind("192.0.2.21:7").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let include = dir.path().join("anycast.conf");
        let logfile = dir.path().join("log");
        let script = format!(
            "lvs.log.file({logfile:?})
             lvs.apply{{{{addr = '198.51.100.10:7', scheduler = 'rr', servers = {{{{addr = '192.0.2.21:7', method = 'dr'}}}}}}}}
             local m = lvs.monitor{{service = {{addr = '198.51.100.10:7'}}, check = lvs.check.tcp{{timeout = 0.3}}, interval = 0.3, rise = 1, fall = 1, quorum = 1}}
             local any = lvs.anycast{{vips = {{'198.51.100.10', '2001:db8::10'}}, monitors = {{m}}, dev = 'any-t0', hang = 1,
                                      bird = {{include = {include:?}}}}}
             lvs.every(0.2, function() local s = any:status() io.write(s.announced and 'UP' or 'DOWN ' .. tostring(s.reason), '\\n') io.flush() end)
             print('READY') io.flush()
             lvs.run()"
        );
        let bg = Background::start_env(&["-e", &script], &[], "READY");
        wait_until(Duration::from_secs(10), "the VIPs on any-t0", || {
            let a = addrs("any-t0");
            a.contains("198.51.100.10/32") && a.contains("2001:db8::10/128")
        });
        // the include names the device and the export filter, and warns of rr (not mh)
        let conf = std::fs::read_to_string(&include).unwrap();
        assert!(
            conf.contains("interface \"any-t0\";") && conf.contains("filter lvsh_anycast_export"),
            "{conf}"
        );
        // the real server goes: quorum lost, the addresses go, the device stays
        drop(listener);
        wait_until(Duration::from_secs(10), "the VIPs withdrawn", || {
            !addrs("any-t0").contains("198.51.100.10")
        });
        assert!(run("ip", &["link", "show", "any-t0"]).status.success());
        // back
        let _listener = std::net::TcpListener::bind("192.0.2.21:7").unwrap();
        wait_until(Duration::from_secs(10), "the VIPs back", || {
            addrs("any-t0").contains("198.51.100.10/32")
        });
        // kill -9: the device goes with the process, no clean-up needed
        let pid = bg.pid();
        sh(&format!("kill -9 {pid}"));
        wait_until(Duration::from_secs(5), "any-t0 gone", || {
            !run("ip", &["link", "show", "any-t0"]).status.success()
        });
        drop(bg);
        let log = std::fs::read_to_string(&logfile).unwrap();
        assert!(
            log.contains("anycast: withdrawing 198.51.100.10, 2001:db8::10: ")
                && log.contains("lost its quorum"),
            "{log}"
        );
        assert!(log.contains("scheduled by rr"), "{log}");
    });
}

#[test]
fn bad_anycast_arguments_name_the_field() {
    in_netns(|| {
        for (spec, want) in [
            ("{vips = {'nope'}}", "vips: \"nope\" is not an IP address"),
            ("{vips = {}}", "vips"),
            ("{vips = {'192.0.2.1'}, dev = 'a/b'}", "not an interface name"),
            ("{vips = {'192.0.2.1'}, hang = 0.01}", "hang"),
            ("{vips = {'192.0.2.1'}, grade = {below = 2}}", "grade.below"),
            (
                "{vips = {'192.0.2.1'}, bird = {include = '/tmp/x', protocol = 'a b'}}",
                "bird.protocol",
            ),
            ("{vips = {'192.0.2.1'}, bird = {}}", "bird.include"),
            ("{vips = {'192.0.2.1'}, monitors = {1}}", "monitors"),
            ("{vips = {'192.0.2.1'}, colour = 1}", "unknown field 'colour'"),
        ] {
            let (code, _, err) = lvsh(&format!("lvs.anycast{spec}"));
            assert_eq!(code, 1, "{spec}");
            assert!(err.contains(want), "{spec}: {err}");
        }
        // nothing was left behind by the refusals
        assert!(!run("ip", &["link", "show", "lvsh-any"]).status.success());
    });
}

/// `birdc -s SOCK ARGS...`, its stdout.
fn birdc(sock: &std::path::Path, args: &[&str]) -> String {
    let mut a = vec!["-s", sock.to_str().unwrap()];
    a.extend_from_slice(args);
    String::from_utf8_lossy(&run("birdc", &a).stdout).into_owned()
}

#[test]
fn bird_takes_the_routes_from_the_device_and_reads_the_med_of_a_graded_announcement() {
    in_netns(|| {
        sh("ip addr add 192.0.2.21/32 dev lo && ip addr add 192.0.2.22/32 dev lo");
        let first = std::net::TcpListener::bind("192.0.2.21:7").unwrap();
        let _second = std::net::TcpListener::bind("192.0.2.22:7").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (include, sock, conf, logfile) = (
            dir.path().join("anycast.conf"),
            dir.path().join("bird.ctl"),
            dir.path().join("bird.conf"),
            dir.path().join("log"),
        );
        let script = format!(
            "lvs.log.file({logfile:?})
             lvs.apply{{{{addr = '198.51.100.10:7', scheduler = 'mh', servers = {{{{addr = '192.0.2.21:7', method = 'dr'}}, {{addr = '192.0.2.22:7', method = 'dr'}}}}}}}}
             local m = lvs.monitor{{service = {{addr = '198.51.100.10:7'}}, check = lvs.check.tcp{{timeout = 0.3}}, interval = 0.3, rise = 1, fall = 1}}
             lvs.anycast{{vips = {{'198.51.100.10'}}, monitors = {{m}}, dev = 'any-t1', grade = {{below = 0.75, med = 150}},
                          bird = {{include = {include:?}, socket = {sock:?}}}}}
             print('READY') io.flush()
             lvs.run()"
        );
        let bg = Background::start_env(&["-e", &script], &[], "READY");
        // the operator's configuration: it only includes lvsh's file
        std::fs::write(
            &conf,
            format!(
                "router id 192.0.2.1;\nprotocol device {{ scan time 10; }}\ninclude \"{}\";\n",
                include.display()
            ),
        )
        .unwrap();
        sh(&format!("bird -c {} -s {}", conf.display(), sock.display()));
        wait_until(Duration::from_secs(10), "BIRD's route from the device", || {
            birdc(&sock, &["show", "route", "protocol", "lvsh_anycast"]).contains("198.51.100.10/32")
        });
        // one of two real servers down: under 75% up, announced with the MED
        drop(first);
        wait_until(Duration::from_secs(10), "the MED in the include", || {
            std::fs::read_to_string(&include)
                .is_ok_and(|t| t.contains("if net = 198.51.100.10/32 then bgp_med = 150;"))
        });
        wait_until(Duration::from_secs(10), "BIRD told to read it", || {
            std::fs::read_to_string(&logfile).is_ok_and(|l| l.contains("read its configuration again"))
        });
        assert!(birdc(&sock, &["show", "route", "protocol", "lvsh_anycast"]).contains("198.51.100.10/32"));
        // kill -9: BIRD's route goes with the device
        sh(&format!("kill -9 {}", bg.pid()));
        wait_until(Duration::from_secs(5), "BIRD's route gone", || {
            !birdc(&sock, &["show", "route", "protocol", "lvsh_anycast"]).contains("198.51.100.10/32")
        });
        let _ = birdc(&sock, &["down"]);
        drop(bg);
    });
}
