//! Draining real servers: weight 0 first (no new connections are scheduled to them), deleted
//! once what they still serve is gone. The rules are pure (counts and a clock in, a verdict
//! out); the waiting between looks is the caller's, so an event loop can yield meanwhile.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{Director, Error};
use crate::ipvs::{Dest, Op, ServiceKey, sockaddr};
use crate::log;
use crate::model::SpecError;
use crate::model::input::{Args, Value, bad};

/// How often a drain looks at the kernel's counts.
pub const LOOK_EVERY: Duration = Duration::from_millis(200);

/// What a drain waits for before it deletes the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wait {
    /// No active connections (ESTABLISHED and the like) are left.
    Active,
    /// No connection entries at all are left: active and inactive (TIME_WAIT, FIN_WAIT...).
    All,
    /// This long, or until nothing is left, whichever comes first.
    For(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrainOpts {
    /// The longest a drain waits; past it the server is deleted with what it still has.
    pub timeout: Duration,
    pub wait: Wait,
}

impl DrainOpts {
    /// `{timeout=, wait=}` as a script gives them (`lvs.drain`).
    pub fn read(v: &Value) -> Result<DrainOpts, SpecError> {
        let f = Args::of(
            "drain options",
            v,
            &["timeout", "wait"],
            &[],
            "must be a table of options",
        )?;
        let mut o = super::ApplyOpts::default().drain;
        o.read_fields(&f, "timeout")?;
        Ok(o)
    }

    /// `wait = "active" | "all" | seconds`, and the timeout from `timeout_field`.
    pub fn read_fields(&mut self, f: &Args, timeout_field: &str) -> Result<(), SpecError> {
        if let Some(s) = f.int(timeout_field)? {
            if !(0..=86400).contains(&s) {
                return Err(bad(
                    timeout_field,
                    f.raw(timeout_field),
                    "seconds from 0 to 86400",
                ));
            }
            self.timeout = Duration::from_secs(s as u64);
        }
        self.wait = match f.raw("wait") {
            Value::Nil => self.wait,
            Value::Str(s) if s == "active" => Wait::Active,
            Value::Str(s) if s == "all" => Wait::All,
            v @ (Value::Int(_) | Value::Num(_)) => match f.seconds("wait")? {
                Some(d) if d.as_secs() <= 86400 => Wait::For(d),
                _ => return Err(bad("wait", v, "seconds from 0 to 86400")),
            },
            other => {
                return Err(bad(
                    "wait",
                    other,
                    "\"active\" (no active connections), \"all\" (no connection entries) or seconds",
                ));
            }
        };
        Ok(())
    }
}

/// What a look at a draining server found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Someone else deleted it (or its service): nothing to do.
    Gone,
    /// Someone put it back in rotation (a weight above 0): the drain is off, it stays.
    Cancelled,
    /// What the drain waits for is gone: delete it.
    Drained,
    /// The wait is over with connections left: delete it anyway.
    TimedOut,
    Waiting,
}

/// The rule: what `dest`'s counts (None: not in the table) say `now` of a drain that started
/// at `started`. Persistence templates count as connections of a persistent service: a
/// server deleted under them would break the clients they pin to it.
pub fn verdict(
    o: &DrainOpts,
    persistent: bool,
    started: Instant,
    now: Instant,
    dest: Option<&Dest>,
) -> Verdict {
    let Some(d) = dest else { return Verdict::Gone };
    if d.weight != 0 {
        return Verdict::Cancelled;
    }
    let templates = if persistent { d.persist } else { 0 };
    let all_gone = d.active == 0 && d.inactive == 0 && templates == 0;
    let waited = now.saturating_duration_since(started);
    let done = match o.wait {
        Wait::Active => d.active == 0 && templates == 0,
        Wait::All => all_gone,
        Wait::For(t) => all_gone || waited >= t,
    };
    if done {
        Verdict::Drained
    } else if waited >= o.timeout {
        Verdict::TimedOut
    } else {
        Verdict::Waiting
    }
}

/// One server being drained: where, and whether its service is persistent.
pub type Target = (ServiceKey, IpAddr, u16);

struct Draining {
    key: ServiceKey,
    addr: IpAddr,
    port: u16,
    persistent: bool,
}

impl Draining {
    fn name(&self) -> String {
        format!("{} in {}", sockaddr(&self.addr, self.port), self.key)
    }

    fn target(&self) -> Target {
        (self.key.clone(), self.addr, self.port)
    }
}

