//! systemd's notify protocol, seen from the manager's side: a datagram socket the test binds
//! is NOTIFY_SOCKET, and a director (a dry run, its checks Lua functions: nothing leaves the
//! process) must send READY=1 after its first checks, STATUS= lines, WATCHDOG=1 at half of
//! WATCHDOG_USEC from its event loop (so none while a callback spins), and STOPPING=1.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn ready_status_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let script = r#"
        lvs.add_service{addr = "192.0.2.80:80", servers = {{addr = "127.0.0.1:81", method = "nat"}, {addr = "127.0.0.1:82", method = "nat"}}}
        local first = true
        lvs.monitor{service = {addr = "192.0.2.80:80"}, interval = 0.2, fall = 1, rise = 1,
          check = function(s)
            -- the first round takes a while: READY=1 must wait for it
            if first then lvs.sleep(0.5) first = false end
            return s.port == 81, "port " .. s.port
          end}
        lvs.budget(5)
        lvs.after(2, function() local t = os.clock() while os.clock() - t < 3 do end end)
        lvs.run()
    "#;
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsh"))
        .args(["--dry-run", "-e", script])
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut got: Vec<(f64, String)> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut termed = None;
    while started.elapsed() < Duration::from_secs(15) {
        if let Ok(n) = sock.recv(&mut buf) {
            let at = started.elapsed().as_secs_f64();
            got.push((at, String::from_utf8_lossy(&buf[..n]).into_owned()));
            if got.last().unwrap().1.contains("STOPPING=1") {
                break;
            }
        }
        if termed.is_none() && started.elapsed() > Duration::from_millis(6500) {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
            termed = Some(started.elapsed().as_secs_f64());
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let log: Vec<String> = got.iter().map(|(t, m)| format!("{t:.2} {m:?}")).collect();
    let log = log.join("\n");
    assert!(status.success(), "{log}");

    let ready = got.iter().find(|(_, m)| m.contains("READY=1")).expect(&log);
    assert!(
        ready.0 >= 0.5,
        "READY=1 before the first round of checks ended:\n{log}"
    );
    assert!(
        ready
            .1
            .contains("STATUS=1 service monitored, 2 servers: 1 up, 1 down"),
        "{log}"
    );
    let pings: Vec<f64> = got
        .iter()
        .filter(|(_, m)| m == "WATCHDOG=1\n")
        .map(|(t, _)| *t)
        .collect();
    // every 0.2 s before the spin (0 to 2 s) and after it (5 s to the SIGTERM at 6.5 s)
    let before = pings.iter().filter(|&&t| t < 2.0).count();
    let after = pings.iter().filter(|&&t| t > 5.2).count();
    assert!(before >= 7 && after >= 5, "{before} and {after} pings:\n{log}");
    // none while the callback held the loop: a gap of nearly 3 s
    let gap = pings.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(
        gap > 2.7 && gap < 3.6,
        "the longest gap between pings is {gap:.2} s:\n{log}"
    );
    let stop = got.last().unwrap();
    assert!(
        stop.1.starts_with("STOPPING=1\nSTATUS=stopping (SIGTERM)"),
        "{log}"
    );
    assert!(stop.0 - termed.unwrap() < 1.0, "{log}");
}
