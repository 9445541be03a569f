//! The checker keeps checking: monitors stay in the namespace they were made in whatever the
//! process does later, and a Lua check that never yields is stopped at its budget while the
//! other monitors keep their schedule.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// busybox httpd on 127.0.0.1:port, in namespace `ns` (None: this thread's).
fn httpd(ns: Option<&str>, port: u16, dir: &std::path::Path) -> Child {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "busybox"]);
            c
        }
        None => Command::new("busybox"),
    };
    let child = cmd
        .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
        .arg(dir)
        .spawn()
        .expect("busybox httpd");
    let probe = match ns {
        Some(ns) => format!("ip netns exec {ns} busybox wget -q -O- http://127.0.0.1:{port}/health"),
        None => format!("busybox wget -q -O- http://127.0.0.1:{port}/health"),
    };
    wait_until(Duration::from_secs(5), "httpd to answer", || {
        run("sh", &["-c", &probe]).status.success()
    });
    child
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

fn term(child: &mut Child) -> Duration {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let asked = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return asked.elapsed();
        }
        if asked.elapsed() > Duration::from_secs(10) {
            // not left behind spinning (it would hold whatever its parent held)
            let _ = child.kill();
            let _ = child.wait();
            panic!("SIGTERM ignored for 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_monitor_made_in_another_namespace_probes_from_it_and_edits_only_its_table() {
    in_netns(|| {
        let d1 = format!("own-{}", std::process::id());
        sh(&format!("ip netns add {d1}"));
        sh(&format!("ip netns exec {d1} ip link set lo up"));
        let rules = "-A -t 192.0.2.50:80 -s rr\n-a -t 192.0.2.50:80 -r 127.0.0.1:18090 -m -w 1\n\
                     -A -t 192.0.2.51:80 -s rr\n-a -t 192.0.2.51:80 -r 127.0.0.1:18090 -m -w 1\n";
        ipvsadm_restore(rules);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules");
        std::fs::write(&file, rules).unwrap();
        sh(&format!("ip netns exec {d1} ipvsadm -R < {}", file.display()));
        std::fs::write(dir.path().join("health"), "ok\n").unwrap();
        // both namespaces answer on the same address: only d1's server is then stopped, and
        // only probes sent from d1 can see it go
        let here = httpd(None, 18090, dir.path());
        let there = httpd(Some(&d1), 18090, dir.path());
        let script = format!(
            r#"
            io.stdout:setvbuf("line")
            -- an HTTP check, made inside with_netns
            lvs.with_netns("{d1}", function()
              lvs.monitor{{service={{addr="192.0.2.50:80"}}, check=lvs.check.http{{path="/health"}},
                          interval=0.2, fall=1, rise=1, timeout=0.5}}
            end)
            -- a Lua check that connects, made after lvs.netns, then the process goes back
            lvs.netns("{d1}")
            lvs.monitor{{service={{addr="192.0.2.51:80"}}, interval=0.2, fall=1, rise=1, timeout=0.5,
              check=function(s) local c = lvs.net.connect(s.addr, 0.5) c:close() return true end}}
            lvs.netns()
            print("home", #lvs.services(), lvs.get_service{{addr="192.0.2.50:80"}}.servers[1].weight)
            lvs.run()
            "#
        );
        let mut lvsh = Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .args(["-e", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let d1_save = || sh(&format!("ip netns exec {d1} ipvsadm -S -n"));
        std::thread::sleep(Duration::from_secs(1));
        assert!(
            d1_save().contains("-r 127.0.0.1:18090 -m -w 1\n"),
            "{}",
            d1_save()
        );
        stop(there);
        wait_until(Duration::from_secs(3), "d1's servers to go to weight 0", || {
            d1_save().matches("-r 127.0.0.1:18090 -m -w 0\n").count() == 2
        });
        // the start namespace's table is as it was: nothing was edited there
        assert_same_text(&ipvsadm("-S -n"), rules, "the start namespace's table");
        term(&mut lvsh);
        let (mut out, mut err) = (String::new(), String::new());
        lvsh.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        lvsh.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        stop(here);
        sh(&format!("ip netns del {d1}"));
        assert!(out.starts_with("home\t2\t1\n"), "{out}{err}");
        assert!(!err.contains(" error "), "{err}");
        // both of d1's servers went down (a loaded machine may add a timed-out blip before)
        assert!(err.matches("up -> down").count() >= 2, "{err}");
    });
}

#[test]
fn serial_a_lua_check_that_never_yields_is_failed_at_its_budget_and_the_others_keep_time() {
    in_netns(|| {
        let mut rules = String::from("-A -t 192.0.2.60:80 -s rr\n-A -t 192.0.2.61:80 -s rr\n");
        for p in 1..=5 {
            rules += &format!("-a -t 192.0.2.60:80 -r 127.0.0.1:{} -m -w 1\n", 18100 + p);
        }
        rules += "-a -t 192.0.2.61:80 -r 127.0.0.1:18200 -m -w 1\n";
        ipvsadm_restore(&rules);
        let script = r#"
            io.stdout:setvbuf("line")
            local runs = 0
            lvs.monitor{service={addr="192.0.2.60:80"}, interval=0.2, fall=1, rise=1,
              check=function() runs = runs + 1 return true end}
            local spin = lvs.monitor{service={addr="192.0.2.61:80"}, interval=1, fall=1, rise=1,
              timeout=0.1, check=function() while true do end end}
            lvs.after(4, function()
              print("runs", runs)
              for _, s in ipairs(spin:status().servers) do print("spin", s.state, s.detail) end
              print("ready")
            end)
            lvs.run()
        "#;
        let mut lvsh = Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .args(["-e", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = timed_lines(lvsh.stdout.take().unwrap());
        let mut got = Vec::new();
        loop {
            let (_, l) = lines
                .recv_timeout(Duration::from_secs(20))
                .expect("the director printed its counts");
            if l == "ready" {
                break;
            }
            got.push(l);
        }
        // SIGTERM while the spinning check goes on being run
        let took = term(&mut lvsh);
        let mut err = String::new();
        lvsh.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let runs: u32 = got[0].strip_prefix("runs\t").unwrap().parse().unwrap();
        // 5 servers every 0.2 s for 4 s: 100 probes when nothing holds the loop up; the
        // spinning check takes 0.1 s of every second
        assert!(
            runs >= 80,
            "the other monitor ran {runs} of 100 probes\n{got:?}\n{err}"
        );
        assert!(
            got[1].starts_with("spin\tdown\tcheck raised: budget: the Lua check of 127.0.0.1:18200 ran 0.1 s without yielding"),
            "{got:?}"
        );
        assert!(ipvsadm("-S -n").contains("-r 127.0.0.1:18200 -m -w 0\n"));
        assert!(took < Duration::from_secs(1), "SIGTERM took {took:?}");
    });
}
