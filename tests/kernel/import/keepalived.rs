//! keepalived (Debian's, checker only) against the script `lvsh import keepalived` makes of
//! the same configuration.

use std::time::{Duration, Instant};

use super::*;

/// Quick checks for the tests that are not about timing.
pub const QUICK: Timing = Timing {
    delay_loop: 1.0,
    connect: 1.0,
    retry: 1,
    dbr: 1.0,
    slack: SLACK,
};

pub fn vs_timing(t: &Timing) -> String {
    format!("delay_loop {}", t.delay_loop)
}

/// Each real server on `port` ("" for a fwmark's) with `weight` and `body`, where SERVER is
/// its address.
fn servers_on(port: &str, weight: u32, body: &str) -> String {
    SERVERS
        .iter()
        .map(|s| {
            let head = format!("{s} {port}");
            format!(
                "  real_server {} {{\n    weight {weight}\n    {}\n  }}\n",
                head.trim_end(),
                body.replace("SERVER", s)
            )
        })
        .collect()
}

pub fn real_servers(body: &str, weights: &[u32]) -> String {
    SERVERS
        .iter()
        .zip(weights)
        .map(|(s, w)| format!("  real_server {s} 80 {{\n    weight {w}\n    {body}\n  }}\n"))
        .collect()
}

/// TCP_CHECK with keepalived's retry timing where it shows: a delay_loop of 6 s, 4 retries
/// half a second apart (bound 18 s). Retried at the delay_loop instead, lvsh would take 24 s
/// or more.
#[test]
fn keepalived_nat_tcp_check_wrr_persistence() {
    let mut p = Pair::new("nat");
    let t = Timing {
        delay_loop: 6.0,
        connect: 1.0,
        retry: 4,
        dbr: 0.5,
        slack: SLACK,
    };
    let check = format!("TCP_CHECK {{\n      {}\n    }}", t.check_lines());
    p.start(&format!(
        "virtual_server 192.0.2.10 80 {{\n  {}\n  lb_algo wrr\n  lb_kind NAT\n  persistence_timeout 50\n  protocol TCP\n{}}}\n",
        vs_timing(&t),
        real_servers(&check, &[1, 2, 3])
    ));
    p.same("at the start", &["-r 198.51.100.2:80 -m -w 2"]);
    p.serve(1, false);
    // keepalived removes it (no inhibit_on_failure)
    p.change(
        "198.51.100.2 down",
        &["-r 198.51.100.3:80"],
        &["198.51.100.2"],
        t.down(),
    );
    p.serve(1, true);
    p.change("198.51.100.2 back", &["-r 198.51.100.2:80 -m -w 2"], &[], t.up(1));
}

#[test]
fn keepalived_dr_http_get_two_urls_and_a_digest_inhibit_on_failure() {
    let mut p = Pair::new("dr");
    // the MD5 of index.html ("ok\n"), as genhash prints it
    let check = format!(
        "inhibit_on_failure\n    HTTP_GET {{\n      url {{\n        path /index.html\n        digest eff5bc1ef8ec9d03e640fc4370f5eacd\n      }}\n      url {{\n        path /health\n        status_code 200\n      }}\n      {}\n    }}",
        QUICK.check_lines()
    );
    p.start(&format!(
        "virtual_server 192.0.2.11 80 {{\n  {}\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n{}}}\n",
        vs_timing(&QUICK),
        real_servers(&check, &[1, 1, 1])
    ));
    p.same("at the start", &["-r 198.51.100.1:80 -g -w 1"]);
    // the second url fails: inhibited, weight 0
    std::fs::remove_file(p.dir.path().join("health")).unwrap();
    let all_zero = ["-r 198.51.100.1:80 -g -w 0", "-r 198.51.100.2:80 -g -w 0"];
    p.change("/health gone", &all_zero, &[], QUICK.down());
    std::fs::write(p.dir.path().join("health"), "healthy\n").unwrap();
    // keepalived checks every url again, one per delay_loop, before it is up
    p.change("/health back", &["-r 198.51.100.1:80 -g -w 1"], &[], QUICK.up(3));
    // the body changes: its digest no longer matches
    std::fs::write(p.dir.path().join("index.html"), "changed\n").unwrap();
    p.change("index.html changed", &all_zero, &[], QUICK.down());
    std::fs::write(p.dir.path().join("index.html"), "ok\n").unwrap();
    p.change(
        "index.html back",
        &["-r 198.51.100.3:80 -g -w 1"],
        &[],
        QUICK.up(3),
    );
}

