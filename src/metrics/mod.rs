//! What a director exports to Prometheus: a snapshot of the kernel's table (one dump), of
//! the monitors' statuses and of the process, encoded by prometheus-client at each scrape.
//! Labels stay bounded: a service is named as lvsh prints it (`TCP 192.0.2.1:80`, `FWM 1`),
//! a real server by `address:port`; nothing per connection.

pub mod http;
mod lvsh;
pub mod node;
pub mod procfs;
pub mod scrape;

use std::sync::Arc;

use prometheus_client::registry::Registry;

use crate::check::monitor::Status;
use crate::ipvs::ServiceTable;

/// Everything one scrape shows, read before encoding starts.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Shared with node_compat's collector rather than copied.
    pub table: Arc<ServiceTable>,
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
    /// Events emitted since start, per kind (drift and overrides among them).
    pub events: Vec<(String, u64)>,
    pub probes_in_flight: u64,
    /// Services monitors dumped, and shared reads of the table they took, since start.
    pub table_dumps: u64,
    pub table_reads: u64,
    /// When the monitors' statuses were read (seconds since the Unix epoch): the ages of
    /// checks are counted to then, not to when a scrape thread got to encode them.
    pub read_at: Option<f64>,
}

/// How a scrape is encoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// OpenMetrics rather than Prometheus 0.0.4 text.
    pub openmetrics: bool,
    /// node_exporter's ipvs series as well (`node`).
    pub node_compat: bool,
    /// The kernel's rate estimates per real server too, not only per service: 100,000 more
    /// series on a table of 20,000 servers, and `rate()` of the counters says the same.
    pub server_rates: bool,
}

/// The text exposition of `snapshot`.
pub fn render(snapshot: Snapshot, opts: Options) -> String {
    let mut out = String::new();
    // a fmt::Error can only come from the writer, and a String never fails
    let _ = render_to(snapshot, opts, &mut out);
    out
}

/// The exposition of `snapshot`, written to `out` piece by piece (a scrape streams it).
pub fn render_to(snapshot: Snapshot, opts: Options, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    let mut registry = Registry::default();
    if opts.node_compat {
        registry.register_collector(Box::new(node::Node {
            table: Arc::clone(&snapshot.table),
            totals: snapshot.totals,
        }));
    }
    registry
        .sub_registry_with_prefix("lvsh")
        .register_collector(Box::new(lvsh::Lvsh {
            snapshot,
            server_rates: opts.server_rates,
        }));
    if opts.openmetrics {
        prometheus_client::encoding::text::encode(out, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(out, &registry)
    }
}

#[cfg(test)]
mod tests;