/// The servers a director is draining, over all its drains: a second apply of the same table
/// while a drain waits joins it rather than starting another.
pub type Registry = std::rc::Rc<std::cell::RefCell<std::collections::HashSet<Target>>>;

/// The servers a director's drains deleted, in order (the last `DRAINED_KEPT`), and how many
/// in all: for whoever follows them (`lvs.watch` tells a server drained away from one
/// deleted by hand).
#[derive(Debug, Default)]
pub struct DrainedLog {
    total: u64,
    recent: std::collections::VecDeque<Target>,
}

pub type Drained = std::rc::Rc<std::cell::RefCell<DrainedLog>>;

const DRAINED_KEPT: usize = 4096;

impl DrainedLog {
    fn push(&mut self, t: Target) {
        if self.recent.len() == DRAINED_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(t);
        self.total += 1;
    }

    /// Those deleted since the total was `seen` (what is still kept of them), and the total.
    pub fn since(&self, seen: u64) -> (Vec<Target>, u64) {
        let n = (self.total.saturating_sub(seen) as usize).min(self.recent.len());
        let skip = self.recent.len() - n;
        (self.recent.iter().skip(skip).cloned().collect(), self.total)
    }
}

/// The servers one apply (or one `lvs.drain`) drains, and what became of them.
pub struct Drains {
    left: Vec<Draining>,
    opts: DrainOpts,
    started: Instant,
    registry: Registry,
    drained: Drained,
    /// The deletions made so far, in order.
    pub deleted: Vec<Op>,
}

impl Drop for Drains {
    /// A drain given up (an error, a signal, a chunk interrupted) no longer holds its servers.
    fn drop(&mut self) {
        let mut reg = self.registry.borrow_mut();
        for d in &self.left {
            reg.remove(&d.target());
        }
    }
}

impl Drains {
    /// Starts draining `servers` (already at weight 0); those another drain of this director
    /// is waiting for already are left to it. Says in the log where the kernel's settings
    /// will keep sending a draining server traffic.
    pub fn new(
        dir: &mut Director,
        servers: &[Target],
        opts: DrainOpts,
        now: Instant,
    ) -> Result<Drains, Error> {
        let mut drains = Drains {
            left: Vec::with_capacity(servers.len()),
            opts,
            started: now,
            registry: dir.draining.clone(),
            drained: dir.drained.clone(),
            deleted: Vec::new(),
        };
        let mut persistent = std::collections::HashMap::new();
        for (key, addr, port) in servers {
            if dir.draining.borrow().contains(&(key.clone(), *addr, *port)) {
                log::info(&format!(
                    "drain {} in {key}: already being drained",
                    sockaddr(addr, *port)
                ));
                continue;
            }
            let p = match persistent.get(key) {
                Some(p) => *p,
                None => {
                    let p = dir.ipvs.service(key)?.is_some_and(|s| s.persistent());
                    persistent.insert(key.clone(), p);
                    p
                }
            };
            let d = Draining {
                key: key.clone(),
                addr: *addr,
                port: *port,
                persistent: p,
            };
            dir.draining.borrow_mut().insert(d.target());
            crate::events::emit(
                "drain_started",
                serde_json::json!({"service": key.to_string(), "server": sockaddr(addr, *port)}),
            );
            drains.left.push(d);
        }
        for w in drains.traps(dir) {
            log::warn(&w);
        }
        Ok(drains)
    }

