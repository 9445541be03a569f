//! `lvsh import keepalived`: every sample Debian's keepalived ships that has a virtual_server
//! imports (printing per file what was translated and what was left), and the scripts it
//! writes run (under --dry-run, lvs.run returning at once).

use std::process::Command;

const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

fn lvsh(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lvsh"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Imports `conf` (keepalived's), wanting everything translated, checks the script has each
/// of `want`, and runs it under --dry-run (lvs.run returning at once).
fn imports_fully_and_runs(conf: &str, want: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("keepalived.conf");
    std::fs::write(&f, conf).unwrap();
    let script = dir.path().join("director.lua");
    let out = lvsh(&[
        "import",
        "keepalived",
        f.to_str().unwrap(),
        "-o",
        script.to_str().unwrap(),
    ]);
    let s = std::fs::read_to_string(&script).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{}\n{s}", text(&out.stderr));
    for w in want {
        assert!(s.contains(w), "{w}:\n{s}");
    }
    let ran = lvsh(&[
        "--dry-run",
        "-e",
        "lvs.run = function() end",
        script.to_str().unwrap(),
    ]);
    assert!(ran.status.success(), "{}\n{s}", text(&ran.stderr));
}

#[test]
fn every_keepalived_sample_with_a_virtual_server_imports_and_runs() {
    let mut files: Vec<_> = std::fs::read_dir(SAMPLES)
        .expect("keepalived's samples (scripts/setup installs keepalived)")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("virtual_server")))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let dir = tempfile::tempdir().unwrap();
    for f in &files {
        let script = dir.path().join("imported.lua");
        let out = lvsh(&[
            "import",
            "keepalived",
            f.to_str().unwrap(),
            "--partial",
            "-o",
            script.to_str().unwrap(),
        ]);
        let err = text(&out.stderr);
        println!("== {}\n{err}", f.display());
        assert_eq!(out.status.code(), Some(0), "{}: {err}", f.display());
        assert!(
            err.lines().any(|l| l.starts_with("translated: ")),
            "{}: {err}",
            f.display()
        );
        // without --partial, what was left fails the import
        let strict = lvsh(&["import", "keepalived", f.to_str().unwrap()]);
        let left = err.lines().any(|l| l.starts_with("left out: "));
        assert_eq!(
            strict.status.code(),
            Some(if left { 1 } else { 0 }),
            "{}",
            f.display()
        );
        let ran = lvsh(&[
            "--dry-run",
            "-e",
            "lvs.run = function() end",
            script.to_str().unwrap(),
        ]);
        assert!(
            ran.status.success(),
            "{}: the script fails: {}\n{}",
            f.display(),
            text(&ran.stderr),
            std::fs::read_to_string(&script).unwrap()
        );
        assert!(text(&ran.stdout).contains("ipvsadm -A"), "{}", text(&ran.stdout));
    }
}

