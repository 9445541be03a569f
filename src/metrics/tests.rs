use super::*;
use crate::check::monitor::Row;
use crate::ipvs::{Service, ServiceKey};

fn snapshot() -> Snapshot {
    let key = ServiceKey::Addr {
        proto: crate::ipvs::Protocol::Tcp,
        addr: "192.0.2.1".parse().unwrap(),
        port: 80,
    };
    let mut svc = Service::new(key);
    svc.stats = Stats {
        conns: 3,
        inbytes: 1 << 60,
        ..Stats::default()
    }
    .into();
    let mut d = Dest::new("198.51.100.1".parse().unwrap(), 80);
    d.weight = 5;
    d.active = 2;
    Snapshot {
        table: vec![(svc, vec![d])],
        monitors: vec![Status {
            service: "TCP 192.0.2.1:80".into(),
            checks: 7,
            stopped: false,
            sorry: false,
            quorum: Some(true),
            live_weight: 5,
            servers: vec![Row {
                service: "TCP 192.0.2.1:80".into(),
                server: "198.51.100.1:80".into(),
                state: "up",
                in_table: true,
                weight: 5,
                checked: None,
                latency: Some(1.5),
                detail: String::new(),
                held: Some("maintenance o1 (0): disk".into()),
                held_weight: Some(0),
            }],
        }],
        totals: None,
        process: Process::default(),
    }
}

#[test]
fn kernel_counters_and_monitor_states_are_exported_with_bounded_labels() {
    let text = render(snapshot(), Options::default());
    for line in [
        "# TYPE lvsh_service_connections_total counter",
        "lvsh_service_connections_total{service=\"TCP 192.0.2.1:80\"} 3",
        // a counter past 2^53 stays exact
        "lvsh_service_in_bytes_total{service=\"TCP 192.0.2.1:80\"} 1152921504606846976",
        "lvsh_server_weight{service=\"TCP 192.0.2.1:80\",server=\"198.51.100.1:80\"} 5",
        "lvsh_server_active_connections{service=\"TCP 192.0.2.1:80\",server=\"198.51.100.1:80\"} 2",
        "lvsh_server_up{service=\"TCP 192.0.2.1:80\",server=\"198.51.100.1:80\"} 1",
        "lvsh_server_check_latency_seconds{service=\"TCP 192.0.2.1:80\",server=\"198.51.100.1:80\"} 0.0015",
        "lvsh_monitor_checks_total{service=\"TCP 192.0.2.1:80\"} 7",
        "lvsh_service_quorum_met{service=\"TCP 192.0.2.1:80\"} 1",
        "lvsh_loop_lag_seconds 0.0",
        "lvsh_server_override_weight{service=\"TCP 192.0.2.1:80\",server=\"198.51.100.1:80\"} 0",
        "lvsh_overrides_active 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
    // never checked yet: no age rather than a made-up one
    assert!(!text.contains("lvsh_server_seconds_since_check{"), "{text}");
}

#[test]
fn openmetrics_ends_with_eof() {
    let text = render(
        snapshot(),
        Options {
            openmetrics: true,
            ..Options::default()
        },
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("lvsh_service_connections_total{service=\"TCP 192.0.2.1:80\"} 3\n"));
}

#[test]
fn node_compat_adds_node_exporters_series_beside_lvshs() {
    let mut snap = snapshot();
    snap.totals = Some(procfs::Totals {
        conns: 6,
        ..procfs::Totals::default()
    });
    let text = render(
        snap,
        Options {
            node_compat: true,
            ..Options::default()
        },
    );
    for line in [
        "node_ipvs_connections_total 6",
        "node_ipvs_backend_weight{local_address=\"192.0.2.1\",local_port=\"80\",remote_address=\"198.51.100.1\",remote_port=\"80\",proto=\"TCP\",local_mark=\"\"} 5",
        "lvsh_total_connections_total 6",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
}
