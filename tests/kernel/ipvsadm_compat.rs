//! lvsh standing in for ipvsadm: the same command lines give the same output, messages, exit
//! codes and kernel state; rule sets restore and save identically both ways.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::*;

/// stdout, stderr, exit code.
pub type Run = (String, String, i32);

pub fn run_with(program: &[&str], args: &str, stdin: &str) -> Run {
    let mut argv: Vec<String> = program.iter().map(|s| s.to_string()).collect();
    argv.extend(args.split_whitespace().map(str::to_string));
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn real(args: &str) -> Run {
    run_with(&["ipvsadm"], args, "")
}

fn ours(args: &str) -> Run {
    run_with(&[env!("CARGO_BIN_EXE_lvsh"), "ipvsadm"], args, "")
}

/// The kernel state both programs are compared on; timeouts and daemons only when the
/// command can change them (each ipvsadm run costs a process in the slow sandbox).
pub fn state(form: &str) -> String {
    let mut s = stable_ipvsadm("-S -n");
    s += &stable_ipvsadm("-L -n --thresholds");
    if form.starts_with("--") {
        s += &ipvsadm("-L --timeout");
        s += &ipvsadm("-L --daemon");
    }
    s
}

/// A listing read until two reads agree: a dump can miss entries while other namespaces
/// change the kernel's shared service table (IPVS does not flag such dumps).
pub fn stable_ipvsadm(args: &str) -> String {
    let mut last = ipvsadm(args);
    loop {
        let now = ipvsadm(args);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Clears everything (one ipvsadm -R, which goes on past refused lines) and sets `setup` up.
pub fn reset(setup: &[&str]) {
    let mut rules = String::from("-C\n--set 900 120 300\n--stop-daemon master\n--stop-daemon backup\n");
    for cmd in setup {
        rules.push_str(cmd);
        rules.push('\n');
    }
    let _ = run_with(&["ipvsadm"], "-R", &rules);
}

pub const SETUP: &[&str] = &[
    "-A -t 192.0.2.1:80 -s rr",
    "-a -t 192.0.2.1:80 -r 192.0.2.11 -m -w 3 -x 100 -y 50",
    "-a -t 192.0.2.1:80 -r 192.0.2.12 -g -w 0",
    "-A -u 192.0.2.1:53 -s sh -b sh-port -p 120 -M 255.255.255.0",
    "-a -u 192.0.2.1:53 -r 192.0.2.13:5353 -m",
    "-A -t [2001:db8::1]:443 -s wlc",
    "-a -t [2001:db8::1]:443 -r [2001:db8::11]:443 -g -w 2",
    "-a -t [2001:db8::1]:443 -r 203.0.113.9 -i --tun-type gue --tun-port 6080 --tun-csum",
    "-A -f 5 -s mh -b mh-fallback",
    "-a -f 5 -r 192.0.2.14 -g -w 7",
    "-A -f 6 -6 -s rr -p",
    "-A --sctp-service 192.0.2.2:3868 -s lc",
    "-A -u 192.0.2.2:514 -s rr -o",
];

/// Every command form of ipvsadm 1.31, valid and not.
const FORMS: &[&str] = &[
    // services
    "-A -t 192.0.2.100:80",
    "-A -t 192.0.2.100:80 -s wrr -p",
    "-A -t 192.0.2.100:0 -s rr -p 100 -M 255.255.0.0",
    "-A -u 192.0.2.100:53 -s sh -b sh-fallback,sh-port -o",
    "-A --sctp-service 192.0.2.100:9 -s nq",
    "-A -f 77 -s sh -b sh-port",
    "-A -f 78 -6 -s rr -p 60 -M 64",
    "-A -t [2001:db8::100]:80 -s rr -p 30 -M 96 --pe sip",
    "--add-service --tcp-service=192.0.2.100:80 --scheduler=rr --persistent=50",
    "-A -t 192.0.2.100:http -s rr",
    "-A -t 192.0.2.100:80 -srr",
    "-A -t 192.0.2.1:80",
    "-A -t 192.0.2.100:0",
    "-A -t 192.0.2.100:80 -o",
    "-A -t 192.0.2.100:80 -b sh-port",
    "-A -t 192.0.2.100:80 -s sh -b bogus",
    "-A -t 192.0.2.100:80 -s nosuchsched",
    "-A -u 192.0.2.100:53 -p 2678401",
    "-A -t 192.0.2.300:80",
    "-A -6 -f 5",
    "-A -f 0",
    "-A -t 192.0.2.100:80 -M 64",
    "-A -t [2001:db8::100]:80 -p -M 200",
    "-A",
    "-A -t 192.0.2.100:80 -r 192.0.2.5",
    "-A -t 192.0.2.100:80 -s rr -s wrr",
    "-A -t 192.0.2.100:80 extra",
    "-A -t 192.0.2.100:80 -D",
    "-E -t 192.0.2.1:80",
    "-E -t 192.0.2.1:80 -s wrr -p 30",
    "-E -u 192.0.2.1:53 -s sh",
    "-E -t 192.0.2.99:80 -s rr",
    "-D -t 192.0.2.1:80",
    "-D -f 6 -6",
    "-D -t 192.0.2.99:80",
    "-D -t 192.0.2.1:80 -s rr",
    // real servers
    "-a -t 192.0.2.1:80 -r 192.0.2.20",
    "-a -t 192.0.2.1:80 -r 192.0.2.20:8080 -m -w 5 -x 10 -y 5",
    "-a -t 192.0.2.1:80 -r 192.0.2.20:8080 -g",
    "-a -t 192.0.2.1:80 -r 192.0.2.20 -i --tun-type gre --tun-nocsum",
    "-a -t 192.0.2.1:80 -r 192.0.2.20 -i --tun-type gue --tun-port 7000 --tun-remcsum",
    "-a -t 192.0.2.1:80 -r 192.0.2.20 -i --tun-type gue",
    "-a -t 192.0.2.1:80 -r 192.0.2.20 -i --tun-type ipip --tun-csum",
    "-a -t 192.0.2.1:80 -r 192.0.2.20 -i --tun-type gre --tun-csum --tun-nocsum",
    "-a -t 192.0.2.1:80 -r 192.0.2.20 -m --tun-type gre",
    "-a -t 192.0.2.1:80 -r [2001:db8::20]",
    "-a -t 192.0.2.1:80 -r [2001:db8::20] -i",
    "-a -t 192.0.2.1:80 -r 192.0.2.11 -m",
    "-a -t 192.0.2.99:80 -r 192.0.2.20",
    "-a -t 192.0.2.1:80 -r 192.0.2.20 -w -1",
    "-a -t 192.0.2.1:80 -r 192.0.2.20 -w 2147483648",
    "-a -t 192.0.2.1:80 -r 192.0.2.20 -w 100000",
    "-a -t 192.0.2.1:80",
    "-a -f 5 -r 192.0.2.21 -m -w 2",
    "-a -f 6 -6 -r [2001:db8::21] -g",
    "-e -t 192.0.2.1:80 -r 192.0.2.11",
    "-e -t 192.0.2.1:80 -r 192.0.2.11 -m -w 9 -x 0 -y 0",
    "-e -t 192.0.2.1:80 -r 192.0.2.99",
    "-e -t 192.0.2.99:80 -r 192.0.2.11",
    "-d -t 192.0.2.1:80 -r 192.0.2.12",
    "-d -t 192.0.2.1:80 -r 192.0.2.99",
    "-d -t 192.0.2.1:80 -r 192.0.2.12 -w 1",
    // listings
    "-L -n",
    "-l -n",
    "-Ln",
    "-L",
    "-L -n --stats",
    "-L -n --rate",
    "-L -n --stats --exact",
    "-L -n --thresholds",
    "-L -n --persistent-conn",
    "-L -n --tun-info",
    "-L -n --nosort",
    "-L -n --sort",
    "-L -n -t 192.0.2.1:80",
    "-L -n -f 5",
    "-L -n -t [2001:db8::1]:443 --stats",
    "-L -n -t 192.0.2.99:80",
    "-L -n -c",
    "-L -n -c --persistent-conn",
    "-L --timeout",
    "-L --daemon",
    "-L -c --stats",
    "-L --timeout --persistent-conn",
    "-L -c --timeout",
    "-L -n -n",
    "-L -r 192.0.2.1",
    "-S -n",
    "-S",
    "--save -n",
    "-S -n -c",
    // counters, timeouts, daemons, clear
    "-Z",
    "-Z -t 192.0.2.1:80",
    "-Z -t 192.0.2.99:80",
    "--set 1000 100 200",
    "--set 0 0 0",
    "--set 1 2",
    "--set a b c",
    "--start-daemon master --mcast-interface lo --syncid 5",
    "--start-daemon backup --mcast-interface lo --syncid 6 --sync-maxlen 1400 --mcast-group 239.1.2.3 --mcast-port 9000 --mcast-ttl 3",
    "--start-daemon master --mcast-interface nosuch0",
    "--start-daemon primary",
    "--start-daemon master --mcast-group 192.0.2.1",
    "--start-daemon master --syncid 256",
    "--stop-daemon master",
    "--stop-daemon backup --syncid 1",
    "-Z --sctp-service 0.0.0.0:0",
    "-Z -t 0.0.0.0:0",
    "-Z -u 192.0.2.1:0",
    "-C",
    "-C -n",
    "-v",
    "--version",
    // the command line itself
    "",
    "-Q",
    "--bogus",
    "-t 192.0.2.1:80 -A",
    "-A -L",
    "-A -t 192.0.2.100:80 --bogus",
    "-A -t",
    "-S-n",
    "-A -t 192.0.2.100:80 -s",
    "-A --start-daemon master",
    "-L -n --stats=1",
];

#[test]
fn serial_every_command_form_matches_ipvsadm() {
    in_netns(|| {
        let mut mismatches = Vec::new();
        for form in FORMS {
            reset(SETUP);
            let want = real(form);
            let want_state = state(form);
            reset(SETUP);
            let got = ours(form);
            let got_state = state(form);
            if got != want || got_state != want_state {
                mismatches.push(format!(
                    "`ipvsadm {form}`\n  ipvsadm: {want:?}\n  lvsh:    {got:?}\n  state same: {}",
                    got_state == want_state
                ));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{} of {} forms differ:\n{}",
            mismatches.len(),
            FORMS.len(),
            mismatches.join("\n")
        );
    });
}

#[test]
fn help_and_version_exit_0() {
    in_netns(|| {
        for form in ["-h", "--help", "-v", "--version"] {
            let (out, _, code) = ours(form);
            assert_eq!(code, 0, "{form}");
            assert!(out.contains("ipvsadm"), "{form}: {out}");
        }
    });
}

fn corpus() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rules");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn serial_rule_corpus_restores_and_saves_identically_both_ways() {
    let sets = corpus();
    assert!(sets.len() >= 30, "{} rule sets", sets.len());
    // one set at a time: the kernel's service table is shared by all namespaces, and heavy
    // churn in many of them at once makes even ipvsadm's own dumps (the oracle) unreliable
    for (name, text) in sets {
        {
            {
                in_netns(move || {
                    let path = format!("{}/tests/rules/{name}", env!("CARGO_MANIFEST_DIR"));
                    // lvsh restores
                    lvsh_ok(&format!("lvs.restore('{path}')"));
                    let by_lvsh = (stable_ipvsadm("-S -n"), stable_ipvsadm("-L -n --thresholds"));
                    let saved = lvsh_ok("io.write(lvs.save())");
                    let complete = lvsh_ok("io.write(lvs.save{complete=true})");
                    ipvsadm("-C");
                    // ipvsadm restores (it takes no comments: ipvsadm-restore strips them)
                    let plain: String = text
                        .lines()
                        .filter(|l| !l.trim_start().starts_with('#'))
                        .map(|l| format!("{l}\n"))
                        .collect();
                    let r = run_with(&["ipvsadm"], "-R", &plain);
                    assert_eq!(r.2, 0, "{name}: ipvsadm -R: {}", r.1);
                    let by_ipvsadm = (stable_ipvsadm("-S -n"), stable_ipvsadm("-L -n --thresholds"));
                    assert!(!by_ipvsadm.0.is_empty() || name.contains("edit"), "{name}");
                    assert_same_text(
                        &by_lvsh.0,
                        &by_ipvsadm.0,
                        &format!("{name}: restores differ (-S -n)"),
                    );
                    assert_same_text(
                        &by_lvsh.1,
                        &by_ipvsadm.1,
                        &format!("{name}: restores differ (thresholds)"),
                    );
                    assert_same_text(
                        &saved,
                        &by_ipvsadm.0,
                        &format!("{name}: lvs.save() vs ipvsadm -S -n"),
                    );
                    let again = lvsh_ok("io.write(lvs.save())");
                    assert_same_text(
                        &again,
                        &by_ipvsadm.0,
                        &format!("{name}: lvs.save() of ipvsadm's restore"),
                    );
                    // a complete save keeps the thresholds through a round trip
                    ipvsadm("-C");
                    let r = run_with(&["ipvsadm"], "-R", &complete);
                    assert_eq!(r.2, 0, "{name}: ipvsadm -R of a complete save: {}", r.1);
                    assert_same_text(
                        &stable_ipvsadm("-L -n --thresholds"),
                        &by_ipvsadm.1,
                        &format!("{name}: thresholds lost"),
                    );
                });
            }
        }
    }
}

/// 1,000 lines of rules, with `bad` in place of line `at`.
fn big_rules(at: usize, bad: &str) -> String {
    // edits and deletes of what is there before, so undo has work to do
    let mut lines: Vec<String> = [
        "-E -t 192.0.2.1:80 -s wrr",
        "-d -t 192.0.2.1:80 -r 192.0.2.12",
        "-e -t 192.0.2.1:80 -r 192.0.2.11 -m -w 9",
        "-D -f 5",
        "--set 1000 100 200",
    ]
    .map(String::from)
    .to_vec();
    let mut i = 0;
    while lines.len() < 1000 {
        if i % 4 == 0 {
            lines.push(format!(
                "-A -t 198.51.100.{}:{} -s rr",
                1 + i / 200,
                1000 + i % 200
            ));
        } else {
            lines.push(format!(
                "-a -t 198.51.100.{}:{} -r 203.0.113.{} -m",
                1 + (i / 4 * 4) / 200,
                1000 + (i / 4 * 4) % 200,
                i % 4
            ));
        }
        i += 1;
    }
    lines[at - 1] = bad.to_string();
    lines.join("\n") + "\n"
}

#[test]
fn a_bad_line_changes_nothing() {
    in_netns(|| {
        reset(SETUP);
        let before = state("--all");
        let rules = big_rules(500, "-a -t 198.51.100.1:1000 -r 203.0.113.9 -w lots");
        let (code, _, err) = lvsh(&format!("lvs.restore([[{rules}]])"));
        assert_eq!(code, 1);
        assert!(err.contains("line 500: illegal weight specified"), "{err}");
        assert_eq!(state("--all"), before);
        // and through the ipvsadm command line
        let r = run_with(&[env!("CARGO_BIN_EXE_lvsh"), "ipvsadm"], "-R", &rules);
        assert_eq!((r.1.as_str(), r.2), ("line 500: illegal weight specified\n", 2));
        assert_eq!(state("--all"), before);
    });
}

#[test]
fn a_kernel_refusal_at_line_900_leaves_the_state_exactly() {
    in_netns(|| {
        reset(SETUP);
        let before = state("--all");
        let rules = big_rules(900, "-A -t 198.51.100.250:80 -s nosuchsched");
        let (code, _, err) = lvsh(&format!("lvs.restore([[{rules}]])"));
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("restore line 900: scheduler 'nosuchsched' not found"),
            "{err}"
        );
        assert!(err.contains("(nothing was changed)"), "{err}");
        assert_eq!(state("--all"), before);
        let r = run_with(&[env!("CARGO_BIN_EXE_lvsh"), "ipvsadm"], "-R", &rules);
        assert_eq!(
            (r.1.as_str(), r.2),
            ("line 900: Scheduler or persistence engine not found\n", 255)
        );
        assert_eq!(state("--all"), before);
        // a duplicate, which the model catches before the kernel sees anything
        let rules = big_rules(700, "-A -t 192.0.2.1:80 -s rr");
        let (code, _, err) = lvsh(&format!("lvs.restore([[{rules}]])"));
        assert_eq!(code, 1);
        assert!(
            err.contains("restore line 700: service already exists: TCP 192.0.2.1:80"),
            "{err}"
        );
        assert_eq!(state("--all"), before);
    });
}

/// Serial: the kernel lists services by position in a table every namespace shares, and
/// while other tests churn theirs a listing (ipvsadm's as well) can miss one (seen once).
#[test]
fn serial_lua_listing_matches_ipvsadm() {
    in_netns(|| {
        reset(SETUP);
        for (opts, args) in [
            ("", "-L -n"),
            ("stats=true", "-L -n --stats"),
            ("rate=true", "-L -n --rate"),
            ("stats=true, exact=true", "-L -n --stats --exact"),
            ("thresholds=true", "-L -n --thresholds"),
            ("persistent_conn=true", "-L -n --persistent-conn"),
            ("tun_info=true", "-L -n --tun-info"),
            ("sort=false", "-L -n --nosort"),
            ("service={addr='192.0.2.1:80'}", "-L -n -t 192.0.2.1:80"),
            ("names=true", "-L"),
        ] {
            let ours = lvsh_ok(&format!("lvs.list{{format='ipvsadm', {opts}}}"));
            assert_same_text(
                &ours,
                &ipvsadm(args),
                &format!("lvs.list{{{opts}}} vs ipvsadm {args}"),
            );
        }
        assert_eq!(lvsh_ok("lvs.show_timeouts()"), ipvsadm("-L --timeout"));
        assert_eq!(
            lvsh_ok("lvs.list_connections{format='ipvsadm'}"),
            ipvsadm("-L -n -c")
        );
        let boxed = lvsh_ok("lvs.list{stats=true}");
        assert!(
            boxed.contains("│ TCP  192.0.2.1:80") && boxed.contains("│   -> 192.0.2.11:80"),
            "{boxed}"
        );
        assert!(!boxed.contains('\x1b'), "no colour in a pipe");
        let json = lvsh_ok("lvs.list{format='json'}");
        assert!(
            json.starts_with("[\n  {\n    \"addr\": \"192.0.2.1:80\""),
            "{json}"
        );
        // (no daemon starts while real servers of another family than their service exist)
        reset(&[]);
        ipvsadm("--start-daemon master --mcast-interface lo --syncid 3");
        assert_eq!(lvsh_ok("lvs.show_daemons()"), ipvsadm("-L --daemon"));
    });
}

#[test]
fn save_to_a_file_is_atomic_and_restorable() {
    in_netns(|| {
        reset(SETUP);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules");
        lvsh_ok(&format!("lvs.save('{}')", path.display()));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), ipvsadm("-S -n"));
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files are left");
        let before = ipvsadm("-S -n");
        ipvsadm("-C");
        lvsh_ok(&format!("print(lvs.restore('{}'))", path.display()));
        assert_eq!(ipvsadm("-S -n"), before);
    });
}

