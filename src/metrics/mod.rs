//! What a director exports to Prometheus: a snapshot of the kernel's table (one dump), of
//! the monitors' statuses and of the process, encoded by prometheus-client at each scrape.
//! Labels stay bounded: a service is named as lvsh prints it (`TCP 192.0.2.1:80`, `FWM 1`),
//! a real server by `address:port`; nothing per connection.

pub mod http;
pub mod node;
pub mod procfs;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::check::monitor::Status;
use crate::ipvs::{Dest, ServiceTable, Stats, sockaddr};

/// Everything one scrape shows, read before encoding starts.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub table: ServiceTable,
    pub monitors: Vec<Status>,
    /// `/proc/net/ip_vs_stats`, where it could be read.
    pub totals: Option<procfs::Totals>,
    pub process: Process,
}

/// The director's own health.
#[derive(Debug, Default)]
pub struct Process {
    /// How late the loop's timers fired lately, at most (the liveness of the loop).
    pub loop_lag: f64,
    pub events: u64,
}

/// How a scrape is encoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// OpenMetrics rather than Prometheus 0.0.4 text.
    pub openmetrics: bool,
    /// node_exporter's ipvs series as well (`node`).
    pub node_compat: bool,
}

/// The text exposition of `snapshot`.
pub fn render(snapshot: Snapshot, opts: Options) -> String {
    let mut registry = Registry::default();
    if opts.node_compat {
        registry.register_collector(Box::new(node::Node {
            table: snapshot.table.clone(),
            totals: snapshot.totals,
        }));
    }
    registry
        .sub_registry_with_prefix("lvsh")
        .register_collector(Box::new(Lvsh(snapshot)));
    let mut out = String::new();
    let done = if opts.openmetrics {
        prometheus_client::encoding::text::encode(&mut out, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
    };
    // a fmt::Error can only come from the writer, and a String never fails
    let _ = done;
    out
}

#[derive(Debug)]
struct Lvsh(Snapshot);

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
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    rows: Vec<(Labels, Num)>,
}

impl Family {
    fn new(name: &'static str, help: &'static str, kind: MetricType) -> Family {
        Family {
            name,
            help,
            kind,
            rows: Vec::new(),
        }
    }

    fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(self.name, self.help, None, self.kind)?;
        for (labels, v) in &self.rows {
            let family = metric.encode_family(labels)?;
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

/// The kernel's counters (stats64) and rates of a service or a real server.
fn traffic(families: &mut [Family; 10], labels: &Labels, s: &Stats) {
    let values = [
        s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes, s.cps, s.inpps, s.outpps, s.inbps, s.outbps,
    ];
    for (f, v) in families.iter_mut().zip(values) {
        f.rows.push((labels.clone(), v.into()));
    }
}

fn traffic_families(of: &'static str) -> [Family; 10] {
    use MetricType::{Counter, Gauge};
    let names: [(&'static str, &'static str, MetricType); 10] = match of {
        "service" => [
            (
                "service_connections",
                "Connections the service took (kernel)",
                Counter,
            ),
            ("service_in_packets", "Packets in (kernel)", Counter),
            ("service_out_packets", "Packets out (kernel)", Counter),
            ("service_in_bytes", "Bytes in (kernel)", Counter),
            ("service_out_bytes", "Bytes out (kernel)", Counter),
            ("service_cps", "Connections per second (kernel's estimate)", Gauge),
            (
                "service_in_pps",
                "Packets in per second (kernel's estimate)",
                Gauge,
            ),
            (
                "service_out_pps",
                "Packets out per second (kernel's estimate)",
                Gauge,
            ),
            ("service_in_bps", "Bytes in per second (kernel's estimate)", Gauge),
            (
                "service_out_bps",
                "Bytes out per second (kernel's estimate)",
                Gauge,
            ),
        ],
        _ => [
            (
                "server_connections",
                "Connections sent to the real server (kernel)",
                Counter,
            ),
            ("server_in_packets", "Packets in (kernel)", Counter),
            ("server_out_packets", "Packets out (kernel)", Counter),
            ("server_in_bytes", "Bytes in (kernel)", Counter),
            ("server_out_bytes", "Bytes out (kernel)", Counter),
            ("server_cps", "Connections per second (kernel's estimate)", Gauge),
            (
                "server_in_pps",
                "Packets in per second (kernel's estimate)",
                Gauge,
            ),
            (
                "server_out_pps",
                "Packets out per second (kernel's estimate)",
                Gauge,
            ),
            ("server_in_bps", "Bytes in per second (kernel's estimate)", Gauge),
            (
                "server_out_bps",
                "Bytes out per second (kernel's estimate)",
                Gauge,
            ),
        ],
    };
    names.map(|(n, h, k)| Family::new(n, h, k))
}

fn server_labels(service: &str, d: &Dest) -> Labels {
    vec![
        ("service", service.to_string()),
        ("server", sockaddr(&d.addr, d.port)),
    ]
}

impl Collector for Lvsh {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let snap = &self.0;
        let mut services = traffic_families("service");
        let mut servers = traffic_families("server");
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
        for (svc, dests) in &snap.table {
            let name = svc.key.to_string();
            traffic(&mut services, &vec![("service", name.clone())], &svc.stats);
            for d in dests {
                let labels = server_labels(&name, d);
                traffic(&mut servers, &labels, &d.stats);
                active.rows.push((labels.clone(), d.active.into()));
                inactive.rows.push((labels.clone(), d.inactive.into()));
                persistent.rows.push((labels.clone(), d.persist.into()));
                weight.rows.push((labels, d.weight.into()));
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
        let mut checks = Family::new("monitor_checks", "Check results the monitor took in", Counter);
        let mut quorum = Family::new("service_quorum_met", "1 while the service's quorum is met", Gauge);
        let mut sorry = Family::new("service_sorry_active", "1 while the sorry server is in", Gauge);
        let mut live = Family::new(
            "service_live_weight",
            "The weight of the servers in rotation",
            Gauge,
        );
        let now = crate::check::monitor::view::now();
        for st in &snap.monitors {
            let svc = vec![("service", st.service.clone())];
            checks.rows.push((svc.clone(), st.checks.into()));
            if let Some(q) = st.quorum {
                quorum.rows.push((svc.clone(), q.into()));
            }
            sorry.rows.push((svc.clone(), st.sorry.into()));
            live.rows.push((svc, st.live_weight.into()));
            for r in &st.servers {
                let labels = vec![("service", st.service.clone()), ("server", r.server.clone())];
                if r.state == "up" || r.state == "down" {
                    up.rows.push((labels.clone(), (r.state == "up").into()));
                }
                in_table.rows.push((labels.clone(), r.in_table.into()));
                if let Some(w) = r.held_weight {
                    held.rows.push((labels.clone(), w.into()));
                }
                if let Some(t) = r.checked {
                    age.rows.push((labels.clone(), (now - t).max(0.0).into()));
                }
                if let Some(ms) = r.latency {
                    latency.rows.push((labels, (ms / 1000.0).into()));
                }
            }
        }
        let mut totals = Vec::new();
        if let Some(t) = &snap.totals {
            for (name, help, kind, v) in procfs::families(t) {
                let mut f = Family::new(name, help, kind);
                f.rows.push((Vec::new(), v.into()));
                totals.push(f);
            }
        }
        let mut lag = Family::new(
            "loop_lag_seconds",
            "How late the event loop's timers fired, at most, lately",
            Gauge,
        );
        lag.rows.push((Vec::new(), snap.process.loop_lag.into()));
        let mut overrides = Family::new(
            "overrides_active",
            "Servers held by runtime overrides (lvs.maintenance, lvs.set_weight, lvs.drain)",
            Gauge,
        );
        overrides.rows.push((Vec::new(), (held.rows.len() as u64).into()));
        let mut events = Family::new("events", "Events the director emitted", Counter);
        events.rows.push((Vec::new(), snap.process.events.into()));
        let all = services
            .iter()
            .chain(servers.iter())
            .chain([
                &active,
                &inactive,
                &persistent,
                &weight,
                &up,
                &in_table,
                &held,
                &age,
                &latency,
                &checks,
                &quorum,
                &sorry,
                &live,
            ])
            .chain(totals.iter())
            .chain([&lag, &overrides, &events]);
        for f in all {
            f.encode(&mut encoder)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
