//! keepalived (Debian's, checker only) and the lvsh script `lvsh import keepalived` makes of
//! the same configuration, each in a namespace of its own with the same real servers (busybox
//! httpd on the same addresses, a check script reading the same files): the tables they keep
//! are the same, at the start and as real servers fail and come back.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const SERVERS: [&str; 3] = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];

struct Pair {
    ns: [String; 2],
    dir: tempfile::TempDir,
    /// Per namespace, per server: its httpd.
    httpd: Vec<Vec<Option<Child>>>,
    daemons: Vec<Child>,
}

impl Drop for Pair {
    fn drop(&mut self) {
        for c in self
            .httpd
            .iter_mut()
            .flatten()
            .flatten()
            .chain(self.daemons.iter_mut())
        {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.ns {
            let _ = run("ip", &["netns", "del", n]);
        }
    }
}

impl Pair {
    /// Namespaces for keepalived and lvsh, each with the real servers' addresses and httpd.
    fn new(tag: &str) -> Pair {
        require_sandbox();
        let ns = [
            format!("ka-{tag}-{}", std::process::id()),
            format!("lv-{tag}-{}", std::process::id()),
        ];
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "ok\n").unwrap();
        std::fs::write(dir.path().join("health"), "healthy\n").unwrap();
        std::fs::write(dir.path().join("check.sh"), "#!/bin/sh\nexit $(cat \"$0.$1\")\n").unwrap();
        for s in SERVERS {
            std::fs::write(dir.path().join(format!("check.sh.{s}")), "0\n").unwrap();
        }
        let mut p = Pair {
            ns,
            dir,
            httpd: vec![Vec::new(), Vec::new()],
            daemons: Vec::new(),
        };
        for (i, n) in p.ns.clone().iter().enumerate() {
            sh(&format!("ip netns add {n} && ip -n {n} link set lo up"));
            for s in SERVERS {
                sh(&format!("ip -n {n} addr add {s}/32 dev lo"));
            }
            for s in SERVERS {
                let c = p.httpd_at(n, s);
                p.httpd[i].push(Some(c));
            }
        }
        p
    }

