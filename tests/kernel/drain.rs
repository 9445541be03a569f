//! Drains on the kernel: the wait yields to everything else on lvsh's event loop, waits for
//! what it is told to, and gives up at SIGTERM with the server left at weight 0.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::*;
use crate::traffic::{Echo, Lab};

const TWO: &str = r#"{{addr="203.0.113.1:9000", scheduler="rr", servers={{addr="198.51.100.11", method="nat"}, {addr="198.51.100.12", method="nat"}}}}"#;

/// The service with only `keep`: applying it drains the other server.
fn only(keep: &str) -> String {
    format!(r#"{{{{addr="203.0.113.1:9000", scheduler="rr", servers={{{{addr="{keep}", method="nat"}}}}}}}}"#)
}

/// lvsh running `chunk` in the director's namespace; its stdout as lines.
struct Run {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
}

impl Run {
    fn start(lab: &Lab, chunk: &str) -> Run {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.ns("dir"),
                env!("CARGO_BIN_EXE_lvsh"),
                "-e",
                chunk,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = timed_lines(child.stdout.take().unwrap());
        Run { child, lines }
    }

    fn line(&self, want: &str) -> (Instant, String) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(90)) {
                Ok((t, l)) if l.starts_with(want) => return (t, l),
                Ok(_) => {}
                Err(_) => panic!("lvsh did not print {want:?}"),
            }
        }
    }

    /// Waits for the exit; (success, stderr).
    fn finish(self) -> (bool, String) {
        let out = self.child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn saved(lab: &Lab) -> String {
    lab.exec("dir", "ipvsadm -S -n")
}

fn reset(lab: &Lab) {
    let lvsh = env!("CARGO_BIN_EXE_lvsh");
    lab.exec("dir", &format!("{lvsh} -e 'lvs.apply({TWO})'"));
}

/// Opens a connection and returns it with the server it went to and the one to keep.
fn connected(lab: &Lab) -> (Echo, String, &'static str) {
    let conn = Echo::connect(lab, "203.0.113.1", 9000);
    let real = Echo::real_server(lab);
    let keep = if real.starts_with("198.51.100.11") {
        "198.51.100.12"
    } else {
        "198.51.100.11"
    };
    (conn, real, keep)
}

#[test]
fn serial_drains_yield_to_the_loop_wait_for_what_they_are_told_and_end_at_sigterm() {
    let lab = Lab::nat_with(|rs| format!("exec busybox nc -ll -p 9000 -e cat # {rs}"));

    // 1. a ticker and a monitor keep their rate while an apply drains for 5 s
    reset(&lab);
    let (mut conn, real, keep) = connected(&lab);
    let chunk = format!(
        r#"local ticks, checks = 0, 0
        lvs.every(0.2, function() ticks = ticks + 1 end)
        lvs.monitor{{service={{addr="203.0.113.1:9000"}}, interval=0.2,
            check=function(s) if s.addr == "{keep}:9000" then checks = checks + 1 end return true end}}
        print("DRAINING", ticks, checks) io.stdout:flush()
        local plan = lvs.apply({one}, {{drain=true, drain_timeout=60}})
        print("DONE", ticks, checks, #plan)"#,
        one = only(keep)
    );
    let run = Run::start(&lab, &chunk);
    let (t0, first) = run.line("DRAINING");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        saved(&lab).contains(&format!("-r {real} -m -w 0")),
        "weight 0 while draining"
    );
    conn.echo("while draining");
    std::thread::sleep(Duration::from_secs(3));
    conn.close();
    let (t1, last) = run.line("DONE");
    let (ok, err) = run.finish();
    assert!(ok, "{err}");
    let n = |l: &str, i: usize| l.split('\t').nth(i).unwrap().parse::<f64>().unwrap();
    let secs = (t1 - t0).as_secs_f64();
    assert!(secs >= 4.5, "the drain waited for the connection: {secs} s");
    let expected = secs / 0.2;
    let ticks = n(&last, 1) - n(&first, 1);
    let checks = n(&last, 2) - n(&first, 2);
    assert!(
        ticks >= 0.8 * expected,
        "{ticks} ticks in {secs:.1} s (expected {expected:.0})"
    );
    assert!(
        checks >= 0.8 * expected,
        "{checks} checks in {secs:.1} s (expected {expected:.0})"
    );
    assert!(!saved(&lab).contains(&real), "deleted once drained");
    assert!(err.contains("drained, deleted"), "{err}");

    // 2. wait="all" waits for the inactive entry the closed connection leaves
    reset(&lab);
    let (conn, real, keep) = connected(&lab);
    let chunk = format!(
        r#"lvs.apply({one}, {{drain=true, drain_timeout=6, wait="all"}}) print("DONE")"#,
        one = only(keep)
    );
    let started = Instant::now();
    let run = Run::start(&lab, &chunk);
    std::thread::sleep(Duration::from_secs(1));
    conn.close();
    std::thread::sleep(Duration::from_secs(2));
    let conns = lab.exec("dir", "ipvsadm -L -n -c");
    assert!(!conns.contains("ESTABLISHED"), "{conns}");
    assert!(
        saved(&lab).contains(&format!("-r {real} -m -w 0")),
        "kept while an inactive entry is left: {conns}"
    );
    run.line("DONE");
    let (ok, err) = run.finish();
    assert!(ok, "{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(6),
        "waited to the timeout"
    );
    assert!(
        err.contains("still 0 active, ") && err.contains("deleting it"),
        "{err}"
    );
    assert!(!saved(&lab).contains(&real));

    // 3. SIGTERM during a 60 s drain: lvsh ends at once, the server left at weight 0
    reset(&lab);
    let (_conn, real, keep) = connected(&lab);
    let chunk = format!(
        r#"print("DRAINING") io.stdout:flush()
        lvs.after(0.5, function() print("SWITCH", pcall(lvs.netns, "elsewhere")) io.stdout:flush() end)
        lvs.apply({one}, {{drain=true, drain_timeout=60}}) print("NOT REACHED")"#,
        one = only(keep)
    );
    let run = Run::start(&lab, &chunk);
    run.line("DRAINING");
    // a switch of namespace while the drain waits would point it at another table
    let (_, switch) = run.line("SWITCH");
    assert!(
        switch.starts_with("SWITCH\tfalse") && switch.contains("a drain is waiting in this namespace"),
        "{switch}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let pid = nix::unistd::Pid::from_raw(run.child.id() as i32);
    let sent = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM).unwrap();
    let (ok, err) = run.finish();
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(1), "lvsh took {took:?} to end");
    assert!(!ok, "an interrupted drain is an error: {err}");
    assert!(
        err.contains("drain interrupted by SIGTERM") && err.contains("left in at weight 0"),
        "{err}"
    );
    assert!(
        saved(&lab).contains(&format!("-r {real} -m -w 0")),
        "{}",
        saved(&lab)
    );
}

