//! Monitors against the real kernel: busybox httpd real servers on loopback are stopped and
//! started, and `ipvsadm -S -n` (the oracle) must show lvsh's verdicts within the deadlines
//! the issue sets (interval*fall + timeout + 1 s to go out; rise checks to come back).

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::support::*;

/// A busybox httpd on 127.0.0.1:port serving /health from its own directory.
pub struct Httpd {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Httpd {
    pub fn new(port: u16) -> Httpd {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("health"), "ok\n").unwrap();
        let mut h = Httpd {
            port,
            dir,
            child: None,
        };
        h.start();
        h
    }

    pub fn start(&mut self) {
        let child = Command::new("busybox")
            .args(["httpd", "-f", "-p", &format!("127.0.0.1:{}", self.port), "-h"])
            .arg(self.dir.path())
            .spawn()
            .expect("busybox httpd");
        self.child = Some(child);
        wait_until(Duration::from_secs(5), "httpd to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn saved() -> String {
    ipvsadm("-S -n")
}

/// Waits for `ipvsadm -S -n` to contain (or, with `present` false, lack) `line`.
pub fn wait_rule(line: &str, present: bool, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let s = saved();
        if s.lines().any(|l| l == line) == present {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "after {limit:?}, `{line}` {} in ipvsadm -S -n:\n{s}",
            if present { "is not" } else { "is still" }
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const EVENTS: &str = r#"
    io.stdout:setvbuf("line")
    local function on_change(ev) print(("CHANGE %s %s->%s %s"):format(ev.server, ev.from, ev.to, ev.reason)) end
    local function on_quorum(up, ev) print(("QUORUM %s %d"):format(tostring(up), ev.weight)) end
"#;

#[test]
fn inhibit_sorry_and_quorum_follow_the_servers() {
    in_netns(|| {
        let mut a = Httpd::new(18081);
        let mut b = Httpd::new(18082);
        ipvsadm_restore(
            "-A -t 192.0.2.110:80 -s wrr\n-a -t 192.0.2.110:80 -r 127.0.0.1:18081 -m -w 3\n\
             -a -t 192.0.2.110:80 -r 127.0.0.1:18082 -m -w 2\n",
        );
        // interval 0.5, fall 2, timeout 1: out within 0.5*2 + 1 + 1 = 3 s
        let (interval, fall, rise, timeout) = (0.5, 2.0, 2.0, 1.0);
        let out_limit = Duration::from_secs_f64(interval * fall + timeout + 1.0);
        let back_limit = Duration::from_secs_f64(interval * rise + timeout + 1.0);
        let lvsh = Background::start_chunk(&format!(
            "{EVENTS}
            lvs.monitor{{service={{addr='192.0.2.110:80'}}, check=lvs.check.http{{path='/health', body='^ok'}},
              interval={interval}, timeout={timeout}, rise={rise}, fall={fall}, sorry='127.0.0.1:18089',
              quorum=4, hysteresis=1, on_change=on_change, on_quorum=on_quorum}}
            print('READY')
            print('RUN', lvs.run())"
        ));
        std::thread::sleep(Duration::from_secs(1));
        assert!(saved().contains("-r 127.0.0.1:18081 -m -w 3"), "{}", saved());

        a.stop();
        let t = wait_rule("-a -t 192.0.2.110:80 -r 127.0.0.1:18081 -m -w 0", true, out_limit);
        eprintln!("A out after {t:?} (limit {out_limit:?})");
        b.stop();
        wait_rule("-a -t 192.0.2.110:80 -r 127.0.0.1:18082 -m -w 0", true, out_limit);
        wait_rule(
            "-a -t 192.0.2.110:80 -r 127.0.0.1:18089 -m -w 1",
            true,
            Duration::from_secs(1),
        );

        a.start();
        let t = wait_rule(
            "-a -t 192.0.2.110:80 -r 127.0.0.1:18081 -m -w 3",
            true,
            back_limit,
        );
        eprintln!("A back after {t:?} (limit {back_limit:?})");
        wait_rule(
            "-a -t 192.0.2.110:80 -r 127.0.0.1:18089 -m -w 1",
            false,
            Duration::from_secs(1),
        );
        b.start();
        wait_rule(
            "-a -t 192.0.2.110:80 -r 127.0.0.1:18082 -m -w 2",
            true,
            back_limit,
        );
        std::thread::sleep(Duration::from_millis(300));

        let out = lvsh.stop();
        let changes: Vec<&str> = out
            .iter()
            .filter(|l| l.starts_with("CHANGE"))
            .map(String::as_str)
            .collect();
        assert_eq!(
            changes,
            [
                "CHANGE 127.0.0.1:18081 up->down 2 consecutive failures",
                "CHANGE 127.0.0.1:18082 up->down 2 consecutive failures",
                "CHANGE 127.0.0.1:18081 down->up 2 consecutive successes",
                "CHANGE 127.0.0.1:18082 down->up 2 consecutive successes",
            ],
            "{out:?}"
        );
        // live weight 5 -> 2 (below 4-1: lost) -> 0 -> 3 (not yet 4+1) -> 5 (met): one call per crossing
        let quorum: Vec<&str> = out
            .iter()
            .filter(|l| l.starts_with("QUORUM"))
            .map(String::as_str)
            .collect();
        assert_eq!(quorum, ["QUORUM false 2", "QUORUM true 5"], "{out:?}");
        assert!(out.iter().any(|l| l == "RUN\tSIGTERM"), "{out:?}");
    });
}

#[test]
fn remove_action_deletes_and_puts_back_and_follows_the_table() {
    in_netns(|| {
        let mut a = Httpd::new(18081);
        let _b = Httpd::new(18082);
        ipvsadm_restore(
            "-A -t 192.0.2.111:80 -s wlc\n-a -t 192.0.2.111:80 -r 127.0.0.1:18081 -m -w 4 -x 100 -y 50\n\
             -a -t 192.0.2.111:80 -r 127.0.0.1:18082 -m -w 1\n",
        );
        let lvsh = Background::start_chunk(&format!(
            "{EVENTS}
            lvs.monitor{{service={{addr='192.0.2.111:80'}}, check='tcp', interval=0.3, timeout=1, rise=1, fall=1,
              action='remove', on_change=on_change}}
            print('READY')
            lvs.run()"
        ));
        let limit = Duration::from_secs_f64(0.3 + 1.0 + 1.0);
        a.stop();
        wait_rule("-a -t 192.0.2.111:80 -r 127.0.0.1:18081 -m -w 4", false, limit);
        a.start();
        wait_rule("-a -t 192.0.2.111:80 -r 127.0.0.1:18081 -m -w 4", true, limit);
        // the thresholds came back too
        let t = ipvsadm("-L -n --thresholds");
        assert!(
            t.lines()
                .any(|l| l.contains("127.0.0.1:18081") && l.contains("100") && l.contains("50")),
            "{t}"
        );

        // a server someone else deletes is not put back; one added later is watched
        ipvsadm("-d -t 192.0.2.111:80 -r 127.0.0.1:18082");
        ipvsadm("-a -t 192.0.2.111:80 -r 127.0.0.1:18083 -m -w 2");
        wait_rule(
            "-a -t 192.0.2.111:80 -r 127.0.0.1:18083 -m -w 2",
            false,
            Duration::from_secs(3),
        );
        std::thread::sleep(Duration::from_millis(700));
        assert!(!saved().contains("127.0.0.1:18082"), "{}", saved());
        let out = lvsh.stop();
        assert!(
            out.iter()
                .any(|l| l.starts_with("CHANGE 127.0.0.1:18083 up->down")),
            "{out:?}"
        );
    });
}

#[test]
fn exec_checks_set_weights_and_are_killed_at_their_timeout() {
    in_netns(|| {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("code");
        std::fs::write(&code, "12").unwrap();
        ipvsadm_restore("-A -t 192.0.2.112:80 -s wrr\n-a -t 192.0.2.112:80 -r 127.0.0.1:80 -m -w 1\n");
        let out = lvsh_ok(&format!(
            r#"
            local ok, detail, ms, w = lvs.check.exec{{cmd={{"/bin/sh", "-c", "exit 7"}}}}
            print("direct", ok, detail, w)
            -- the program and its children are killed (process group) at the timeout
            local t0 = os.time()
            local ok, detail = lvs.check.exec{{cmd={{"/bin/sh", "-c", "sleep 97.5 & sleep 98.5"}}, timeout=0.5}}
            print("hang", ok, detail)
            local m = lvs.monitor{{service={{addr="192.0.2.112:80"}}, interval=0.2, rise=1, fall=1,
              check=lvs.check.exec{{cmd={{"/bin/sh", "-c", "read c < {code}; exit $c", "{{ip}}"}}}}}}
            lvs.sleep(1)
            io.write(lvs.save())
            local f = io.open("{code}", "w"); f:write("1"); f:close()
            lvs.sleep(1)
            io.write(lvs.save())
            print("detail", m:status().servers[1].detail)
            "#,
            code = code.display()
        ));
        assert!(out.contains("direct\ttrue\texit 7, weight 5\t5\n"), "{out}");
        assert!(out.contains("hang\tfalse\t/bin/sh killed after 0.5s\n"), "{out}");
        let left = run("pgrep", &["-f", "sleep 9[78].5"]);
        assert!(
            !left.status.success(),
            "children of the killed check remain: {}",
            String::from_utf8_lossy(&left.stdout)
        );
        assert!(
            out.contains("-a -t 192.0.2.112:80 -r 127.0.0.1:80 -m -w 10\n"),
            "{out}"
        );
        assert!(
            out.contains("-a -t 192.0.2.112:80 -r 127.0.0.1:80 -m -w 0\n"),
            "{out}"
        );
        assert!(out.contains("detail\texit 1\n"), "{out}");
    });
}

#[test]
fn lua_checks_that_fail_raise_or_return_garbage_take_servers_out() {
    in_netns(|| {
        ipvsadm_restore(
            "-A -t 192.0.2.113:80 -s rr\n-a -t 192.0.2.113:80 -r 127.0.0.1:81 -m -w 1\n\
             -a -t 192.0.2.113:80 -r 127.0.0.1:82 -m -w 1\n-a -t 192.0.2.113:80 -r 127.0.0.1:83 -m -w 1\n\
             -a -t 192.0.2.113:80 -r 127.0.0.1:84 -m -w 1\n",
        );
        let out = lvsh_ok(
            r#"
            local function check(s)
              lvs.sleep(0.01)
              if s.port == 81 then return true, "fine" end
              if s.port == 82 then error("database is down") end
              if s.port == 83 then return "yes" end
              return false, "said no"
            end
            local m = lvs.monitor{service={addr="192.0.2.113:80"}, check=check, interval=0.2, fall=1, rise=1}
            lvs.sleep(1)
            io.write(lvs.save())
            for _, s in ipairs(m:status().servers) do print(s.server, s.state, s.detail) end
            "#,
        );
        assert!(out.contains("-r 127.0.0.1:81 -m -w 1\n"), "{out}");
        for p in [82, 83, 84] {
            assert!(out.contains(&format!("-r 127.0.0.1:{p} -m -w 0\n")), "{out}");
        }
        assert!(out.contains("127.0.0.1:81\tup\tfine\n"), "{out}");
        assert!(out.contains("127.0.0.1:82\tdown\tcheck raised: "), "{out}");
        assert!(out.contains("database is down"), "{out}");
        assert!(
            out.contains("127.0.0.1:83\tdown\tcheck returned \"yes\" (string), not true or false\n"),
            "{out}"
        );
        assert!(out.contains("127.0.0.1:84\tdown\tsaid no\n"), "{out}");
    });
}

#[test]
fn max_down_keeps_servers_in_and_calls_on_panic_once() {
    in_netns(|| {
        let mut rules = String::from("-A -t 192.0.2.114:80 -s rr\n");
        for p in 91..=94 {
            rules.push_str(&format!("-a -t 192.0.2.114:80 -r 127.0.0.1:{p} -m -w 1\n"));
        }
        ipvsadm_restore(&rules);
        let out = lvsh_ok(
            r#"
            local panics = 0
            lvs.monitor{service={addr="192.0.2.114:80"}, check="tcp", interval=0.2, fall=1, max_down="50%",
              on_panic=function(ev) panics = panics + 1 end}
            lvs.sleep(1.2)
            io.write(lvs.save())
            print("panics", panics)
            "#,
        );
        assert_eq!(out.matches("-m -w 0\n").count(), 2, "{out}");
        assert_eq!(out.matches("-m -w 1\n").count(), 2, "{out}");
        assert!(out.contains("panics\t1\n"), "{out}");
    });
}

#[test]
fn a_server_behind_two_services_is_probed_once_per_interval() {
    in_netns(|| {
        let _a = Httpd::new(18081);
        ipvsadm_restore(
            "-A -t 192.0.2.115:80 -s rr\n-a -t 192.0.2.115:80 -r 127.0.0.1:18081 -m -w 1\n\
             -A -t 192.0.2.116:80 -s rr\n-a -t 192.0.2.116:80 -r 127.0.0.1:18081 -m -w 1\n",
        );
        let out = lvsh_ok(
            r#"
            local chk = lvs.check.http{path="/health"}
            local m1 = lvs.monitor{service={addr="192.0.2.115:80"}, check=chk, interval=0.2}
            local m2 = lvs.monitor{service={addr="192.0.2.116:80"}, check=chk, interval=0.2}
            lvs.sleep(2.1)
            print(lvs.probes_run(), m1:status().checks, m2:status().checks)
            "#,
        );
        let n: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
        // 10 intervals; at least 3 probes even when the parallel tests load the sandbox's
        // one CPU (CI saw 2 in 1.1 s)
        assert!(n[1] >= 3 && n[1] == n[2], "{out}");
        assert_eq!(n[0], n[1], "one probe per interval feeds both monitors: {out}");
    });
}

/// A DNS responder: A 192.0.2.80 for www.example.org, NXDOMAIN for anything else.
fn dns_responder(sock: std::net::UdpSocket) {
    use hickory_proto::op::{Message, MessageType, ResponseCode};
    use hickory_proto::rr::{Name, RData, Record};
    let mut buf = [0u8; 512];
    while let Ok((n, peer)) = sock.recv_from(&mut buf) {
        let Ok(mut m) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        m.metadata.message_type = MessageType::Response;
        let name = m
            .queries
            .first()
            .map(|q| q.name().to_string())
            .unwrap_or_default();
        if name == "www.example.org." {
            let a = RData::A("192.0.2.80".parse().unwrap());
            m.answers.push(Record::from_rdata(
                Name::from_ascii("www.example.org.").unwrap(),
                60,
                a,
            ));
        } else {
            m.metadata.response_code = ResponseCode::NXDomain;
        }
        let _ = sock.send_to(&m.to_vec().unwrap(), peer);
    }
}

#[test]
fn udp_and_dns_checks_against_real_responders() {
    in_netns(|| {
        let echo = std::net::UdpSocket::bind("127.0.0.1:5300").unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = echo.recv_from(&mut buf) {
                let mut reply = b"pong:".to_vec();
                reply.extend_from_slice(&buf[..n]);
                let _ = echo.send_to(&reply, peer);
            }
        });
        let dns = std::net::UdpSocket::bind("127.0.0.1:5353").unwrap();
        std::thread::spawn(move || dns_responder(dns));
        let out = lvsh_ok(
            r#"
            local function show(tag, ok, detail) print(tag, ok, detail) end
            show("udp", lvs.check.udp{addr="127.0.0.1:5300", send="ping", expect="^pong:ping$"})
            show("udp-mismatch", lvs.check.udp{addr="127.0.0.1:5300", send="ping", expect="^nope"})
            show("udp-closed", lvs.check.udp{addr="127.0.0.1:5301", send="ping", timeout=1})
            show("dns", lvs.check.dns{addr="127.0.0.1:5353", name="www.example.org"})
            show("dns-aaaa", lvs.check.dns{addr="127.0.0.1:5353", name="www.example.org", type="AAAA"})
            show("dns-nx", lvs.check.dns{addr="127.0.0.1:5353", name="nope.example.org"})
            show("tcp-closed", lvs.check.tcp{addr="127.0.0.1:5300", timeout=1})
            print(pcall(lvs.check.dns, {addr="127.0.0.1", name="x", type="BOGUS"}))
            "#,
        );
        for want in [
            "udp\ttrue\t9 bytes, matched\n",
            "udp-mismatch\tfalse\treply does not match \"^nope\"\n",
            "udp-closed\tfalse\tudp 127.0.0.1:5301: connection refused\n",
            "dns\ttrue\tA 192.0.2.80\n",
            "dns-aaaa\tfalse\tno AAAA record for www.example.org\n",
            "dns-nx\tfalse\trcode Non-Existent Domain\n",
            "tcp-closed\tfalse\tconnect 127.0.0.1:5300: connection refused\n",
        ] {
            assert!(out.contains(want), "missing {want:?} in:\n{out}");
        }
        assert!(out.contains("false\t") && out.contains("BOGUS"), "{out}");
    });
}

#[test]
fn callbacks_that_raise_are_logged_and_monitors_go_on() {
    in_netns(|| {
        ipvsadm_restore("-A -t 192.0.2.117:80 -s rr\n-a -t 192.0.2.117:80 -r 127.0.0.1:97 -m -w 1\n");
        let (code, out, err) = lvsh(
            r#"
            local m = lvs.monitor{service={addr="192.0.2.117:80"}, check="tcp", interval=0.2, fall=1,
              on_change=function(ev) error("pager is down") end}
            lvs.sleep(0.8)
            io.write(lvs.save())
            print(#lvs.monitors(), tostring(lvs.monitors()[1]))
            lvs.show_monitors()
            m:stop()
            print(#lvs.monitors())
            "#,
        );
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("-a -t 192.0.2.117:80 -r 127.0.0.1:97 -m -w 0\n"),
            "{out}"
        );
        assert!(
            out.contains("1\tmonitor TCP 192.0.2.117:80 (1 servers)\n"),
            "{out}"
        );
        assert!(
            out.contains("│ TCP 192.0.2.117:80 │ 127.0.0.1:97 │ down"),
            "{out}"
        );
        assert!(out.trim_end().ends_with('0'), "{out}");
        assert!(
            err.contains("on_change: ") && err.contains("pager is down"),
            "{err}"
        );
    });
}

#[test]
fn https_checks_with_and_without_a_server_name() {
    in_netns(|| {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        sh(&format!(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=www.example.org -keyout {} -out {} 2>/dev/null",
            key.display(),
            cert.display()
        ));
        let mut server = Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:8443", "-www", "-cert"])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_until(Duration::from_secs(10), "s_server to listen", || {
            std::net::TcpStream::connect("127.0.0.1:8443").is_ok()
        });
        let out = lvsh_ok(
            r#"
            print("ip", lvs.check.http{addr="127.0.0.1:8443", tls=true, body="s_server"})
            print("sni", lvs.check.http{addr="127.0.0.1:8443", tls=true, host="www.example.org"})
            print("plain", lvs.check.http{addr="127.0.0.1:8443", timeout=2})
            "#,
        );
        let _ = server.kill();
        let _ = server.wait();
        assert!(out.contains("ip\ttrue\tstatus 200\t"), "{out}");
        assert!(out.contains("sni\ttrue\tstatus 200\t"), "{out}");
        assert!(out.contains("plain\tfalse\t"), "{out}");
    });
}

#[test]
fn a_deleted_service_is_reported_and_its_servers_no_longer_checked() {
    in_netns(|| {
        ipvsadm_restore("-A -t 192.0.2.118:80 -s rr\n-a -t 192.0.2.118:80 -r 127.0.0.1:9 -m -w 1\n");
        let (code, out, err) = lvsh(
            r#"
            local m = lvs.monitor{service={addr="192.0.2.118:80"}, check="tcp", interval=0.2, fall=1}
            lvs.sleep(0.5)
            lvs.del_service{addr="192.0.2.118:80"}
            lvs.sleep(0.5)
            local before = m:status().checks
            lvs.sleep(0.5)
            print(#m:status().servers, m:status().checks - before)
            print(pcall(lvs.monitor, {service={addr="192.0.2.118:80"}, check="tcp"}))
            "#,
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("0\t0\n"), "{out}");
        assert!(
            out.contains("false\tmonitor: no such service: TCP 192.0.2.118:80"),
            "{out}"
        );
        assert!(err.contains("the service is gone from the kernel"), "{err}");
    });
}
