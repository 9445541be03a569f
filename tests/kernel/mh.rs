//! The mh scheduler's Maglev table computed in user space against the kernel's own choices,
//! and one order of real servers whatever the history (what anycast directors need to send a
//! flow to the same real server).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::support::*;

const SERVERS: [&str; 5] = [
    "198.51.100.13",
    "198.51.100.11",
    "198.51.100.15",
    "198.51.100.12",
    "198.51.100.14",
];

fn local_servers() -> Vec<TcpListener> {
    sh(
        "ip addr add 192.0.2.50/32 dev lo && ip addr add 192.0.2.51/32 dev lo && ip addr add 192.0.2.52/32 dev lo",
    );
    SERVERS
        .iter()
        .map(|a| {
            sh(&format!("ip addr add {a}/32 dev lo"));
            TcpListener::bind(format!("{a}:8080")).unwrap()
        })
        .collect()
}

#[test]
fn the_computed_table_predicts_every_flow_the_kernel_schedules() {
    in_netns(|| {
        let _listeners = local_servers();
        // servers named out of order: lvsh adds them so the kernel's list ends ascending
        let servers: Vec<String> = SERVERS
            .iter()
            .enumerate()
            .map(|(i, a)| {
                format!(
                    "{{addr = '{a}:8080', method = 'nat', weight = {}}}",
                    [1, 3, 2, 5, 1][i]
                )
            })
            .collect();
        lvsh_ok(&format!(
            "lvs.add_service{{addr = '192.0.2.50:80', scheduler = 'mh', sched_flags = {{'mh-port'}}, servers = {{{}}}}}",
            servers.join(", ")
        ));
        // clients in a namespace of their own, through a veth
        let client = format!("mhc{}", std::process::id());
        sh(&format!("ip netns add {client}"));
        sh(&format!("ip link add d0 type veth peer name c0 netns {client}"));
        sh("ip addr add 203.0.113.1/24 dev d0 && ip link set d0 up");
        sh(&format!(
            "ip -n {client} addr add 203.0.113.2/24 dev c0 && ip -n {client} link set c0 up && ip -n {client} link set lo up"
        ));
        sh(&format!("ip -n {client} route add default via 203.0.113.1"));
        let conns = in_named(&client, || {
            (0..200)
                .map(|_| {
                    TcpStream::connect_timeout(
                        &"192.0.2.50:80".parse::<SocketAddr>().unwrap(),
                        Duration::from_secs(5),
                    )
                    .unwrap()
                })
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        let out = lvsh_ok(
            "local n, bad = 0, {}
             local svc = {addr = '192.0.2.50:80'}
             for _, c in ipairs(lvs.connections{vip = '192.0.2.50:80'}) do
               n = n + 1
               local want = lvs.mh_server(svc, c.client)
               if want ~= c.real then bad[#bad + 1] = c.client .. ' went to ' .. c.real .. ', table says ' .. tostring(want) end
             end
             local m = lvs.mh_table(svc)
             print(n, #bad, m.canonical, m.fingerprint)
             for _, b in ipairs(bad) do print(b) end",
        );
        eprintln!("{out}");
        let first: Vec<&str> = out.lines().next().unwrap().split('\t').collect();
        assert!(first[0].parse::<usize>().unwrap() >= 200, "{out}");
        assert_eq!(first[1], "0", "flows the table did not predict:\n{out}");
        assert_eq!(first[2], "true", "{out}");
        drop(conns);
        let _ = run("ip", &["netns", "del", &client]);
    });
}

#[test]
fn servers_added_in_any_order_give_one_fingerprint_and_an_order_from_elsewhere_is_reported() {
    in_netns(|| {
        let _listeners = local_servers();
        let list = |vip: &str, order: &[&str]| {
            let servers: Vec<String> = order
                .iter()
                .map(|a| format!("{{addr = '{a}:80', method = 'dr'}}"))
                .collect();
            format!(
                "{{addr = '{vip}:80', scheduler = 'mh', servers = {{{}}}}}",
                servers.join(", ")
            )
        };
        let mut reversed = SERVERS.to_vec();
        reversed.reverse();
        // one by apply, one server at a time in another order, and one by ipvsadm in the
        // kernel's plain order (newest at the head)
        lvsh_ok(&format!("lvs.apply{{{}}}", list("192.0.2.50", &SERVERS)));
        let adds: Vec<String> = reversed
            .iter()
            .map(|a| format!("s:add_server{{addr = '{a}:80', method = 'dr'}}"))
            .collect();
        lvsh_ok(&format!(
            "local s = lvs.add_service{{addr = '192.0.2.51:80', scheduler = 'mh'}} {}",
            adds.join(" ")
        ));
        let mut rules = String::from("-A -t 192.0.2.52:80 -s mh\n");
        for a in SERVERS {
            rules += &format!("-a -t 192.0.2.52:80 -r {a}:80 -g -w 1\n");
        }
        ipvsadm_restore(&rules);
        let show = "for _, v in ipairs{'192.0.2.50', '192.0.2.51', '192.0.2.52'} do
                      local m = lvs.mh_table{addr = v .. ':80'}
                      print(v, m.fingerprint, m.canonical, table.concat(m.readd, ','))
                    end";
        let out = lvsh_ok(show);
        eprintln!("{out}");
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows[0][1], rows[1][1], "apply and add_server: {out}");
        assert_eq!((rows[0][2], rows[1][2]), ("true", "true"), "{out}");
        assert_ne!(
            rows[2][1], rows[0][1],
            "ipvsadm's order makes another table: {out}"
        );
        assert_eq!(rows[2][2], "false", "{out}");
        assert!(!rows[2][3].is_empty(), "the fix names servers to re-add: {out}");
        // the JSON listing carries it too
        let json = lvsh_ok("lvs.list{format = 'json'}");
        assert!(
            json.contains("\"fingerprint\"") && json.contains("\"canonical\": false"),
            "{json}"
        );
        // an apply of the same table puts the third in order
        lvsh_ok(&format!(
            "lvs.apply{{{}, {}, {}}}",
            list("192.0.2.50", &SERVERS),
            list("192.0.2.51", &SERVERS),
            list("192.0.2.52", &SERVERS)
        ));
        let out = lvsh_ok(show);
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
        assert!(rows.iter().all(|r| r[1] == rows[0][1] && r[2] == "true"), "{out}");
    });
}

#[test]
fn a_server_a_monitor_puts_back_goes_to_its_place_in_the_order() {
    in_netns(|| {
        let mut listeners = local_servers();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        // the highest address goes and comes back: put back at the head, it would be out of
        // order; the monitor's add takes the others out and back after it
        let script = format!(
            "lvs.log.file({log:?})
             lvs.add_service{{addr = '192.0.2.50:80', scheduler = 'mh', servers = {{{{addr = '198.51.100.11:8080', method = 'nat'}}, {{addr = '198.51.100.12:8080', method = 'nat'}}, {{addr = '198.51.100.13:8080', method = 'nat'}}}}}}
             local m = lvs.monitor{{service = {{addr = '192.0.2.50:80'}}, check = lvs.check.tcp{{timeout = 0.3}}, interval = 0.3, rise = 1, fall = 1, action = 'remove'}}
             print('READY', lvs.mh_table{{addr = '192.0.2.50:80'}}.fingerprint) io.flush()
             lvs.run()"
        );
        let mut bg = Background::start_env(&["-e", &script], &[], "READY");
        let listed = || {
            lvsh_ok(
                "local m = lvs.mh_table{addr = '192.0.2.50:80'} print(#m.servers, m.canonical, m.fingerprint)",
            )
        };
        let before = listed();
        listeners.remove(0); // 198.51.100.13
        let start = std::time::Instant::now();
        while !listed().starts_with("2\t") {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "not removed: {}",
                listed()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let _back = TcpListener::bind("198.51.100.13:8080").unwrap();
        while !listed().starts_with("3\t") {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "not put back: {}",
                listed()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            listed(),
            before,
            "{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        bg.wait_line("READY", Duration::from_secs(1));
        bg.stop();
    });
}
