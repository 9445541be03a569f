//! The failover lab: two directors running keepalived (VRRP only) with lvsh's
//! examples/failover.lua as their hook (d1 as a notify script, d2 reading the notify FIFO), the kernel's sync daemon between them, a DR
//! real server, and a client holding one TCP connection through the VIP while the master's
//! keepalived is stopped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::support::*;

const VIP: &str = "192.0.2.100";

/// Named namespaces on one bridge (in a namespace of its own), removed on drop.
struct Lan {
    names: Vec<String>,
    keepalived: Vec<Child>,
}

impl Lan {
    fn ns(&self, short: &str) -> String {
        self.names
            .iter()
            .find(|n| n.ends_with(&format!("-{short}")))
            .cloned()
            .unwrap()
    }

    fn exec(&self, short: &str, line: &str) -> String {
        sh(&format!("ip netns exec {} {line}", self.ns(short)))
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for k in &mut self.keepalived {
            let _ = k.kill();
            let _ = k.wait();
        }
        for n in &self.names {
            let _ = run("ip", &["netns", "del", n]);
        }
    }
}

fn lan(tag: &str, hosts: &[(&str, &str)]) -> Lan {
    let mut l = Lan {
        names: vec![format!("{tag}-lan")],
        keepalived: Vec::new(),
    };
    sh(&format!("ip netns add {tag}-lan"));
    sh(&format!(
        "ip -n {tag}-lan link add br0 type bridge && ip -n {tag}-lan link set br0 up"
    ));
    for (i, (h, addr)) in hosts.iter().enumerate() {
        let ns = format!("{tag}-{h}");
        l.names.push(ns.clone());
        sh(&format!("ip netns add {ns}"));
        sh(&format!(
            "ip -n {tag}-lan link add v{i} type veth peer name eth0 netns {ns} && \
             ip -n {tag}-lan link set v{i} master br0 up && ip -n {ns} link set lo up && \
             ip -n {ns} link set eth0 up && ip -n {ns} addr add {addr}/24 dev eth0"
        ));
    }
    l
}

fn wait_for(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn echo(conn: &mut TcpStream, msg: &str) -> String {
    conn.write_all(msg.as_bytes()).unwrap();
    let mut buf = vec![0u8; msg.len()];
    conn.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("echo of {msg:?}: {e}"));
    String::from_utf8_lossy(&buf).into_owned()
}

