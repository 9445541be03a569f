//! What a monitor checks its servers with: built-in checks, and the host's custom ones.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::host::{Call, FnId, Host};
use crate::check::spec::Template;
use crate::check::{self, Check, Outcome};

/// One of a monitor's checks, not yet aimed at a server.
#[derive(Clone, Debug)]
pub enum Probe {
    Builtin(Template),
    Custom(FnId),
}

/// A monitor's check aimed at one server (shared with its key: one copy per server).
#[derive(Clone, Debug)]
pub enum Aimed {
    Check(Rc<Check>),
    Custom(FnId),
}

/// What makes two probes the same: the whole check with its target, or for a custom check
/// the function, the server and the timeout.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKey {
    Builtin(Rc<Check>),
    Custom(FnId, SocketAddr, Duration),
}

impl Probe {
    /// What the metrics call it: the built-in check's kind, or `custom` for a function.
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Builtin(t) => t.kind(),
            Probe::Custom(_) => "custom",
        }
    }

    /// The check of `server`, with the monitor's timeout where the check sets none.
    pub fn aim(&self, server: SocketAddr, timeout: Duration) -> Aimed {
        match self {
            Probe::Builtin(t) => Aimed::Check(Rc::new(t.with_default_timeout(timeout).aim(server))),
            Probe::Custom(f) => Aimed::Custom(*f),
        }
    }
}

impl Aimed {
    pub fn key(&self, server: SocketAddr, timeout: Duration) -> ProbeKey {
        match self {
            Aimed::Check(c) => ProbeKey::Builtin(c.clone()),
            Aimed::Custom(f) => ProbeKey::Custom(*f, server, timeout),
        }
    }

    /// Runs the probe; a custom check that overruns `timeout` is a failure that says so.
    pub async fn run(
        &self,
        host: &dyn Host,
        server: SocketAddr,
        weight: u32,
        timeout: Duration,
        started: Instant,
    ) -> Outcome {
        match self {
            Aimed::Check(c) => c.run(host, started).await,
            Aimed::Custom(f) => {
                let call = Call {
                    server,
                    weight,
                    timeout,
                };
                check::within(timeout, started, host.run_check(*f, call, started)).await
            }
        }
    }
}
