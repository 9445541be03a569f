//! lvsh under hostile input and a busy loop, on the host (dry runs, loopback only): no
//! panic or abort on any input, Lua that never yields is stopped at its budget, and
//! SIGTERM is honoured within a second whatever Lua is doing.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Out {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs lvsh to its end; one that has not ended after a minute is killed and fails the test.
fn run(args: &[&str]) -> Out {
    finish(
        spawn(args),
        Duration::from_secs(60),
        &format!("lvsh {args:?} still runs after a minute"),
    )
    .1
}

/// Waits for `child` to end, reading its output all along, and says how long that took; one
/// still running after `limit` is killed (not left behind spinning: it would hold whatever
/// its parent held) and fails the test with `why`.
fn finish(mut child: Child, limit: Duration, why: &str) -> (Duration, Out) {
    let started = Instant::now();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{why}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    let out = Out {
        code: status.code(),
        signal: status.signal(),
        stdout: reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    (took, out)
}

fn text(o: &Out) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit 0 or 1 with a message: never a panic (101), an abort (134) or a signal.
fn no_crash(what: &str, o: &Out) {
    assert!(
        matches!(o.code, Some(0..=2)) && !o.stderr.contains("panicked"),
        "{what}: exit {:?} signal {:?}\n{}",
        o.code,
        o.signal,
        o.stderr
    );
}

#[test]
fn string_literals_reach_lua_as_the_bytes_of_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bytes.lua");
    std::fs::write(
        &path,
        b"local s = '\xff\xfe'\nio.write(#s, ' ', s:byte(1), ' ', s:byte(2))\n",
    )
    .unwrap();
    let o = run(&[path.to_str().unwrap()]);
    assert_eq!(
        (o.code, text(&o).as_str()),
        (Some(0), "2 255 254"),
        "{}",
        o.stderr
    );
}

#[test]
fn an_endless_interface_name_is_refused_before_netlink() {
    let o = run(&[
        "-e",
        "local ok, e = pcall(lvs.link.add_ipip, {name = ('x'):rep(70000)}) print(ok, e)",
    ]);
    no_crash("add_ipip", &o);
    let out = text(&o);
    assert!(
        out.starts_with("false\t") && out.contains("(70000 bytes) is not an interface name"),
        "{out}{}",
        o.stderr
    );
}

#[test]
fn forty_thousand_headers_are_refused_up_front() {
    let chunk = "local h = {} for i = 1, 40000 do h['x' .. i] = 'y' end \
        print(pcall(lvs.http.get, {url = 'http://127.0.0.1:1/', headers = h})) \
        print(pcall(lvs.check.http, {headers = h})) \
        print(pcall(lvs.http.get, {url = 'http://127.0.0.1:1/', headers = {['a b'] = 'y'}})) \
        print(pcall(lvs.http.get, {url = 'http://127.0.0.1:1/', headers = {a = 'y\\r\\nz: 1'}}))";
    let o = run(&["-e", chunk]);
    no_crash("headers", &o);
    let out = text(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}{}", o.stderr);
    for l in &lines[..2] {
        assert!(
            l.starts_with("false\theaders: 40000 headers are too many (at most 64)"),
            "{l}"
        );
    }
    assert!(
        lines[2].starts_with("false\tbad headers \"a b\": is not a header name"),
        "{}",
        lines[2]
    );
    assert!(lines[3].starts_with("false\tbad headers.a "), "{}", lines[3]);
}

/// lvsh started with `args`, its output piped and stdin closed.
fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lvsh"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn term_and_wait(child: Child) -> (Duration, Out) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    finish(child, Duration::from_secs(10), "SIGTERM ignored for 10 s")
}

#[test]
fn a_callback_that_never_yields_is_stopped_at_its_budget_and_timers_keep_time() {
    // a timer every 100 ms counts its runs while another, every 500 ms, spins
    let script = "lvs.budget(0.05) \
        local ticks = 0 \
        lvs.every(0.1, function() ticks = ticks + 1 end) \
        lvs.every(0.5, function() while true do end end) \
        lvs.after(2.05, function() print('ticks', ticks) lvs.stop() end) \
        lvs.run()";
    let o = run(&["-e", script]);
    no_crash("spin", &o);
    let out = text(&o);
    let ticks: u32 = out
        .trim()
        .strip_prefix("ticks\t")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}{}", o.stderr));
    // 20 expected in 2 s; four spins of 50 ms each take some of them
    assert!(ticks >= 16, "only {ticks} of 20 timer runs: {}", o.stderr);
    let spun = o.stderr.matches("budget: lvs.every (function at").count();
    assert!(
        spun >= 3,
        "the spinning timer was not stopped at its budget:\n{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("ran 0.05 s without yielding to the event loop"),
        "{}",
        o.stderr
    );
}

