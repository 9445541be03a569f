//! One monitor's state (probe results come in through `effects`).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::config::{Callbacks, PerServer};
use super::host::{FnId, Host};
use super::probe::Probe;
use super::registry::Registry;
use crate::check::state::Board;
use crate::ipvs::{Dest, ServiceKey};
use crate::model::spec::ServerSpec;
use rustc_hash::FxHashMap;

pub struct Monitor {
    pub id: u64,
    pub name: String,
    pub key: ServiceKey,
    pub board: Board<SocketAddr>,
    /// The table's view of each watched server, to edit it or put it back as it was.
    pub dests: FxHashMap<SocketAddr, Dest>,
    pub sorry: Option<ServerSpec>,
    /// The sorry server in the table (at weight 0 while not wanted, with sorry_inhibit).
    pub sorry_dest: Option<Dest>,
    pub sorry_inhibit: bool,
    pub probes: Vec<Probe>,
    pub per_server: FxHashMap<SocketAddr, PerServer>,
    pub interval: Duration,
    pub retry_interval: Option<Duration>,
    pub timeout: Duration,
    pub warmup: Duration,
    pub callbacks: Callbacks,
    pub functions: Vec<FnId>,
    pub checks_run: u64,
    /// How long the checks took, per kind of check (by kind).
    pub latency: Vec<(&'static str, crate::check::latency::Latencies)>,
    pub stopped: bool,
    pub service_missing: bool,
    pub refresher: Option<tokio::task::AbortHandle>,
    /// A digest of the service's real servers as last read (their settings, not counters).
    pub last_read: u64,
    /// The monitor changed the table (or meant to) since: the next read is followed in full.
    pub changed: bool,
    /// The service's digest in the shared read the last dump followed.
    pub last_look: Option<u64>,
    /// When the service was last dumped: the settings the shared read does not show
    /// (thresholds, tunnels) are as old as that.
    pub dumped_at: Option<std::time::Instant>,
    /// This monitor's share of what dumping every monitored service costs, in lines.
    pub read_cost: usize,
    /// The host's scope (namespace) the monitor runs in.
    pub scope: u64,
    pub table_read: Rc<super::shared::TableRead>,
    pub holds: super::overrides::Holds,
    pub host: Rc<dyn Host>,
    pub registry: Rc<Registry<Monitor>>,
}

impl Monitor {
    /// The kind of check `index` of `server` (its own checks, or the monitor's).
    pub fn kind_of(&self, server: &SocketAddr, index: usize) -> &'static str {
        // most monitors check every server alike: no lookup then
        let own = match self.per_server.is_empty() {
            true => None,
            false => self.per_server.get(server).and_then(|p| p.probes.as_deref()),
        };
        own.unwrap_or(&self.probes)
            .get(index)
            .map_or("custom", Probe::kind)
    }
}

pub type Shared = Rc<RefCell<Monitor>>;
