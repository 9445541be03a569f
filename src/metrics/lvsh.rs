//! The `lvsh_*` series: the kernel's table, the monitors and the process, from one snapshot.
//! Label sets are made once per service and per real server and borrowed by every family
//! that uses them: a scrape of 22,000 rules would otherwise copy them a dozen times each.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::{Snapshot, procfs};
use crate::ipvs::{Stats, sockaddr};

#[derive(Debug)]
pub struct Lvsh {
    pub snapshot: Snapshot,
    /// Per-server rate gauges too.
    pub server_rates: bool,
}

type Labels = Vec<(&'static str, String)>;

/// Kernel counters stay integers: bytes pass 2^53 on a busy director.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Num {
    Int(u64),
    Float(f64),
}

impl From<u64> for Num {
    fn from(v: u64) -> Num {
        Num::Int(v)
    }
}

impl From<u32> for Num {
    fn from(v: u32) -> Num {
        Num::Int(v.into())
    }
}

impl From<f64> for Num {
    fn from(v: f64) -> Num {
        Num::Float(v)
    }
}

impl From<bool> for Num {
    fn from(v: bool) -> Num {
        Num::Int(v.into())
    }
}

/// One metric family: its rows, then encoded under one descriptor.
struct Family<'a> {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    rows: Vec<(&'a Labels, Num)>,
}

impl<'a> Family<'a> {
    fn new(name: &'static str, help: &'static str, kind: MetricType) -> Family<'a> {
        Family {
            name,
            help,
            kind,
            rows: Vec::new(),
        }
    }

    fn push(&mut self, labels: &'a Labels, v: impl Into<Num>) {
        self.rows.push((labels, v.into()));
    }

    fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(self.name, self.help, None, self.kind)?;
        for (labels, v) in &self.rows {
            let family = metric.encode_family(*labels)?;
            match (self.kind, *v) {
                (MetricType::Counter, Num::Int(n)) => ConstCounter::new(n).encode(family)?,
                (MetricType::Counter, Num::Float(x)) => ConstCounter::new(x).encode(family)?,
                (_, Num::Int(n)) => ConstGauge::new(n).encode(family)?,
                (_, Num::Float(x)) => ConstGauge::new(x).encode(family)?,
            }
        }
        Ok(())
    }
}

const TRAFFIC: [(&str, &str, MetricType); 10] = {
    use MetricType::{Counter, Gauge};
    [
        ("connections", "Connections (kernel)", Counter),
        ("in_packets", "Packets in (kernel)", Counter),
        ("out_packets", "Packets out (kernel)", Counter),
        ("in_bytes", "Bytes in (kernel)", Counter),
        ("out_bytes", "Bytes out (kernel)", Counter),
        ("cps", "Connections per second (kernel's estimate)", Gauge),
        ("in_pps", "Packets in per second (kernel's estimate)", Gauge),
        ("out_pps", "Packets out per second (kernel's estimate)", Gauge),
        ("in_bps", "Bytes in per second (kernel's estimate)", Gauge),
        ("out_bps", "Bytes out per second (kernel's estimate)", Gauge),
    ]
};

const SERVICE_TRAFFIC: [&str; 10] = [
    "service_connections",
    "service_in_packets",
    "service_out_packets",
    "service_in_bytes",
    "service_out_bytes",
    "service_cps",
    "service_in_pps",
    "service_out_pps",
    "service_in_bps",
    "service_out_bps",
];

const SERVER_TRAFFIC: [&str; 10] = [
    "server_connections",
    "server_in_packets",
    "server_out_packets",
    "server_in_bytes",
    "server_out_bytes",
    "server_cps",
    "server_in_pps",
    "server_out_pps",
    "server_in_bps",
    "server_out_bps",
];

fn traffic_families<'a>(names: &[&'static str; 10]) -> [Family<'a>; 10] {
    std::array::from_fn(|i| Family::new(names[i], TRAFFIC[i].1, TRAFFIC[i].2))
}

