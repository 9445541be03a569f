//! lvsh --shadow beside keepalived in one namespace.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::keepalived::{QUICK, real_servers, vs_timing};
use super::*;
use crate::support::*;

/// lvsh --shadow beside keepalived in one namespace: quiet while they agree, and one
/// disagreement (the server and both views) when one of lvsh's checks asks for another page.
#[test]
fn shadow_mode_beside_keepalived_reports_only_real_disagreements() {
    let mut p = Pair::new("shadow");
    let check = format!(
        "HTTP_GET {{\n      url {{\n        path /\n      }}\n      {}\n    }}",
        QUICK.check_lines()
    );
    let conf = format!(
        "virtual_server 192.0.2.14 80 {{\n  {}\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n{}}}\n",
        vs_timing(&QUICK),
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
