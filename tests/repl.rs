//! The interactive shell, driven through a real terminal (tmux): multi-line input, values,
//! completion, history across restarts, Ctrl-C and Ctrl-D.

use std::process::Command;
use std::time::{Duration, Instant};

struct Term {
    socket: String,
    home: Option<tempfile::TempDir>,
}

impl Term {
    fn start(home: tempfile::TempDir) -> Term {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // a fresh server per terminal: a restarted shell must not meet the old server exiting
        let socket = format!("lvsh-test-{}-{n}", std::process::id());
        let cmd = format!("{}; echo EXITED=$?; sleep 30", env!("CARGO_BIN_EXE_lvsh"));
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "50",
            ])
            .arg(&cmd)
            .env("HOME", home.path())
            .env_remove("LVSH_HISTORY")
            .env_remove("TMUX")
            .status()
            .expect("tmux is needed for the REPL tests (scripts/setup installs it)");
        assert!(ok.success());
        let t = Term {
            socket,
            home: Some(home),
        };
        t.wait_for("> ");
        t
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-N", "-S", "-200"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timed out waiting for {text:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends keys (tmux key names, e.g. "Enter", "C-c", "Tab") and waits for `expect`.
    fn keys(&self, keys: &[&str], expect: &str) -> String {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys"])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
        self.wait_for(expect)
    }

    /// Ends the terminal session and hands back the home directory for a restart.
    fn close(mut self) -> tempfile::TempDir {
        self.home.take().unwrap()
    }

    /// Types a line, then waits until a fresh prompt follows what it printed.
    fn line(&self, text: &str, expect: &str) -> String {
        self.keys(&["-l", text], text);
        self.keys(&["Enter"], expect)
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn incomplete_input_continues_on_the_next_line() {
    let t = Term::start(tempfile::tempdir().unwrap());
    t.line("for i = 1, 2 do", ">> ");
    let s = t.line("print('i=' .. i) end", "i=2\n> ");
    assert!(s.contains(">> print('i=' .. i) end\ni=1\ni=2\n"), "{s}");
}

#[test]
fn expressions_print_their_values() {
    let t = Term::start(tempfile::tempdir().unwrap());
    let s = t.line("1+1", "\n2\n> ");
    assert!(s.contains("> 1+1\n2\n"), "{s}");
    let s = t.line("=10*3", "\n30\n> ");
    assert!(s.contains("> =10*3\n30\n"), "{s}");
    // several values are tab-separated; the terminal shows the tab as spaces
    t.line("'a', 2", "\"a\"     2\n> ");
}

#[test]
fn tables_print_sorted_and_nested() {
    let t = Term::start(tempfile::tempdir().unwrap());
    let s = t.line(
        "{zeta = 1, alpha = {2, 3}, mid = 'm'}",
        "mid = \"m\",\n  zeta = 1,\n}\n> ",
    );
    let start = s.find("{\n  alpha").unwrap_or_else(|| panic!("{s}"));
    assert!(
        s[start..].starts_with("{\n  alpha = { 2, 3 },\n  mid = \"m\",\n  zeta = 1,\n}"),
        "{s}"
    );
}

#[test]
fn tab_completes_fields_of_lvs() {
    let t = Term::start(tempfile::tempdir().unwrap());
    t.keys(&["-l", "x = lvs.vers"], "lvs.vers");
    t.keys(&["Tab"], "x = lvs.version");
    let s = t.keys(&["Enter"], "> ");
    assert!(s.contains("x = lvs.version"), "{s}");
    let s = t.line("x == lvs.version", "true\n> ");
    assert!(s.contains("true"), "{s}");
    t.keys(&["-l", "lvs."], "lvs.");
    t.keys(&["Tab"], "lvs.");
    let s = t.keys(&["Tab"], "version");
    assert!(s.contains("version"), "{s}");
}

#[test]
fn history_survives_a_restart_and_is_private() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join(".lvsh_history");
    let t = Term::start(home);
    t.line("marker = 4242", "> ");
    t.keys(&["C-d"], "EXITED=0");
    let home = t.close();
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let t = Term::start(home);
    let s = t.keys(&["Up"], "marker = 4242");
    assert!(s.contains("> marker = 4242"), "{s}");
}

