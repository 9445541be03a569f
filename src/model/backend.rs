//! What lvsh's functions talk to: the kernel (through the netlink client) or, for dry runs, an
//! in-memory model of IPVS that applies the kernel's rules and records what was done.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;

use nix::libc;

use super::table::Table;
use crate::ipvs::proc_table::{BriefDest, Digests};
use crate::ipvs::{
    BriefTable, Client, Daemon, Dest, Error, Family, Forward, Info, Op, Service, ServiceKey, ServiceTable,
    Timeouts,
};

/// An IPVS: the kernel's, or a model of it.
pub trait Ipvs {
    fn info(&mut self) -> Result<Info, Error>;
    fn timeouts(&mut self) -> Result<Timeouts, Error>;
    fn service_list(&mut self) -> Result<Vec<Service>, Error>;
    fn service(&mut self, key: &ServiceKey) -> Result<Option<Service>, Error>;
    fn dests(&mut self, key: &ServiceKey) -> Result<Vec<Dest>, Error>;
    fn daemons(&mut self) -> Result<Vec<Daemon>, Error>;
    /// One result per operation sent; sending stops after a batch with a refusal.
    fn execute_batch(&mut self, ops: &[Op]) -> Vec<Result<(), Error>>;

    fn execute(&mut self, op: &Op) -> Result<(), Error> {
        self.execute_batch(std::slice::from_ref(op))
            .pop()
            .unwrap_or(Ok(()))
    }

    /// A model (dry run) rather than the kernel.
    fn is_model(&self) -> bool {
        false
    }

    /// Every service with its real servers' method, weight and active/inactive counts only
    /// (no counters, thresholds or tunnel settings): enough for ipvsadm -L -n's default format.
    fn services_brief(&mut self) -> Result<BriefTable, Error> {
        Ok(self
            .services()?
            .into_iter()
            .map(|(s, d)| (s, d.iter().map(BriefDest::of).collect()))
            .collect())
    }

    /// Each service's digest from one read of the whole table (what tells a reader which
    /// services changed since its last look), where such a read exists: `None` for a model,
    /// whose services cost nothing to read one by one.
    fn table_digests(&mut self) -> Option<Digests> {
        None
    }

    fn services(&mut self) -> Result<ServiceTable, Error> {
        let list = self.service_list()?;
        let mut out = Vec::with_capacity(list.len());
        for svc in list {
            let dests = self.dests(&svc.key)?;
            out.push((svc, dests));
        }
        Ok(out)
    }
}

impl Ipvs for Client {
    fn info(&mut self) -> Result<Info, Error> {
        Client::info(self)
    }
    fn timeouts(&mut self) -> Result<Timeouts, Error> {
        Client::timeouts(self)
    }
    fn service_list(&mut self) -> Result<Vec<Service>, Error> {
        Client::service_list(self)
    }
    fn service(&mut self, key: &ServiceKey) -> Result<Option<Service>, Error> {
        Client::service(self, key)
    }
    fn dests(&mut self, key: &ServiceKey) -> Result<Vec<Dest>, Error> {
        Client::dests(self, key)
    }
    fn daemons(&mut self) -> Result<Vec<Daemon>, Error> {
        Client::daemons(self)
    }
    fn execute_batch(&mut self, ops: &[Op]) -> Vec<Result<(), Error>> {
        Client::execute_batch(self, ops)
    }

    /// /proc/net/ip_vs of the namespace the thread is in (the client's: it was opened there);
    /// `None` where the file cannot be read or parsed, and the caller dumps.
    fn table_digests(&mut self) -> Option<Digests> {
        let f = std::fs::File::open(crate::ipvs::proc_table::PROC_IP_VS).ok()?;
        crate::ipvs::proc_table::digests(std::io::BufReader::with_capacity(1 << 16, f))
    }

    /// One service dump and one read of /proc/net/ip_vs instead of a dump per service.
    /// Services the file does not show unambiguously (it may be read a moment apart from the
    /// dump; it gives fwmark services no family) get their own dump.
    fn services_brief(&mut self) -> Result<BriefTable, Error> {
        use crate::ipvs::proc_table::{PROC_IP_VS, ProcKey, parse};
        // one dump is enough when the file (read after it) shows the same services: nothing
        // changed in between; otherwise the dump is taken until two agree
        let first = self.service_dump()?;
        let mut brief = std::fs::File::open(PROC_IP_VS)
            .ok()
            .and_then(|f| parse(std::io::BufReader::with_capacity(1 << 16, f)))
            .unwrap_or_default();
        let same =
            first.len() == brief.len() && first.iter().all(|s| brief.contains_key(&ProcKey::from(&s.key)));
        let list = if same { first } else { self.service_list()? };
        let mut marks = std::collections::HashMap::new();
        for s in &list {
            if let ServiceKey::Fwmark { mark, .. } = s.key {
                *marks.entry(mark).or_insert(0) += 1;
            }
        }
        let mut out = Vec::with_capacity(list.len());
        for svc in list {
            // a fwmark of two families is one key in the file: each dumps
            let key = match &svc.key {
                ServiceKey::Fwmark { mark, .. } if marks.get(mark) != Some(&1) => None,
                k => Some(ProcKey::from(k)),
            };
            let dests = match key.and_then(|k| brief.remove(&k)) {
                Some(d) => d,
                None => Client::dests(self, &svc.key)?.iter().map(BriefDest::of).collect(),
            };
            out.push((svc, dests));
        }
        Ok(out)
    }
}

