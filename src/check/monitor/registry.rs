//! Shared probes: a server checked the same way by several monitors (or for several
//! services) is probed once per interval, and the result goes to every monitor watching it.
//!
//! One task schedules every probe, from queues of when each is next due. TCP and plain
//! HTTP probes run on the check reactor (a socket each, no task); the other kinds (HTTPS,
//! UDP, DNS, programs, the host's own checks) run as a task of their own while they run. A
//! watched server costs a queue entry and its plan between runs, not a parked task sized
//! for the largest check there is (10,000 TCP-checked servers: 54 MB with a task each).

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::host::Host;
use super::probe::{Aimed, ProbeKey};
use crate::check::reactor::{Done, Job, Reactor, Slot};
use crate::check::{Matcher, Outcome};
use crate::log;

/// Who gets a probe's results: check `index` of `server` in a monitor. It may ask for the
/// next run sooner (or later) than its interval: a retry of a failing check.
pub trait Subscriber {
    fn id(&self) -> u64;
    fn deliver(
        this: &Rc<RefCell<Self>>,
        server: SocketAddr,
        index: usize,
        outcome: Outcome,
        at: Instant,
    ) -> Option<Duration>;
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
    plan: Plan,
    /// The probe as the reactor runs it, with its timeout; None: it runs as a task.
    job: Option<(Job, Duration)>,
    flying: Cell<bool>,
    /// Its next run came while it was still running: it runs again as soon as it ends.
    overdue: Cell<bool>,
    /// Rounds queued for it that a retry replaced: they are dropped as they come due. Every
    /// launch queues one round, and only the latest launch's can still be wanted, so the
    /// stale ones are the first to come.
    stale: Cell<u32>,
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

/// A run due at `at`; `seq` keeps equal times in the order they were queued.
struct Due<S> {
    at: Instant,
    seq: u64,
    entry: Rc<Entry<S>>,
}

impl<S> PartialEq for Due<S> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl<S> Eq for Due<S> {}
impl<S> PartialOrd for Due<S> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<S> Ord for Due<S> {
    // the heap gives its greatest first: the earliest is the greatest
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

type Flights<S> = Reactor<Rc<Entry<S>>>;

/// The most probes started in one turn of the loop (a few milliseconds of system calls).
const BATCH: usize = 256;

pub struct Registry<S> {
    host: Rc<dyn Host>,
    entries: RefCell<HashMap<ProbeKey, Rc<Entry<S>>>>,
    /// Probes run since start: the benchmark's numerator.
    pub runs: Cell<u64>,
    /// Probes started and not yet finished.
    pub in_flight: Cell<u64>,
    /// First runs (spread over the interval) and runs that came due while the last one
    /// was still on, by time.
    queue: RefCell<BinaryHeap<Due<S>>>,
    /// The next runs, one queue per interval: a probe's next run is queued when it starts,
    /// at its start and the interval, and probes start in time order, so each queue is in
    /// time order as it grows (in the heap, a run cost more than the probe's bookkeeping).
    rounds: RefCell<Lanes<Rc<Entry<S>>>>,
    seq: Cell<u64>,
    reactor: RefCell<Option<Flights<S>>>,
    /// The deadlines of the reactor's probes, one queue per timeout: probes start in time
    /// order, so each queue is in deadline order as it grows, and a deadline costs a push
    /// and a pop (in the heap, with ten thousand probes, it cost more than the probe's
    /// own bookkeeping). A probe that ended before its deadline leaves a stale one behind.
    deadlines: RefCell<Lanes<Slot>>,
    /// Where a drain of the reactor puts what ended, kept between drains.
    done: RefCell<Vec<Done<Rc<Entry<S>>>>>,
    /// The scheduler looks at the queue again (something was queued sooner than it sleeps).
    wake: Notify,
    scheduling: Cell<bool>,
}

impl<S: Subscriber + 'static> Registry<S> {
    pub fn new(host: Rc<dyn Host>) -> Registry<S> {
        Registry {
            host,
            entries: RefCell::new(HashMap::new()),
            runs: Cell::new(0),
            in_flight: Cell::new(0),
            queue: RefCell::new(BinaryHeap::new()),
            rounds: RefCell::new(Lanes::default()),
            seq: Cell::new(0),
            reactor: RefCell::new(None),
            deadlines: RefCell::new(Lanes::default()),
            done: RefCell::new(Vec::new()),
            wake: Notify::new(),
            scheduling: Cell::new(false),
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
        let first = Instant::now() + plan.delay + spread(&plan.key, plan.interval);
        let job = match &plan.probe {
            Aimed::Check(c) => Job::of(c),
            Aimed::Custom(_) => None,
        };
        let entry = Rc::new(Entry {
            subs: RefCell::new(vec![sub]),
            plan,
            job,
            flying: Cell::new(false),
            overdue: Cell::new(false),
            stale: Cell::new(0),
        });
        self.entries
            .borrow_mut()
            .insert(entry.plan.key.clone(), entry.clone());
        self.queue(first, entry);
        self.start_scheduling();
    }

    pub fn unsubscribe(&self, key: &ProbeKey, id: u64, server: SocketAddr) {
        if let Some(e) = self.entries.borrow().get(key) {
            e.subs
                .borrow_mut()
                .retain(|s| !(s.id == id && s.server == server));
        }
    }

    fn queue(&self, at: Instant, entry: Rc<Entry<S>>) {
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        let sooner = self.queue.borrow().peek().is_none_or(|d| at < d.at);
        self.queue.borrow_mut().push(Due { at, seq, entry });
        if sooner {
            self.wake.notify_one();
        }
    }

    fn start_scheduling(self: &Rc<Self>) {
        if self.scheduling.replace(true) {
            return;
        }
        let reg = self.clone();
        if let Err(e) = self.host.spawn(Box::pin(async move { reg.schedule().await })) {
            self.scheduling.set(false);
            log::error(&format!("probe: {e}"));
        }
    }

    /// The scheduler: runs what is due, takes the reactor's news, sleeps until the next.
    async fn schedule(self: Rc<Self>) {
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let wake = self.wake.notified();
        tokio::pin!(wake);
        loop {
            let more = self.fire(Instant::now());
            self.drain();
            if more {
                // a backlog (a stalled host, a burst of overdue probes) goes out in batches
                // between which everything else on the loop gets its turn
                tokio::task::yield_now().await;
                continue;
            }
            let next = [
                self.queue.borrow().peek().map(|d| d.at),
                self.rounds.borrow().first(),
                self.deadlines.borrow().first(),
            ]
            .into_iter()
            .flatten()
            .min();
            // nothing queued: the next subscription wakes it
            let until = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let until = tokio::time::Instant::from_std(until);
            // the timer is set again only when the next thing due moved
            if sleep.deadline() != until || sleep.is_elapsed() {
                sleep.as_mut().reset(until);
            }
            let ready = self.reactor.borrow().as_ref().map(|r| r.ready());
            let news = async {
                match ready {
                    Some(r) => r.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut sleep => {}
                _ = &mut wake => wake.set(self.wake.notified()),
                _ = news => {}
            }
        }
    }

    /// Starts what is due at `now`, at most BATCH of it; true when more is due.
    fn fire(self: &Rc<Self>, now: Instant) -> bool {
        self.expire(now);
        for _ in 0..BATCH {
            let entry = {
                let mut q = self.queue.borrow_mut();
                match q.peek() {
                    Some(d) if d.at <= now => q.pop().map(|d| d.entry),
                    _ => None,
                }
            };
            let entry = match entry {
                Some(e) => e,
                None => match self.rounds.borrow_mut().pop_due(now) {
                    Some(e) if e.stale.get() > 0 => {
                        e.stale.set(e.stale.get() - 1);
                        continue;
                    }
                    Some(e) => e,
                    None => return false,
                },
            };
            if entry.subs.borrow().is_empty() {
                if !entry.flying.get() {
                    self.forget(&entry);
                }
            } else if entry.flying.get() {
                entry.overdue.set(true);
            } else {
                self.launch(entry, now);
            }
        }
        true
    }

    /// Ends the reactor's probes whose deadline is past.
    fn expire(&self, now: Instant) {
        loop {
            let slot = self.deadlines.borrow_mut().pop_due(now);
            let Some(slot) = slot else { return };
            let done = self.reactor.borrow_mut().as_mut().and_then(|r| r.expire(slot));
            if let Some((entry, started, outcome)) = done {
                self.finish(entry, outcome, started);
            }
        }
    }

    fn drain(self: &Rc<Self>) {
        let mut done = std::mem::take(&mut *self.done.borrow_mut());
        loop {
            let more = match self.reactor.borrow_mut().as_mut() {
                Some(r) => r.drain(&*self.host as &dyn Matcher, &mut |d| done.push(d)),
                None => false,
            };
            // results go out with the reactor free: a delivery may start or stop probes
            for (entry, started, outcome) in done.drain(..) {
                self.finish(entry, outcome, started);
            }
            if !more {
                *self.done.borrow_mut() = done;
                return;
            }
        }
    }

    /// Starts `entry`'s probe; `started` is now, read once for all that came due together.
    fn launch(self: &Rc<Self>, entry: Rc<Entry<S>>, started: Instant) {
        self.in_flight.set(self.in_flight.get() + 1);
        entry.flying.set(true);
        if let Some(i) = entry.subs.borrow().iter().map(|s| s.interval).min() {
            self.rounds.borrow_mut().push(i, started + i, entry.clone());
        }
        if let Some((job, timeout)) = &entry.job {
            if let Some(done) = self.on_reactor(job, *timeout, entry.clone(), started) {
                let (entry, started, outcome) = done;
                self.finish(entry, outcome, started);
            }
            return;
        }
        let reg = self.clone();
        let task = Box::pin(async move {
            let p = &entry.plan;
            let outcome = p
                .probe
                .run(&*reg.host, p.server, p.weight, p.timeout, started)
                .await;
            reg.finish(entry, outcome, started);
        });
        if let Err(e) = self.host.spawn(task) {
            log::error(&format!("probe: {e}"));
        }
    }

    /// Starts `job` on the reactor (made on first use); what ended at once is returned.
    fn on_reactor(
        &self,
        job: &Job,
        timeout: Duration,
        entry: Rc<Entry<S>>,
        started: Instant,
    ) -> Option<Done<Rc<Entry<S>>>> {
        let mut r = self.reactor.borrow_mut();
        if r.is_none() {
            match Reactor::new() {
                Ok(new) => *r = Some(new),
                Err(e) => {
                    let o = Outcome::down(format!("probe: {e}"), started);
                    return Some((entry, started, o));
                }
            }
        }
        let reactor = r.as_mut()?;
        match reactor.start(job, timeout, entry, started) {
            Ok(slot) => {
                self.deadlines.borrow_mut().push(timeout, started + timeout, slot);
                None
            }
            Err(done) => Some(done),
        }
    }

    /// A probe ended: its result goes to every subscriber, and it is queued again.
    fn finish(&self, entry: Rc<Entry<S>>, outcome: Outcome, started: Instant) {
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
        self.runs.set(self.runs.get() + 1);
        // Who gets it is read before anyone does: a delivery may change the list. One
        // subscriber is the common case, and it takes the outcome without a copy.
        let one = {
            let subs = entry.subs.borrow();
            match subs.as_slice() {
                [s] => Some((s.monitor.clone(), s.server, s.index)),
                _ => None,
            }
        };
        let mut retry: Option<Duration> = None;
        let mut ask = |r: Option<Duration>| {
            if let Some(r) = r {
                retry = Some(retry.map_or(r, |x| x.min(r)));
            }
        };
        match one {
            Some((m, server, index)) => {
                if let Some(m) = m.upgrade() {
                    ask(S::deliver(&m, server, index, outcome, started));
                }
            }
            None => {
                let subs: Vec<(Weak<RefCell<S>>, SocketAddr, usize)> = entry
                    .subs
                    .borrow()
                    .iter()
                    .map(|s| (s.monitor.clone(), s.server, s.index))
                    .collect();
                for (m, server, index) in subs {
                    if let Some(m) = m.upgrade() {
                        ask(S::deliver(&m, server, index, outcome.clone(), started));
                    }
                }
            }
        }
        entry.subs.borrow_mut().retain(|s| s.monitor.strong_count() > 0);
        entry.flying.set(false);
        if entry.subs.borrow().is_empty() {
            self.forget(&entry);
        } else if let Some(r) = retry {
            // the round its launch queued is replaced by the retry (unless it came already)
            if !entry.overdue.replace(false) {
                entry.stale.set(entry.stale.get() + 1);
            }
            self.queue(Instant::now() + r, entry);
        } else if entry.overdue.replace(false) {
            self.queue(Instant::now(), entry);
        }
    }

    fn forget(&self, entry: &Rc<Entry<S>>) {
        let mut entries = self.entries.borrow_mut();
        if entries.get(&entry.plan.key).is_some_and(|e| Rc::ptr_eq(e, entry)) {
            entries.remove(&entry.plan.key);
        }
    }
}

/// Queues of things due, one per length of time (an interval, a timeout): what is queued
/// at now plus the same length comes due in the order it was queued, so each queue stays
/// in time order by being pushed at its back, and a monitor's few lengths make few queues.
struct Lanes<T>(Vec<(Duration, VecDeque<(Instant, T)>)>);

impl<T> Default for Lanes<T> {
    fn default() -> Self {
        Lanes(Vec::new())
    }
}

impl<T> Lanes<T> {
    /// Queues `item` at `at`, which is no sooner than what was queued before with `length`.
    fn push(&mut self, length: Duration, at: Instant, item: T) {
        match self.0.iter_mut().find(|(l, _)| *l == length) {
            Some((_, q)) => q.push_back((at, item)),
            None => self.0.push((length, VecDeque::from([(at, item)]))),
        }
    }

    /// When the soonest thing is due.
    fn first(&self) -> Option<Instant> {
        self.0.iter().filter_map(|(_, q)| q.front()).map(|d| d.0).min()
    }

    /// Something due at `now` or before.
    fn pop_due(&mut self, now: Instant) -> Option<T> {
        self.0.iter_mut().find_map(|(_, q)| match q.front() {
            Some((at, _)) if *at <= now => q.pop_front().map(|(_, t)| t),
            _ => None,
        })
    }
}

/// Where in the interval something periodic first runs: fixed per key, so 10,000 probes
/// (or a script's monitors, reading their services) spread over the interval instead of
/// all running at once.
pub(super) fn spread(key: &impl Hash, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let nanos = interval.as_nanos().max(1) as u64;
    Duration::from_nanos(h.finish() % nanos)
}
