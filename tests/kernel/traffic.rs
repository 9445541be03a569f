//! Real traffic through the sandbox kernel: a client namespace, a NAT director and two real
//! servers running busybox httpd. Listings and connection entries of lvsh agree with ipvsadm's.

use std::process::{Child, Command};
use std::time::Duration;

use crate::support::*;

/// Named network namespaces for one test, removed (with their processes) when dropped.
pub struct Lab {
    names: Vec<String>,
    servers: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Lab {
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.names[0])
    }

    pub fn exec(&self, role: &str, line: &str) -> String {
        sh(&format!("ip netns exec {} {line}", self.ns(role)))
    }

    /// A NAT director between a client network (203.0.113.0/24) and two real servers
    /// (198.51.100.11 and .12) that route back through it, each serving HTTP on port 80.
    fn nat() -> Lab {
        Lab::nat_with(|_| String::new())
    }

    /// As `nat`, with `server(role)` as an extra shell command line run in each real server
    /// (e.g. an echo service) besides HTTP.
    pub fn nat_with(server: impl Fn(&str) -> String) -> Lab {
        require_sandbox();
        let base = format!("t{}", std::process::id());
        let mut lab = Lab {
            names: vec![base.clone()],
            servers: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        };
        for role in ["cli", "dir", "rs1", "rs2"] {
            sh(&format!("ip netns add {base}-{role}"));
            lab.names.push(format!("{base}-{role}"));
            lab.exec(role, "ip link set lo up");
        }
        let n = |r: &str| format!("{base}-{r}");
        sh(&format!(
            "ip link add c0 netns {} type veth peer name d0 netns {}",
            n("cli"),
            n("dir")
        ));
        lab.exec("cli", "ip addr add 203.0.113.2/24 dev c0");
        lab.exec("cli", "ip link set c0 up");
        lab.exec("dir", "ip addr add 203.0.113.1/24 dev d0");
        lab.exec("dir", "ip link set d0 up");
        lab.exec("dir", "ip link add br0 type bridge");
        lab.exec("dir", "ip addr add 198.51.100.1/24 dev br0");
        lab.exec("dir", "ip link set br0 up");
        lab.exec("dir", "sysctl -qw net.ipv4.ip_forward=1");
        for (i, rs) in ["rs1", "rs2"].iter().enumerate() {
            let ip = format!("198.51.100.{}", 11 + i);
            sh(&format!(
                "ip link add e0 netns {} type veth peer name p{i} netns {}",
                n(rs),
                n("dir")
            ));
            lab.exec("dir", &format!("ip link set p{i} master br0"));
            lab.exec("dir", &format!("ip link set p{i} up"));
            lab.exec(rs, &format!("ip addr add {ip}/24 dev e0"));
            lab.exec(rs, "ip link set e0 up");
            lab.exec(rs, "ip route add default via 198.51.100.1");
            let root = lab.dir.path().join(rs);
            std::fs::create_dir_all(&root).unwrap();
            std::fs::write(root.join("index.html"), format!("from {ip}\n")).unwrap();
            let child = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &n(rs),
                    "busybox",
                    "httpd",
                    "-f",
                    "-p",
                    "80",
                    "-h",
                ])
                .arg(&root)
                .spawn()
                .unwrap();
            lab.servers.push(child);
            let extra = server(rs);
            if !extra.is_empty() {
                let child = Command::new("ip")
                    .args(["netns", "exec", &n(rs), "sh", "-c", &extra])
                    .spawn()
                    .unwrap();
                lab.servers.push(child);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        lab
    }
}

/// A long-lived TCP connection from the client namespace to an echo service (busybox nc),
/// checked by echoing lines through it.
pub struct Echo {
    nc: Child,
    input: Option<std::process::ChildStdin>,
    output: std::io::BufReader<std::process::ChildStdout>,
}

impl Echo {
    pub fn connect(lab: &Lab, addr: &str, port: u16) -> Echo {
        use std::process::Stdio;
        let mut nc = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.ns("cli"),
                "busybox",
                "nc",
                addr,
                &port.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = nc.stdin.take();
        let output = std::io::BufReader::new(nc.stdout.take().unwrap());
        let mut e = Echo { nc, input, output };
        e.echo("hello");
        e
    }

