//! The table read monitors share (/proc/net/ip_vs) on the real kernel: monitors of many
//! services dump none of them while nothing changes, and still follow what others do.

use crate::support::*;

#[test]
fn serial_monitors_share_one_read_of_the_table_and_follow_changes_by_others() {
    in_netns(|| {
        let mut rules = String::new();
        for i in 1..=60 {
            rules += &format!("-A -t 192.0.2.120:{} -s wrr\n", 1000 + i);
            for p in [1, 2] {
                rules += &format!(
                    "-a -t 192.0.2.120:{} -r 127.0.0.1:{p} -m -w 1 -x 100 -y 50\n",
                    1000 + i
                );
            }
        }
        // and a fwmark service of each family with the same mark: one key in the file
        rules += "-A -f 7 -s rr\n-a -f 7 -r 127.0.0.1:0 -m -w 1\n\
                  -A -f 7 -6 -s rr\n-a -f 7 -6 -r [::1]:0 -m -w 1\n";
        ipvsadm_restore(&rules);
        let out = lvsh_ok(
            r#"
            local up = true
            local function check() return up end
            local ms = {}
            for i = 1, 60 do
              ms[i] = lvs.monitor{service={addr=("192.0.2.120:%d"):format(1000 + i)}, check=check,
                interval=0.2, fall=1, rise=1}
            end
            local v6 = lvs.monitor{service={fwmark=7, af="inet6"}, check=check, interval=0.2}
            -- each monitor dumps at its start and at its first turn (the sandbox is slow to
            -- start 61): then two intervals more for the last ones to settle
            for _ = 1, 100 do
              if lvs.monitor_reads().dumps >= 2 * 61 then break end
              lvs.sleep(0.1)
            end
            lvs.sleep(0.5)
            local r0 = lvs.monitor_reads()
            lvs.sleep(2)
            local r1 = lvs.monitor_reads()
            print(("quiet: %d dumps, %d shared reads"):format(r1.dumps - r0.dumps, r1.shared - r0.shared))
            local function sh(cmd) assert(os.execute(cmd), cmd) end
            sh("ipvsadm -a -t 192.0.2.120:1001 -r 127.0.0.1:3 -m -w 2")
            sh("ipvsadm -d -t 192.0.2.120:1002 -r 127.0.0.1:1")
            sh("ipvsadm -e -t 192.0.2.120:1003 -r 127.0.0.1:2 -m -w 7 -x 100 -y 50")
            sh("ipvsadm -a -f 7 -6 -r [::1]:5 -m -w 1")
            lvs.sleep(0.6)
            local r2 = lvs.monitor_reads()
            local function servers(m)
              local s = {}
              for _, r in ipairs(m:status().servers) do s[#s + 1] = r.server .. "=" .. r.weight end
              table.sort(s)
              return table.concat(s, " ")
            end
            print("1001: " .. servers(ms[1]))
            print("1002: " .. servers(ms[2]))
            print("1003: " .. servers(ms[3]))
            print("fwmark 7 inet6: " .. servers(v6))
            print(("changed: %d dumps"):format(r2.dumps - r1.dumps))
            -- a threshold set by someone else (not in the shared read) survives the monitor's edit
            sh("ipvsadm -e -t 192.0.2.120:1004 -r 127.0.0.1:1 -m -w 1 -x 300 -y 20")
            lvs.sleep(0.5)
            up = false
            lvs.sleep(0.5)
            "#,
        );
        eprintln!("{out}");
        let figure = |prefix: &str| -> u64 {
            let line = out.lines().find(|l| l.starts_with(prefix)).unwrap();
            line[prefix.len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        // Ten intervals of 61 monitors: a dump each would be 610, and none is needed. Serial:
        // Linux 6.1 keeps every namespace's services in one hash table, and beside other
        // namespaces' services each read() of the file after the first starts past some of
        // this namespace's (the file's position counts the others' entries, its start does
        // not); a service missing from the read is dumped, so other tests' tables would add
        // dumps here.
        let seen = proc_net("ip_vs").lines().filter(|l| l.starts_with("TCP")).count();
        assert!(
            figure("quiet: ") <= 6,
            "{out}(the file shows {seen} of the 60 TCP services)"
        );
        let shared: u64 = out
            .lines()
            .find(|l| l.starts_with("quiet"))
            .unwrap()
            .split(", ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((5..=40).contains(&shared), "{out}");
        assert!(
            out.contains("1001: 127.0.0.1:1=1 127.0.0.1:2=1 127.0.0.1:3=2"),
            "{out}"
        );
        assert!(out.contains("1002: 127.0.0.1:2=1\n"), "{out}");
        assert!(out.contains("1003: 127.0.0.1:1=1 127.0.0.1:2=7"), "{out}");
        assert!(out.contains("fwmark 7 inet6: [::1]:0=1 [::1]:5=1"), "{out}");
        // the three services that changed, and the two fwmark ones (one key in the file)
        let changed = figure("changed: ");
        assert!((4..=20).contains(&changed), "{out}");
        let t = ipvsadm("-L -n --thresholds");
        let line = |svc: &str, rs: &str| -> String {
            let mut on = false;
            for l in t.lines() {
                if l.starts_with("TCP") {
                    on = l.contains(svc);
                } else if on && l.contains(rs) {
                    return l.to_string();
                }
            }
            panic!("{svc} {rs} not in\n{t}")
        };
        let edited = line("192.0.2.120:1004", "127.0.0.1:1");
        assert!(edited.contains("300") && edited.contains("20"), "{t}");
        let saved = ipvsadm("-S -n");
        assert!(
            saved.contains("-a -t 192.0.2.120:1004 -r 127.0.0.1:1 -m -w 0"),
            "{saved}"
        );
    });
}

/// The same service in two namespaces, a monitor of each in one lvsh: each follows its own
/// namespace's table, never a read of the other's.
#[test]
fn each_namespace_has_its_own_shared_read() {
    in_netns(|| {
        let other = format!("reads-{}", std::process::id());
        sh(&format!("ip netns add {other}"));
        sh(&format!("ip -n {other} link set lo up"));
        let rules = "-A -t 192.0.2.121:80 -s rr\n-a -t 192.0.2.121:80 -r 127.0.0.1:1 -m -w 1\n";
        ipvsadm_restore(rules);
        for line in rules.lines() {
            sh(&format!("ip netns exec {other} ipvsadm {line}"));
        }
        let out = lvsh(&format!(
            r#"
            local function ok() return true end
            -- here's monitor reads its table every 50 ms, there's every 200 ms: a read of
            -- here's would always be fresh enough for there's, were it shared
            local function spec(interval)
              return {{service={{addr="192.0.2.121:80"}}, check=ok, interval=interval}}
            end
            local here = lvs.monitor(spec(0.05))
            local there = lvs.with_netns("{other}", function() return lvs.monitor(spec(0.2)) end)
            lvs.sleep(1)
            assert(os.execute("ip netns exec {other} ipvsadm -a -t 192.0.2.121:80 -r 127.0.0.1:2 -m -w 1"))
            local function servers(m)
              local s = {{}}
              for _, r in ipairs(m:status().servers) do s[#s + 1] = r.server end
              table.sort(s)
              return table.concat(s, " ")
            end
            lvs.sleep(0.6)
            print("there first: " .. servers(there))
            assert(os.execute("ipvsadm -a -t 192.0.2.121:80 -r 127.0.0.1:3 -m -w 1"))
            lvs.sleep(0.6)
            print("here: " .. servers(here))
            print("there: " .. servers(there))
            print("shared reads: " .. lvs.monitor_reads().shared)
            "#
        ));
        sh(&format!("ip netns del {other}"));
        let (code, out, err) = out;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("there first: 127.0.0.1:1 127.0.0.1:2\n"), "{out}");
        assert!(out.contains("here: 127.0.0.1:1 127.0.0.1:3\n"), "{out}");
        assert!(out.contains("there: 127.0.0.1:1 127.0.0.1:2\n"), "{out}");
    });
}