#[test]
fn keepalived_tun_fwmark_connect_port() {
    let mut p = Pair::new("tun");
    let check = format!(
        "TCP_CHECK {{\n      connect_port 80\n      {}\n    }}",
        QUICK.check_lines()
    );
    let servers = servers_on("", 1, &check);
    p.start(&format!(
        "virtual_server fwmark 5 {{\n  {}\n  lb_algo sh\n  lb_kind TUN\n  protocol TCP\n{servers}}}\n",
        vs_timing(&QUICK)
    ));
    p.same("at the start", &["-A -f 5 -s sh", "-r 198.51.100.3:0 -i -w 1"]);
    p.serve(2, false);
    p.change(
        "198.51.100.3 down",
        &["-r 198.51.100.1:0 -i"],
        &["198.51.100.3"],
        QUICK.down(),
    );
    p.serve(2, true);
    p.change(
        "198.51.100.3 back",
        &["-r 198.51.100.3:0 -i -w 1"],
        &[],
        QUICK.up(1),
    );
}

#[test]
fn keepalived_virtual_server_group_with_a_range_and_a_fwmark() {
    let mut p = Pair::new("grp");
    let check = format!(
        "HTTP_GET {{\n      url {{\n        path /\n      }}\n      {}\n    }}",
        QUICK.check_lines()
    );
    p.start(&format!(
        "virtual_server_group web {{\n  192.0.2.20-21 80\n  fwmark 9\n}}\nvirtual_server group web {{\n  {}\n  lb_algo wlc\n  lb_kind NAT\n  protocol TCP\n{}}}\n",
        vs_timing(&QUICK),
        real_servers(&check, &[1, 1, 1])
    ));
    p.same("at the start", &["-A -t 192.0.2.21:80 -s wlc", "-A -f 9 -s wlc"]);
    p.serve(0, false);
    p.change(
        "198.51.100.1 down",
        &["-r 198.51.100.2:80"],
        &["198.51.100.1"],
        QUICK.down(),
    );
    p.serve(0, true);
    p.change(
        "198.51.100.1 back",
        &["-a -t 192.0.2.20:80 -r 198.51.100.1:80"],
        &[],
        QUICK.up(2),
    );
}

#[test]
fn keepalived_sorry_server_when_every_real_server_is_down() {
    let mut p = Pair::new("sorry");
    let check = format!("TCP_CHECK {{\n      {}\n    }}", QUICK.check_lines());
    p.start(&format!(
        "virtual_server 192.0.2.12 80 {{\n  {}\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  sorry_server 203.0.113.9 80\n{}}}\n",
        vs_timing(&QUICK),
        real_servers(&check, &[1, 1, 1])
    ));
    p.same("at the start", &["-r 198.51.100.1:80 -m -w 1"]);
    for s in 0..3 {
        p.serve(s, false);
    }
    p.change(
        "all down: the sorry server",
        &["-r 203.0.113.9:80"],
        &["198.51.100."],
        QUICK.down(),
    );
    p.serve(1, true);
    p.change(
        "one back: the sorry server out",
        &["-r 198.51.100.2:80 -m -w 1"],
        &["203.0.113.9"],
        QUICK.up(1),
    );
}

