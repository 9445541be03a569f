//! Shared probes: a server checked the same way by several monitors (or for several
//! services) is probed once per interval, and the result goes to every monitor watching it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::host::Host;
use super::probe::{Aimed, ProbeKey};
use crate::check::Outcome;
use crate::log;

/// Who gets a probe's results: check `index` of `server` in a monitor.
pub trait Subscriber {
    fn id(&self) -> u64;
    fn deliver(this: &Rc<RefCell<Self>>, server: SocketAddr, index: usize, outcome: Outcome, at: Instant);
}

struct Sub<S> {
    monitor: Weak<RefCell<S>>,
    id: u64,
    server: SocketAddr,
    index: usize,
    interval: Duration,
}

struct Entry<S> {
    subs: RefCell<Vec<Sub<S>>>,
}

pub struct Registry<S> {
    host: Rc<dyn Host>,
    entries: RefCell<HashMap<ProbeKey, Rc<Entry<S>>>>,
    /// Probes run since start: the benchmark's numerator.
    pub runs: Cell<u64>,
    /// Probes started and not yet finished.
    pub in_flight: Cell<u64>,
}

/// Counts a probe in flight while it lives, however its future ends.
struct Flying<'a>(&'a Cell<u64>);

impl<'a> Flying<'a> {
    fn new(c: &'a Cell<u64>) -> Flying<'a> {
        c.set(c.get() + 1);
        Flying(c)
    }
}

impl Drop for Flying<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

pub struct Plan {
    pub key: ProbeKey,
    pub probe: Aimed,
    pub server: SocketAddr,
    pub weight: u32,
    pub timeout: Duration,
    pub interval: Duration,
    /// Time before the first run (warmup), on top of the spread over the interval.
    pub delay: Duration,
}

impl<S: Subscriber + 'static> Registry<S> {
    pub fn new(host: Rc<dyn Host>) -> Registry<S> {
        Registry {
            host,
            entries: RefCell::new(HashMap::new()),
            runs: Cell::new(0),
            in_flight: Cell::new(0),
        }
    }

    pub fn subscribe(
        self: &Rc<Self>,
        plan: Plan,
        monitor: &Rc<RefCell<S>>,
        server: SocketAddr,
        index: usize,
    ) {
        let id = monitor.borrow().id();
        let sub = Sub {
            monitor: Rc::downgrade(monitor),
            id,
            server,
            index,
            interval: plan.interval,
        };
        if let Some(e) = self.entries.borrow().get(&plan.key) {
            e.subs.borrow_mut().push(sub);
            return;
        }
        let entry = Rc::new(Entry {
            subs: RefCell::new(vec![sub]),
        });
        self.entries.borrow_mut().insert(plan.key.clone(), entry.clone());
        let reg = self.clone();
        if let Err(e) = self
            .host
            .spawn(Box::pin(async move { reg.drive(plan, entry).await }))
        {
            log::error(&format!("probe: {e}"));
        }
    }

    pub fn unsubscribe(&self, key: &ProbeKey, id: u64, server: SocketAddr) {
        if let Some(e) = self.entries.borrow().get(key) {
            e.subs
                .borrow_mut()
                .retain(|s| !(s.id == id && s.server == server));
        }
    }

    async fn drive(self: Rc<Self>, plan: Plan, entry: Rc<Entry<S>>) {
        tokio::time::sleep(plan.delay + spread(&plan.key, plan.interval)).await;
        loop {
            let interval = entry.subs.borrow().iter().map(|s| s.interval).min();
            let Some(interval) = interval else { break };
            let started = Instant::now();
            let flying = Flying::new(&self.in_flight);
            let outcome = plan
                .probe
                .run(&*self.host, plan.server, plan.weight, plan.timeout, started)
                .await;
            drop(flying);
            self.runs.set(self.runs.get() + 1);
            let subs: Vec<(Weak<RefCell<S>>, SocketAddr, usize)> = entry
                .subs
                .borrow()
                .iter()
                .map(|s| (s.monitor.clone(), s.server, s.index))
                .collect();
            for (m, server, index) in subs {
                if let Some(m) = m.upgrade() {
                    S::deliver(&m, server, index, outcome.clone(), started);
                }
            }
            entry.subs.borrow_mut().retain(|s| s.monitor.strong_count() > 0);
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + interval)).await;
        }
        let mut entries = self.entries.borrow_mut();
        if entries.get(&plan.key).is_some_and(|e| Rc::ptr_eq(e, &entry)) {
            entries.remove(&plan.key);
        }
    }
}

/// Where in the interval a probe first runs: fixed per probe, so 10,000 probes spread over
/// the interval instead of all firing at once.
fn spread(key: &ProbeKey, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let nanos = interval.as_nanos().max(1) as u64;
    Duration::from_nanos(h.finish() % nanos)
}
