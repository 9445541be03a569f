//! Reading a monitor's service from its host: the dump, counted, and keeping the monitor's
//! copy of its servers' settings current before it edits one.

use std::net::SocketAddr;
use std::time::Instant;

use super::watch::Shared;
use crate::ipvs::Dest;
use crate::log;

/// Dumps the service, counted.
pub(super) fn dump(this: &Shared) -> Result<Option<Vec<Dest>>, String> {
    let (host, key) = {
        let mut m = this.borrow_mut();
        m.table_read.dumped();
        m.dumped_at = Some(Instant::now());
        (m.host.clone(), m.key.clone())
    };
    host.servers(&key)
}

/// Before the monitor edits or puts back a server from its copy: the shared read does not
/// show thresholds or tunnel settings, so a copy older than two intervals (a monitor that
/// dumps every interval never needs this) is brought up to date with a dump first (what
/// someone else set there is kept, the weight is the monitor's).
pub(super) fn settings_current(this: &Shared) {
    let stale = {
        let m = this.borrow();
        m.dumped_at.is_none_or(|t| t.elapsed() > 2 * m.interval)
    };
    if !stale {
        return;
    }
    match dump(this) {
        Ok(Some(dests)) => {
            let mut m = this.borrow_mut();
            for d in dests {
                if let Some(copy) = m.dests.get_mut(&SocketAddr::new(d.addr, d.port)) {
                    *copy = Dest {
                        weight: copy.weight,
                        ..d
                    };
                }
            }
        }
        Ok(None) => {}
        Err(e) => log::error(&format!("{}: reading the service: {e}", this.borrow().name)),
    }
}
