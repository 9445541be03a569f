//! The checker lvsh imports from (keepalived or ldirectord, Debian's) and the script
//! `lvsh import` makes of the same configuration, each in a namespace of its own with the same
//! real servers (busybox httpd, dnsmasq and aiosmtpd on the same addresses, a check script
//! reading the same files): the tables they keep are the same at the start, and as real
//! servers fail and come back both make the same change, each within the bound the
//! configuration's timing gives.

mod keepalived;
mod ldirectord;
mod shadow;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

pub const SERVERS: [&str; 3] = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];

/// What a real server runs, besides its httpd.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Daemon {
    Httpd,
    /// dnsmasq: A 192.0.2.80 for www.example.org.
    Dns,
    /// aiosmtpd: greets with 220, answers HELO with 250.
    Smtp,
}

pub struct Pair {
    pub ns: [String; 2],
    pub dir: tempfile::TempDir,
    /// What runs for a real server: the daemon, the namespace, the server, the process.
    responders: Vec<(Daemon, usize, usize, Option<Child>)>,
    daemons: Vec<Child>,
    peer: &'static str,
    tag: String,
}

impl Drop for Pair {
    fn drop(&mut self) {
        for c in self
            .responders
            .iter_mut()
            .filter_map(|r| r.3.as_mut())
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

/// The timing keepalived's configuration gives its checkers (ldirectord's: `delay_loop` is
/// checkinterval, `retry` failurecount − 1, `dbr` the checkinterval too).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub delay_loop: f64,
    pub connect: f64,
    pub retry: u32,
    pub dbr: f64,
    /// What the sandbox adds to the bound: reading both tables takes a while when several
    /// tests share its one slow CPU, and processes take a moment to start or die.
    pub slack: f64,
}

/// The slack for keepalived and lvsh.
pub const SLACK: f64 = 5.0;

impl Timing {
    /// A real server that fails: the next check comes within delay_loop, and it is retried
    /// `retry` times `dbr` apart, each waiting at most connect.
    pub fn down(&self) -> Duration {
        Duration::from_secs_f64(
            self.delay_loop + self.connect + f64::from(self.retry) * (self.dbr + self.connect) + self.slack,
        )
    }

    /// A real server that comes back (counted from when it listens again): `checks` passing
    /// checks a delay_loop apart (keepalived's HTTP_GET checks its urls again, one per
    /// delay_loop, before it is up), after at most one round of retries (keepalived 2.2.7
    /// retries a down TCP checker too, `dbr` apart, before it waits a delay_loop).
    pub fn up(&self, checks: u32) -> Duration {
        Duration::from_secs_f64(
            f64::from(checks) * (self.delay_loop + self.connect)
                + f64::from(self.retry) * (self.dbr + self.connect)
                + self.slack,
        )
    }

    /// The checker's own lines.
    pub fn check_lines(&self) -> String {
        format!(
            "connect_timeout {}\n      retry {}\n      delay_before_retry {}",
            self.connect, self.retry, self.dbr
        )
    }
}

impl Pair {
    /// Namespaces for the peer and lvsh, each with the real servers' addresses and httpd.
    pub fn new(tag: &str) -> Pair {
        require_sandbox();
        let ns = [
            format!("pe-{tag}-{}", std::process::id()),
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
            responders: Vec::new(),
            daemons: Vec::new(),
            peer: "keepalived",
            tag: tag.to_string(),
        };
        for n in p.ns.clone() {
            sh(&format!("ip netns add {n} && ip -n {n} link set lo up"));
            for s in SERVERS {
                sh(&format!("ip -n {n} addr add {s}/32 dev lo"));
            }
        }
        p.with(Daemon::Httpd);
        p
    }

    /// Runs `d` for every real server in both namespaces.
    pub fn with(&mut self, d: Daemon) {
        for ns in 0..2 {
            for server in 0..SERVERS.len() {
                let c = self.spawn(d, ns, server);
                self.responders.push((d, ns, server, Some(c)));
            }
        }
        for server in 0..SERVERS.len() {
            self.listening(server);
        }
    }