/// A link planted at ~/.lvsh_history (root run with `sudo -E` keeps the user's HOME) is not
/// followed: the file it points at is neither written nor chmod-ed, and the shell says why
/// it keeps no history. A FIFO there does not hang the shell.
#[test]
fn a_planted_history_link_or_fifo_is_not_followed() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("victim");
    std::fs::write(&target, "theirs\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = home.path().join(".lvsh_history");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let t = Term::start(home);
    let s = t.screen();
    assert!(
        s.contains("history not kept") && s.contains("symbolic link"),
        "{s}"
    );
    t.line("marker = 4242", "> ");
    t.keys(&["C-d"], "EXITED=0");
    let home = t.close();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "theirs\n");
    assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o644);
    assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());

    std::fs::remove_file(&path).unwrap();
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let t = Term::start(home);
    let s = t.screen();
    assert!(
        s.contains("history not kept") && s.contains("not a regular file"),
        "{s}"
    );
    t.line("1+1", "2\n> ");
}

#[test]
fn ctrl_c_cancels_the_line_and_interrupts_running_code() {
    let t = Term::start(tempfile::tempdir().unwrap());
    t.keys(&["-l", "this is not run"], "this is not run");
    t.keys(&["C-c"], "^C");
    t.line("for i = 1, 2 do", ">> ");
    t.keys(&["C-c"], "^C\n> ");
    let s = t.line("1 + 2", "\n3\n> ");
    assert!(
        !s.contains("syntax error"),
        "a cancelled line leaves nothing pending: {s}"
    );
    t.keys(&["-l", "while true do end"], "while true do end");
    t.keys(&["Enter"], "while true do end\n");
    std::thread::sleep(Duration::from_millis(300));
    let s = t.keys(&["C-c"], "interrupted");
    assert!(s.contains("stdin:1: interrupted"), "{s}");
    let s = t.line("'still here'", "\"still here\"\n> ");
    assert!(!s.contains("EXITED"), "{s}");
}

#[test]
fn ctrl_d_exits_with_status_0() {
    let t = Term::start(tempfile::tempdir().unwrap());
    t.keys(&["C-d"], "EXITED=0");
}

#[test]
fn ipvsadm_lines_run_natively() {
    // On a host without IPVS the emulation answers as ipvsadm would; the line is not Lua.
    let t = Term::start(tempfile::tempdir().unwrap());
    t.line("ipvsadm -L -n", "ipvsadm -L -n");
    let start = Instant::now();
    let s = loop {
        let s = t.screen();
        if s.contains("Can't initialize ipvs") || s.contains("IP Virtual Server version") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no ipvsadm answer:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!s.contains("syntax error"), "{s}");
}

#[test]
fn background_tasks_print_above_the_line_being_typed() {
    let t = Term::start(tempfile::tempdir().unwrap());
    t.line(
        "n = 0; t = lvs.every(0.2, function() n = n + 1; lvs.log.info('tick ' .. n) end)",
        "> ",
    );
    t.keys(&["-l", "x = 40 + 2"], "x = 40 + 2");
    // ticks keep coming while the prompt waits, and the typed line is redrawn below them
    t.wait_for("info  tick 3");
    std::thread::sleep(Duration::from_millis(100));
    let s = t.screen();
    let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert_eq!(last.trim_end(), "> x = 40 + 2", "{s}");
    t.keys(&["Enter"], "> ");
    t.line("t:cancel(); return x", "\n42\n> ");
    // a chunk may wait: the monitors and tasks run meanwhile
    let s = t.line("lvs.sleep(0.3); return 'slept'", "\"slept\"\n> ");
    assert!(!s.contains("stdin:1:"), "{s}");
    // Ctrl-C gives up a chunk that is waiting
    t.keys(&["-l", "lvs.sleep(60)"], "lvs.sleep(60)");
    t.keys(&["Enter"], "lvs.sleep(60)\n");
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["C-c"], "interrupted");
    t.line("'after'", "\"after\"\n> ");
}

#[test]
fn ctrl_c_ends_lvs_run_and_still_interrupts_afterwards() {
    let t = Term::start(tempfile::tempdir().unwrap());
    t.keys(&["-l", "why = lvs.run()"], "why = lvs.run()");
    t.keys(&["Enter"], "why = lvs.run()\n");
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["C-c"], "> ");
    // the signal handling lvs.run set up must not take Ctrl-C away from running code
    t.keys(&["-l", "while true do end"], "while true do end");
    t.keys(&["Enter"], "while true do end\n");
    std::thread::sleep(Duration::from_millis(300));
    let s = t.keys(&["C-c"], "interrupted");
    assert!(s.contains("stdin:1: interrupted"), "{s}");
    t.line("'alive'", "\"alive\"\n> ");
}
