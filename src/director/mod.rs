//! The director: every operation an operator performs on IPVS, over the kernel client or the
//! dry-run model alike. The Lua bindings and `lvsh ipvsadm` convert arguments, call these, and
//! convert results; nothing above this layer sends an operation to IPVS itself.

mod apply;
pub mod conns;
pub mod drain;
mod error;
pub mod mh;
mod record;
mod recover;

pub use apply::{Applied, ApplyOpts, RulesArg, RulesOpener, Wanted, desired, path_or_rules};
pub use conns::ConnFilter;
pub use error::{Error, TxnFailure, TxnKind};
pub use recover::{Interrupted, Recovery};

use std::time::{Duration, Instant};

use nix::libc;

use crate::ipvs::{
    self, Client, Daemon, DaemonState, Dest, Info, Op, Service, ServiceKey, ServiceTable, Timeouts,
};
use crate::model::backend::Ipvs;
use crate::model::daemon::DaemonSpec;
use crate::model::spec::server_endpoint;
use crate::model::table::Table;
use crate::model::{ServerSpec, ServiceSpec, order, txn};

/// Stopping a sync daemon whose threads have not run yet makes the kernel (seen with 6.1) lose
/// the DEL_DAEMON reply: a stop waits until this long after the last start.
pub const DAEMON_SETTLE: Duration = Duration::from_millis(50);

/// IPVS as an operator drives it.
pub struct Director {
    ipvs: Box<dyn Ipvs>,
    daemon_started: Option<Instant>,
    /// The servers this director's drains are waiting for.
    draining: drain::Registry,
    /// The servers its drains deleted.
    drained: drain::Drained,
    /// The namespace of the kernel's IPVS this director drives (none for a model), whose
    /// write lock every change takes.
    netns: Option<crate::host::lock::NetnsId>,
    /// The lock, while a caller that took it runs (see `holding`).
    held: Option<crate::host::lock::Lock>,
    lock_wait: Result<Duration, String>,
}

impl Director {
    pub fn new(ipvs: Box<dyn Ipvs>) -> Director {
        Director {
            ipvs,
            daemon_started: None,
            draining: Default::default(),
            drained: Default::default(),
            netns: None,
            held: None,
            lock_wait: Ok(Duration::ZERO),
        }
    }

    /// The kernel's IPVS (loading ip_vs if it is not loaded yet), in the calling thread's
    /// network namespace.
    pub fn open() -> Result<Director, ipvs::Error> {
        let netns = crate::host::lock::NetnsId::current()
            .map_err(|e| ipvs::Error::Io(format!("/proc/thread-self/ns/net: {e}")))?;
        let mut d = Director::new(Box::new(Client::new()?));
        d.netns = Some(netns);
        d.lock_wait = crate::host::lock::wait_from_env();
        Ok(d)
    }

    /// For reading: listings read the table in the ways that suit their format.
    pub fn ipvs(&mut self) -> &mut dyn Ipvs {
        self.ipvs.as_mut()
    }

    pub fn is_model(&self) -> bool {
        self.ipvs.is_model()
    }

    /// A sysctl of the host this director drives; none for a model (a dry run has no host).
    pub fn sysctl(&self, name: &str) -> Option<String> {
        if self.is_model() {
            return None;
        }
        crate::host::sysctl::get(name).ok().map(|v| v.trim().to_string())
    }

    pub fn info(&mut self) -> Result<Info, Error> {
        Ok(self.ipvs.info()?)
    }

    /// Every service with its real servers, in ipvsadm's order.
    pub fn services(&mut self) -> Result<ServiceTable, Error> {
        let mut all = self.ipvs.services()?;
        order::sort_table(&mut all);
        Ok(all)
    }

    /// A service and its real servers (in ipvsadm's order), if the kernel has it.
    pub fn service(&mut self, key: &ServiceKey) -> Result<Option<(Service, Vec<Dest>)>, Error> {
        match self.ipvs.service(key)? {
            Some(s) => {
                let mut d = self.ipvs.dests(key)?;
                d.sort_by(order::dest_cmp);
                Ok(Some((s, d)))
            }
            None => Ok(None),
        }
    }

    fn existing(&mut self, key: &ServiceKey) -> Result<(Service, Vec<Dest>), Error> {
        self.service(key)?.ok_or_else(|| no_service(key))
    }

