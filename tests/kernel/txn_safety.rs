//! Nothing silently lost or mixed: two writers to one namespace take turns (the second waits,
//! or gives up naming the first), and a transaction cut short by SIGKILL is rolled back or
//! finished by `lvsh recover`.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const LVSH: &str = env!("CARGO_BIN_EXE_lvsh");

/// `n` services with two real servers each, on addresses `net` (198.51.100 or 192.0.2).
fn rules(net: &str, n: u32, scheduler: &str) -> String {
    let mut r = String::new();
    for i in 0..n {
        let (ip, port) = (format!("{net}.{}", 1 + i % 250), 1000 + i / 250);
        r.push_str(&format!("-A -t {ip}:{port} -s {scheduler}\n"));
        for s in 1..=2 {
            r.push_str(&format!("-a -t {ip}:{port} -r 203.0.113.{s}:{port} -m -w {s}\n"));
        }
    }
    r
}

fn write_file(name: &str, text: &str) -> tempfile::TempPath {
    let mut f = tempfile::Builder::new().prefix(name).tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.into_temp_path()
}

/// The table as ipvsadm saves it after loading `rules` into an empty one.
fn saved_from(rules: &str) -> String {
    ipvsadm("-C");
    ipvsadm_restore(rules);
    let s = ipvsadm("-S -n");
    ipvsadm("-C");
    s
}