    fn spawn(&self, d: Daemon, ns: usize, server: usize) -> Child {
        let ip = SERVERS[server];
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns[ns]]);
        match d {
            Daemon::Httpd => {
                c.args(["busybox", "httpd", "-f", "-p", &format!("{ip}:80"), "-h"])
                    .arg(self.dir.path());
            }
            Daemon::Dns => {
                c.args([
                    "dnsmasq",
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--bind-interfaces",
                    "--pid-file=",
                    "--user=root",
                    &format!("--listen-address={ip}"),
                    "--address=/www.example.org/192.0.2.80",
                ]);
            }
            Daemon::Smtp => {
                c.args(["aiosmtpd", "-n", "-l", &format!("{ip}:25")]);
            }
        }
        c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
    }

    /// Stops (or starts again) everything a real server runs, in both namespaces; started
    /// again, it returns once everything listens.
    pub fn serve(&mut self, server: usize, up: bool) {
        for i in 0..self.responders.len() {
            let (d, ns, s, _) = self.responders[i];
            if s != server {
                continue;
            }
            if up {
                if self.responders[i].3.is_none() {
                    self.responders[i].3 = Some(self.spawn(d, ns, s));
                }
            } else if let Some(mut c) = self.responders[i].3.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if up {
            self.listening(server);
        }
    }

    /// Waits until what `server` runs listens in both namespaces (Python and dnsmasq take
    /// seconds to start in a busy sandbox; a bound on the checkers starts after that).
    fn listening(&self, server: usize) {
        let ip = SERVERS[server];
        let start = Instant::now();
        for (d, ns, s, _) in &self.responders {
            if *s != server {
                continue;
            }
            let (opt, port) = match d {
                Daemon::Httpd => ("-Hltn", 80),
                Daemon::Smtp => ("-Hltn", 25),
                Daemon::Dns => ("-Hlun", 53),
            };
            while sh(&format!(
                "ip netns exec {} ss {opt} src {ip}:{port}",
                self.ns[*ns]
            ))
            .trim()
            .is_empty()
            {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "{d:?} on {ip} never listened"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// What the check script answers for a server (its exit status).
    pub fn answer(&self, server: usize, code: u8) {
        std::fs::write(
            self.dir.path().join(format!("check.sh.{}", SERVERS[server])),
            format!("{code}\n"),
        )
        .unwrap();
    }

    /// keepalived's checker on `conf` in the first namespace, the imported script in the other.
    pub fn start(&mut self, conf: &str) {
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
        self.start_lvsh("keepalived", &file);
    }

    /// ldirectord on `cf` (in the foreground, with -d) in the first namespace, the imported
    /// script in the other. Its pid file is per configuration name: each test has its own.
    pub fn start_ldirectord(&mut self, cf: &str) {
        self.peer = "ldirectord";
        let d = self.dir.path().to_path_buf();
        let file = d.join(format!("ld-{}-{}.cf", self.tag, std::process::id()));
        std::fs::write(&file, cf).unwrap();
        let ld = Command::new("ip")
            .args(["netns", "exec", &self.ns[0], "/usr/sbin/ldirectord", "-d"])
            .arg(&file)
            .arg("start")
            .current_dir(&d)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("ldirectord.log")).unwrap())
            .spawn()
            .unwrap();
        self.daemons.push(ld);
        self.start_lvsh("ldirectord", &file);
    }

    fn start_lvsh(&mut self, kind: &str, file: &std::path::Path) {
        let d = self.dir.path();
        let script = d.join("imported.lua");
        let out = run(
            env!("CARGO_BIN_EXE_lvsh"),
            &[
                "import",
                kind,
                file.to_str().unwrap(),
                "--partial",
                "-o",
                script.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // each its own name: every test's script is imported.lua
        let name = format!("imp-{}-{}", self.tag, std::process::id());
        let lv = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns[1],
                env!("CARGO_BIN_EXE_lvsh"),
                "--name",
                &name,
            ])
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("lvsh.log")).unwrap())
            .spawn()
            .unwrap();
        self.daemons.push(lv);
    }

    /// SIGTERM to the peer and to lvsh, and waits for both to end.
    pub fn stop_both(&mut self) {
        for c in &self.daemons {
            sh(&format!("kill -TERM {}", c.id()));
        }
        let start = Instant::now();
        for c in &mut self.daemons {
            while c.try_wait().unwrap().is_none() {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "a checker did not stop"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    pub fn table(&self, i: usize) -> String {
        sh(&format!("ip netns exec {} ipvsadm -S -n", self.ns[i]))
    }

    fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        let peer = read("ldirectord.log");
        let tail: Vec<&str> = peer.lines().rev().take(40).collect();
        format!(
            "lvsh's log:\n{}\n{}",
            read("lvsh.log"),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    /// Waits until both tables are the same (twice, half a second apart) and hold `want`.
    /// Only for the start: it has no bound.
    pub fn same(&self, what: &str, want: &[&str]) {
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
                // ldirectord runs ipvsadm -L twice before each change it makes at its start
                if start.elapsed() > Duration::from_secs(60) {
                    panic!(
                        "{what}: after 60 s {} has\n{k}\nlvsh has\n{l}\n(want {want:?})\n{}",
                        self.peer,
                        self.logs()
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// After a real server failed or came back (just now): the time each side took to hold
    /// `want` and none of `gone`, which must be within `bound`, and then the same table.
    pub fn change(&self, what: &str, want: &[&str], gone: &[&str], bound: Duration) {
        let since = Instant::now();
        let holds = |t: &str| want.iter().all(|w| t.contains(w)) && !gone.iter().any(|g| t.contains(g));
        let mut at: [Option<Duration>; 2] = [None, None];
        let mut last = String::new();
        loop {
            let t = [self.table(0), self.table(1)];
            for i in 0..2 {
                if at[i].is_none() && holds(&t[i]) {
                    at[i] = Some(since.elapsed());
                }
            }
            let done = at.iter().all(Option::is_some) && t[0] == t[1] && holds(&t[0]);
            if done && last == t[0] {
                break;
            }
            last = if done { t[0].clone() } else { String::new() };
            if since.elapsed() > bound + Duration::from_secs(15) {
                panic!(
                    "{what}: after {:.1} s {} has\n{}\nlvsh has\n{}\n(want {want:?}, not {gone:?})\n{}",
                    since.elapsed().as_secs_f64(),
                    self.peer,
                    t[0],
                    t[1],
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let [p, l] = at.map(|a| a.unwrap_or_default().as_secs_f64());
        let line = format!(
            "{} {}: {what}: {} after {p:.1} s, lvsh after {l:.1} s (bound {:.1} s)",
            self.peer,
            self.tag,
            self.peer,
            bound.as_secs_f64()
        );
        eprintln!("{line}; both\n{last}");
        // scripts/test prints these after the kernel tests
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/target/import-timings.txt");
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(file) {
            use std::io::Write;
            let _ = writeln!(f, "{line}");
        }
        assert!(
            p <= bound.as_secs_f64() && l <= bound.as_secs_f64(),
            "{what}: {} took {p:.1} s, lvsh {l:.1} s, over the bound of {:.1} s",
            self.peer,
            bound.as_secs_f64()
        );
    }
}
