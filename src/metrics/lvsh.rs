//! The `lvsh_*` series: the kernel's table, the monitors and the process, from one snapshot.
//! Each family is encoded straight from the snapshot, with label sets borrowed from it: a
//! scrape of 22,000 rules is 200,000 series, and a copy of their labels or rows per family
//! would cost more than encoding them (in allocations and page faults, which a small VM or
//! the sandbox's kernel charges dearly).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::{Snapshot, procfs};
use crate::check::monitor::{Row, Status};
use crate::ipvs::{Dest, Stats, sockaddr};

#[derive(Debug)]
pub struct Lvsh {
    pub snapshot: Snapshot,
    /// Per-server rate gauges too.
    pub server_rates: bool,
}

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

fn value(kind: MetricType, v: Num, encoder: MetricEncoder) -> std::fmt::Result {
    match (kind, v) {
        (MetricType::Counter, Num::Int(n)) => ConstCounter::new(n).encode(encoder),
        (MetricType::Counter, Num::Float(x)) => ConstCounter::new(x).encode(encoder),
        (_, Num::Int(n)) => ConstGauge::new(n).encode(encoder),
        (_, Num::Float(x)) => ConstGauge::new(x).encode(encoder),
    }
}

/// What a family is called and says.
type Descriptor = (&'static str, &'static str, MetricType);

/// A family read off each of a list's items: a value, or none for items it leaves out.
type Reading<'f, T> = (Descriptor, &'f dyn Fn(&T) -> Option<Num>);

/// A gauge read off each real server in the kernel's table.
type DestGauge = (Descriptor, fn(&Dest) -> u32);

/// One family from its series; none at all (no descriptor either) when there are none.
fn family<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    (name, help, kind): Descriptor,
    series: impl Iterator<Item = (L, Num)>,
) -> std::fmt::Result {
    let mut series = series.peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in series {
        value(kind, v, metric.encode_family(&labels)?)?;
    }
    Ok(())
}