#[test]
fn a_broken_file_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("keepalived.conf");
    std::fs::write(
        &f,
        "virtual_server 192.0.2.1 80 {\n  lb_algo rr\n  real_server 192.0.2.2 80 {\n",
    )
    .unwrap();
    let out = lvsh(&["import", "keepalived", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{}:3: this block is not closed", f.display())),
        "{err}"
    );
    let out = lvsh(&["import", "haproxy", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn the_semantics_come_across() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("keepalived.conf");
    std::fs::write(
        &f,
        "virtual_server_group web {\n  192.0.2.10-11 80\n  fwmark 7\n}\n\
         virtual_server group web {\n  delay_loop 2\n  lb_algo wlc\n  lb_kind DR\n  protocol TCP\n  inhibit_on_failure\n  quorum 2\n\
           real_server 198.51.100.1 80 {\n    weight 3\n    TCP_CHECK {\n      connect_timeout 1\n      retry 2\n      delay_before_retry 0.5\n    }\n  }\n}\n",
    )
    .unwrap();
    let out = lvsh(&["import", "keepalived", f.to_str().unwrap()]);
    let script = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}\n{script}", text(&out.stderr));
    for want in [
        "{proto = \"tcp\", addr = \"192.0.2.10:80\", scheduler = \"wlc\", servers = {",
        "{proto = \"tcp\", addr = \"192.0.2.11:80\"",
        "{fwmark = 7, scheduler = \"wlc\"",
        "{addr = \"198.51.100.1:80\", method = \"dr\", weight = 3}",
        "interval = 2, rise = 1, fall = 3, action = \"inhibit\",",
        "quorum = 2,",
        "retry_interval = 0.5,",
        "[\"198.51.100.1:80\"] = {check = {lvs.check.tcp{timeout = 1}}},",
    ] {
        assert!(script.contains(want), "{want}:\n{script}");
    }
}

#[test]
fn an_ldirectord_cf_imports_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("ldirectord.cf");
    std::fs::write(
        &f,
        "checktimeout=2\ncheckinterval=1\nquiescent=yes\n\nvirtual=192.0.2.10:80\n\treal=198.51.100.1:80 gate\n\treal=198.51.100.2:80 gate 3\n\
         \tfallback=127.0.0.1:80\n\tservice=http\n\trequest=\"alive.html\"\n\treceive=\"I am alive\"\n\tscheduler=wlc\n\tchecktype=negotiate\n",
    )
    .unwrap();
    let script = dir.path().join("director.lua");
    let out = lvsh(&[
        "import",
        "ldirectord",
        f.to_str().unwrap(),
        "-o",
        script.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = std::fs::read_to_string(&script).unwrap();
    assert!(
        s.contains("check = lvs.check.http{timeout = 2, path = \"/alive.html\", regex = \"I am alive\"}"),
        "{s}"
    );
    let ran = lvsh(&[
        "--dry-run",
        "-e",
        "lvs.run = function() end",
        script.to_str().unwrap(),
    ]);
    assert!(ran.status.success(), "{}\n{s}", text(&ran.stderr));
    assert!(
        text(&ran.stdout).contains("ipvsadm -a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 3"),
        "{}",
        text(&ran.stdout)
    );
}

#[test]
fn what_lvsh_decides_otherwise_is_listed_not_approximated() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("keepalived.conf");
    std::fs::write(
        &f,
        "virtual_server 192.0.2.1 80 {\n  delay_loop 5\n  quorum 2\n  sorry_server 192.0.2.9 80\n  real_server 198.51.100.1 80 {\n    FILE_CHECK {\n    }\n    TCP_CHECK {\n      retry 2\n      delay_before_retry 1\n    }\n    HTTP_GET {\n      url {\n        path /\n        regex_options caseless\n      }\n    }\n  }\n}\n",
    )
    .unwrap();
    let out = lvsh(&["import", "keepalived", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let file = f.display();
    for want in [
        format!("left out: {file}:6: FILE_CHECK without a track_file"),
        format!("left out: {file}:15: url regex_options:"),
        format!(
            "left out: {file}:1: checkers retry 1-3 s apart: lvsh's monitor has one retry interval for the service; 1 taken"
        ),
    ] {
        assert!(err.contains(&want), "{want}:\n{err}");
    }
    assert!(
        text(&out.stdout).contains("--   "),
        "the script's header lists them too"
    );
    assert!(
        text(&out.stdout).contains("  sorry_quorum = true,"),
        "a sorry server with a quorum swaps in when the quorum is lost"
    );
}

#[test]
fn digests_regexes_smtp_and_ping_checks_come_across_and_run() {
    imports_fully_and_runs(
        "virtual_server 192.0.2.1 80 {\n  delay_loop 4\n  real_server 198.51.100.1 80 {\n    HTTP_GET {\n      url {\n        path /index.html\n        digest 9B3A0C85A887A256D6939DA88AABD8CD\n      }\n      url {\n        path /status\n        regex \"^up [0-9]+\"\n        regex_no_match\n      }\n      delay_before_retry 2\n    }\n  }\n}\n\
         virtual_server 192.0.2.2 25 {\n  delay_loop 3\n  real_server 198.51.100.2 25 {\n    SMTP_CHECK {\n      helo_name lvsh.example\n      connect_timeout 2\n    }\n    PING_CHECK {\n    }\n  }\n}\n\
         virtual_server 192.0.2.3 53 {\n  protocol UDP\n  delay_loop 2\n  real_server 198.51.100.3 53 {\n    DNS_CHECK {\n      name www.example.org\n      type A\n    }\n  }\n}\n",
        &[
            "digest = \"9b3a0c85a887a256d6939da88aabd8cd\", max_body = 1048576",
            "regex = \"^up [0-9]+\", regex_no_match = true",
            // HTTP_GET: retry 1 (fall 2), 2 s apart
            "interval = 4, rise = 1, fall = 2, action = \"remove\",\n  retry_interval = 2,",
            "lvs.check.smtp{timeout = 2, helo = \"lvsh.example\"}",
            "lvs.check.ping{timeout = 5}",
            // SMTP and PING: keepalived's default retry 1 s apart
            "interval = 3, rise = 1, fall = 2, action = \"remove\",\n  retry_interval = 1,",
            // DNS_CHECK: 3 retries at the delay_loop (no retry_interval of its own)
            "interval = 2, rise = 1, fall = 4, action = \"remove\",\n  check",
        ],
    );
}

#[test]
fn udp_and_file_checks_come_across_and_run() {
    imports_fully_and_runs(
        "track_file load {\n  file /run/lvsh-test-load\n  weight 2 reverse\n}\n\
         virtual_server 192.0.2.1 53 {\n  protocol UDP\n  delay_loop 2\n  real_server 198.51.100.1 53 {\n    weight 4\n    UDP_CHECK {\n      payload 1234 0100 abc\n      require_reply 12x4\n      max_reply_length 512\n    }\n  }\n  real_server 198.51.100.2 53 {\n    UDP_CHECK {\n    }\n  }\n}\n\
         virtual_server 192.0.2.2 80 {\n  real_server 198.51.100.2 80 {\n    FILE_CHECK {\n      track_file load\n      weight 0 noreverse\n    }\n  }\n}\n",
        &[
            // keepalived's hex: a word's lone last digit is a byte of its own
            "send = \"\\x12\\x34\\x01\\x00\\xab\\x0c\", expect_hex = \"12x4\", min_reply = 0, max_reply = 512}",
            // no require_reply: silence is up, the default payload
            "send = \"\\x6b\\x65\\x65",
            "silence_ok = true}",
            "lvs.check.file{path = \"/run/lvsh-test-load\", weight = 0, reverse = false, base = 1}",
            // FILE_CHECK alone: acted on at once
            "interval = 60, rise = 1, fall = 1,",
        ],
    );
}

#[test]
fn notify_and_quorum_scripts_and_omega_come_across_and_run() {
    imports_fully_and_runs(
        "virtual_server 192.0.2.1 80 {\n  quorum 2\n  omega\n  quorum_up \"/bin/echo up\"\n  quorum_down /bin/q-down\n  real_server 198.51.100.1 80 {\n    weight 2\n    notify_up \"/bin/echo rs up\"\n    notify_down \"/bin/echo rs down\"\n    TCP_CHECK {\n    }\n  }\n}\n",
        &[
            "local function notify(by_server)",
            "local omega1 = lvs.monitor{",
            "  on_change = notify{\n    [\"198.51.100.1:80\"] = {up = {\"/bin/echo\", \"rs\", \"up\"}, down = {\"/bin/echo\", \"rs\", \"down\"}},\n  },",
            "  on_quorum = function(up) run(up and {\"/bin/echo\", \"up\"} or {\"/bin/q-down\"}) end,",
            // weight 2 >= quorum 2: keepalived runs quorum_up at its start
            "run({\"/bin/echo\", \"up\"})",
            "for _, row in ipairs(omega1:status().servers) do",
            "lvs.check.exec{cmd = {\"/bin/q-down\"}, timeout = 60}",
        ],
    );
}

#[test]
fn tunnel_types_come_across() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("keepalived.conf");
    std::fs::write(
        &f,
        "virtual_server 192.0.2.1 80 {\n  lvs_method TUN type gue port 6080 csum\n  real_server 198.51.100.1 80 {\n  }\n  real_server 198.51.100.2 80 {\n    lvs_method TUN type gre nocsum\n  }\n}\n",
    )
    .unwrap();
    let out = lvsh(&["import", "keepalived", f.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}\n{s}", text(&out.stderr));
    for want in [
        "{addr = \"198.51.100.1:80\", method = \"tun\", weight = 1, tun_type = \"gue\", tun_port = 6080, tun_csum = \"csum\"}",
        "{addr = \"198.51.100.2:80\", method = \"tun\", weight = 1, tun_type = \"gre\", tun_csum = \"nocsum\"}",
    ] {
        assert!(s.contains(want), "{want}:\n{s}");
    }
}