/// The schedulers of Linux 6.1, and its persistence engine.
pub const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];
pub const ENGINES: &[&str] = &["sip"];

/// A dry run's stand-in for the kernel's module lookup: the scheduler and persistence engine
/// a service names must be among those known, each refusal naming which one is missing (the
/// kernel says only ENOENT). Dry-run restores, applies and `--state` tables all check here.
pub fn check_modules(schedulers: &[String], s: &Service) -> Result<(), Error> {
    let missing = |what: &str, name: &str, module: &str| Error::Kernel {
        errno: libc::ENOENT,
        message: format!(
            "{what} '{name}' not found (is the {module} module loaded?) for service {}",
            s.key
        ),
    };
    if !schedulers.contains(&s.scheduler) {
        return Err(missing(
            "scheduler",
            &s.scheduler,
            &format!("ip_vs_{}", s.scheduler),
        ));
    }
    match s.pe.as_deref() {
        Some(pe) if !ENGINES.contains(&pe) => {
            Err(missing("persistence engine", pe, &format!("ip_vs_pe_{pe}")))
        }
        _ => Ok(()),
    }
}

/// The schedulers a model knows (Linux 6.1's).
pub fn known_schedulers() -> Vec<String> {
    SCHEDULERS.iter().map(|s| s.to_string()).collect()
}

/// The most changes a model's log keeps.
pub const LOG_KEPT: usize = 1000;

/// IPVS in memory, for dry runs: the kernel's checks, and a log of every change made.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub table: Table,
    pub schedulers: Vec<String>,
    /// The latest accepted changes, in order (at most LOG_KEPT: a dry run that checks for
    /// days makes changes all along).
    pub log: std::collections::VecDeque<Op>,
}

impl Model {
    pub fn new(table: Table) -> Model {
        Model {
            table,
            schedulers: known_schedulers(),
            log: Default::default(),
        }
    }

    /// The refusals the kernel makes that the table itself does not know about.
    fn check(&self, op: &Op) -> Result<(), Error> {
        match op {
            Op::AddService(s) | Op::EditService(s) => {
                if matches!(op, Op::EditService(_)) && self.table.get(&s.key).is_none() {
                    return Err(op.explain(libc::ESRCH));
                }
                check_modules(&self.schedulers, s)
            }
            Op::AddDest(k, d) | Op::EditDest(k, d) => {
                let unicast = match d.addr {
                    IpAddr::V4(a) => !(a.is_multicast() || a.is_broadcast() || a.is_unspecified()),
                    IpAddr::V6(a) => !(a.is_multicast() || a.is_unspecified()),
                };
                let family_ok = Family::of(&d.addr) == k.af() || d.fwd == Forward::Tunnel;
                if self.table.get(k).is_some() && (!unicast || !family_ok) {
                    return Err(op.explain(libc::EINVAL));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Ipvs for Model {
    fn info(&mut self) -> Result<Info, Error> {
        Ok(Info {
            version: 0x010201,
            conn_tab_size: 4096,
        })
    }
    fn timeouts(&mut self) -> Result<Timeouts, Error> {
        Ok(self.table.timeouts)
    }
    fn service_list(&mut self) -> Result<Vec<Service>, Error> {
        Ok(self.table.services().iter().map(|(s, _)| s.clone()).collect())
    }
    fn service(&mut self, key: &ServiceKey) -> Result<Option<Service>, Error> {
        Ok(self.table.get(key).map(|(s, _)| s.clone()))
    }
    fn dests(&mut self, key: &ServiceKey) -> Result<Vec<Dest>, Error> {
        Ok(self.table.get(key).map(|(_, d)| d.clone()).unwrap_or_default())
    }
    fn daemons(&mut self) -> Result<Vec<Daemon>, Error> {
        Ok(self.table.daemons.clone())
    }
    fn execute_batch(&mut self, ops: &[Op]) -> Vec<Result<(), Error>> {
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            let r = self.check(op).and_then(|()| self.table.apply(op).map(drop));
            let failed = r.is_err();
            if r.is_ok() && !matches!(op, Op::Zero(_)) {
                if self.log.len() == LOG_KEPT {
                    self.log.pop_front();
                }
                self.log.push_back(op.clone());
            }
            out.push(r);
            if failed {
                break;
            }
        }
        out
    }
}

/// A model shared between the Lua state that drives it and the shell that reports on it.
#[derive(Clone, Default)]
pub struct SharedModel(pub Rc<RefCell<Model>>);

impl Ipvs for SharedModel {
    fn is_model(&self) -> bool {
        true
    }
    fn info(&mut self) -> Result<Info, Error> {
        self.0.borrow_mut().info()
    }
    fn timeouts(&mut self) -> Result<Timeouts, Error> {
        self.0.borrow_mut().timeouts()
    }
    fn service_list(&mut self) -> Result<Vec<Service>, Error> {
        self.0.borrow_mut().service_list()
    }
    fn service(&mut self, key: &ServiceKey) -> Result<Option<Service>, Error> {
        self.0.borrow_mut().service(key)
    }
    fn dests(&mut self, key: &ServiceKey) -> Result<Vec<Dest>, Error> {
        self.0.borrow_mut().dests(key)
    }
    fn daemons(&mut self) -> Result<Vec<Daemon>, Error> {
        self.0.borrow_mut().daemons()
    }
    fn execute_batch(&mut self, ops: &[Op]) -> Vec<Result<(), Error>> {
        self.0.borrow_mut().execute_batch(ops)
    }
}