    /// The kernel settings under which draining does not do what it says (kube-proxy's
    /// traps), one line each.
    pub fn traps(&self, dir: &Director) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(d) = self.left.iter().find(|d| d.persistent)
            && dir.sysctl("net.ipv4.vs.expire_quiescent_template").as_deref() == Some("0")
        {
            out.push(format!(
                "drain {}: the service is persistent and net.ipv4.vs.expire_quiescent_template is 0: \
                 clients with a persistence template keep being sent to the server at weight 0 until \
                 the template expires (set it to 1 to end templates of quiescent servers)",
                d.name()
            ));
        }
        if let Some(d) = self.left.first()
            && dir.sysctl("net.ipv4.vs.conn_reuse_mode").as_deref() == Some("0")
        {
            out.push(format!(
                "drain {}: net.ipv4.vs.conn_reuse_mode is 0: a new connection that reuses a client \
                 port of an old one goes to the old one's server, draining or not",
                d.name()
            ));
        }
        out
    }

    pub fn is_done(&self) -> bool {
        self.left.is_empty()
    }

    /// Looks at every server still draining (one dump per service) and deletes those that
    /// are done. Returns when to look again, or None when every drain is over. On an error
    /// every server not finished is still draining.
    pub fn step(&mut self, dir: &mut Director, now: Instant) -> Result<Option<Duration>, Error> {
        let mut dumps: std::collections::HashMap<ServiceKey, Option<Vec<Dest>>> =
            std::collections::HashMap::new();
        let mut i = 0;
        while i < self.left.len() {
            let d = &self.left[i];
            if !dumps.contains_key(&d.key) {
                let dests = match dir.ipvs.dests(&d.key) {
                    Ok(list) => Some(list),
                    // a service deleted meanwhile dumps as "no such service"
                    Err(e) if e.errno() == Some(nix::libc::ESRCH) => None,
                    Err(e) => return Err(e.into()),
                };
                dumps.insert(d.key.clone(), dests);
            }
            let dest = dumps
                .get(&d.key)
                .and_then(|l| l.as_ref())
                .and_then(|l| l.iter().find(|x| x.addr == d.addr && x.port == d.port));
            match verdict(&self.opts, d.persistent, self.started, now, dest) {
                Verdict::Waiting => {
                    i += 1;
                    continue;
                }
                Verdict::Gone => log::info(&format!("drain {}: already gone", d.name())),
                Verdict::Cancelled => log::info(&format!(
                    "drain {}: put back in rotation (weight {}); not deleted",
                    d.name(),
                    dest.map_or(0, |x| x.weight)
                )),
                v => {
                    if let (Verdict::TimedOut, Some(x)) = (v, dest) {
                        log::warn(&format!(
                            "drain {}: still {} active, {} inactive, {} persistent after {}s; deleting it",
                            d.name(),
                            x.active,
                            x.inactive,
                            x.persist,
                            self.opts.timeout.as_secs()
                        ));
                    }
                    match dir.del_server_now(&d.key, d.addr, d.port) {
                        // another writer is at work: look again next time
                        Err(Error::Locked(_)) => {
                            i += 1;
                            continue;
                        }
                        Ok(()) => {
                            self.deleted.push(Op::DelDest(d.key.clone(), d.addr, d.port));
                            self.drained.borrow_mut().push(d.target());
                            log::info(&format!("drain {}: drained, deleted", d.name()));
                        }
                        // deleted by someone else between the look and the delete
                        Err(e) if matches!(e.errno(), Some(nix::libc::ENOENT | nix::libc::ESRCH)) => {
                            log::info(&format!("drain {}: already gone", d.name()))
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            let done = self.left.remove(i);
            self.registry.borrow_mut().remove(&done.target());
            crate::events::emit(
                "drain_finished",
                serde_json::json!({"service": done.key.to_string(), "server": sockaddr(&done.addr, done.port)}),
            );
        }
        if self.left.is_empty() {
            return Ok(None);
        }
        let deadline = self.started + self.opts.timeout;
        let until_deadline = deadline.saturating_duration_since(now);
        Ok(Some(LOOK_EVERY.min(until_deadline.max(Duration::from_millis(1)))))
    }

    /// Gives the drains up (`why`: a signal, an error): the servers stay in at weight 0, and
    /// the log and the error say so.
    pub fn give_up(&mut self, why: &str) -> Error {
        let names: Vec<String> = self.left.iter().map(|d| d.name()).collect();
        let text = format!(
            "drain interrupted by {why}: {} left in at weight 0 (not deleted)",
            names.join(", ")
        );
        log::warn(&text);
        let mut reg = self.registry.borrow_mut();
        for d in self.left.drain(..) {
            reg.remove(&d.target());
            crate::events::emit(
                "drain_finished",
                serde_json::json!({"service": d.key.to_string(), "server": sockaddr(&d.addr, d.port), "interrupted": why}),
            );
        }
        Error::Interrupted(text)
    }
}

impl Director {
    /// Takes one real server out of rotation (weight 0) and starts draining it.
    pub fn drain(
        &mut self,
        key: &ServiceKey,
        spec: &crate::model::ServerSpec,
        opts: DrainOpts,
        now: Instant,
    ) -> Result<Drains, Error> {
        let (addr, port) = crate::model::spec::server_endpoint(key, &spec.addr)?;
        let Some(dest) = self.server(key, addr, port)? else {
            return Err(self.missing(Op::DelDest(key.clone(), addr, port)));
        };
        if dest.weight != 0 {
            self.set_weight(key, &dest, 0)?;
        }
        Drains::new(self, &[(key.clone(), addr, port)], opts, now)
    }
}
