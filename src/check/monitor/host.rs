//! What a monitor needs from the program that runs it: the IPVS table, the checks written in
//! its scripting language, somewhere to send events, and the event loop.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::check::state::Health;
use crate::check::{Matcher, Outcome};
use crate::ipvs::{Dest, Error, Op, ServiceKey};
use crate::model::backend::Ipvs;

/// A future run on the loop's own thread (checks and callbacks are not `Send`).
pub type Local<T> = Pin<Box<dyn Future<Output = T>>>;

/// A function of the host's (a custom check or a callback), known to the runtime only by
/// this: the same function gives the same id, so monitors share its probes.
pub type FnId = usize;

/// The host of a set of monitors; patterns of `body=`/`expect=` go to its [`Matcher`].
pub trait Host: Matcher {
    /// The real servers of service `key`; `Ok(None)` when the service is gone.
    fn servers(&self, key: &ServiceKey) -> Result<Option<Vec<Dest>>, String>;

    fn execute(&self, op: &Op) -> Result<(), String>;

    /// Every service with its real servers (what runtime overrides are matched against).
    fn table(&self) -> Result<Vec<(ServiceKey, Vec<Dest>)>, String>;

    /// Each service's digest from one read of the whole table, where the host has such a read
    /// (the kernel's /proc/net/ip_vs); `None` and monitors read their services one by one.
    fn table_digests(&self) -> Option<crate::ipvs::proc_table::Digests> {
        None
    }

    /// Which table the thread sees now (a network namespace): reads of one scope are never
    /// taken for another's.
    fn table_scope(&self) -> u64 {
        0
    }

    /// The table is an in-memory model (a dry run): nothing is kept on disk.
    fn is_model(&self) -> bool {
        false
    }

    /// Runs custom check `check` as `call` says. A check that fails to run, raises or
    /// answers nonsense is a failed outcome that says so; the caller bounds the time it
    /// waits, the host the time the check may run without yielding.
    fn run_check(&self, check: FnId, call: Call, started: Instant) -> Local<Outcome>;

    /// Hands `event` to callback `callback`, without waiting for it: a slow or failing
    /// callback must hold up no check.
    fn notify(&self, callback: FnId, event: Event);

    /// No running monitor refers to function `f` any more.
    fn release(&self, f: FnId);

    /// Starts `task` on the event loop.
    fn spawn(&self, task: Local<()>) -> Result<tokio::task::AbortHandle, String>;
}

/// A custom check's call: the server, its weight now, and the monitor's timeout.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub server: SocketAddr,
    pub weight: u32,
    pub timeout: Duration,
}

/// What a monitor tells its callbacks: `on_change`, `on_quorum` and `on_panic`.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Change {
        service: String,
        /// Seconds since the Unix epoch.
        time: f64,
        server: SocketAddr,
        from: Health,
        to: Health,
        reason: String,
        detail: String,
    },
    Quorum {
        service: String,
        time: f64,
        up: bool,
        /// The live weight of the service.
        weight: u64,
        quorum: u64,
    },
    Panic {
        service: String,
        time: f64,
        server: SocketAddr,
        /// Servers out already.
        out: usize,
        max_down: usize,
    },
}

pub use crate::fields::Field;

impl Event {
    /// The callback the event is for.
    pub fn callback(&self) -> &'static str {
        match self {
            Event::Change { .. } => "on_change",
            Event::Quorum { .. } => "on_quorum",
            Event::Panic { .. } => "on_panic",
        }
    }

    /// What the callback takes before the event itself: `on_quorum` is told first whether
    /// the quorum is met.
    pub fn flag(&self) -> Option<bool> {
        match self {
            Event::Quorum { up, .. } => Some(*up),
            _ => None,
        }
    }

    /// The event's fields by name, servers as "ip:port" and states by name.
    pub fn fields(&self) -> Vec<(&'static str, Field)> {
        use Field::*;
        let text = |s: &str| Text(s.to_string());
        match self {
            Event::Change {
                service,
                time,
                server,
                from,
                to,
                reason,
                detail,
            } => vec![
                ("service", text(service)),
                ("time", Number(*time)),
                ("server", Text(server.to_string())),
                ("from", text(from.name())),
                ("to", text(to.name())),
                ("reason", text(reason)),
                ("detail", text(detail)),
            ],
            Event::Quorum {
                service,
                time,
                up,
                weight,
                quorum,
            } => vec![
                ("service", text(service)),
                ("time", Number(*time)),
                ("up", Flag(*up)),
                ("weight", Count(*weight)),
                ("quorum", Count(*quorum)),
            ],
            Event::Panic {
                service,
                time,
                server,
                out,
                max_down,
            } => vec![
                ("service", text(service)),
                ("time", Number(*time)),
                ("server", Text(server.to_string())),
                ("out", Count(*out as u64)),
                ("max_down", Count(*max_down as u64)),
            ],
        }
    }
}

/// The real servers of `key` as [`Host::servers`] gives them, read from an IPVS table.
pub fn read_servers(c: &mut dyn Ipvs, key: &ServiceKey) -> Result<Option<Vec<Dest>>, Error> {
    // One dump per look; only an empty answer needs asking whether the service is still there
    // (the kernel dumps no real servers for a service it does not have).
    match c.dests(key) {
        Ok(d) if !d.is_empty() => Ok(Some(d)),
        Ok(d) => Ok(c.service(key)?.map(|_| d)),
        Err(e) if e.errno() == Some(nix::libc::ESRCH) => Ok(None),
        Err(e) => Err(e),
    }
}