    /// Sends a line and reads it back.
    pub fn echo(&mut self, text: &str) {
        use std::io::{BufRead, Write};
        let input = self.input.as_mut().expect("connection open");
        writeln!(input, "{text}").unwrap();
        input.flush().unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), text);
    }

    /// Closes the connection (the client's end first) and waits for nc to exit.
    pub fn close(mut self) {
        drop(self.input.take());
        let _ = self.nc.wait();
    }

    /// The real server the director sent this connection to, from `ipvsadm -L -n -c`.
    pub fn real_server(lab: &Lab) -> String {
        let conn = lab.exec("dir", "ipvsadm -L -n -c");
        conn.lines()
            .find(|l| l.contains("ESTABLISHED"))
            .and_then(|l| l.split_whitespace().nth(5))
            .unwrap_or_else(|| panic!("no established connection: {conn}"))
            .to_string()
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.nc.kill();
        let _ = self.nc.wait();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.servers {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.names[1..] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// The `-L -n -c` text with each row's expiry (`MM:SS`) blanked, and the expiries in seconds.
fn mask_expires(text: &str) -> (String, Vec<u32>) {
    let mut secs = Vec::new();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i >= 2 && line.len() > 10 {
            let field = &line[4..10];
            if let Some((m, s)) = field.trim().split_once(':') {
                secs.push(m.parse::<u32>().unwrap_or(0) * 60 + s.parse::<u32>().unwrap_or(0));
            }
            out.push_str(&format!("{}{}{}\n", &line[..4], "--:-- ", &line[10..]));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    (out, secs)
}

/// Reads `a`, `b`, `a` again until the two reads of `a` agree (nothing moved between them),
/// then returns that and `b`: timers and rate estimators tick while we read.
fn settled(a: impl Fn() -> String, b: impl Fn() -> String) -> (String, String) {
    for _ in 0..40 {
        let (x, y, z) = (a(), b(), a());
        if x == z {
            return (x, y);
        }
    }
    panic!("the kernel's figures never settled");
}

#[test]
fn serial_nat_traffic_listings_and_connections_agree_with_ipvsadm() {
    let lab = Lab::nat();
    let lvsh = env!("CARGO_BIN_EXE_lvsh");
    lab.exec(
        "dir",
        &format!(
            "{lvsh} -e 'lvs.add_service{{addr=\"203.0.113.1:80\", scheduler=\"rr\", servers={{\
             {{addr=\"198.51.100.11\", method=\"nat\"}}, {{addr=\"198.51.100.12\", method=\"nat\"}}}}}}'"
        ),
    );
    let answers: Vec<String> = (0..6)
        .map(|_| {
            lab.exec("cli", "curl -s --max-time 5 http://203.0.113.1/")
                .trim()
                .to_string()
        })
        .collect();
    assert!(answers.contains(&"from 198.51.100.11".to_string()), "{answers:?}");
    assert!(answers.contains(&"from 198.51.100.12".to_string()), "{answers:?}");
    for w in answers.windows(2) {
        assert_ne!(w[0], w[1], "rr alternates: {answers:?}");
    }
    // traffic has stopped; the entries linger in TIME_WAIT
    let ns = lab.ns("dir");
    let ipvsadm = |args: &str| sh(&format!("ip netns exec {ns} ipvsadm {args}"));
    let lua = |chunk: &str| sh(&format!("ip netns exec {ns} {lvsh} -e \"{chunk}\""));
    for (opts, args) in [
        ("stats=true", "-L -n --stats"),
        ("stats=true, exact=true", "-L -n --stats --exact"),
        ("rate=true", "-L -n --rate"),
        ("", "-L -n"),
        ("persistent_conn=true", "-L -n --persistent-conn"),
    ] {
        let (want, got) = settled(
            || ipvsadm(args),
            || lua(&format!("lvs.list{{format='ipvsadm', {opts}}}")),
        );
        assert_same_text(&got, &want, &format!("lvs.list{{{opts}}} vs ipvsadm {args}"));
    }
    // entries count down every second: compare everything but the countdown exactly, and
    // the countdown to within the time between the two reads
    let (want, got) = settled(
        || mask_expires(&ipvsadm("-L -n -c")).0,
        || lua("lvs.list_connections{format='ipvsadm'}"),
    );
    let (got_masked, got_secs) = mask_expires(&got);
    assert_same_text(&got_masked, &want, "connections");
    let (_, want_secs) = mask_expires(&ipvsadm("-L -n -c"));
    for (g, w) in got_secs.iter().zip(&want_secs) {
        assert!(
            g.abs_diff(*w) <= 5,
            "expiry {g} s (lvsh) vs {w} s (ipvsadm, read after)"
        );
    }
    assert!(
        want.lines().count() >= 8,
        "six connections and the headers: {want}"
    );
    let per_server = lua(
        "local n = {} for _, c in ipairs(lvs.connections{proto='tcp', vip='203.0.113.1:80'}) do \
         assert(c.client:match('^203.0.113.2:')) n[c.real] = (n[c.real] or 0) + 1 end \
         print(n['198.51.100.11:80'], n['198.51.100.12:80'])",
    );
    assert_eq!(per_server, "3\t3\n", "each real server got three connections");
    let stats = lua(
        "local s = lvs.get_service{addr='203.0.113.1:80'} print(s.stats.conns, s.servers[1].stats.conns)",
    );
    assert_eq!(stats, "6\t3\n");
}

#[test]
fn serial_dr_traffic_listings_agree_with_ipvsadm() {
    in_netns(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kernel/lua/dr_compare.lua");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .arg(script)
            .env("LVSH_PATH", concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text.matches("same: ").count(), 6, "{text}");
    });
}
