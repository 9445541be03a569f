//! Support for kernel tests: they run inside the sandbox kernel, each in a network namespace
//! of its own (IPVS state is per namespace), so they run in parallel without seeing each other.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const HOW_TO_RUN: &str = "kernel tests need the sandbox kernel with IPVS: run scripts/test, \
     or scripts/sandbox -- cargo test --features kernel-tests --test kernel";

/// Fails the test with instructions when not inside the sandbox kernel.
pub fn require_sandbox() {
    let inside = std::env::var_os("LVSH_SANDBOX").is_some();
    let ipvs = std::path::Path::new("/proc/net/ip_vs").exists();
    assert!(
        inside && ipvs,
        "{HOW_TO_RUN} (LVSH_SANDBOX set: {inside}, /proc/net/ip_vs present: {ipvs})"
    );
}

/// Runs `body` on a new thread that has entered a fresh network namespace with `lo` up.
/// Child processes started from that thread (ipvsadm, lvsh) inherit the namespace.
pub fn in_netns<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    in_fresh_netns(|| {
        sh("ip link set lo up");
        body()
    })
}

/// As `in_netns`, but `lo` stays down, as in a namespace nobody has set up yet.
pub fn in_fresh_netns<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    require_sandbox();
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        body()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Runs `f` on a thread inside the named namespace.
pub fn in_named<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        nix::sched::setns(
            std::os::fd::AsFd::as_fd(&file),
            nix::sched::CloneFlags::CLONE_NEWNET,
        )
        .unwrap();
        f()
    })
}

/// A file under this thread's /proc/net (plain /proc/net follows the main thread's namespace).
pub fn proc_net(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/thread-self/net/{name}"))
        .unwrap_or_else(|e| panic!("read /proc/thread-self/net/{name}: {e}"))
}

pub fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

/// Runs a shell command line that must succeed; returns its stdout.
pub fn sh(line: &str) -> String {
    let out = run("sh", &["-c", line]);
    assert!(
        out.status.success(),
        "`{line}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The real ipvsadm, the oracle: its stdout, and a failure if it fails.
pub fn ipvsadm(args: &str) -> String {
    sh(&format!("ipvsadm {args}"))
}

/// `ipvsadm args`, read again (up to five times) while it differs from `want`. The kernel's
/// service dump counts its place over every namespace's services, so a test adding or
/// removing services in another namespace at that moment can make one dump list a service
/// twice or miss one (ipvsadm's own, as CI once saw); a real difference stays.
pub fn ipvsadm_settled(args: &str, want: &str) -> String {
    let mut got = ipvsadm(args);
    for _ in 0..4 {
        if got == want {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        got = ipvsadm(args);
    }
    got
}

/// Runs the lvsh binary with a Lua chunk; returns (exit code, stdout, stderr).
pub fn lvsh(chunk: &str) -> (i32, String, String) {
    let out = run(env!("CARGO_BIN_EXE_lvsh"), &["-e", chunk]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a Lua chunk in lvsh that must succeed; returns its stdout.
pub fn lvsh_ok(chunk: &str) -> String {
    let (code, out, err) = lvsh(chunk);
    assert_eq!(code, 0, "lvsh -e {chunk:?} failed: {err}");
    out
}

/// Asserts two long texts are equal, showing the first line that differs rather than both.
pub fn assert_same_text(got: &str, want: &str, what: &str) {
    if got == want {
        return;
    }
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    let i = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    panic!(
        "{what}: texts differ at line {} (got {} lines, want {}):\n  got:  {:?}\n  want: {:?}",
        i + 1,
        g.len(),
        w.len(),
        g.get(i),
        w.get(i)
    );
}

/// Runs a Lua chunk in lvsh as an unprivileged user (nobody, no capabilities).
pub fn lvsh_unprivileged(chunk: &str) -> Output {
    run(
        "setpriv",
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            env!("CARGO_BIN_EXE_lvsh"),
            "-e",
            chunk,
        ],
    )
}

/// Loads rules with the real `ipvsadm -R`, which must succeed.
pub fn ipvsadm_restore(rules: &str) {
    use std::io::Write;
    let mut child = Command::new("ipvsadm")
        .arg("-R")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "ipvsadm -R failed");
}

/// The lines a child prints, each with when it came, read on a thread of their own.
pub fn timed_lines(out: std::process::ChildStdout) -> mpsc::Receiver<(Instant, String)> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), l)).is_err() {
                break;
            }
        }
    });
    lines
}

/// lvsh running a script in the background (in this thread's namespace); its stdout lines.
pub struct Background {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<String>,
}

impl Background {
    /// Runs `lvsh -e chunk`; the chunk prints READY when it is set up.
    pub fn start_chunk(chunk: &str) -> Background {
        Background::start(&["-e", chunk], "READY")
    }

    /// Runs lvsh with `args`; waits for a line starting with `ready`.
    pub fn start(args: &[&str], ready: &str) -> Background {
        Background::start_env(args, &[], ready)
    }

    /// As `start`, with these variables set in lvsh's environment.
    pub fn start_env(args: &[&str], env: &[(&str, &str)], ready: &str) -> Background {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = timed_lines(child.stdout.take().unwrap());
        let mut b = Background {
            child,
            lines,
            seen: Vec::new(),
        };
        b.wait_line(ready, Duration::from_secs(10));
        b
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// Waits for a line that starts with `want`.
    pub fn wait_line(&mut self, want: &str, limit: Duration) {
        let start = Instant::now();
        while !self.seen.iter().any(|l| l.starts_with(want)) {
            let left = limit.checked_sub(start.elapsed()).unwrap_or_default();
            match self.lines.recv_timeout(left) {
                Ok((_, l)) => self.seen.push(l),
                Err(_) => panic!("lvsh did not print {want:?}; it printed {:?}", self.seen),
            }
        }
    }

    /// SIGTERM (lvs.run returns), then everything it printed.
    pub fn stop(mut self) -> Vec<String> {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::SIGTERM,
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "lvsh exited with {status}");
        while let Ok((_, l)) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(l);
        }
        self.seen
    }
}
