//! The table read monitors share. IPVS has no dump of every service's real servers, so a
//! monitor that follows its service dumps it: with 2,000 monitored services at 1 s, 2,000
//! dumps a second. One read of /proc/net/ip_vs instead tells every monitor whether its
//! service changed since its last look (its servers' addresses, methods and weights), and
//! only a monitor whose service changed, or that changed it itself, dumps it.
//!
//! A shared read is taken when the last one is older than half the asking monitor's
//! interval, so a change by someone else is followed within one and a half intervals (one
//! interval with a dump each). It is used only while it costs less than the dumps it saves:
//! the file holds the whole table, and a few monitored services of a big table are cheaper to
//! dump one by one; that is weighed again every minute, or as soon as more monitors make it
//! pay. Each network namespace (the host's scope) has its own table, and its own reads.
//!
//! A service missing from a read is dumped, never taken for gone: Linux 6.1 keeps every
//! namespace's services in one hash table, and the file's position after each read() counts
//! other namespaces' entries where its start does not, so beside services in other namespaces
//! the file skips some of this one's.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::host::Host;
use crate::ipvs::ServiceKey;
use crate::ipvs::proc_table::{Digests, ProcKey};

/// What a dump costs beyond its real servers, in lines of the file (a request and its
/// answer: two or three system calls, against one formatted and parsed line).
const DUMP_COST: usize = 16;

/// What following a service of `servers` real servers by dumps costs a round, in lines.
pub fn dump_cost(servers: usize) -> usize {
    servers + DUMP_COST
}

/// How often the choice between shared reads and dumps is weighed again while dumping.
const REWEIGH: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Scope {
    last: Option<(Instant, Rc<Digests>)>,
    /// Dump, not read, until then: the shared read did not pay, or the host has none.
    dump_until: Option<Instant>,
    /// What following every monitored service of the scope by dumps costs a round, in lines.
    watched: usize,
    /// The lines of the last read: what a shared read costs (none yet: unknown).
    lines: Option<usize>,
}

impl Scope {
    /// Two shared reads a round (each serves half an interval) against a dump per service.
    fn pays(&self, lines: usize) -> bool {
        2 * lines <= self.watched
    }
}

#[derive(Default)]
pub struct TableRead {
    /// By the host's scope: a namespace or two, so a list.
    scopes: RefCell<Vec<(u64, Scope)>>,
    /// Services dumped by monitors, and shared reads taken, since start.
    pub dumps: Cell<u64>,
    pub reads: Cell<u64>,
}

impl TableRead {
    fn with<R>(&self, scope: u64, f: impl FnOnce(&mut Scope) -> R) -> R {
        let mut scopes = self.scopes.borrow_mut();
        let i = match scopes.iter().position(|(s, _)| *s == scope) {
            Some(i) => i,
            None => {
                scopes.push((scope, Scope::default()));
                scopes.len() - 1
            }
        };
        f(&mut scopes[i].1)
    }

    /// A monitor's share of what dumping costs in `scope` went from `old` to `new`.
    pub fn account(&self, scope: u64, old: usize, new: usize) {
        self.with(scope, |s| s.watched = (s.watched + new).saturating_sub(old));
    }

    /// The digest of `key` from a shared read of `scope` no older than `fresh` (taking one if
    /// need be; the thread is in that scope): `None` when monitors are to dump instead,
    /// `Some(None)` when the read has no such service (the caller dumps to be sure: the read
    /// may predate it).
    pub fn digest(
        &self,
        host: &dyn Host,
        scope: u64,
        key: &ServiceKey,
        fresh: Duration,
        now: Instant,
    ) -> Option<Option<u64>> {
        let digests = self.with(scope, |s| {
            if let Some((at, d)) = &s.last
                && now.saturating_duration_since(*at) <= fresh
            {
                return Some(Some(d.clone()));
            }
            // more monitors since may make it pay before the minute is out
            let pays_now = s.lines.is_some_and(|l| s.pays(l));
            if s.dump_until.is_some_and(|t| now < t) && !pays_now {
                return Some(None);
            }
            None
        });
        let digests = match digests {
            Some(Some(d)) => d,
            Some(None) => return None,
            None => {
                self.reads.set(self.reads.get() + 1);
                let read = host.table_digests().map(Rc::new);
                self.with(scope, |s| {
                    s.lines = read.as_ref().map(|d| d.lines);
                    match read {
                        Some(d) if s.pays(d.lines) => {
                            s.dump_until = None;
                            s.last = Some((now, d.clone()));
                            Some(d)
                        }
                        _ => {
                            s.dump_until = Some(now + REWEIGH);
                            s.last = None;
                            None
                        }
                    }
                })?
            }
        };
        Some(digests.services.get(&ProcKey::from(key)).copied())
    }

    /// A monitor dumped its service.
    pub fn dumped(&self) {
        self.dumps.set(self.dumps.get() + 1);
    }
}
