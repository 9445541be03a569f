use super::*;
use crate::check::latency::Latencies;
use crate::check::monitor::{CheckCount, Row};
use crate::ipvs::{Dest, Stats};
use crate::ipvs::{Service, ServiceKey};

fn latencies() -> Latencies {
    let mut l = Latencies::default();
    l.observe(std::time::Duration::from_micros(800));
    l.observe(std::time::Duration::from_millis(30));
    l
}

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
        table: vec![(svc, vec![d])].into(),
        monitors: vec![Status {
            service: "TCP 192.0.2.1:80".into(),
            checks: 7,
            stopped: false,
            sorry: false,
            quorum: Some(true),
            panic: false,
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
                checks: vec![CheckCount {
                    kind: "http",
                    runs: 7,
                    failed: 2,
                }],
                transitions: 1,
            }],
            latency: vec![("http", latencies())],
        }],
        totals: None,
        process: Process {
            events: vec![("drift_found".into(), 2)],
            probes_in_flight: 3,
            table_dumps: 40,
            table_reads: 9,
            ..Process::default()
        },
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
        "lvsh_server_checks_total{service=\"TCP 192.0.2.1:80\",server=\"198.51.100.1:80\",check=\"http\"} 7",
        "lvsh_server_check_failures_total{service=\"TCP 192.0.2.1:80\",server=\"198.51.100.1:80\",check=\"http\"} 2",
        "lvsh_server_transitions_total{service=\"TCP 192.0.2.1:80\",server=\"198.51.100.1:80\"} 1",
        "lvsh_service_max_down_active{service=\"TCP 192.0.2.1:80\"} 0",
        "# TYPE lvsh_check_duration_seconds histogram",
        "lvsh_check_duration_seconds_bucket{service=\"TCP 192.0.2.1:80\",check=\"http\",le=\"0.001\"} 1",
        "lvsh_check_duration_seconds_bucket{service=\"TCP 192.0.2.1:80\",check=\"http\",le=\"0.05\"} 2",
        "lvsh_check_duration_seconds_bucket{service=\"TCP 192.0.2.1:80\",check=\"http\",le=\"+Inf\"} 2",
        "lvsh_check_duration_seconds_count{service=\"TCP 192.0.2.1:80\",check=\"http\"} 2",
        "lvsh_probes_in_flight 3",
        "lvsh_events_total{kind=\"drift_found\"} 2",
        "lvsh_monitor_table_reads_total{how=\"dump\"} 40",
        "lvsh_monitor_table_reads_total{how=\"shared\"} 9",
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

#[test]
fn per_server_rates_only_when_asked() {
    let rate = "lvsh_server_cps{service=\"TCP 192.0.2.1:80\",server=\"198.51.100.1:80\"} 0";
    let text = render(snapshot(), Options::default());
    assert!(!text.contains("lvsh_server_cps"), "{text}");
    assert!(text.contains("lvsh_service_cps{"), "{text}");
    assert!(text.contains("lvsh_server_in_bytes_total{"), "{text}");
    let opts = Options {
        server_rates: true,
        ..Options::default()
    };
    let text = render(snapshot(), opts);
    assert!(text.lines().any(|l| l == rate), "{text}");
}

#[test]
fn a_family_without_series_has_no_descriptor_either() {
    let mut snap = snapshot();
    snap.monitors.clear();
    let text = render(snap, Options::default());
    assert!(text.contains("# TYPE lvsh_server_weight gauge"), "{text}");
    for family in [
        "lvsh_server_up",
        "lvsh_server_override_weight",
        "lvsh_check_duration_seconds",
    ] {
        assert!(!text.contains(family), "{family} in:\n{text}");
    }
    // nobody's override, still said
    assert!(text.lines().any(|l| l == "lvsh_overrides_active 0"), "{text}");
}

#[test]
fn a_writer_that_fails_ends_the_encoding_with_an_error() {
    struct Gone;
    impl std::fmt::Write for Gone {
        fn write_str(&mut self, _: &str) -> std::fmt::Result {
            Err(std::fmt::Error)
        }
    }
    assert!(render_to(snapshot(), Options::default(), &mut Gone).is_err());
}