    /// Adds a service with its real servers, all or nothing: a server refused halfway takes
    /// the service (and the servers before it) out again.
    pub fn add_service(
        &mut self,
        spec: &ServiceSpec,
        servers: &[ServerSpec],
    ) -> Result<(Service, Vec<Dest>), Error> {
        let svc = spec.to_service(None)?;
        let key = svc.key.clone();
        let mh = svc.scheduler == "mh";
        let mut ops = Vec::with_capacity(1 + servers.len());
        ops.push(Op::AddService(svc));
        for rs in servers {
            ops.push(Op::AddDest(key.clone(), rs.to_dest(&key, None)?));
        }
        if mh {
            // highest first, so the kernel's list (newest at the head) ends ascending
            ops[1..].sort_by(|a, b| match (a, b) {
                (Op::AddDest(_, x), Op::AddDest(_, y)) => order::dest_cmp(y, x),
                _ => std::cmp::Ordering::Equal,
            });
        }
        // only this service is touched: the table to check against and undo on is what the
        // kernel has of it (nothing, unless the add is refused at once)
        let lock = self.lock(true)?;
        self.refuse_pending()?;
        let before = Table::new(
            self.service(&key)?.into_iter().collect(),
            Timeouts::default(),
            Vec::new(),
        );
        if ops.len() == 1 {
            txn::execute_checked(self.ipvs.as_mut(), before, &ops).map_err(|f| f.error)?;
        } else {
            self.run_recorded("add_service", before, &ops, None, &|f| f.error.into())?;
        }
        drop(lock);
        self.existing(&key)
    }

    /// Changes the fields `spec` names; the others keep the kernel's values.
    pub fn edit_service(&mut self, spec: &ServiceSpec) -> Result<(Service, Vec<Dest>), Error> {
        let key = spec.key()?;
        let current = self.ipvs.service(&key)?.ok_or_else(|| no_service(&key))?;
        let svc = spec.to_service(Some(&current))?;
        self.write_one(&Op::EditService(svc), true)?;
        self.existing(&key)
    }

    pub fn del_service(&mut self, key: &ServiceKey) -> Result<(), Error> {
        self.write_one(&Op::DelService(key.clone()), true)
    }

    /// Deletes every service.
    pub fn clear(&mut self) -> Result<(), Error> {
        self.write_one(&Op::Flush, true)
    }

    /// The real server `addr:port` of a service as the kernel has it, if it is there.
    pub fn server(
        &mut self,
        key: &ServiceKey,
        addr: std::net::IpAddr,
        port: u16,
    ) -> Result<Option<Dest>, Error> {
        Ok(self
            .ipvs
            .dests(key)?
            .into_iter()
            .find(|d| d.addr == addr && d.port == port))
    }

    pub fn add_server(&mut self, key: &ServiceKey, spec: &ServerSpec) -> Result<Dest, Error> {
        let dest = spec.to_dest(key, None)?;
        self.put_server(key, dest.clone(), true)?;
        Ok(self.server(key, dest.addr, dest.port)?.unwrap_or(dest))
    }

    /// Changes the fields `spec` names of a real server; the others keep the kernel's values.
    pub fn edit_server(&mut self, key: &ServiceKey, spec: &ServerSpec) -> Result<Dest, Error> {
        let (addr, port) = server_endpoint(key, &spec.addr)?;
        let Some(current) = self.server(key, addr, port)? else {
            return Err(self.missing(Op::EditDest(key.clone(), Dest::new(addr, port))));
        };
        let dest = spec.to_dest(key, Some(&current))?;
        self.write_one(&Op::EditDest(key.clone(), dest.clone()), true)?;
        Ok(self.server(key, addr, port)?.unwrap_or(dest))
    }

    /// The error for `op` on a real server that is not there, as the kernel words it: no such
    /// service, or no such server in it.
    fn missing(&mut self, op: Op) -> Error {
        let key = match &op {
            Op::EditDest(k, _) | Op::DelDest(k, ..) | Op::AddDest(k, _) => k.clone(),
            _ => return op.explain(libc::ENOENT).into(),
        };
        let errno = match self.ipvs.service(&key) {
            Ok(Some(_)) => libc::ENOENT,
            Ok(None) => libc::ESRCH,
            Err(e) => return e.into(),
        };
        op.explain(errno).into()
    }

    /// Sets one real server's weight, everything else as the kernel has it (`dest`).
    pub fn set_weight(&mut self, key: &ServiceKey, dest: &Dest, weight: u32) -> Result<(), Error> {
        let d = Dest {
            weight,
            ..dest.clone()
        };
        self.write_one(&Op::EditDest(key.clone(), d), true)
    }

    pub fn del_server(&mut self, key: &ServiceKey, addr: std::net::IpAddr, port: u16) -> Result<(), Error> {
        self.write_one(&Op::DelDest(key.clone(), addr, port), true)
    }

    /// As `del_server`, trying the lock once: a drain that finds another writer at work
    /// looks again later rather than wait.
    pub(crate) fn del_server_now(
        &mut self,
        key: &ServiceKey,
        addr: std::net::IpAddr,
        port: u16,
    ) -> Result<(), Error> {
        self.write_one(&Op::DelDest(key.clone(), addr, port), false)
    }

    /// Deletes the real server `spec.addr` names (without a port: the service's).
    pub fn del_server_spec(&mut self, key: &ServiceKey, spec: &ServerSpec) -> Result<(), Error> {
        let (addr, port) = server_endpoint(key, &spec.addr)?;
        self.del_server(key, addr, port)
    }