#[test]
fn lvs_ipvsadm_runs_command_lines_from_lua() {
    in_netns(|| {
        let out = lvsh_ok(
            r#"lvs.ipvsadm("-A -t 192.0.2.1:80 -s rr")
               lvs.ipvsadm{"-a", "-t", "192.0.2.1:80", "-r", "192.0.2.2", "-m", "-w", "3"}
               local text = lvs.ipvsadm("-S -n", {print = false})
               io.write(text)
               print(pcall(lvs.ipvsadm, "-A -t 192.0.2.1:80"))
               print(pcall(lvs.ipvsadm, "-A -t 192.0.2.1:80 -x 5"))
               -- split as a shell splits a pasted line
               lvs.ipvsadm([[ipvsadm -A -t "192.0.2.9:80" -s 'wrr' # a comment]])
               io.write(lvs.ipvsadm("-L -n -t '192.0.2.9:80'", {print = false}))
               print(pcall(lvs.ipvsadm, "-A -t '192.0.2.9:81"))"#,
        );
        assert_eq!(
            out,
            "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.2:80 -m -w 3\n\
             false\tipvsadm: Service already exists\n\
             false\tipvsadm: Illegal 'u-threshold' option with the 'add-service' command\n\
             Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  192.0.2.9:80 wrr\n\
             false\tipvsadm: a ' quote is not closed\n"
        );
    });
}
