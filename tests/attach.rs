//! `lvsh attach` against a running director on the host: a dry-run director (an in-memory
//! IPVS), so these show the control socket, not the kernel; the kernel tests of the live
//! director run in the sandbox.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Director {
    child: Child,
    dir: tempfile::TempDir,
}

impl Director {
    fn start(script: &str) -> Director {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.lua");
        std::fs::write(&path, script).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .args(["--dry-run", path.to_str().unwrap()])
            .env("LVSH_RUN_DIR", dir.path().join("run"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let d = Director { child, dir };
        let start = Instant::now();
        while !d.socket().exists() {
            assert!(start.elapsed() < Duration::from_secs(10), "no control socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("run/d.sock")
    }

    fn attach(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .arg("attach")
            .args(args)
            .env("LVSH_RUN_DIR", self.dir.path().join("run"))
            .output()
            .unwrap()
    }

    fn stop(mut self) -> String {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::SIGTERM,
        );
        self.child.wait().unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        err
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SCRIPT: &str = r#"
lvs.add_service{addr="192.0.2.1:80", scheduler="rr"}
lvs.add_service{addr="192.0.2.2:80", scheduler="rr"}
ticks = 0
lvs.every(0.05, function() ticks = ticks + 1 end)
lvs.run()
"#;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_chunk_runs_inside_the_director_and_its_exit_says_how_it_went() {
    let d = Director::start(SCRIPT);
    let out = d.attach(&["d", "-e", "print(#lvs.services())"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "2\n");
    // values are not printed by -e, as with lvsh -e
    let out = d.attach(&["d", "-e", "return 1"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "");
    let out = d.attach(&["d", "-e", "error('boom')"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("boom"), "{}", text(&out.stderr));
    // the only director running needs no name; listings come back to the client
    let out = d.attach(&["-e", "io.write('x', 1, '\\n') lvs.list()"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("x1\n"), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("192.0.2.2:80"),
        "{}",
        text(&out.stdout)
    );
    let out = d.attach(&["--list"]);
    assert!(text(&out.stdout).contains("d.lua"), "{}", text(&out.stdout));
    let err = d.stop();
    assert!(err.contains("control: listening on"), "{err}");
}

#[test]
fn a_spinning_chunk_leaves_the_loop_turning_and_is_stopped_at_its_budget() {
    let d = Director::start(SCRIPT);
    let before = d.attach(&["d", "-e", "print(ticks)"]);
    let before: u64 = text(&before.stdout).trim().parse().unwrap();
    let out = d.attach(&["d", "--budget", "0.3", "-e", "while true do end"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("budget"), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(300));
    let after = d.attach(&["d", "-e", "print(ticks)"]);
    let after: u64 = text(&after.stdout).trim().parse().unwrap();
    assert!(after > before, "timers stopped: {before} then {after}");
    // while a chunk spins the loop goes on: its timer moves the global the chunk waits on
    let out = d.attach(&[
        "d",
        "--budget",
        "5",
        "-e",
        "local t0 = ticks while ticks < t0 + 10 do end print('ticks went on')",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ticks went on\n");
    // a coroutine of the chunk's own sees no yield it did not make
    let out = d.attach(&[
        "d",
        "-e",
        "local co = coroutine.wrap(function() local n = 0 for i = 1, 3e6 do n = n + 1 end \
         coroutine.yield(n) return 'done' end) print(co(), co())",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "3000000\tdone\n");
    assert!(d.child_alive());
}

impl Director {
    fn child_alive(&self) -> bool {
        nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        )
        .is_ok_and(|s| s == nix::sys::wait::WaitStatus::StillAlive)
    }
}

#[test]
fn events_come_as_json_lines_in_order() {
    let d = Director::start(SCRIPT);
    let mut events = Command::new(env!("CARGO_BIN_EXE_lvsh"))
        .args(["attach", "d", "--events"])
        .env("LVSH_RUN_DIR", d.dir.path().join("run"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = d.attach(&[
        "d",
        "-e",
        "lvs.apply({{addr='192.0.2.3:80', servers={{addr='192.0.2.10'}}}})",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(300));
    let _ = events.kill();
    let mut got = String::new();
    events.stdout.take().unwrap().read_to_string(&mut got).unwrap();
    let _ = events.wait();
    let kinds: Vec<String> = got
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            assert!(v["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{l}");
            v["kind"].as_str().unwrap().to_string()
        })
        .collect();
    let apply = kinds.iter().position(|k| k == "apply").expect("an apply event");
    let attached = kinds.iter().position(|k| k == "client_attached").unwrap();
    assert!(attached < apply, "{kinds:?}");
}

#[test]
fn another_uid_is_refused_and_the_refusal_is_logged() {
    use std::os::unix::fs::PermissionsExt;
    let d = Director::start(SCRIPT);
    // the socket's 0600 in a 0700 directory keeps others out before SO_PEERCRED does:
    // loosened here so the peer check itself is what refuses
    let perm = |p: &std::path::Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    perm(d.dir.path(), 0o755).unwrap();
    perm(&d.dir.path().join("run"), 0o711).unwrap();
    perm(&d.socket(), 0o666).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_lvsh"))
        .args(["attach", d.socket().to_str().unwrap(), "-e", "print(1)"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("refused"), "{}", text(&out.stderr));
    let err = d.stop();
    assert!(
        err.contains("refused a client") && err.contains("uid 65534"),
        "{err}"
    );
}