/// The kernel's counters (stats64) of a service or a real server, and its rates if `rates`.
fn traffic<'a>(families: &mut [Family<'a>; 10], labels: &'a Labels, s: &Stats, rates: bool) {
    let values = [
        s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes, s.cps, s.inpps, s.outpps, s.inbps, s.outbps,
    ];
    let n = if rates { 10 } else { 5 };
    for (f, v) in families.iter_mut().zip(values).take(n) {
        f.push(labels, v);
    }
}

fn pair(service: &str, server: String) -> Labels {
    vec![("service", service.to_string()), ("server", server)]
}

impl Collector for Lvsh {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let snap = &self.snapshot;
        let none: Labels = Vec::new();

        // the kernel's side: label sets first, then the families borrowing them
        let mut service_labels = Vec::with_capacity(snap.table.len());
        let mut server_labels = Vec::new();
        for (svc, dests) in snap.table.iter() {
            let name = svc.key.to_string();
            for d in dests {
                server_labels.push(pair(&name, sockaddr(&d.addr, d.port)));
            }
            service_labels.push(vec![("service", name)]);
        }
        let mut services = traffic_families(&SERVICE_TRAFFIC);
        let mut servers = traffic_families(&SERVER_TRAFFIC);
        let mut active = Family::new("server_active_connections", "Active connections (kernel)", Gauge);
        let mut inactive = Family::new(
            "server_inactive_connections",
            "Inactive connections (kernel)",
            Gauge,
        );
        let mut persistent = Family::new(
            "server_persistent_connections",
            "Persistence templates (kernel)",
            Gauge,
        );
        let mut weight = Family::new("server_weight", "Weight in the kernel's table (effective)", Gauge);
        let mut at = server_labels.iter();
        for ((svc, dests), labels) in snap.table.iter().zip(&service_labels) {
            traffic(&mut services, labels, &svc.stats, true);
            for (d, labels) in dests.iter().zip(at.by_ref()) {
                traffic(&mut servers, labels, &d.stats, self.server_rates);
                active.push(labels, d.active);
                inactive.push(labels, d.inactive);
                persistent.push(labels, d.persist);
                weight.push(labels, d.weight);
            }
        }

        // the monitors' side
        let mut monitor_labels = Vec::new();
        let mut row_labels = Vec::new();
        let mut check_labels = Vec::new();
        for st in &snap.monitors {
            monitor_labels.push(vec![("service", st.service.clone())]);
            for r in &st.servers {
                row_labels.push(pair(&st.service, r.server.clone()));
                for c in &r.checks {
                    let mut l = pair(&st.service, r.server.clone());
                    l.push(("check", c.kind.to_string()));
                    check_labels.push(l);
                }
            }
        }
        let mut up = Family::new("server_up", "1 when the server's checks pass, 0 when not", Gauge);
        let mut in_table = Family::new(
            "server_in_table",
            "1 when the real server is in the kernel's table",
            Gauge,
        );
        let mut age = Family::new(
            "server_seconds_since_check",
            "Seconds since the server's last completed check (the checker's liveness)",
            Gauge,
        );
        let mut latency = Family::new(
            "server_check_latency_seconds",
            "How long the server's slowest check took, last time",
            Gauge,
        );
        let mut held = Family::new(
            "server_override_weight",
            "The weight a runtime override holds the server at, while one does",
            Gauge,
        );
        let mut transitions = Family::new(
            "server_transitions",
            "Times the server's health changed (up to down, or back)",
            Counter,
        );
        let mut runs = Family::new("server_checks", "Check results taken in, per check", Counter);
        let mut failed = Family::new("server_check_failures", "Checks that failed, per check", Counter);
        let mut checks = Family::new("monitor_checks", "Check results the monitor took in", Counter);
        let mut quorum = Family::new("service_quorum_met", "1 while the service's quorum is met", Gauge);
        let mut panic = Family::new(
            "service_max_down_active",
            "1 while failed servers are kept in because taking them out would pass max_down",
            Gauge,
        );
        let mut sorry = Family::new("service_sorry_active", "1 while the sorry server is in", Gauge);
        let mut live = Family::new(
            "service_live_weight",
            "The weight of the servers in rotation",
            Gauge,
        );
        let now = snap
            .process
            .read_at
            .unwrap_or_else(crate::check::monitor::view::now);
        let (mut rows, mut per_check) = (row_labels.iter(), check_labels.iter());
        for (st, svc) in snap.monitors.iter().zip(&monitor_labels) {
            checks.push(svc, st.checks);
            if let Some(q) = st.quorum {
                quorum.push(svc, q);
            }
            panic.push(svc, st.panic);
            sorry.push(svc, st.sorry);
            live.push(svc, st.live_weight);
            for (r, labels) in st.servers.iter().zip(rows.by_ref()) {
                if r.state == "up" || r.state == "down" {
                    up.push(labels, r.state == "up");
                }
                in_table.push(labels, r.in_table);
                if let Some(w) = r.held_weight {
                    held.push(labels, w);
                }
                if let Some(t) = r.checked {
                    age.push(labels, (now - t).max(0.0));
                }
                if let Some(ms) = r.latency {
                    latency.push(labels, ms / 1000.0);
                }
                transitions.push(labels, r.transitions);
                for (c, labels) in r.checks.iter().zip(per_check.by_ref()) {
                    runs.push(labels, c.runs);
                    failed.push(labels, c.failed);
                }
            }
        }