fn apply_child(path: &str, wait: Option<&str>) -> Child {
    let mut c = Command::new(LVSH);
    c.args(["-e", &format!("lvs.apply({path:?})")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(w) = wait {
        c.env("LVSH_LOCK_WAIT", w);
    }
    c.spawn().unwrap()
}

fn finish(c: Child) -> (bool, String) {
    let out = c.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serial_concurrent_applies_end_with_exactly_one_table() {
    in_netns(|| {
        let (ra, rb) = (rules("198.51.100", 600, "rr"), rules("192.0.2", 600, "wrr"));
        let (want_a, want_b) = (saved_from(&ra), saved_from(&rb));
        let (fa, fb) = (write_file("a", &ra), write_file("b", &rb));
        let (pa, pb) = (fa.to_str().unwrap(), fb.to_str().unwrap());

        // the second waits for the first, then applies its own table whole
        for round in 1..=20 {
            let (a, b) = (apply_child(pa, None), apply_child(pb, None));
            let ((oka, ea), (okb, eb)) = (finish(a), finish(b));
            assert!(oka && okb, "round {round}: both must succeed: {ea} / {eb}");
            let got = ipvsadm("-S -n");
            assert!(
                got == want_a || got == want_b,
                "round {round}: the table is a mix of the two ({} lines)",
                got.lines().count()
            );
        }

        // without a wait the one that finds the other at work fails, naming it, and
        // changes nothing
        let mut losers = 0;
        for round in 1..=20 {
            let (a, b) = (apply_child(pa, Some("0")), apply_child(pb, Some("0")));
            let (ida, idb) = (a.id(), b.id());
            let ((oka, ea), (okb, eb)) = (finish(a), finish(b));
            let got = ipvsadm("-S -n");
            assert!(
                got == want_a || got == want_b,
                "round {round}: the table is a mix of the two ({} lines)",
                got.lines().count()
            );
            assert!(oka || okb, "round {round}: one must succeed: {ea} / {eb}");
            for (ok, err, other, mine) in [(oka, &ea, idb, &want_a), (okb, &eb, ida, &want_b)] {
                if !ok {
                    losers += 1;
                    assert!(
                        err.contains(&format!("being changed by lvsh pid {other}")),
                        "round {round}: the loser must name the holder (pid {other}): {err}"
                    );
                    assert_ne!(&got, mine, "round {round}: the loser's table must not be there");
                }
            }
        }
        assert!(losers >= 5, "only {losers} of 20 rounds overlapped");
    });
}

/// The table before a restore: services the restore edits and adds to, and one it leaves.
const BEFORE: &str = "\
-A -t 203.0.113.80:80 -s rr
-a -t 203.0.113.80:80 -r 192.0.2.201:80 -m -w 1
-a -t 203.0.113.80:80 -r 192.0.2.202:80 -m -w 1
-A -t 203.0.113.81:80 -s lc
-a -t 203.0.113.81:80 -r 192.0.2.203:80 -g -w 5
-A -u 203.0.113.82:53 -s sh
";

/// A restore of 2,000 services that also edits one service of BEFORE and adds to it.
fn big_restore() -> String {
    let mut r =
        String::from("-E -t 203.0.113.80:80 -s wrr\n-a -t 203.0.113.80:80 -r 192.0.2.209:80 -m -w 3\n");
    r.push_str(&rules("198.51.100", 2000, "wlc"));
    r
}

fn services_now() -> usize {
    proc_net("ip_vs")
        .lines()
        .filter(|l| l.starts_with("TCP") || l.starts_with("UDP"))
        .count()
}

/// Starts `lvsh ipvsadm -R` of `rules` on top of BEFORE and SIGKILLs it once some of its
/// services are in (trying again, from BEFORE, if one ends before it is caught).
fn kill_mid_restore(rules: &str) -> String {
    let path = write_file("restore", rules);
    for _ in 0..5 {
        ipvsadm("-C");
        ipvsadm_restore(BEFORE);
        let base = services_now();
        let mut child = Command::new(LVSH)
            .args(["ipvsadm", "-R"])
            .stdin(std::fs::File::open(&path).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let mut caught = false;
        while start.elapsed() < Duration::from_secs(60) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if services_now() >= base + 20 {
                child.kill().unwrap();
                caught = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.wait().unwrap();
        let now = services_now();
        if caught && now < base + 2000 {
            return format!("killed with {} of its 2000 services in", now - base);
        }
    }
    panic!("the restore always ended before it could be killed");
}

fn lvsh_args(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(LVSH).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serial_sigkill_mid_restore_then_rollback_leaves_the_table_as_before() {
    in_netns(|| {
        let before = saved_from(BEFORE);
        let how = kill_mid_restore(&big_restore());

        let (code, out, err) = lvsh_args(&["recover"]);
        assert_eq!(code, 3, "{how}: recover must report it: {out} {err}");
        assert!(out.contains("an interrupted restore (lvsh pid"), "{out}");
        assert!(out.contains("touching 2001 services"), "{out}");

        // every other write is refused until it is dealt with, naming the way out
        let (code, _, err) = lvsh_args(&["ipvsadm", "-A", "-t", "203.0.113.99:80"]);
        assert_ne!(code, 0);
        assert!(err.contains("lvsh recover --rollback"), "{err}");
        let (code, _, err) = lvsh(r#"lvs.add_service{addr="203.0.113.99:80"}"#);
        assert_ne!(code, 0);
        assert!(err.contains("lvsh recover --rollback"), "{err}");

        let (code, out, err) = lvsh_args(&["recover", "--rollback"]);
        assert_eq!(code, 0, "{how}: {out} {err}");
        assert!(out.starts_with("rolled back the interrupted restore"), "{out}");
        assert_same_text(&ipvsadm("-S -n"), &before, &how);

        let (code, out, _) = lvsh_args(&["recover"]);
        assert_eq!(code, 0);
        assert!(out.starts_with("nothing to recover"), "{out}");
        lvsh_ok(r#"lvs.add_service{addr="203.0.113.99:80"}"#);
    });
}

#[test]
fn serial_sigkill_mid_restore_then_finish_or_the_same_apply_completes_it() {
    in_netns(|| {
        let rules = big_restore();
        ipvsadm("-C");
        ipvsadm_restore(BEFORE);
        ipvsadm_restore(&rules);
        let after = ipvsadm("-S -n");

        let how = kill_mid_restore(&rules);
        let (code, out, err) = lvsh_args(&["recover", "--finish"]);
        assert_eq!(code, 0, "{how}: {out} {err}");
        assert!(out.starts_with("finished the interrupted restore"), "{out}");
        assert_same_text(&ipvsadm("-S -n"), &after, &how);
        assert_eq!(lvsh_args(&["recover"]).0, 0);

        // lvs.apply of the table the restore was making finishes it too
        let how = kill_mid_restore(&rules);
        let whole = write_file("after", &after);
        // a different table is refused while the restore is recorded
        let (code, _, err) = lvsh(&format!("lvs.apply({:?})", BEFORE));
        assert_ne!(code, 0, "{how}");
        assert!(err.contains("lvsh recover --finish"), "{err}");
        lvsh_ok(&format!("lvs.apply({:?})", whole.to_str().unwrap()));
        assert_same_text(&ipvsadm("-S -n"), &after, &how);
        let (code, out, _) = lvsh_args(&["recover"]);
        assert_eq!(code, 0, "{out}");
    });
}
