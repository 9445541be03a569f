//! Bad input is refused before the kernel sees it, with the field and value named; kernel
//! refusals are worded for the object they concern. Nothing is half-applied.

use crate::support::*;

/// Runs a chunk that must fail; returns the error message (first line of stderr).
fn lvsh_err(chunk: &str) -> String {
    let (code, _, err) = lvsh(chunk);
    assert_eq!(code, 1, "lvsh -e {chunk:?} should fail; stderr: {err}");
    err.lines().next().unwrap_or_default().to_string()
}

const BASE: &str = r#"lvs.add_service{addr="192.0.2.1:80", scheduler="rr", servers={"192.0.2.2"}}"#;
const BASE_SAVE: &str = "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.2:80 -g -w 1\n";

#[test]
fn bad_input_names_field_and_value_and_changes_nothing() {
    in_netns(|| {
        lvsh_ok(BASE);
        let cases: &[(&str, &str)] = &[
            (
                r#"lvs.add_service{addr="192.0.2.9:80", colour="red"}"#,
                "service: unknown field 'colour'",
            ),
            (r#"lvs.add_service{addr=80}"#, "bad addr 80: must be a string"),
            (
                r#"lvs.add_service{addr="192.0.2.9:80", scheduler=5}"#,
                "bad scheduler 5: must be a string",
            ),
            (
                r#"lvs.add_service("192.0.2.9:80")"#,
                "bad service \"192.0.2.9:80\": must be a table",
            ),
            (
                r#"lvs.add_service{addr="192.0.2.300:80"}"#,
                "bad addr '192.0.2.300:80': not an IPv4 or IPv6 address",
            ),
            (
                r#"lvs.add_service{addr="192.0.2.9:65536"}"#,
                "bad addr '192.0.2.9:65536': the port must be a number from 0 to 65535",
            ),
            (
                r#"lvs.add_service{addr="192.0.2.9:80", fwmark=4}"#,
                "fwmark: a service has either addr ('192.0.2.9:80') or fwmark (4), not both",
            ),
            (
                r#"lvs.add_service{addr="192.0.2.9:80", persistent="yes"}"#,
                "bad persistent \"yes\"",
            ),
            (
                r#"lvs.add_service{addr="192.0.2.9:80", sched_flags={"sh-port"}}"#,
                "bad sched_flags 'sh-port': needs scheduler 'sh', not 'wlc'",
            ),
            (
                r#"lvs.add_service{addr="192.0.2.9:80", ops=true}"#,
                "bad ops 'true': one-packet scheduling is only for UDP and fwmark services",
            ),
            (
                r#"lvs.add_service{proto="icmp", addr="192.0.2.9:80"}"#,
                "bad proto 'icmp'",
            ),
            (
                r#"lvs.add_service{addr="192.0.2.9:80", servers={{addr="192.0.2.3", method="carrier-pigeon"}}}"#,
                "bad method 'carrier-pigeon'",
            ),
            (
                r#"lvs.add_server({addr="192.0.2.1:80"}, {addr="192.0.2.3", weight=-1})"#,
                "bad weight '-1': must be 0 to 2147483647",
            ),
            (
                r#"lvs.add_server({addr="192.0.2.1:80"}, {addr="192.0.2.3", weight=1.5})"#,
                "bad weight 1.5: must be an integer",
            ),
            (
                r#"lvs.add_server({addr="192.0.2.1:80"}, {addr="192.0.2.3:81"})"#,
                "bad addr '192.0.2.3:81': dr does not rewrite ports",
            ),
            (
                r#"lvs.add_server({addr="192.0.2.1:80"}, {addr="192.0.2.3", tun_type="gue"})"#,
                "bad method 'dr': tun_type, tun_port and tun_csum need method \"tun\"",
            ),
            (
                r#"lvs.add_server({addr="192.0.2.1:80"}, {addr="192.0.2.3", method="tun", tun_type="gue"})"#,
                "bad tun_port '0': a gue tunnel needs tun_port",
            ),
            (
                r#"lvs.add_server({addr="192.0.2.1:80"}, {addr="192.0.2.3", upper=5, lower=6})"#,
                "bad lower '6': must not exceed upper (5)",
            ),
            (
                r#"lvs.add_server({addr="192.0.2.1:80"}, {addr="[2001:db8::3]:80"})"#,
                "an inet6 real server behind an inet service needs method \"tun\"",
            ),
            (
                r#"lvs.add_server({addr="192.0.2.1:80"}, {})"#,
                "server: needs addr",
            ),
            (r#"lvs.set_timeouts{tcp=-5}"#, "bad tcp '-5'"),
            (r#"lvs.start_daemon{state="primary"}"#, "bad state 'primary'"),
            (r#"lvs.add_service{fwmark=0}"#, "bad fwmark '0'"),
            (
                r#"lvs.add_service{addr="192.0.2.9:0"}"#,
                "port 0 (all ports) is only for persistent services",
            ),
        ];
        for (chunk, want) in cases {
            let msg = lvsh_err(chunk);
            assert!(msg.starts_with("lvsh: (command line):1: "), "{chunk}: {msg}");
            assert!(msg.contains(want), "{chunk}:\n  got  {msg}\n  want {want}");
        }
        assert_eq!(ipvsadm("-S -n"), BASE_SAVE, "no rejected call changed anything");
    });
}

#[test]
fn a_service_whose_servers_fail_is_not_left_behind() {
    in_netns(|| {
        lvsh_ok(BASE);
        // the second server is refused by the kernel (a duplicate): the service must go too
        let msg = lvsh_err(r#"lvs.add_service{addr="192.0.2.5:80", servers={"192.0.2.6", "192.0.2.6"}}"#);
        assert!(
            msg.ends_with("real server already exists: 192.0.2.6:80 in TCP 192.0.2.5:80"),
            "{msg}"
        );
        assert_eq!(ipvsadm("-S -n"), BASE_SAVE);
    });
}

#[test]
fn kernel_refusals_name_the_object() {
    in_netns(|| {
        lvsh_ok(BASE);
        let cases: &[(&str, &str)] = &[
            (
                r#"lvs.add_service{addr="192.0.2.1:80"}"#,
                "service already exists: TCP 192.0.2.1:80",
            ),
            (
                r#"lvs.del_service{addr="192.0.2.99:80"}"#,
                "no such service: TCP 192.0.2.99:80",
            ),
            (
                r#"lvs.edit_service{addr="192.0.2.99:80", scheduler="rr"}"#,
                "no such service: TCP 192.0.2.99:80",
            ),
            (
                r#"lvs.del_service{fwmark=9, af="inet6"}"#,
                "no such service: FWM 9 IPv6",
            ),
            (
                r#"lvs.add_service{addr="192.0.2.9:80", scheduler="foo"}"#,
                "scheduler 'foo' not found (is the ip_vs_foo module loaded?)",
            ),
            (
                r#"lvs.edit_service{addr="192.0.2.1:80", scheduler="nope"}"#,
                "scheduler 'nope' not found",
            ),
            (
                r#"lvs.add_service{proto="udp", addr="192.0.2.9:80", persistent=true, pe="nope"}"#,
                "persistence engine 'nope' not found",
            ),
            (
                r#"lvs.add_server({addr="192.0.2.1:80"}, "192.0.2.2")"#,
                "real server already exists: 192.0.2.2:80 in TCP 192.0.2.1:80",
            ),
            (
                r#"lvs.add_server({addr="192.0.2.99:80"}, "192.0.2.2")"#,
                "no such service: TCP 192.0.2.99:80",
            ),
            (
                r#"lvs.del_server({addr="192.0.2.1:80"}, "192.0.2.102")"#,
                "no such real server 192.0.2.102:80 in TCP 192.0.2.1:80",
            ),
            (
                r#"lvs.edit_server({addr="192.0.2.1:80"}, {addr="192.0.2.102", weight=2})"#,
                "no such real server 192.0.2.102:80 in TCP 192.0.2.1:80",
            ),
            (
                r#"lvs.edit_server({addr="192.0.2.99:80"}, {addr="192.0.2.102", weight=2})"#,
                "no such service: TCP 192.0.2.99:80",
            ),
            (
                r#"lvs.add_server({addr="192.0.2.1:80"}, "224.0.0.1")"#,
                "invalid real server 224.0.0.1:80 in TCP 192.0.2.1:80",
            ),
            (r#"lvs.stop_daemon("master")"#, "no master sync daemon is running"),
            (
                r#"lvs.start_daemon{state="master", ifname="nosuch0"}"#,
                "no such interface 'nosuch0'",
            ),
        ];
        for (chunk, want) in cases {
            let msg = lvsh_err(chunk);
            assert!(msg.contains(want), "{chunk}:\n  got  {msg}\n  want {want}");
        }
        assert_eq!(ipvsadm("-S -n"), BASE_SAVE);
    });
}

#[test]
fn loopback_down_explains_the_einval() {
    // a namespace whose loopback has never been up: no local routing table exists yet
    in_fresh_netns(|| {
        lvsh_ok(r#"lvs.add_service{addr="192.0.2.1:80"}"#);
        let msg = lvsh_err(r#"lvs.add_server({addr="192.0.2.1:80"}, "192.0.2.2")"#);
        assert!(
            msg.contains("the loopback device of this network namespace is down"),
            "{msg}"
        );
        assert!(msg.contains("ip link set lo up"), "{msg}");
    });
}

#[test]
fn no_permission_says_cap_net_admin() {
    in_netns(|| {
        let out = lvsh_unprivileged("lvs.services()");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("permission denied: ") && err.contains("needs CAP_NET_ADMIN (run lvsh as root)"),
            "{err}"
        );
    });
}