        // the process
        let mut totals = Vec::new();
        if let Some(t) = &snap.totals {
            for (name, help, kind, v) in procfs::families(t) {
                let mut f = Family::new(name, help, kind);
                f.push(&none, v);
                totals.push(f);
            }
        }
        let mut lag = Family::new(
            "loop_lag_seconds",
            "How late the event loop's timers fired, at most, lately",
            Gauge,
        );
        lag.push(&none, snap.process.loop_lag);
        let mut overrides = Family::new(
            "overrides_active",
            "Servers held by runtime overrides (lvs.maintenance, lvs.set_weight, lvs.drain)",
            Gauge,
        );
        overrides.push(&none, held.rows.len() as u64);
        let mut flying = Family::new("probes_in_flight", "Checks started and not finished", Gauge);
        flying.push(&none, snap.process.probes_in_flight);
        let kinds: Vec<Labels> = snap
            .process
            .events
            .iter()
            .map(|(k, _)| vec![("kind", k.clone())])
            .collect();
        let mut events = Family::new(
            "events",
            "Events the director emitted, per kind (drift_found, override_set, ...)",
            Counter,
        );
        for ((_, n), labels) in snap.process.events.iter().zip(&kinds) {
            events.push(labels, *n);
        }

        let all = services.iter().chain(servers.iter()).chain([
            &active,
            &inactive,
            &persistent,
            &weight,
            &up,
            &in_table,
            &held,
            &age,
            &latency,
            &transitions,
            &runs,
            &failed,
            &checks,
            &quorum,
            &panic,
            &sorry,
            &live,
        ]);
        for f in all {
            f.encode(&mut encoder)?;
        }
        durations(snap, &monitor_labels, &mut encoder)?;
        for f in totals.iter().chain([&lag, &overrides, &flying, &events]) {
            f.encode(&mut encoder)?;
        }
        Ok(())
    }
}

/// How long checks took, per service and kind of check: a histogram per server would be a
/// dozen series for each of 10,000 servers at every scrape.
fn durations(
    snap: &Snapshot,
    monitor_labels: &[Labels],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    if snap.monitors.iter().all(|m| m.latency.is_empty()) {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(
        "check_duration_seconds",
        "How long checks took, per service and kind of check",
        None,
        MetricType::Histogram,
    )?;
    for (st, svc) in snap.monitors.iter().zip(monitor_labels) {
        for (kind, l) in &st.latency {
            let mut labels = svc.clone();
            labels.push(("check", kind.to_string()));
            metric
                .encode_family(&labels)?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    l.sum,
                    l.count,
                    &l.buckets(),
                    None,
                )?;
        }
    }
    Ok(())
}