#[test]
fn a_drain_names_the_expire_quiescent_template_trap() {
    in_netns(|| {
        ipvsadm("-A -t 192.0.2.1:80 -s rr -p 60");
        ipvsadm("-A -t 192.0.2.1:81 -s rr");
        let drain = |port: u16| {
            ipvsadm(&format!("-a -t 192.0.2.1:{port} -r 192.0.2.2 -g"));
            let (code, _, err) = lvsh(&format!(
                "lvs.drain({{addr='192.0.2.1:{port}'}}, '192.0.2.2', {{timeout=5}})"
            ));
            assert_eq!(code, 0, "{err}");
            assert!(
                !ipvsadm("-S -n").contains(&format!("192.0.2.1:{port} -r")),
                "deleted"
            );
            err
        };
        let trap = "net.ipv4.vs.expire_quiescent_template is 0";
        sh("sysctl -qw net.ipv4.vs.expire_quiescent_template=0");
        let err = drain(80);
        assert!(err.contains(trap), "a persistent service: {err}");
        assert!(err.contains("192.0.2.2:80 in TCP 192.0.2.1:80"), "{err}");
        assert!(!drain(81).contains(trap), "not persistent: no trap");
        sh("sysctl -qw net.ipv4.vs.expire_quiescent_template=1");
        assert!(!drain(80).contains(trap), "the sysctl is 1: no trap");
        // lvs.with_netns's function cannot give the loop a turn: a drain there is refused
        // before anything is changed
        let ns = format!("drain-{}", std::process::id());
        sh(&format!("ip netns add {ns}"));
        ipvsadm("-a -t 192.0.2.1:80 -r 192.0.2.2 -g -w 3");
        let (code, _, err) = lvsh(&format!(
            "lvs.with_netns('{ns}', function() lvs.add_service{{addr='192.0.2.9:80'}} \
             lvs.drain({{addr='192.0.2.9:80'}}, '192.0.2.2') end)"
        ));
        sh(&format!("ip netns del {ns}"));
        assert_eq!(code, 1);
        assert!(err.contains("drain outside it"), "{err}");
        assert!(
            ipvsadm("-S -n").contains("-r 192.0.2.2:80 -g -w 3"),
            "this namespace's server untouched"
        );
    });
}