/// sorry_server_inhibit with inhibit_on_failure: the sorry server is in from the start at
/// weight 0, and its weight goes up and down instead of it going in and out.
#[test]
fn keepalived_sorry_server_inhibit() {
    let mut p = Pair::new("sinh");
    let check = format!(
        "inhibit_on_failure\n    TCP_CHECK {{\n      {}\n    }}",
        QUICK.check_lines()
    );
    p.start(&format!(
        "virtual_server 192.0.2.22 80 {{\n  {}\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  sorry_server 203.0.113.9 80\n  sorry_server_inhibit\n{}}}\n",
        vs_timing(&QUICK),
        real_servers(&check, &[1, 1, 1])
    ));
    p.same(
        "at the start",
        &["-r 198.51.100.1:80 -m -w 1", "-r 203.0.113.9:80 -m -w 0"],
    );
    for s in 0..3 {
        p.serve(s, false);
    }
    p.change(
        "all down: the sorry server's weight up",
        &["-r 203.0.113.9:80 -m -w 1", "-r 198.51.100.3:80 -m -w 0"],
        &[],
        QUICK.down(),
    );
    p.serve(0, true);
    p.change(
        "one back: the sorry server at 0",
        &["-r 198.51.100.1:80 -m -w 1", "-r 203.0.113.9:80 -m -w 0"],
        &[],
        QUICK.up(1),
    );
}

/// keepalived's quorum with a sorry server: below the quorum the real servers still up go
/// out and the sorry server comes in; at the quorum again, the other way round.
#[test]
fn keepalived_sorry_server_with_a_quorum() {
    let mut p = Pair::new("quorum");
    let check = format!("TCP_CHECK {{\n      {}\n    }}", QUICK.check_lines());
    p.start(&format!(
        "virtual_server 192.0.2.17 80 {{\n  {}\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n  quorum 4\n  hysteresis 0\n  sorry_server 203.0.113.9 80\n{}}}\n",
        vs_timing(&QUICK),
        real_servers(&check, &[2, 2, 2])
    ));
    p.same(
        "at the start (weight 6, quorum 4)",
        &["-r 198.51.100.1:80 -m -w 2"],
    );
    p.serve(0, false);
    p.change(
        "one down (weight 4)",
        &["-r 198.51.100.2:80 -m -w 2"],
        &["198.51.100.1", "203.0.113.9"],
        QUICK.down(),
    );
    p.serve(1, false);
    // weight 2 < 4: the sorry server in, 198.51.100.3 (up) out
    p.change(
        "quorum lost",
        &["-r 203.0.113.9:80"],
        &["198.51.100.3", "198.51.100.2"],
        QUICK.down(),
    );
    p.serve(0, true);
    p.change(
        "quorum back",
        &["-r 198.51.100.1:80 -m -w 2", "-r 198.51.100.3:80 -m -w 2"],
        &["203.0.113.9"],
        QUICK.up(1),
    );
}

#[test]
fn keepalived_misc_check_with_misc_dynamic_weights() {
    let mut p = Pair::new("misc");
    let servers = servers_on(
        "80",
        1,
        "MISC_CHECK {\n      misc_path \"/bin/sh DIR/check.sh SERVER\"\n      misc_timeout 2\n      misc_dynamic\n      retry 1\n      delay_before_retry 1\n    }",
    );
    p.start(&format!(
        "virtual_server 192.0.2.13 80 {{\n  {}\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n{servers}}}\n",
        vs_timing(&QUICK)
    ));
    let t = Timing {
        connect: 2.0,
        ..QUICK
    };
    p.same("at the start", &["-r 198.51.100.1:80 -m -w 1"]);
    // exit 2+N: weight N
    p.answer(0, 7);
    p.change(
        "198.51.100.1 asks for weight 5",
        &["-r 198.51.100.1:80 -m -w 5"],
        &[],
        t.up(1),
    );
    p.answer(1, 1);
    p.change(
        "198.51.100.2 fails",
        &["-r 198.51.100.1:80 -m -w 5"],
        &["198.51.100.2"],
        t.down(),
    );
    p.answer(1, 0);
    p.change("198.51.100.2 back", &["-r 198.51.100.2:80 -m -w 1"], &[], t.up(1));
}

