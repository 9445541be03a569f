//! Monitors: each watches the real servers of a service with checks, and carries out the
//! health board's verdicts (`check::state`) on the IPVS table (weights, removal, sorry
//! server) and as events for the host's callbacks. No scripting language here: what the
//! runtime needs from its host goes through [`Host`].

pub mod config;
mod dump;
mod effects;
pub mod host;
pub mod overrides;
pub mod probe;
mod registry;
mod shared;
mod table;
pub mod view;
mod watch;

#[cfg(test)]
mod tests;

pub use config::{
    Callbacks, Config, FIELDS, MaxDownSpec, MonitorSpec, SERVER_FIELDS, ServerOverride, validate,
};
pub use host::{Call, Event, Field, FnId, Host, Local, read_servers};
pub use probe::Probe;
pub use view::{CheckCount, Row, Status, render};

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use registry::Registry;
use watch::{Monitor, Shared};

use crate::check::secs;
use crate::check::state::Board;
use crate::log;

/// The monitors of one host, and the probes they share.
pub struct Monitors {
    host: Rc<dyn Host>,
    all: RefCell<Vec<Shared>>,
    registry: Rc<Registry<Monitor>>,
    next_id: Cell<u64>,
    /// How many running monitors refer to each of the host's functions.
    uses: RefCell<HashMap<FnId, usize>>,
    /// The servers runtime overrides hold, shared with every monitor.
    holds: overrides::Holds,
    table_read: Rc<shared::TableRead>,
}

/// A monitor, as its owner holds it; it keeps running without one until stopped.
#[derive(Clone)]
pub struct Handle(Shared);

impl Monitors {
    pub fn new(host: Rc<dyn Host>) -> Monitors {
        Monitors {
            registry: Rc::new(Registry::new(host.clone())),
            host,
            all: RefCell::new(Vec::new()),
            next_id: Cell::new(0),
            uses: RefCell::new(HashMap::new()),
            holds: Default::default(),
            table_read: Default::default(),
        }
    }

    pub fn holds(&self) -> overrides::Holds {
        self.holds.clone()
    }

    /// Holds `server` of `service` at `weight` (None: lets it go) in every monitor that
    /// watches it, which carries it out; false when no monitor watches it.
    pub fn hold(
        &self,
        service: &str,
        server: std::net::SocketAddr,
        weight: Option<u32>,
        before: u32,
    ) -> bool {
        let watching: Vec<Shared> = self
            .all
            .borrow()
            .iter()
            .filter(|m| {
                let m = m.borrow();
                m.name == service && m.board.servers.contains_key(&server)
            })
            .cloned()
            .collect();
        for m in &watching {
            let fx = m.borrow_mut().board.hold(&server, weight, before);
            effects::apply(m, fx);
        }
        !watching.is_empty()
    }

    /// Starts a monitor. The first read is synchronous: a monitor of a service that is not
    /// there is an error now, not a warning later.
    pub fn start(&self, config: Config) -> Result<Handle, String> {
        let functions = config.functions();
        for f in &functions {
            *self.uses.borrow_mut().entry(*f).or_default() += 1;
        }
        let started = self.launch(config);
        if started.is_err() {
            self.unuse(&functions);
        }
        started
    }

    /// Tells the host of the functions no running monitor refers to any more.
    fn unuse(&self, functions: &[FnId]) {
        for f in functions {
            let last = {
                let mut uses = self.uses.borrow_mut();
                let n = uses.entry(*f).or_default();
                *n = n.saturating_sub(1);
                *n == 0 && uses.remove(f).is_some()
            };
            if last {
                self.host.release(*f);
            }
        }
    }

