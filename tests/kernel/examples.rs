//! Every script in examples/ runs in the sandbox kernel (the labs assert their own traffic:
//! both real servers answer, rr alternates, connection entries match).

use std::time::{Duration, Instant};

use crate::support::*;

/// Scripts that run until stopped, or that keepalived runs with arguments, have tests of
/// their own: health.lua below, failover.lua in failover.rs.
const OWN_TESTS: &[&str] = &[
    "lablib.lua",
    "health.lua",
    "failover.lua",
    "director.lua",
    "lab-anycast.lua",
];

#[test]
fn every_example_runs() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".lua") && !OWN_TESTS.contains(&n.as_str()))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        let path = format!("{dir}/{name}");
        in_netns(move || {
            let out = run(env!("CARGO_BIN_EXE_lvsh"), &[&path]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{path} failed: {err}");
            assert!(!out.stdout.is_empty(), "{path} printed nothing");
        });
    }
}

/// Waits until `ipvsadm -S -n` has every line of `want`.
fn wait_rules(want: &[&str], limit: Duration) {
    let start = Instant::now();
    loop {
        let s = ipvsadm("-S -n");
        if want.iter().all(|w| s.lines().any(|l| l == *w)) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "after {limit:?}, ipvsadm -S -n lacks {want:?}:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn health_example_takes_failing_servers_out_and_reloads_on_hup() {
    in_netns(|| {
        sh("ip addr add 198.51.100.11/32 dev lo && ip addr add 198.51.100.12/32 dev lo");
        let www = tempfile::tempdir().unwrap();
        std::fs::write(www.path().join("health"), "ok\n").unwrap();
        let serve = |addr: &str| {
            std::process::Command::new("busybox")
                .args(["httpd", "-f", "-p", addr, "-h"])
                .arg(www.path())
                .spawn()
                .unwrap()
        };
        let mut up = vec![serve("198.51.100.11:80"), serve("198.51.100.11:25")];
        let mut doomed = vec![serve("198.51.100.12:80"), serve("198.51.100.12:25")];
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/health.lua");
        let mut lvsh = Background::start(&[script], "health: checking");
        wait_rules(
            &[
                "-a -t 192.0.2.110:80 -r 198.51.100.12:80 -m -w 5",
                "-a -t 192.0.2.110:25 -r 198.51.100.12:25 -m -w 1",
            ],
            Duration::from_secs(3),
        );
        for c in &mut doomed {
            let _ = c.kill();
            let _ = c.wait();
        }
        // web: interval 2 * fall 3 + timeout 2 + 1; mail: 5 * 2 + 2 + 1
        wait_rules(
            &["-a -t 192.0.2.110:80 -r 198.51.100.12:80 -m -w 0"],
            Duration::from_secs(9),
        );
        wait_rules(
            &["-a -t 192.0.2.110:25 -r 198.51.100.12:25 -m -w 0"],
            Duration::from_secs(13),
        );
        wait_rules(
            &["-a -t 192.0.2.110:80 -r 198.51.100.11:80 -m -w 5"],
            Duration::from_secs(1),
        );
        // SIGHUP re-applies the rules (weight 5 again); the monitor takes the failing server
        // out again at its next look at the table
        nix::sys::signal::kill(lvsh.pid(), nix::sys::signal::SIGHUP).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        wait_rules(
            &["-a -t 192.0.2.110:80 -r 198.51.100.12:80 -m -w 0"],
            Duration::from_secs(4),
        );
        lvsh.wait_line("health: checking", Duration::from_secs(1));
        let out = lvsh.stop();
        assert!(
            out.iter()
                .any(|l| l == "health: stopped (SIGTERM); weights left as they are"),
            "{out:?}"
        );
        for c in &mut up {
            let _ = c.kill();
            let _ = c.wait();
        }
    });
}

/// The README's session against examples/director.lua: attach, look at the monitors, put a
/// server in maintenance with a reason (the drift watch leaves it be), undo a hand change
/// (the watch reverts it), lift the override; the events stream says all of it.
#[test]
fn director_example_is_steered_through_its_socket_as_the_readme_shows() {
    in_netns(|| {
        sh("ip addr add 198.51.100.21/32 dev lo && ip addr add 198.51.100.22/32 dev lo");
        let www = tempfile::tempdir().unwrap();
        std::fs::write(www.path().join("health"), "ok\n").unwrap();
        let mut servers: Vec<std::process::Child> = ["21:80", "21:25", "22:80", "22:25"]
            .iter()
            .map(|a| {
                std::process::Command::new("busybox")
                    .args(["httpd", "-f", "-p", &format!("198.51.100.{a}"), "-h"])
                    .arg(www.path())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let state = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/director.lua");
        let lvsh = Background::start_env(
            &[script],
            &[
                ("LVSH_DIRECTOR_VIP", "192.0.2.121"),
                ("LVSH_STATE_DIR", state.path().to_str().unwrap()),
            ],
            "director: checking",
        );
        let sock = std::path::Path::new("/run/lvsh/director.sock");
        let start = Instant::now();
        while !sock.exists() {
            assert!(start.elapsed() < Duration::from_secs(10), "no {sock:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let attach = |chunk: &str| {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_lvsh"))
                .args(["attach", "director", "-e", chunk])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{chunk}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            text
        };
        let mut events = std::process::Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .args(["attach", "director", "--events"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stream = timed_lines(events.stdout.take().unwrap());
        // the first checks (rise 2, every 2 s) pass
        let start = Instant::now();
        while !attach("lvs.show_monitors()").contains("198.51.100.21:80") {
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(200));
        }
        let o = attach("print(lvs.maintenance('198.51.100.21', {reason = 'disk swap'}).id)");
        assert_eq!(o, "o1\n");
        wait_rules(
            &[
                "-a -t 192.0.2.121:80 -r 198.51.100.21:80 -m -w 0",
                "-a -t 192.0.2.121:25 -r 198.51.100.21:25 -m -w 0",
            ],
            Duration::from_secs(2),
        );
        let listed =
            attach("for _, o in ipairs(lvs.overrides()) do print(o.id, o.kind, o.reason, o.by.uid) end");
        assert_eq!(listed, "o1\tmaintenance\tdisk swap\t0\n");
        // a hand change: the watch (every 5 s) puts it back, and leaves the override alone
        sh("ipvsadm -d -t 192.0.2.121:25 -r 198.51.100.22:25");
        wait_rules(
            &["-a -t 192.0.2.121:25 -r 198.51.100.22:25 -m -w 1"],
            Duration::from_secs(7),
        );
        wait_rules(
            &["-a -t 192.0.2.121:80 -r 198.51.100.21:80 -m -w 0"],
            Duration::from_secs(1),
        );
        assert_eq!(attach("print(lvs.lift('o1').id)"), "o1\n");
        wait_rules(
            &[
                "-a -t 192.0.2.121:80 -r 198.51.100.21:80 -m -w 5",
                "-a -t 192.0.2.121:25 -r 198.51.100.21:25 -m -w 1",
            ],
            Duration::from_secs(2),
        );
        std::thread::sleep(Duration::from_millis(300));
        let _ = events.kill();
        let _ = events.wait();
        let mut kinds = Vec::new();
        while let Ok((_, l)) = stream.recv_timeout(Duration::from_millis(500)) {
            let kind = l.split("\"kind\":\"").nth(1).and_then(|k| k.split('"').next());
            if let Some(k) = kind.filter(|k| !k.starts_with("client_")) {
                kinds.push(k.to_string());
            }
        }
        for want in ["override_set", "drift_found", "drift_reverted", "override_lifted"] {
            assert!(kinds.iter().any(|k| k == want), "no {want} in {kinds:?}");
        }
        let out = lvsh.stop();
        assert!(
            out.iter()
                .any(|l| l == "director: stopped (SIGTERM); weights left as they are"),
            "{out:?}"
        );
        for c in &mut servers {
            let _ = c.kill();
            let _ = c.wait();
        }
    });
}