#[test]
fn sigterm_is_honoured_within_a_second_while_lua_spins() {
    // a spinning callback with the default budget (2 s), the loop waiting in lvs.run
    let child = spawn(&["-e", "lvs.after(0, function() while true do end end) lvs.run()"]);
    std::thread::sleep(Duration::from_millis(500));
    let (took, o) = term_and_wait(child);
    assert!(
        took < Duration::from_secs(1),
        "SIGTERM took {took:?}: {}",
        o.stderr
    );
    assert!(
        o.stderr.contains("SIGTERM came and the event loop must turn"),
        "{}",
        o.stderr
    );

    // the main chunk itself spins, with SIGTERM handled by the script
    let child = spawn(&[
        "-e",
        "lvs.on_signal('TERM', function() os.exit(3) end) while true do end",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let (took, o) = term_and_wait(child);
    assert!(
        took < Duration::from_secs(1),
        "SIGTERM took {took:?}: {}",
        o.stderr
    );
    assert_eq!(
        o.code,
        Some(1),
        "the chunk is interrupted with an error: {}",
        o.stderr
    );
}

#[test]
fn a_signal_nobody_listens_for_any_more_does_what_it_would_have_done() {
    // the listener is gone with its task: SIGTERM ends the process as if lvsh never listened
    let child = spawn(&[
        "-e",
        "local t = lvs.on_signal('TERM', print) t:cancel() lvs.sleep(30)",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let (took, o) = term_and_wait(child);
    assert_eq!(o.signal, Some(15), "{}", o.stderr);
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn hostile_calls_to_every_lvs_function_never_crash() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz/api.lua");
    for seed in ["1", "2", "3", "4"] {
        let o = run(&["--dry-run", script, seed, "100"]);
        no_crash(&format!("fuzz seed {seed}"), &o);
        assert!(
            text(&o).contains("fuzz: "),
            "seed {seed} did not finish:\n{}",
            o.stderr
        );
    }
}

/// lvsh's own command line, shuffled from its words: every run ends with an exit code of
/// its own (0, 1, 2), never a panic or an abort. Dry runs and harmless chunks only.
#[test]
fn random_command_lines_never_crash() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::write(
        &rules,
        "-A -t 127.0.0.1:80 -s rr\n-a -t 127.0.0.1:80 -r 127.0.0.2:80 -m\n",
    )
    .unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, b"-A -t 127.0.0.1:80 -s\xff rr\n-Q\n").unwrap();
    let script = dir.path().join("s.lua");
    std::fs::write(&script, "print(...)").unwrap();
    let (rules, bad, script) = (
        rules.to_str().unwrap(),
        bad.to_str().unwrap(),
        script.to_str().unwrap(),
    );
    let words = [
        "--dry-run",
        "--plan",
        "--state",
        rules,
        bad,
        "/dev/null",
        "/nonexistent",
        "-e",
        "print(1)",
        "error('x')",
        "lvs.list()",
        "os.exit(0)",
        "-",
        "--version",
        "--help",
        "-h",
        "-V",
        "--",
        "-x",
        "--nosuch",
        "",
        "\u{ff}",
        script,
        "ipvsadm",
        "-L",
        "-n",
        "-S",
        "-A",
        "-t",
        "127.0.0.1:80",
        "-s",
        "rr",
        "-R",
        "--stats",
        "-Z",
        "-C",
        "=1",
        "--name",
        "x",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..300 {
        let len = next(6);
        let mut argv: Vec<&str> = (0..len).map(|_| words[next(words.len())]).collect();
        // a real command line without --dry-run would go to the host's kernel: keep to models
        if argv.first() != Some(&"--dry-run") {
            argv.insert(0, "--dry-run");
        }
        let o = run(&argv);
        no_crash(&format!("lvsh {argv:?}"), &o);
    }
}