    fn httpd_at(&self, ns: &str, server: &str) -> Child {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "busybox",
                "httpd",
                "-f",
                "-p",
                &format!("{server}:80"),
                "-h",
            ])
            .arg(self.dir.path())
            .spawn()
            .unwrap()
    }

    /// Stops (or starts again) a real server's httpd in both namespaces.
    fn serve(&mut self, server: usize, up: bool) {
        for i in 0..2 {
            if up {
                let c = self.httpd_at(&self.ns[i].clone(), SERVERS[server]);
                self.httpd[i][server] = Some(c);
            } else if let Some(mut c) = self.httpd[i][server].take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// What the check script answers for a server (its exit status).
    fn answer(&self, server: usize, code: u8) {
        std::fs::write(
            self.dir.path().join(format!("check.sh.{}", SERVERS[server])),
            format!("{code}\n"),
        )
        .unwrap();
    }

    /// keepalived's checker on `conf` in the first namespace, the imported script in the other.
    fn start(&mut self, conf: &str) {
        let conf = conf.replace("DIR", self.dir.path().to_str().unwrap());
        let file = self.dir.path().join("keepalived.conf");
        std::fs::write(&file, &conf).unwrap();
        let d = self.dir.path();
        let ka = Command::new("ip")
            .args(["netns", "exec", &self.ns[0], "keepalived", "-n", "-G", "-C", "-f"])
            .arg(&file)
            .arg("-p")
            .arg(d.join("ka.pid"))
            .arg("-c")
            .arg(d.join("ka-check.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.daemons.push(ka);
        let script = d.join("imported.lua");
        let out = run(
            env!("CARGO_BIN_EXE_lvsh"),
            &[
                "import",
                "keepalived",
                file.to_str().unwrap(),
                "--partial",
                "-o",
                script.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lv = Command::new("ip")
            .args(["netns", "exec", &self.ns[1], env!("CARGO_BIN_EXE_lvsh")])
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("lvsh.log")).unwrap())
            .spawn()
            .unwrap();
        self.daemons.push(lv);
    }

    fn table(&self, i: usize) -> String {
        sh(&format!("ip netns exec {} ipvsadm -S -n", self.ns[i]))
    }

    /// Waits until both tables are the same (twice, half a second apart) and hold `want`.
    fn same(&self, what: &str, want: &[&str]) {
        let start = Instant::now();
        let mut last = String::new();
        loop {
            let (k, l) = (self.table(0), self.table(1));
            let holds = want.iter().all(|w| k.contains(w));
            if k == l && holds && !k.is_empty() {
                if last == k {
                    eprintln!("{what}: both\n{k}");
                    return;
                }
                last = k;
            } else {
                last.clear();
                if start.elapsed() > Duration::from_secs(20) {
                    let log = std::fs::read_to_string(self.dir.path().join("lvsh.log")).unwrap_or_default();
                    panic!(
                        "{what}: after 20 s keepalived has\n{k}\nlvsh has\n{l}\n(want {want:?})\nlvsh's log:\n{log}"
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

const TIMING: &str = "delay_loop 1";
const CHECK_TIMING: &str = "connect_timeout 1\n      retry 1\n      delay_before_retry 1";

fn real_servers(body: &str, weights: &[u32]) -> String {
    SERVERS
        .iter()
        .zip(weights)
        .map(|(s, w)| format!("  real_server {s} 80 {{\n    weight {w}\n    {body}\n  }}\n"))
        .collect()
}

#[test]
fn keepalived_nat_tcp_check_wrr_persistence() {
    let mut p = Pair::new("nat");
    let check = format!("TCP_CHECK {{\n      {CHECK_TIMING}\n    }}");
    p.start(&format!(
        "virtual_server 192.0.2.10 80 {{\n  {TIMING}\n  lb_algo wrr\n  lb_kind NAT\n  persistence_timeout 50\n  protocol TCP\n{}}}\n",
        real_servers(&check, &[1, 2, 3])
    ));
    p.same("at the start", &["-r 198.51.100.2:80 -m -w 2"]);
    p.serve(1, false);
    p.same("198.51.100.2 down", &["-r 198.51.100.3:80"]);
    assert!(!p.table(0).contains("198.51.100.2"), "keepalived removes it");
    p.serve(1, true);
    p.same("198.51.100.2 back", &["-r 198.51.100.2:80 -m -w 2"]);
}

#[test]
fn keepalived_dr_http_get_two_urls_inhibit_on_failure() {
    let mut p = Pair::new("dr");
    let check = format!(
        "inhibit_on_failure\n    HTTP_GET {{\n      url {{\n        path /\n      }}\n      url {{\n        path /health\n        status_code 200\n      }}\n      {CHECK_TIMING}\n    }}"
    );
    p.start(&format!(
        "virtual_server 192.0.2.11 80 {{\n  {TIMING}\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n{}}}\n",
        real_servers(&check, &[1, 1, 1])
    ));
    p.same("at the start", &["-r 198.51.100.1:80 -g -w 1"]);
    // the second url fails: inhibited, weight 0
    std::fs::remove_file(p.dir.path().join("health")).unwrap();
    p.same("/health gone", &["-r 198.51.100.1:80 -g -w 0"]);
    std::fs::write(p.dir.path().join("health"), "healthy\n").unwrap();
    p.same("/health back", &["-r 198.51.100.1:80 -g -w 1"]);
}

#[test]
fn keepalived_tun_fwmark_connect_port() {
    let mut p = Pair::new("tun");
    let check = format!("TCP_CHECK {{\n      connect_port 80\n      {CHECK_TIMING}\n    }}");
    let servers: String = SERVERS
        .iter()
        .map(|s| format!("  real_server {s} {{\n    weight 1\n    {check}\n  }}\n"))
        .collect();
    p.start(&format!(
        "virtual_server fwmark 5 {{\n  {TIMING}\n  lb_algo sh\n  lb_kind TUN\n  protocol TCP\n{servers}}}\n"
    ));
    p.same("at the start", &["-A -f 5 -s sh", "-r 198.51.100.3:0 -i -w 1"]);
    p.serve(2, false);
    p.same("198.51.100.3 down", &["-r 198.51.100.1:0 -i"]);
    p.serve(2, true);
    p.same("198.51.100.3 back", &["-r 198.51.100.3:0 -i -w 1"]);
}

#[test]
fn keepalived_virtual_server_group_with_a_range_and_a_fwmark() {
    let mut p = Pair::new("grp");
    let check = format!("HTTP_GET {{\n      url {{\n        path /\n      }}\n      {CHECK_TIMING}\n    }}");
    p.start(&format!(
        "virtual_server_group web {{\n  192.0.2.20-21 80\n  fwmark 9\n}}\nvirtual_server group web {{\n  {TIMING}\n  lb_algo wlc\n  lb_kind NAT\n  protocol TCP\n{}}}\n",
        real_servers(&check, &[1, 1, 1])
    ));
    p.same("at the start", &["-A -t 192.0.2.21:80 -s wlc", "-A -f 9 -s wlc"]);
    p.serve(0, false);
    p.same("198.51.100.1 down", &["-r 198.51.100.2:80"]);
    p.serve(0, true);
    p.same("198.51.100.1 back", &["-a -t 192.0.2.20:80 -r 198.51.100.1:80"]);
}

#[test]
fn keepalived_sorry_server_when_every_real_server_is_down() {
    let mut p = Pair::new("sorry");
    let check = format!("TCP_CHECK {{\n      {CHECK_TIMING}\n    }}");
    p.start(&format!(
        "virtual_server 192.0.2.12 80 {{\n  {TIMING}\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  sorry_server 203.0.113.9 80\n{}}}\n",
        real_servers(&check, &[1, 1, 1])
    ));
    p.same("at the start", &["-r 198.51.100.1:80 -m -w 1"]);
    for s in 0..3 {
        p.serve(s, false);
    }
    p.same("all down: the sorry server", &["-r 203.0.113.9:80"]);
    p.serve(1, true);
    p.same("one back: the sorry server out", &["-r 198.51.100.2:80 -m -w 1"]);
    assert!(!p.table(1).contains("203.0.113.9"));
}

#[test]
fn keepalived_misc_check_with_misc_dynamic_weights() {
    let mut p = Pair::new("misc");
    let servers: String = SERVERS
        .iter()
        .map(|s| {
            format!(
                "  real_server {s} 80 {{\n    weight 1\n    MISC_CHECK {{\n      misc_path \"/bin/sh DIR/check.sh {s}\"\n      misc_timeout 2\n      misc_dynamic\n      retry 1\n      delay_before_retry 1\n    }}\n  }}\n"
            )
        })
        .collect();
    p.start(&format!(
        "virtual_server 192.0.2.13 80 {{\n  {TIMING}\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n{servers}}}\n"
    ));
    p.same("at the start", &["-r 198.51.100.1:80 -m -w 1"]);
    // exit 2+N: weight N
    p.answer(0, 7);
    p.same("198.51.100.1 asks for weight 5", &["-r 198.51.100.1:80 -m -w 5"]);
    p.answer(1, 1);
    p.same("198.51.100.2 fails", &["-r 198.51.100.1:80 -m -w 5"]);
    assert!(!p.table(0).contains("198.51.100.2"));
    p.answer(1, 0);
    p.same("198.51.100.2 back", &["-r 198.51.100.2:80 -m -w 1"]);
}

/// lvsh --shadow beside keepalived in one namespace: quiet while they agree, and one
/// disagreement (the server and both views) when one of lvsh's checks asks for another page.
#[test]
fn shadow_mode_beside_keepalived_reports_only_real_disagreements() {
    let mut p = Pair::new("shadow");
    let check = format!("HTTP_GET {{\n      url {{\n        path /\n      }}\n      {CHECK_TIMING}\n    }}");
    let conf = format!(
        "virtual_server 192.0.2.14 80 {{\n  {TIMING}\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n{}}}\n",
        real_servers(&check, &[1, 1, 1])
    );
    p.start(&conf);
    p.same(
        "keepalived and a second lvsh agree",
        &["-r 198.51.100.3:80 -m -w 1"],
    );
    let d = p.dir.path().to_path_buf();
    let script = d.join("imported.lua");
    let shadow = |log: &std::path::Path, script: &std::path::Path| {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &p.ns[0],
                env!("CARGO_BIN_EXE_lvsh"),
                "--shadow",
                "--name",
                "shadow",
            ])
            .arg(script)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap()
    };
    let before = p.table(0);
    let log = d.join("shadow.log");
    let mut s = shadow(&log, &script);
    std::thread::sleep(Duration::from_secs(32));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("shadow: the table is the other checker's"),
        "{text}"
    );
    assert!(
        !text.contains("the kernel has"),
        "disagreements in steady state:\n{text}"
    );
    assert_eq!(p.table(0), before, "shadow mode wrote to the table");
    sh(&format!("kill -TERM {}", s.id()));
    let _ = s.wait();
    // one server's check asks for a page that is not there
    let imported = std::fs::read_to_string(&script).unwrap();
    let edited: String = imported
        .lines()
        .map(|l| {
            if l.contains("[\"198.51.100.2:80\"]") {
                l.replace("path = \"/\"", "path = \"/nope\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(edited, imported);
    let other = d.join("edited.lua");
    std::fs::write(&other, edited).unwrap();
    let log = d.join("shadow2.log");
    let mut s = shadow(&log, &other);
    let start = Instant::now();
    let found = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("the kernel has") {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no disagreement reported:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(3));
    sh(&format!("kill -USR1 {}", s.id()));
    std::thread::sleep(Duration::from_secs(1));
    sh(&format!("kill -TERM {}", s.id()));
    let _ = s.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    eprintln!("{text}");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("shadow: TCP 192.0.2.14:80 ") && l.contains("the kernel has") && !l.contains(" for ")
        })
        .collect();
    assert_eq!(lines.len(), 1, "{found}");
    assert!(
        lines[0].contains("198.51.100.2:80: the kernel has weight 1, lvsh's checks say down, weight 0"),
        "{}",
        lines[0]
    );
    assert!(
        text.contains("shadow (SIGUSR1): 1 disagreement(s) now, 1 since the start"),
        "{text}"
    );
    assert!(text.contains("shadow (SIGTERM): 1 disagreement(s) now"), "{text}");
    assert_eq!(p.table(0), before, "shadow mode wrote to the table");
}