#[test]
fn serial_keepalived_failover_keeps_the_connection() {
    require_sandbox();
    let tag = format!("fo{}", std::process::id() % 100_000);
    let mut lab = lan(
        &tag,
        &[
            ("cl", "192.0.2.10"),
            ("d1", "192.0.2.2"),
            ("d2", "192.0.2.3"),
            ("rs", "192.0.2.20"),
        ],
    );
    // the DR real server: the VIP on lo, no ARP for it
    lab.exec(
        "rs",
        &format!(
            "sh -c 'ip addr add {VIP}/32 dev lo && sysctl -qw net.ipv4.conf.all.arp_ignore=1 \
        net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2'"
        ),
    );
    let server = in_named(&lab.ns("rs"), || {
        let l = TcpListener::bind("0.0.0.0:7000").unwrap();
        let (mut c, _) = l.accept().unwrap();
        let mut buf = [0u8; 256];
        loop {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => c.write_all(&buf[..n]).unwrap(),
            }
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let failover = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/failover.lua");
    for (d, prio) in [("d1", 150), ("d2", 100)] {
        let log = dir.path().join(format!("{d}.log"));
        let conf = dir.path().join(format!("{d}.lua"));
        std::fs::write(
            &conf,
            format!(
                "return {{vip='{VIP}/24', dev='eth0', sync={{ifname='eth0', syncid=51}}, log='{}',
                  rules={{{{addr='{VIP}:7000', scheduler='rr', servers={{{{addr='192.0.2.20', method='dr'}}}}}}}}}}",
                log.display()
            ),
        )
        .unwrap();
        let kconf = dir.path().join(format!("{d}.conf"));
        let hook = format!("{} {failover} {}", env!("CARGO_BIN_EXE_lvsh"), conf.display());
        // d1 runs the hook as keepalived's notify script; d2 reads keepalived's notify FIFO
        let (global, notify) = if d == "d1" {
            (String::new(), format!(" notify \"{hook}\"\n"))
        } else {
            let fifo = dir.path().join("d2.fifo");
            (
                format!(
                    " vrrp_notify_fifo {}\n vrrp_notify_fifo_script \"{hook}\"\n",
                    fifo.display()
                ),
                String::new(),
            )
        };
        std::fs::write(
            &kconf,
            format!(
                "global_defs {{\n script_user root\n{global}}}\nvrrp_instance VI_LVS {{\n state BACKUP\n interface eth0\n \
                 virtual_router_id 51\n priority {prio}\n advert_int 1\n virtual_ipaddress {{\n  {VIP}/24 dev eth0\n }}\n\
                 {notify}}}\n"
            ),
        )
        .unwrap();
        let pid = |what: &str| dir.path().join(format!("{d}-{what}.pid")).display().to_string();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.ns(d),
                "keepalived",
                "-n",
                "-l",
                "-G",
                "-P",
                "-f",
            ])
            .arg(&kconf)
            .args(["-p", &pid("main"), "-r", &pid("vrrp"), "-c", &pid("checkers")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("keepalived (scripts/setup installs it)");
        lab.keepalived.push(child);
    }
    let has_vip = |lab: &Lan, d: &str| {
        lab.exec(d, "ip -4 addr show dev eth0")
            .contains(&format!("{VIP}/24"))
    };
    let daemon = |lab: &Lan, d: &str, state: &str| lab.exec(d, "ipvsadm -L --daemon").contains(state);
    let rule = format!("-a -t {VIP}:7000 -r 192.0.2.20:7000 -g -w 1");
    wait_for(
        Duration::from_secs(20),
        "d1 to become master with its rules",
        || {
            has_vip(&lab, "d1")
                && lab.exec("d1", "ipvsadm -S -n").contains(&rule)
                && daemon(&lab, "d1", "master")
        },
    );
    wait_for(Duration::from_secs(20), "d2 to be backup with its rules", || {
        !has_vip(&lab, "d2")
            && lab.exec("d2", "ipvsadm -S -n").contains(&rule)
            && daemon(&lab, "d2", "backup")
    });

    // the client's long-lived connection, through d1
    let client = in_named(&lab.ns("cl"), move || {
        let mut c =
            TcpStream::connect_timeout(&format!("{VIP}:7000").parse().unwrap(), Duration::from_secs(5))
                .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let before: Vec<String> = (0..5).map(|i| echo(&mut c, &format!("before {i}"))).collect();
        (c, before)
    });
    let (mut conn, before) = client.join().unwrap();
    assert_eq!(before[4], "before 4");
    // the sync daemon sends its buffer about once a second
    wait_for(
        Duration::from_secs(10),
        "the connection to be synced to d2",
        || lab.exec("d2", "ipvsadm -L -n -c").contains("192.0.2.10:"),
    );

    // the master's keepalived stops: d2 takes the VIP, its hook applies the rules
    let mut master = lab.keepalived.remove(0);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(master.id() as i32),
        nix::sys::signal::SIGTERM,
    )
    .unwrap();
    let _ = master.wait();
    wait_for(Duration::from_secs(20), "d2 to become master", || {
        has_vip(&lab, "d2") && daemon(&lab, "d2", "master")
    });
    wait_for(Duration::from_secs(10), "d1 to drop the VIP", || {
        !has_vip(&lab, "d1")
    });

    let ns_cl = lab.ns("cl");
    let after = in_named(&ns_cl, move || {
        let got: Vec<String> = (0..3).map(|i| echo(&mut conn, &format!("after {i}"))).collect();
        drop(conn);
        got
    })
    .join()
    .unwrap();
    assert_eq!(after, ["after 0", "after 1", "after 2"]);
    // d1 has neither the VIP nor forwarding: the packets after the failover went through d2,
    // on the connection entry its sync daemon received (the client's FIN went there too)
    assert_eq!(lab.exec("d1", "sysctl -n net.ipv4.ip_forward").trim(), "0");
    let conns = lab.exec("d2", "ipvsadm -L -n -c");
    assert!(
        conns
            .lines()
            .any(|l| (l.contains("ESTABLISHED") || l.contains("FIN_WAIT"))
                && l.contains("192.0.2.10:")
                && l.contains("192.0.2.20:7000")),
        "{conns}"
    );
    server.join().unwrap();
    let log2 = std::fs::read_to_string(dir.path().join("d2.log")).unwrap_or_default();
    for line in [
        "BACKUP: sync daemon backup",
        "MASTER: rules applied",
        "MASTER: sync daemon master",
    ] {
        assert!(log2.contains(line), "d2's hook log lacks {line:?}:\n{log2}");
    }
}