const TRAFFIC: [(&str, MetricType); 10] = {
    use MetricType::{Counter, Gauge};
    [
        ("Connections (kernel)", Counter),
        ("Packets in (kernel)", Counter),
        ("Packets out (kernel)", Counter),
        ("Bytes in (kernel)", Counter),
        ("Bytes out (kernel)", Counter),
        ("Connections per second (kernel's estimate)", Gauge),
        ("Packets in per second (kernel's estimate)", Gauge),
        ("Packets out per second (kernel's estimate)", Gauge),
        ("Bytes in per second (kernel's estimate)", Gauge),
        ("Bytes out per second (kernel's estimate)", Gauge),
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

/// The `i`th of the kernel's counters and rates (stats64), in TRAFFIC's order.
fn traffic(s: &Stats, i: usize) -> u64 {
    [
        s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes, s.cps, s.inpps, s.outpps, s.inbps, s.outbps,
    ][i]
}

type One<'a> = [(&'static str, &'a str); 1];
type Two<'a> = [(&'static str, &'a str); 2];
type Three<'a> = [(&'static str, &'a str); 3];
const NONE: [(&str, &str); 0] = [];

/// Names made once per scrape for the kernel's side, in the table's order.
struct Names {
    services: Vec<String>,
    servers: Vec<String>,
}

impl Names {
    fn of(snap: &Snapshot) -> Names {
        let services = snap.table.iter().map(|(s, _)| s.key.to_string()).collect();
        let servers = snap
            .table
            .iter()
            .flat_map(|(_, dests)| dests.iter().map(|d| sockaddr(&d.addr, d.port)))
            .collect();
        Names { services, servers }
    }
}

impl Collector for Lvsh {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let snap = &self.snapshot;
        let enc = &mut encoder;

        // the kernel's side
        let names = Names::of(snap);
        let services = || {
            snap.table
                .iter()
                .zip(&names.services)
                .map(|((svc, _), name)| ([("service", name.as_str())], &svc.stats))
        };
        let servers = || {
            snap.table
                .iter()
                .zip(&names.services)
                .flat_map(|((_, dests), svc)| dests.iter().map(move |d| (svc.as_str(), d)))
                .zip(&names.servers)
                .map(|((svc, d), server)| -> (Two, &Dest) { ([("service", svc), ("server", server)], d) })
        };
        for (i, name) in SERVICE_TRAFFIC.iter().enumerate() {
            let (help, kind) = TRAFFIC[i];
            let series = services().map(|(l, s): (One, _)| (l, traffic(s, i).into()));
            family(enc, (name, help, kind), series)?;
        }
        let n = if self.server_rates { 10 } else { 5 };
        for (i, name) in SERVER_TRAFFIC.iter().enumerate().take(n) {
            let (help, kind) = TRAFFIC[i];
            family(
                enc,
                (name, help, kind),
                servers().map(|(l, d)| (l, traffic(&d.stats, i).into())),
            )?;
        }
        let gauges: [DestGauge; 4] = [
            (
                ("server_active_connections", "Active connections (kernel)", Gauge),
                |d| d.active,
            ),
            (
                (
                    "server_inactive_connections",
                    "Inactive connections (kernel)",
                    Gauge,
                ),
                |d| d.inactive,
            ),
            (
                (
                    "server_persistent_connections",
                    "Persistence templates (kernel)",
                    Gauge,
                ),
                |d| d.persist,
            ),
            (
                ("server_weight", "Weight in the kernel's table (effective)", Gauge),
                |d| d.weight,
            ),
        ];
        for (descriptor, read) in gauges {
            family(enc, descriptor, servers().map(|(l, d)| (l, read(d).into())))?;
        }

        // the monitors' side
        let rows = || {
            snap.monitors.iter().flat_map(|st| {
                st.servers
                    .iter()
                    .map(move |r| -> (Two, &Row) { ([("service", &st.service), ("server", &r.server)], r) })
            })
        };
        let now = snap
            .process
            .read_at
            .unwrap_or_else(crate::check::monitor::view::now);
        let per_server: [Reading<Row>; 6] = [
            (
                ("server_up", "1 when the server's checks pass, 0 when not", Gauge),
                &|r| (r.state == "up" || r.state == "down").then(|| (r.state == "up").into()),
            ),
            (
                (
                    "server_in_table",
                    "1 when the real server is in the kernel's table",
                    Gauge,
                ),
                &|r| Some(r.in_table.into()),
            ),
            (
                (
                    "server_override_weight",
                    "The weight a runtime override holds the server at, while one does",
                    Gauge,
                ),
                &|r| r.held_weight.map(Num::from),
            ),
            (
                (
                    "server_seconds_since_check",
                    "Seconds since the server's last completed check (the checker's liveness)",
                    Gauge,
                ),
                &|r| r.checked.map(|t| (now - t).max(0.0).into()),
            ),
            (
                (
                    "server_check_latency_seconds",
                    "How long the server's slowest check took, last time",
                    Gauge,
                ),
                &|r| r.latency.map(|ms| (ms / 1000.0).into()),
            ),
            (
                (
                    "server_transitions",
                    "Times the server's health changed (up to down, or back)",
                    Counter,
                ),
                &|r| Some(r.transitions.into()),
            ),
        ];
        for (descriptor, read) in per_server {
            family(
                enc,
                descriptor,
                rows().filter_map(|(l, r)| read(r).map(|v| (l, v))),
            )?;
        }
        let per_check = || {
            rows().flat_map(|([svc, server], r)| {
                r.checks
                    .iter()
                    .map(move |c| -> (Three, _) { ([svc, server, ("check", c.kind)], c) })
            })
        };
        family(
            enc,
            ("server_checks", "Check results taken in, per check", Counter),
            per_check().map(|(l, c)| (l, c.runs.into())),
        )?;
        family(
            enc,
            ("server_check_failures", "Checks that failed, per check", Counter),
            per_check().map(|(l, c)| (l, c.failed.into())),
        )?;
        let monitors = || {
            snap.monitors
                .iter()
                .map(|st| -> (One, &Status) { ([("service", &st.service)], st) })
        };
        let per_service: [Reading<Status>; 5] = [
            (
                ("monitor_checks", "Check results the monitor took in", Counter),
                &|st| Some(st.checks.into()),
            ),
            (
                ("service_quorum_met", "1 while the service's quorum is met", Gauge),
                &|st| st.quorum.map(Num::from),
            ),
            (
                (
                    "service_max_down_active",
                    "1 while failed servers are kept in because taking them out would pass max_down",
                    Gauge,
                ),
                &|st| Some(st.panic.into()),
            ),
            (
                ("service_sorry_active", "1 while the sorry server is in", Gauge),
                &|st| Some(st.sorry.into()),
            ),
            (
                (
                    "service_live_weight",
                    "The weight of the servers in rotation",
                    Gauge,
                ),
                &|st| Some(st.live_weight.into()),
            ),
        ];
        for (descriptor, read) in per_service {
            family(
                enc,
                descriptor,
                monitors().filter_map(|(l, st)| read(st).map(|v| (l, v))),
            )?;
        }
        durations(snap, enc)?;

        // the process
        if let Some(t) = &snap.totals {
            for (name, help, kind, v) in procfs::families(t) {
                family(enc, (name, help, kind), std::iter::once((NONE, v.into())))?;
            }
        }
        let held = rows().filter(|(_, r)| r.held_weight.is_some()).count() as u64;
        let process: [(Descriptor, Num); 3] = [
            (
                (
                    "loop_lag_seconds",
                    "How late the event loop's timers fired, at most, lately",
                    Gauge,
                ),
                snap.process.loop_lag.into(),
            ),
            (
                (
                    "overrides_active",
                    "Servers held by runtime overrides (lvs.maintenance, lvs.set_weight, lvs.drain)",
                    Gauge,
                ),
                held.into(),
            ),
            (
                ("probes_in_flight", "Checks started and not finished", Gauge),
                snap.process.probes_in_flight.into(),
            ),
        ];
        for (descriptor, v) in process {
            family(enc, descriptor, std::iter::once((NONE, v)))?;
        }
        family(
            enc,
            (
                "monitor_table_reads",
                "How monitors read the table: services dumped over netlink (how=dump), and \
                 reads of the whole table that told each whether its service changed (how=shared)",
                Counter,
            ),
            [
                ("dump", snap.process.table_dumps),
                ("shared", snap.process.table_reads),
            ]
            .into_iter()
            .map(|(how, n)| -> (One, Num) { ([("how", how)], n.into()) }),
        )?;
        family(
            enc,
            (
                "events",
                "Events the director emitted, per kind (drift_found, override_set, ...)",
                Counter,
            ),
            snap.process
                .events
                .iter()
                .map(|(k, n)| -> (One, Num) { ([("kind", k.as_str())], (*n).into()) }),
        )
    }
}

/// How long checks took, per service and kind of check: a histogram per server would be a
/// dozen series for each of 10,000 servers at every scrape.
fn durations(snap: &Snapshot, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    if snap.monitors.iter().all(|m| m.latency.is_empty()) {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(
        "check_duration_seconds",
        "How long checks took, per service and kind of check",
        None,
        MetricType::Histogram,
    )?;
    for st in &snap.monitors {
        for (kind, l) in &st.latency {
            let labels: Two = [("service", &st.service), ("check", kind)];
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
