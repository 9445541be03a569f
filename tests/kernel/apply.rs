//! Declarative apply against the kernel: it reaches the desired table, changes only what
//! differs, does nothing the second time, and undoes a partial failure.

use std::process::Command;

use crate::support::*;

const RANDOM: &str = include_str!("lua/random_tables.lua");

fn kernel_state() -> String {
    ipvsadm("-S -n") + &ipvsadm("-L -n --thresholds")
}

#[test]
fn random_pairs_reach_desired_and_then_stay_still() {
    in_netns(|| {
        for seed in 1..=40 {
            ipvsadm("-C");
            // current, then desired, applied with lvsh
            let out = lvsh_ok(&format!(
                "{RANDOM}
                 local current = random_table({seed} * 2)
                 local desired, rules = random_table({seed} * 2 + 1)
                 lvs.apply(current)
                 local plan = lvs.apply(desired)
                 local again = lvs.apply(desired)
                 io.write(#again, '\\n', rules)"
            ));
            let (again, rules) = out.split_once('\n').unwrap();
            assert_eq!(again, "0", "seed {seed}: a second apply must change nothing");
            let by_apply = kernel_state();
            // the same table made by ipvsadm from nothing
            ipvsadm("-C");
            ipvsadm_restore(rules);
            assert_same_text(&by_apply, &kernel_state(), &format!("seed {seed}"));
        }
    });
}

#[test]
fn an_unchanged_table_plans_nothing_and_edits_stay_edits() {
    in_netns(|| {
        let out = lvsh_ok(
            r#"local want = {{addr="192.0.2.1:80", scheduler="rr", servers={{addr="192.0.2.11", weight=1}, {addr="192.0.2.12", weight=1}}},
                             timeouts={tcp=1000}}
               lvs.apply(want)
               print(#lvs.apply(want), #lvs.apply(lvs.state()))
               -- lvs.state() gives settings only: no counters, connections or split addresses
               local function keys(t)
                 local k = {}
                 for n in pairs(t) do k[#k + 1] = n end
                 table.sort(k)
                 return table.concat(k, ",")
               end
               local st = lvs.state()
               print(keys(st[1]), keys(st[1].servers[1]), keys(st.timeouts))
               want[1].scheduler = "wrr"
               want[1].servers[1].weight = 4
               want[1].servers[2].method = "nat"
               for _, op in ipairs(lvs.apply(want)) do print(op.op, op.ipvsadm) end
               for _, op in ipairs(lvs.apply({}, {prune=false})) do print("noprune", op.op) end
               for _, op in ipairs(lvs.apply({}, {dry_run=true})) do print("dry", op.op) end"#,
        );
        assert_eq!(
            out,
            "0\t0\n\
             addr,af,netmask,ops,persistent,proto,sched_flags,scheduler,servers\taddr,lower,method,upper,weight\ttcp,tcpfin,udp\n\
             edit_service\t-E -t 192.0.2.1:80 -s wrr\n\
             edit_server\t-e -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 4\n\
             edit_server\t-e -t 192.0.2.1:80 -r 192.0.2.12:80 -m -w 1\n\
             dry\tdel_service\n"
        );
        assert_eq!(
            ipvsadm("-S -n"),
            "-A -t 192.0.2.1:80 -s wrr\n-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 4\n-a -t 192.0.2.1:80 -r 192.0.2.12:80 -m -w 1\n"
        );
        assert_eq!(
            ipvsadm("-L --timeout"),
            "Timeout (tcp tcpfin udp): 1000 120 300\n"
        );
    });
}

#[test]
fn rules_text_and_files_apply_too() {
    in_netns(|| {
        ipvsadm("-A -t 192.0.2.9:80 -s rr");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("director.rules");
        std::fs::write(
            &path,
            "# director\n-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.11 -m -w 2\n",
        )
        .unwrap();
        lvsh_ok(&format!("lvs.apply('{}')", path.display()));
        assert_eq!(
            ipvsadm("-S -n"),
            "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.11:80 -m -w 2\n"
        );
        lvsh_ok("lvs.apply('-A -u 192.0.2.1:53 -s rr\\n')");
        assert_eq!(ipvsadm("-S -n"), "-A -u 192.0.2.1:53 -s rr\n");
    });
}

#[test]
fn a_refusal_in_a_5000_operation_apply_leaves_the_kernel_as_it_was() {
    in_netns(|| {
        ipvsadm("-A -t 192.0.2.1:80 -s rr");
        ipvsadm("-a -t 192.0.2.1:80 -r 192.0.2.11 -m -w 3 -x 10");
        ipvsadm("-A -f 7 -s sh");
        let before = kernel_state();
        // 1,000 services with 4 servers each (5,000 operations); the 4,000th-odd is refused
        let (code, _, err) = lvsh(
            r#"local want = {{addr="192.0.2.1:80", scheduler="wrr", servers={{addr="192.0.2.11", method="nat", weight=7}}}}
               for i = 0, 998 do
                 local vip = "198.51.100." .. (1 + i // 100) .. ":" .. (1000 + i % 100)
                 local svc = {addr=vip, scheduler=(i == 800) and "nosuchsched" or "rr", servers={}}
                 for r = 1, 4 do svc.servers[r] = {addr="203.0.113." .. r, method="nat"} end
                 want[#want + 1] = svc
               end
               lvs.apply(want)"#,
        );
        assert_eq!(code, 1);
        assert!(
            err.contains(
                "apply: -A -t 198.51.100.9:1000 -s nosuchsched refused: scheduler 'nosuchsched' not found"
            ),
            "{err}"
        );
        assert!(err.contains("the operations before it were undone"), "{err}");
        assert_same_text(&kernel_state(), &before, "state after a failed apply");
    });
}

/// Runs `script` with --dry-run and for real (each in a fresh namespace); returns both final
/// tables (the dry run's as ipvsadm replays its commands) and both first error lines.
fn both_ways(script: &str) -> ((String, String), (String, String)) {
    /// Runs lvsh with `args` in a fresh namespace; with `replay`, runs the ipvsadm commands
    /// a dry run printed.
    fn one(args: Vec<String>, replay: bool) -> (String, String) {
        in_netns(move || {
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run(env!("CARGO_BIN_EXE_lvsh"), &argv);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            for line in stdout
                .lines()
                .filter_map(|l| l.strip_prefix("ipvsadm "))
                .filter(|_| replay)
            {
                ipvsadm(line);
            }
            let err = String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            (ipvsadm("-S -n"), err)
        })
    }
    (
        one(vec!["--dry-run".into(), script.into()], true),
        one(vec![script.into()], false),
    )
}

#[test]
fn dry_runs_and_the_kernel_agree() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut scripts: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        // the labs send traffic, which a model cannot carry; health.lua runs until stopped and
        // failover.lua is keepalived's hook (both have tests of their own)
        .filter(|p| p.ends_with(".lua") && !p.contains("/lab"))
        .filter(|p| !p.ends_with("/health.lua") && !p.ends_with("/failover.lua"))
        .filter(|p| !p.ends_with("/director.lua"))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let failing = [
        r#"lvs.add_service{addr="192.0.2.1:80"} lvs.add_service{addr="192.0.2.1:80"}"#,
        r#"lvs.add_service{addr="192.0.2.1:80", scheduler="nosuch"}"#,
        r#"lvs.add_server({addr="192.0.2.1:80"}, "192.0.2.2")"#,
        r#"lvs.add_service{addr="192.0.2.1:80"} lvs.del_server({addr="192.0.2.1:80"}, "192.0.2.2")"#,
        r#"lvs.add_service{fwmark=1} lvs.add_server({fwmark=1}, "224.0.0.5")"#,
        r#"lvs.add_service{addr="192.0.2.1:80", servers={"192.0.2.3", "192.0.2.3"}}"#,
        r#"lvs.del_service{fwmark=3, af="inet6"}"#,
        r#"lvs.add_service{proto="udp", addr="192.0.2.1:53", persistent=true, pe="nope"}"#,
        r#"lvs.stop_daemon("backup")"#,
        r#"lvs.apply{{addr="192.0.2.1:80", scheduler="nosuch"}}"#,
    ];
    for (i, body) in failing.iter().enumerate() {
        let p = tmp.path().join(format!("fail{i}.lua"));
        std::fs::write(&p, body).unwrap();
        scripts.push(p.to_string_lossy().into_owned());
    }
    scripts.sort();
    for s in scripts {
        let (dry, real) = both_ways(&s);
        assert_same_text(&dry.0, &real.0, &format!("{s}: final tables"));
        assert_eq!(dry.1, real.1, "{s}: errors");
    }
}

#[test]
fn serial_a_connection_survives_an_apply_and_drain_waits_for_it() {
    let lab = crate::traffic::Lab::nat_with(|rs| format!("exec busybox nc -ll -p 9000 -e cat # {rs}"));
    let lvsh = env!("CARGO_BIN_EXE_lvsh");
    let dir = lab.ns("dir");
    let apply = |want: &str, opts: &str| {
        sh(&format!(
            "ip netns exec {dir} {lvsh} -e 'lvs.apply({want}, {{{opts}}})'"
        ))
    };
    let two = r#"{{addr="203.0.113.1:9000", scheduler="rr", servers={{addr="198.51.100.11", method="nat"}, {addr="198.51.100.12", method="nat"}}}}"#;
    apply(two, "");
    // a long-lived connection through the VIP
    let mut conn = crate::traffic::Echo::connect(&lab, "203.0.113.1", 9000);
    conn.echo("before");
    // scheduler and weights change in place; the connection goes on
    let changed = r#"{{addr="203.0.113.1:9000", scheduler="wrr", servers={{addr="198.51.100.11", method="nat", weight=3}, {addr="198.51.100.12", method="nat", weight=2}}}}"#;
    apply(changed, "");
    conn.echo("after the apply");
    let real = crate::traffic::Echo::real_server(&lab);
    // drain the server that holds the connection: weight 0 at once, deleted once it is closed
    let keep = if real.starts_with("198.51.100.11") {
        "198.51.100.12"
    } else {
        "198.51.100.11"
    };
    let one = format!(
        r#"{{{{addr="203.0.113.1:9000", scheduler="wrr", servers={{{{addr="{keep}", method="nat", weight=2}}}}}}}}"#
    );
    let mut drain = Command::new("ip")
        .args([
            "netns",
            "exec",
            &dir,
            lvsh,
            "-e",
            &format!("lvs.apply({one}, {{drain=true, drain_timeout=60}})"),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let save = sh(&format!("ip netns exec {dir} ipvsadm -S -n"));
    assert!(
        save.contains(&format!("-r {real} -m -w 0")),
        "drained, not deleted, while the connection is open: {save}"
    );
    conn.echo("while draining");
    conn.close();
    assert!(drain.wait().unwrap().success());
    let save = sh(&format!("ip netns exec {dir} ipvsadm -S -n"));
    assert!(
        !save.contains(&real),
        "deleted once the connection closed: {save}"
    );
    assert!(save.contains(keep), "{save}");
}