/// SMTP_CHECK against aiosmtpd on each real server.
#[test]
fn keepalived_smtp_check() {
    let mut p = Pair::new("smtp");
    p.with(Daemon::Smtp);
    let check = format!(
        "SMTP_CHECK {{\n      helo_name lvsh.test\n      {}\n    }}",
        QUICK.check_lines()
    );
    let servers = servers_on("25", 1, &check);
    p.start(&format!(
        "virtual_server 192.0.2.16 25 {{\n  {}\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n{servers}}}\n",
        vs_timing(&QUICK)
    ));
    p.same("at the start", &["-r 198.51.100.3:25 -m -w 1"]);
    p.serve(2, false);
    p.change(
        "198.51.100.3 down",
        &["-r 198.51.100.1:25"],
        &["198.51.100.3"],
        QUICK.down(),
    );
    p.serve(2, true);
    p.change(
        "198.51.100.3 back",
        &["-r 198.51.100.3:25 -m -w 1"],
        &[],
        QUICK.up(1) + Duration::from_secs(2),
    );
}

/// DNS_CHECK against dnsmasq on each real server (UDP, keepalived's 3 retries by default).
#[test]
fn keepalived_dns_check() {
    let mut p = Pair::new("dns");
    p.with(Daemon::Dns);
    let servers = servers_on(
        "53",
        1,
        "DNS_CHECK {\n      name www.example.org\n      type A\n      connect_timeout 1\n    }",
    );
    p.start(&format!(
        "virtual_server 192.0.2.15 53 {{\n  {}\n  lb_algo rr\n  lb_kind NAT\n  protocol UDP\n{servers}}}\n",
        vs_timing(&QUICK)
    ));
    // DNS_CHECK's defaults: 3 retries, at the delay_loop
    let t = Timing {
        retry: 3,
        dbr: QUICK.delay_loop,
        ..QUICK
    };
    p.same(
        "at the start",
        &["-A -u 192.0.2.15:53 -s rr", "-r 198.51.100.2:53 -m -w 1"],
    );
    p.serve(1, false);
    p.change(
        "198.51.100.2 down",
        &["-r 198.51.100.1:53"],
        &["198.51.100.2"],
        t.down(),
    );
    p.serve(1, true);
    p.change(
        "198.51.100.2 back",
        &["-r 198.51.100.2:53 -m -w 1"],
        &[],
        t.up(1) + Duration::from_secs(2),
    );
}

/// UDP_CHECK against dnsmasq: the payload a DNS query, the reply's first two bytes (its id)
/// required.
#[test]
fn keepalived_udp_check_with_a_payload_and_a_required_reply() {
    let mut p = Pair::new("udp");
    p.with(Daemon::Dns);
    // id 0x1234, recursion desired, www.example.org A IN
    let query = "1234 0100 0001 0000 0000 0000 03777777 076578616d706c65 036f7267 00 0001 0001";
    let check = format!(
        "UDP_CHECK {{\n      payload {query}\n      require_reply 12 34\n      {}\n    }}",
        QUICK.check_lines()
    );
    let servers = servers_on("53", 1, &check);
    p.start(&format!(
        "virtual_server 192.0.2.18 53 {{\n  {}\n  lb_algo rr\n  lb_kind NAT\n  protocol UDP\n{servers}}}\n",
        vs_timing(&QUICK)
    ));
    p.same(
        "at the start",
        &["-A -u 192.0.2.18:53 -s rr", "-r 198.51.100.1:53 -m -w 1"],
    );
    p.serve(0, false);
    p.change(
        "198.51.100.1 down",
        &["-r 198.51.100.2:53"],
        &["198.51.100.1"],
        QUICK.down(),
    );
    p.serve(0, true);
    p.change(
        "198.51.100.1 back",
        &["-r 198.51.100.1:53 -m -w 1"],
        &[],
        QUICK.up(1),
    );
}

