//! Runtime overrides against the real kernel: busybox httpd real servers checked by a
//! monitor, overrides set from the director's script and from `lvsh attach`, and
//! `ipvsadm -S -n` (the oracle) showing the weight that wins.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::monitor::{Httpd, wait_rule};
use crate::support::*;

/// A named director running a script file, with its own run and state directories.
struct Director {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<String>,
    dir: std::path::PathBuf,
}

impl Director {
    fn start(dir: &std::path::Path, script: &str) -> Director {
        let path = dir.join("ovr.lua");
        std::fs::write(&path, script).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .arg(&path)
            .env("LVSH_RUN_DIR", dir.join("run"))
            .env("LVSH_STATE_DIR", dir.join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = timed_lines(child.stdout.take().unwrap());
        let mut d = Director {
            child,
            lines,
            seen: Vec::new(),
            dir: dir.to_path_buf(),
        };
        d.wait_line("READY", Duration::from_secs(10));
        let start = Instant::now();
        while !dir.join("run/ovr.sock").exists() {
            assert!(start.elapsed() < Duration::from_secs(10), "no control socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn wait_line(&mut self, want: &str, limit: Duration) {
        let start = Instant::now();
        while !self.seen.iter().any(|l| l.starts_with(want)) {
            let left = limit.checked_sub(start.elapsed()).unwrap_or_default();
            match self.lines.recv_timeout(left) {
                Ok((_, l)) => self.seen.push(l),
                Err(_) => panic!("lvsh did not print {want:?}; it printed {:?}", self.seen),
            }
        }
    }

    /// `lvsh attach ovr -e chunk`: (its pid, exit code, stdout, stderr).
    fn attach(&self, chunk: &str) -> (u32, i32, String, String) {
        let child = Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .args(["attach", "ovr", "-e", chunk])
            .env("LVSH_RUN_DIR", self.dir.join("run"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        (
            pid,
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn attach_ok(&self, chunk: &str) -> (u32, String) {
        let (pid, code, out, err) = self.attach(chunk);
        assert_eq!(code, 0, "attach -e {chunk:?} failed: {err}{out}");
        (pid, out)
    }

    /// SIGTERM (lvs.run returns), then everything it printed.
    fn stop(mut self) -> Vec<String> {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::SIGTERM,
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "lvsh exited with {status}");
        while let Ok((_, l)) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(l);
        }
        std::mem::take(&mut self.seen)
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const EVENTS: &str = r#"
    io.stdout:setvbuf("line")
    lvs.on_event(function(ev)
      if ev.kind:match("^override") or ev.kind:match("^drain") then
        print(("EV %s %s %s"):format(ev.kind, ev.id or ev.override or "", ev.server or ""))
      end
    end)
"#;

fn monitor(service: &str, extra: &str) -> String {
    format!(
        "lvs.monitor{{service={{addr='{service}'}}, check=lvs.check.http{{path='/health', body='^ok'}},
           interval=0.3, timeout=2, rise=1, fall=3{extra}}}"
    )
}

#[test]
fn overrides_drain_with_a_ttl_gives_back_what_the_checks_say() {
    in_netns(|| {
        let dir = tempfile::tempdir().unwrap();
        let _a = Httpd::new(18481);
        let mut b = Httpd::new(18482);
        ipvsadm_restore(
            "-A -t 192.0.2.140:80 -s wrr\n-a -t 192.0.2.140:80 -r 127.0.0.1:18481 -m -w 3\n\
             -a -t 192.0.2.140:80 -r 127.0.0.1:18482 -m -w 2\n",
        );
        let mut lvsh = Director::start(
            dir.path(),
            &format!(
                "{EVENTS}
            {}
            print('READY')
            lvs.after(0.5, function()
              local a = lvs.drain('127.0.0.1:18481', {{ttl=6, reason='deploy'}})
              local b = lvs.drain('127.0.0.1:18482', {{service={{addr='192.0.2.140:80'}}, ttl=6}})
              local left = a.expires_in > 4 and a.expires_in <= 6
              print(('SET %s %s %s %d %s'):format(a.id, a.kind, left, #b.services, b.server))
            end)
            lvs.run()",
                monitor("192.0.2.140:80", "")
            ),
        );
        lvsh.wait_line("SET o1 drain true 1 127.0.0.1:18482", Duration::from_secs(5));
        let set = Instant::now();
        let s = ipvsadm("-S -n");
        for rs in ["127.0.0.1:18481", "127.0.0.1:18482"] {
            assert!(s.contains(&format!("-r {rs} -m -w 0")), "{s}");
        }
        // b fails its check while the drain holds it: that verdict is what it gets after
        b.stop();
        wait_rule(
            "-a -t 192.0.2.140:80 -r 127.0.0.1:18481 -m -w 3",
            true,
            Duration::from_secs(8),
        );
        let back = set.elapsed();
        assert!(
            back >= Duration::from_millis(4000),
            "back after {back:?}, before the TTL"
        );
        std::thread::sleep(Duration::from_secs(1));
        let s = ipvsadm("-S -n");
        assert!(s.contains("-r 127.0.0.1:18482 -m -w 0"), "{s}");
        lvsh.wait_line("EV override_expired o2", Duration::from_secs(2));
        let seen = lvsh.stop();
        for want in [
            "EV override_set o1 127.0.0.1:18481",
            "EV drain_started o1 127.0.0.1:18481",
            // no connections: drained at the first look
            "EV drain_finished o1 127.0.0.1:18481",
            "EV override_expired o1 127.0.0.1:18481",
        ] {
            assert!(
                seen.iter().any(|l| l.starts_with(want)),
                "{want:?} not in {seen:?}"
            );
        }
    });
}

#[test]
fn overrides_maintenance_survives_a_killed_director_and_is_lifted_from_attach() {
    in_netns(|| {
        let dir = tempfile::tempdir().unwrap();
        let _a = Httpd::new(18483);
        let _b = Httpd::new(18484);
        ipvsadm_restore(
            "-A -t 192.0.2.141:80 -s wrr\n-a -t 192.0.2.141:80 -r 127.0.0.1:18483 -m -w 3\n\
             -a -t 192.0.2.141:80 -r 127.0.0.1:18484 -m -w 2\n",
        );
        let script = format!(
            "{EVENTS}\n{}\nprint('READY')\nlvs.run()\n",
            monitor("192.0.2.141:80", "")
        );
        let d = Director::start(dir.path(), &script);
        let (pid, out) = d.attach_ok(
            "local o = lvs.maintenance('127.0.0.1:18483', {reason='disk swap'})
             print(o.id, o.kind, o.weight)",
        );
        assert_eq!(out.trim(), "o1\tmaintenance\t0");
        wait_rule(
            "-a -t 192.0.2.141:80 -r 127.0.0.1:18483 -m -w 0",
            true,
            Duration::from_secs(1),
        );
        let (_, out) = d.attach_ok(
            "for _, o in ipairs(lvs.overrides()) do
               print(o.id, o.kind, o.server, o.services[1], o.reason, o.by.uid, o.by.pid, o.expires, o.set ~= nil)
             end",
        );
        assert_eq!(
            out.trim(),
            format!("o1\tmaintenance\t127.0.0.1:18483\tTCP 192.0.2.141:80\tdisk swap\t0\t{pid}\tnil\ttrue")
        );
        let (_, out) = d.attach_ok("lvs.show_monitors()");
        assert!(out.contains("maintenance o1 at weight 0: disk swap"), "{out}");
        let state = dir.path().join("state/ovr.overrides.json");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);

        d.kill();
        std::fs::remove_file(dir.path().join("run/ovr.sock")).unwrap();
        // the kernel keeps what the killed director left; the new one must not undo it
        let mut d = Director::start(dir.path(), &script);
        std::thread::sleep(Duration::from_millis(1500));
        let s = ipvsadm("-S -n");
        assert!(
            s.contains("-r 127.0.0.1:18483 -m -w 0"),
            "a passing check put it back:\n{s}"
        );
        let (_, out) = d.attach_ok("print(#lvs.overrides(), lvs.overrides()[1].by.pid)");
        assert_eq!(out.trim(), format!("1\t{pid}"));
        let (_, code, _, err) = d.attach("lvs.lift('o7')");
        assert_eq!(code, 1);
        assert!(err.contains("no override with id \"o7\""), "{err}");
        d.attach_ok("lvs.lift('o1')");
        wait_rule(
            "-a -t 192.0.2.141:80 -r 127.0.0.1:18483 -m -w 3",
            true,
            Duration::from_secs(1),
        );
        d.wait_line("EV override_lifted o1", Duration::from_secs(2));
        let (_, out) = d.attach_ok("print(#lvs.overrides())");
        assert_eq!(out.trim(), "0");
        d.kill();
    });
}

#[test]
fn overrides_set_weight_holds_a_failing_server_and_unmonitored_ones_get_their_weight_back() {
    in_netns(|| {
        let dir = tempfile::tempdir().unwrap();
        let _a = Httpd::new(18485);
        let mut b = Httpd::new(18486);
        ipvsadm_restore(
            "-A -t 192.0.2.142:80 -s wrr\n-a -t 192.0.2.142:80 -r 127.0.0.1:18485 -m -w 3\n\
             -a -t 192.0.2.142:80 -r 127.0.0.1:18486 -m -w 2\n\
             -A -t 192.0.2.143:80 -s wrr\n-a -t 192.0.2.143:80 -r 127.0.0.1:18486 -m -w 4\n",
        );
        let script = format!(
            "{EVENTS}\n{}\nprint('READY')\nlvs.run()\n",
            monitor("192.0.2.142:80", "")
        );
        let d = Director::start(dir.path(), &script);
        let (_, out) = d.attach_ok(
            "local o = lvs.set_weight('127.0.0.1:18486', 5, {reason='canary'}); print(o.id, #o.services)",
        );
        assert_eq!(out.trim(), "o1\t2");
        wait_rule(
            "-a -t 192.0.2.142:80 -r 127.0.0.1:18486 -m -w 5",
            true,
            Duration::from_secs(1),
        );
        wait_rule(
            "-a -t 192.0.2.143:80 -r 127.0.0.1:18486 -m -w 5",
            true,
            Duration::from_secs(1),
        );
        b.stop();
        let state = "for _, r in ipairs(lvs.monitors()[1]:status().servers) do
                       if r.server == '127.0.0.1:18486' then print(r.state, r.held_weight, r.override) end
                     end";
        let start = Instant::now();
        loop {
            let (_, out) = d.attach_ok(state);
            if out.starts_with("down") {
                assert_eq!(out.trim(), "down\t5\tweight o1 at weight 5: canary");
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "not down: {out}");
            std::thread::sleep(Duration::from_millis(200));
        }
        // failing, and held at 5 anyway
        let s = ipvsadm("-S -n");
        assert!(
            s.contains("-a -t 192.0.2.142:80 -r 127.0.0.1:18486 -m -w 5"),
            "{s}"
        );
        let (_, shown) = d.attach_ok("lvs.show_monitors()");
        assert!(
            shown.contains("5 (held)") && shown.contains("weight o1 at weight 5: canary"),
            "{shown}"
        );
        d.attach_ok("lvs.lift(1)");
        // lifted while failing: inhibited by its monitor; unmonitored: its weight before
        wait_rule(
            "-a -t 192.0.2.142:80 -r 127.0.0.1:18486 -m -w 0",
            true,
            Duration::from_secs(1),
        );
        wait_rule(
            "-a -t 192.0.2.143:80 -r 127.0.0.1:18486 -m -w 4",
            true,
            Duration::from_secs(1),
        );
        let shown = d.stop().join("\n");
        assert!(shown.contains("EV override_lifted o1"), "{shown}");
    });
}

#[test]
fn serial_overrides_a_drain_override_finishes_when_the_last_connection_closes() {
    use crate::traffic::{Echo, Lab};
    let lab = Lab::nat_with(|rs| format!("exec busybox nc -ll -p 9000 -e cat # {rs}"));
    let lvsh = env!("CARGO_BIN_EXE_lvsh");
    lab.exec(
        "dir",
        &format!(
            r#"{lvsh} -e 'lvs.apply({{{{addr="203.0.113.1:9000", scheduler="rr", servers={{{{addr="198.51.100.11", method="nat"}}, {{addr="198.51.100.12", method="nat"}}}}}}}})'"#
        ),
    );
    let mut conn = Echo::connect(&lab, "203.0.113.1", 9000);
    let real = Echo::real_server(&lab);
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lab.ns("dir"), lvsh, "-e"])
        .arg(format!(
            r#"io.stdout:setvbuf("line")
            lvs.on_event(function(ev)
              if ev.kind:match("^drain") then print(("EV %s %s"):format(ev.kind, ev.server)) end
            end)
            local o = lvs.drain("{real}", {{reason="test"}})
            print("SET", o.id)
            lvs.run()"#
        ))
        .env("LVSH_STATE_DIR", state.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = timed_lines(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let wait = |want: &str, limit: Duration, seen: &mut Vec<String>| -> bool {
        let start = Instant::now();
        while !seen.iter().any(|l: &String| l.starts_with(want)) {
            let left = limit.checked_sub(start.elapsed()).unwrap_or_default();
            match lines.recv_timeout(left) {
                Ok((_, l)) => seen.push(l),
                Err(_) => return false,
            }
        }
        true
    };
    assert!(
        wait(
            &format!("EV drain_started {real}"),
            Duration::from_secs(10),
            &mut seen
        ),
        "{seen:?}"
    );
    assert!(
        lab.exec("dir", "ipvsadm -S -n")
            .contains(&format!("-r {real} -m -w 0")),
        "weight 0 while draining"
    );
    // the connection still works, and holds the drain open
    conn.echo("while draining");
    assert!(
        !wait("EV drain_finished", Duration::from_secs(2), &mut seen),
        "finished with a connection open: {seen:?}"
    );
    conn.close();
    assert!(
        wait(
            &format!("EV drain_finished {real}"),
            Duration::from_secs(5),
            &mut seen
        ),
        "{seen:?}"
    );
    // drained, not deleted: the override holds it in at weight 0
    assert!(
        lab.exec("dir", "ipvsadm -S -n")
            .contains(&format!("-r {real} -m -w 0"))
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGTERM,
    );
    let _ = child.wait();
}