    fn launch(&self, config: Config) -> Result<Handle, String> {
        let key = config.key.clone();
        self.table_read.dumped();
        let Some(dests) = self.host.servers(&key)? else {
            return Err(format!("monitor: no such service: {key}"));
        };
        let read_cost = shared::dump_cost(dests.len());
        let scope = self.host.table_scope();
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let interval = config.interval;
        let functions = config.functions();
        let m = Rc::new(RefCell::new(Monitor {
            id,
            name: key.to_string(),
            key,
            board: Board::new(config.policy),
            dests: Default::default(),
            sorry: config.sorry,
            sorry_inhibit: config.sorry_inhibit,
            sorry_dest: None,
            probes: config.probes,
            per_server: config.per_server,
            interval,
            retry_interval: config.retry_interval,
            timeout: config.timeout,
            warmup: config.warmup,
            callbacks: config.callbacks,
            functions,
            checks_run: 0,
            latency: Default::default(),
            stopped: false,
            service_missing: false,
            refresher: None,
            last_read: 0,
            changed: true,
            last_look: None,
            dumped_at: Some(std::time::Instant::now()),
            read_cost,
            scope,
            table_read: self.table_read.clone(),
            holds: self.holds.clone(),
            host: self.host.clone(),
            registry: self.registry.clone(),
        }));
        if m.borrow().sorry_inhibit {
            effects::sorry_standby(&m);
        }
        table::follow(&m, dests);
        let weak = Rc::downgrade(&m);
        // Monitors started together (a script's loop) would read the table together, every
        // interval, in one turn of the loop: each starts its reads at its own point in the
        // interval instead.
        let offset = registry::spread(&m.borrow().name, interval);
        let refresher = self.host.spawn(Box::pin(async move {
            tokio::time::sleep(offset).await;
            loop {
                tokio::time::sleep(interval).await;
                let Some(m) = weak.upgrade() else { break };
                if let Err(e) = table::refresh(&m) {
                    log::error(&format!("{}: reading the service: {e}", m.borrow().name));
                }
            }
        }))?;
        m.borrow_mut().refresher = Some(refresher);
        self.all.borrow_mut().push(m.clone());
        self.table_read.account(scope, 0, read_cost);
        log::info(&format!(
            "{}: monitoring {} real servers every {}",
            m.borrow().name,
            m.borrow().board.servers.len(),
            secs(interval)
        ));
        Ok(Handle(m))
    }

    /// Stops `h`, leaving weights as they are; false when it was stopped already.
    pub fn stop(&self, h: &Handle) -> bool {
        let m = &h.0;
        let servers: Vec<_> = {
            let mut mm = m.borrow_mut();
            if mm.stopped {
                return false;
            }
            mm.stopped = true;
            if let Some(r) = mm.refresher.take() {
                r.abort();
            }
            mm.table_read.account(mm.scope, mm.read_cost, 0);
            mm.board.servers.keys().copied().collect()
        };
        for s in servers {
            table::unsubscribe(m, s);
        }
        self.all.borrow_mut().retain(|x| !Rc::ptr_eq(x, m));
        let functions = m.borrow().functions.clone();
        self.unuse(&functions);
        log::info(&format!(
            "{}: monitor stopped; weights left as they are",
            m.borrow().name
        ));
        true
    }

    /// The monitors running, oldest first.
    pub fn list(&self) -> Vec<Handle> {
        self.all.borrow().iter().cloned().map(Handle).collect()
    }

    /// Services dumped by monitors and shared reads of the table taken, since start.
    pub fn table_reads(&self) -> (u64, u64) {
        (self.table_read.dumps.get(), self.table_read.reads.get())
    }

    /// Probes run since start, over all monitors.
    pub fn probes_run(&self) -> u64 {
        self.registry.runs.get()
    }

    /// Probes started and not finished yet.
    pub fn probes_in_flight(&self) -> u64 {
        self.registry.in_flight.get()
    }

    /// What the running monitors did to the table on purpose: the servers they took out,
    /// the sorry servers they put in, and the weights their exec checks set (drift is not
    /// reported of those).
    pub fn excuse(&self, ex: &mut crate::check::drift::Excuses) {
        let sets_weights = |probes: &[Probe]| {
            probes
                .iter()
                .any(|p| matches!(p, Probe::Builtin(t) if t.kind() == "exec"))
        };
        for m in self.all.borrow().iter() {
            let m = m.borrow();
            for (a, s) in &m.board.servers {
                let probes = m.per_server.get(a).and_then(|p| p.probes.as_deref());
                if s.out {
                    ex.out.insert((m.key.clone(), *a));
                } else if sets_weights(probes.unwrap_or(&m.probes)) {
                    ex.weights.insert((m.key.clone(), *a), s.weight);
                }
            }
            if let Some(d) = &m.sorry_dest {
                ex.sorry
                    .insert((m.key.clone(), std::net::SocketAddr::new(d.addr, d.port)));
            }
        }
    }

    /// One row per watched server of every monitor running.
    pub fn rows(&self) -> Vec<Row> {
        self.all
            .borrow()
            .iter()
            .flat_map(|m| view::rows(&m.borrow()))
            .collect()
    }
}

impl Handle {
    /// The service watched, as it prints.
    pub fn name(&self) -> String {
        self.0.borrow().name.clone()
    }

    pub fn status(&self) -> Status {
        view::status(&self.0.borrow())
    }

    pub fn vitals(&self) -> view::Vitals {
        view::vitals(&self.0.borrow())
    }
}

impl std::fmt::Display for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0.borrow();
        write!(
            f,
            "monitor {} ({} servers{})",
            m.name,
            m.board.servers.len(),
            if m.stopped { ", stopped" } else { "" }
        )
    }
}