/// FILE_CHECK: a track_file's number moves the real servers' weights.
#[test]
fn keepalived_file_check_weights_from_a_track_file() {
    let mut p = Pair::new("file");
    std::fs::write(p.dir.path().join("load"), "0\n").unwrap();
    let servers = servers_on("80", 2, "FILE_CHECK {\n      track_file load\n    }");
    p.start(&format!(
        "track_file load {{\n  file DIR/load\n  weight 1\n}}\nvirtual_server 192.0.2.19 80 {{\n  {}\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n{servers}}}\n",
        vs_timing(&QUICK)
    ));
    p.same("at the start", &["-r 198.51.100.1:80 -m -w 2"]);
    // keepalived reads it when it is written; lvsh at its next check (delay_loop)
    let t = Timing { retry: 0, ..QUICK };
    std::fs::write(p.dir.path().join("load"), "3\n").unwrap();
    p.change(
        "the file says 3",
        &["-r 198.51.100.2:80 -m -w 5"],
        &[" -w 2"],
        t.up(1),
    );
    std::fs::write(p.dir.path().join("load"), "0\n").unwrap();
    p.change(
        "the file says 0",
        &["-r 198.51.100.2:80 -m -w 2"],
        &[" -w 5"],
        t.up(1),
    );
}

/// notify_up/notify_down, quorum_up/quorum_down and omega: the same scripts run, with the same
/// arguments, in both namespaces (the script notes each run in a file named for its
/// namespace).
#[test]
fn keepalived_notify_and_quorum_scripts_and_omega() {
    let mut p = Pair::new("notify");
    let note = p.dir.path().join("note.sh");
    std::fs::write(
        &note,
        "#!/bin/sh\necho \"$*\" >> \"$0.$(ip netns identify $$)\"\n",
    )
    .unwrap();
    let check = format!("TCP_CHECK {{\n      {}\n    }}", QUICK.check_lines());
    let servers = servers_on(
        "80",
        1,
        &format!(
            "notify_up \"/bin/sh DIR/note.sh up SERVER\"\n    notify_down \"/bin/sh DIR/note.sh down SERVER\"\n    {check}"
        ),
    );
    p.start(&format!(
        "virtual_server 192.0.2.21 80 {{\n  {}\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  quorum 2\n  omega\n  quorum_up \"/bin/sh DIR/note.sh quorum up\"\n  quorum_down \"/bin/sh DIR/note.sh quorum down\"\n{servers}}}\n",
        vs_timing(&QUICK)
    ));
    let ns = p.ns.clone();
    let notes = |i: usize| {
        let f = format!("{}.{}", note.display(), ns[i]);
        let mut lines: Vec<String> = std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    let agree = |what: &str, want: &[&str]| {
        let start = Instant::now();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        while notes(0) != want || notes(1) != want {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what}: keepalived ran {:?}, lvsh {:?}, want {want:?}",
                notes(0),
                notes(1)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        eprintln!("{what}: both ran {want:?}");
    };
    p.same("at the start", &["-r 198.51.100.1:80 -m -w 1"]);
    agree("at the start", &["quorum up"]);
    p.serve(0, false);
    p.change(
        "198.51.100.1 down",
        &["-r 198.51.100.2:80"],
        &["198.51.100.1"],
        QUICK.down(),
    );
    p.serve(1, false);
    p.change(
        "198.51.100.2 down",
        &["-r 198.51.100.3:80"],
        &["198.51.100.2"],
        QUICK.down(),
    );
    let down = [
        "quorum up",
        "down 198.51.100.1",
        "down 198.51.100.2",
        "quorum down",
    ];
    agree("two down, the quorum lost", &down);
    p.serve(0, true);
    p.change(
        "198.51.100.1 back",
        &["-r 198.51.100.1:80 -m -w 1"],
        &[],
        QUICK.up(1),
    );
    let back = [&down[..], &["up 198.51.100.1", "quorum up"]].concat();
    agree("one back, the quorum met", &back);
    // omega: at the stop, notify_down of the servers up and quorum_down
    p.stop_both();
    let stopped = [
        &back[..],
        &["down 198.51.100.1", "down 198.51.100.3", "quorum down"],
    ]
    .concat();
    agree("stopped", &stopped);
}