    /// Zeroes the counters of one service, or of all.
    pub fn zero(&mut self, key: Option<&ServiceKey>) -> Result<(), Error> {
        Ok(self.ipvs.execute(&Op::Zero(key.cloned()))?)
    }

    pub fn timeouts(&mut self) -> Result<Timeouts, Error> {
        Ok(self.ipvs.timeouts()?)
    }

    /// Sets the timeouts; 0 keeps a value, and all three 0 changes nothing.
    pub fn set_timeouts(&mut self, t: Timeouts) -> Result<(), Error> {
        if t.tcp != 0 || t.tcpfin != 0 || t.udp != 0 {
            self.write_one(&Op::SetTimeouts(t), true)?;
        }
        Ok(())
    }

    pub fn daemons(&mut self) -> Result<Vec<Daemon>, Error> {
        Ok(self.ipvs.daemons()?)
    }

    pub fn start_daemon(&mut self, spec: &DaemonSpec) -> Result<(), Error> {
        self.start_daemon_as(spec.to_daemon()?)
    }

    pub fn start_daemon_as(&mut self, d: Daemon) -> Result<(), Error> {
        self.ipvs.execute(&Op::StartDaemon(d))?;
        self.daemon_started = Some(Instant::now());
        Ok(())
    }

    /// How long a stop must wait for a daemon started a moment ago (see DAEMON_SETTLE).
    pub fn daemon_settle(&self) -> Option<Duration> {
        let left = DAEMON_SETTLE.checked_sub(self.daemon_started?.elapsed())?;
        (!left.is_zero()).then_some(left)
    }

    /// Stops a sync daemon; the caller has waited out `daemon_settle` (asynchronously on the
    /// event loop; a one-shot command may sleep).
    pub fn stop_daemon(&mut self, state: DaemonState) -> Result<(), Error> {
        Ok(self.ipvs.execute(&Op::StopDaemon(state))?)
    }

    /// Runs one operation as given (an ipvsadm command line, a monitor's verdict), with what
    /// the director keeps of it; before a daemon's stop the caller has waited out
    /// `daemon_settle`, as for `stop_daemon`.
    pub fn perform(&mut self, op: Op) -> Result<(), ipvs::Error> {
        self.perform_waiting(op, true)
    }

    /// As `perform`, trying the namespace's lock once instead of waiting for it: for a
    /// monitor's edit on the event loop, which must not be held up.
    pub fn perform_now(&mut self, op: Op) -> Result<(), ipvs::Error> {
        self.perform_waiting(op, false)
    }

    fn perform_waiting(&mut self, op: Op, wait: bool) -> Result<(), ipvs::Error> {
        match op {
            Op::StartDaemon(d) => self.start_daemon_as(d).map_err(Error::into_ipvs),
            // the sync daemons and the counters are not the table
            op @ (Op::StopDaemon(_) | Op::Zero(_)) => self.ipvs.execute(&op),
            op => self.write_one(&op, wait).map_err(Error::into_ipvs),
        }
    }

    /// The real servers this director's drains are waiting for.
    pub fn draining(&self) -> Vec<drain::Target> {
        self.draining.borrow().iter().cloned().collect()
    }

    /// The real servers its drains deleted since the count was `seen`, and the count now.
    pub fn drained_since(&self, seen: u64) -> (Vec<drain::Target>, u64) {
        self.drained.borrow().since(seen)
    }

    /// The whole table as settings (services sorted) and the timeouts: what apply takes back.
    pub fn state(&mut self) -> Result<(ServiceTable, Timeouts), Error> {
        Ok((self.services()?, self.ipvs.timeouts()?))
    }

    /// Runs rules (ipvsadm -R's operations) all or nothing: checked against the current
    /// table first, undone if the kernel refuses one partway. `lines` are the rules' lines.
    pub fn restore(&mut self, ops: &[Op], lines: &[usize]) -> Result<usize, Error> {
        let _lock = self.lock(true)?;
        self.refuse_pending()?;
        let before = txn::read_table(self.ipvs.as_mut())?;
        let refused = |f: txn::Failure| {
            Error::Txn(Box::new(TxnFailure {
                kind: TxnKind::Restore,
                line: lines.get(f.index).copied().unwrap_or(0),
                op: ops.get(f.index).cloned(),
                error: f.error,
                undone: f.undone,
                shown: String::new(),
            }))
        };
        self.run_recorded("restore", before, ops, None, &refused)?;
        Ok(ops.len())
    }
}

/// "no such service", as the kernel says it.
pub fn no_service(key: &ServiceKey) -> Error {
    Error::Ipvs(ipvs::Error::Kernel {
        errno: libc::ESRCH,
        message: format!("no such service: {key}"),
    })
}

#[cfg(test)]
mod tests;
