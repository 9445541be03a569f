//! Carrying out runtime overrides (`check::overrides`): the table holds an override's weight
//! while it is in force, a monitor watching the server keeps checking it but acts only when
//! the override ends, and the set is kept in a state file so that a restarted director puts
//! it back. TTLs are timers on the event loop; a drain override tells when the server has no
//! active connections left.
//!
//! The state file is read (and the overrides in it put back) once, at the first of: a
//! monitor starting, `lvs.run()`, or any override function. A monitor is the usual reason
//! overrides matter, and holding its servers before its first verdict keeps a restarted
//! director from putting a server in maintenance back in rotation even for one check.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::Monitors;
use super::host::Host;
use crate::check::overrides::{
    By, Kind, Override, OverrideSet, Release, Request, Target, check, epoch_now, resolve, rfc3339,
};
use crate::director::drain::{self, DrainOpts, Verdict, Wait};
use crate::ipvs::{Dest, Op, ServiceKey};
use crate::log;

/// What the monitors know of a held server: the weight held, the weight from before the
/// overrides, and what `show_monitors` says of it.
#[derive(Clone, Debug, PartialEq)]
pub struct HoldInfo {
    pub weight: u32,
    pub before: u32,
    pub label: String,
}

/// The held servers by (service as it prints, server).
pub type Holds = Rc<RefCell<HashMap<(String, SocketAddr), HoldInfo>>>;

/// Where the overrides of director `name` are kept: `$LVSH_STATE_DIR` or /var/lib/lvsh.
pub fn state_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("LVSH_STATE_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/var/lib/lvsh"), PathBuf::from);
    dir.join(format!("{name}.overrides.json"))
}

pub struct Overrides {
    me: Weak<Overrides>,
    monitors: Rc<Monitors>,
    host: Rc<dyn Host>,
    set: RefCell<OverrideSet>,
    path: PathBuf,
    loaded: Cell<bool>,
    timer: RefCell<Option<tokio::task::AbortHandle>>,
    /// The drain overrides still waiting for their servers' connections, by id.
    drains: RefCell<HashMap<String, tokio::task::AbortHandle>>,
}

type Table = Vec<(ServiceKey, Vec<Dest>)>;

impl Overrides {
    pub fn new(monitors: Rc<Monitors>, host: Rc<dyn Host>, path: PathBuf) -> Rc<Overrides> {
        Rc::new_cyclic(|me| Overrides {
            me: me.clone(),
            monitors,
            host,
            set: RefCell::new(OverrideSet::default()),
            path,
            loaded: Cell::new(false),
            timer: RefCell::new(None),
            drains: RefCell::new(HashMap::new()),
        })
    }

    /// The weight an override holds `server` of `service` at, if one does.
    pub fn held(&self, service: &ServiceKey, server: std::net::SocketAddr) -> Option<u32> {
        self.load();
        let set = self.set.borrow();
        set.holding(&service.to_string(), server).map(|o| o.weight)
    }

    /// The overrides in force, oldest first.
    pub fn list(&self) -> Vec<Override> {
        self.load();
        self.set.borrow().overrides.clone()
    }

    /// Sets an override: checked and matched against the table first, then written to the
    /// state file, then carried out; nothing is changed when any step before fails.
    pub fn set(&self, r: Request, by: By) -> Result<Override, String> {
        self.load();
        let what = match r.kind {
            Kind::Drain => "drain",
            Kind::Maintenance => "maintenance",
            Kind::Weight => "set_weight",
        };
        let c = check(&r).map_err(|e| format!("{what}: {e}"))?;
        let table = self.host.table()?;
        let found = resolve(&c.pattern, r.service.as_ref(), &table).map_err(|e| format!("{what}: {e}"))?;
        let now = epoch_now();
        let mut next = self.set.borrow().clone();
        let o = Override {
            id: next.next_id(),
            kind: r.kind,
            server: c.pattern.to_string(),
            targets: found
                .iter()
                .map(|(k, a, w)| Target {
                    service: k.to_string(),
                    server: *a,
                    before: *w,
                })
                .collect(),
            weight: c.weight,
            reason: r.reason.unwrap_or_default(),
            by,
            set: now,
            expires: c.ttl.map(|t| now + t.as_secs_f64()),
        };
        next.add(o.clone());
        self.save(&next).map_err(|e| format!("{what}: {e}"))?;
        let o = next.get(&o.id).cloned().unwrap_or(o);
        *self.set.borrow_mut() = next;
        let mut done: Vec<&Target> = Vec::new();
        for t in &o.targets {
            if let Err(e) = self.put(&table, t, &o) {
                // undone in reverse, and the override forgotten: nothing half-applied
                let (_, releases) = self
                    .set
                    .borrow_mut()
                    .remove(&o.id)
                    .unwrap_or((o.clone(), Vec::new()));
                for (t, r) in releases.iter().filter(|(t, _)| done.contains(&t)) {
                    self.release(&table, t, *r);
                }
                let _ = self.save(&self.set.borrow());
                return Err(format!("{what}: {} in {}: {e}", t.server, t.service));
            }
            done.push(t);
        }
        log::warn(&format!(
            "override {} set by {by}: {} {} in {} at weight {}{}{}",
            o.id,
            o.kind.name(),
            o.server,
            o.services().join(", "),
            o.weight,
            o.expires
                .map_or(String::new(), |e| format!(" until {}", rfc3339(e))),
            if o.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", o.reason)
            }
        ));
        crate::events::emit("override_set", o.event());
        if o.kind == Kind::Drain {
            self.watch_drain(&o, &table);
        }
        self.schedule();
        Ok(o)
    }

    /// Ends override `id` (set by anyone): its servers go back to what their checks say,
    /// or, unmonitored, to the weight they had before.
    pub fn lift(&self, id: &str, by: By) -> Result<Override, String> {
        self.load();
        if self.set.borrow().get(id).is_none() {
            return Err(format!(
                "lift: no override with id {id:?} (lvs.overrides() lists them)"
            ));
        }
        let mut next = self.set.borrow().clone();
        let Some((o, releases)) = next.remove(id) else {
            return Err(format!("lift: no override with id {id:?}"));
        };
        self.save(&next).map_err(|e| format!("lift: {e}"))?;
        *self.set.borrow_mut() = next;
        self.end(&o, &releases, "lifted");
        log::warn(&format!(
            "override {id} ({} {}) lifted by {by}",
            o.kind.name(),
            o.server
        ));
        let mut ev = o.event();
        ev["by"] = by.json();
        ev["set_by"] = o.by.json();
        crate::events::emit("override_lifted", ev);
        self.schedule();
        Ok(o)
    }

    /// Reads the state file once and puts its overrides back; those that expired while the
    /// director was down are lifted now, and logged.
    pub fn load(&self) {
        if self.loaded.replace(true) {
            return;
        }
        let text = match read_private(&self.path) {
            Ok(Some(t)) => t,
            Ok(None) => return,
            Err(e) => {
                return log::error(&format!(
                    "overrides: cannot read {}: {e}; starting with none (the file is left as it is)",
                    self.path.display()
                ));
            }
        };
        let set = match OverrideSet::from_json(&text) {
            Ok(s) => s,
            Err(e) => {
                // kept, not overwritten, until an operator sets an override: it may be fixable
                return log::error(&format!(
                    "overrides: {} is not an override state file ({e}); starting with none",
                    self.path.display()
                ));
            }
        };
        if set.overrides.is_empty() {
            *self.set.borrow_mut() = set;
            return;
        }
        // asked only now: the answer may open the table, which a director without overrides
        // (or without IPVS) has no reason to
        if self.host.is_model() {
            return log::info(&format!(
                "overrides: a dry run; those in {} are not put back",
                self.path.display()
            ));
        }
        let table = match self.host.table() {
            Ok(t) => t,
            Err(e) => {
                log::error(&format!("overrides: reading the table to put them back: {e}"));
                Vec::new()
            }
        };
        *self.set.borrow_mut() = set.clone();
        for o in &set.overrides {
            for t in &o.targets {
                if let Some(held) = self.set.borrow().holding(&t.service, t.server)
                    && held.id != o.id
                {
                    continue;
                }
                if let Err(e) = self.put(&table, t, o) {
                    log::error(&format!("override {}: {} in {}: {e}", o.id, t.server, t.service));
                }
            }
            log::info(&format!(
                "override {} put back from {}: {} {} at weight {}",
                o.id,
                self.path.display(),
                o.kind.name(),
                o.server,
                o.weight
            ));
        }
        self.expire_due();
        self.schedule();
    }

    /// Lifts the overrides whose time is up.
    fn expire_due(&self) {
        let now = epoch_now();
        let due = self.set.borrow().expired(now);
        if due.is_empty() {
            return;
        }
        let mut next = self.set.borrow().clone();
        let mut ended = Vec::new();
        for id in &due {
            if let Some(x) = next.remove(id) {
                ended.push(x);
            }
        }
        if let Err(e) = self.save(&next) {
            log::error(&format!("overrides: {e}"));
        }
        *self.set.borrow_mut() = next;
        for (o, releases) in ended {
            self.end(&o, &releases, "expired");
            log::warn(&format!(
                "override {} ({} {}) expired (it was set until {})",
                o.id,
                o.kind.name(),
                o.server,
                o.expires.map(rfc3339).unwrap_or_default()
            ));
            crate::events::emit("override_expired", o.event());
        }
    }

    /// One timer, for the next expiry.
    fn schedule(&self) {
        if let Some(t) = self.timer.borrow_mut().take() {
            t.abort();
        }
        let Some(wait) = self.set.borrow().next_expiry(epoch_now()) else {
            return;
        };
        let me = self.me.clone();
        let task = self.host.spawn(Box::pin(async move {
            // a little past the time, so that the clock has surely reached it
            tokio::time::sleep(wait + Duration::from_millis(5)).await;
            if let Some(o) = me.upgrade() {
                o.timer.borrow_mut().take();
                o.expire_due();
                o.schedule();
            }
        }));
        match task {
            Ok(t) => *self.timer.borrow_mut() = Some(t),
            Err(e) => log::error(&format!("overrides: cannot start the expiry timer: {e}")),
        }
    }

    /// Puts the servers of an override that ended back.
    fn end(&self, o: &Override, releases: &[(Target, Release)], why: &str) {
        if let Some(t) = self.drains.borrow_mut().remove(&o.id) {
            t.abort();
            for t in &o.targets {
                crate::events::emit(
                    "drain_finished",
                    serde_json::json!({"service": t.service, "server": t.server.to_string(),
                        "override": o.id, "interrupted": format!("override {why}")}),
                );
            }
        }
        let table = match self.host.table() {
            Ok(t) => t,
            Err(e) => return log::error(&format!("override {}: reading the table: {e}", o.id)),
        };
        for (t, r) in releases {
            self.release(&table, t, *r);
        }
    }

    /// Holds target `t` at the weight of override `o`.
    fn put(&self, table: &Table, t: &Target, o: &Override) -> Result<(), String> {
        let mut label = format!("{} {} at weight {}", o.kind.name(), o.id, o.weight);
        if !o.reason.is_empty() {
            label = format!("{label}: {}", o.reason);
        }
        let before = self.set.borrow().before(&t.service, t.server).unwrap_or(t.before);
        let info = HoldInfo {
            weight: o.weight,
            before,
            label,
        };
        let key = (t.service.clone(), t.server);
        let old = self.monitors.holds().borrow_mut().insert(key.clone(), info);
        if self.monitors.hold(&t.service, t.server, Some(o.weight), before) {
            return Ok(());
        }
        let edited = edit(&*self.host, table, t, o.weight);
        if edited.is_err() {
            let holds = self.monitors.holds();
            let mut h = holds.borrow_mut();
            match old {
                Some(x) => h.insert(key, x),
                None => h.remove(&key),
            };
        }
        edited
    }

    /// What target `t` goes to when an override holding it ends.
    fn release(&self, table: &Table, t: &Target, r: Release) {
        match r {
            Release::Held(_) => {
                let next = self.set.borrow().holding(&t.service, t.server).cloned();
                if let Some(o) = next
                    && let Err(e) = self.put(table, t, &o)
                {
                    log::error(&format!("override {}: {} in {}: {e}", o.id, t.server, t.service));
                }
            }
            Release::Free(before) => {
                self.monitors
                    .holds()
                    .borrow_mut()
                    .remove(&(t.service.clone(), t.server));
                if self.monitors.hold(&t.service, t.server, None, before) {
                    return;
                }
                if let Err(e) = edit(&*self.host, table, t, before) {
                    log::error(&format!(
                        "override ended: putting {} in {} back at weight {before}: {e}",
                        t.server, t.service
                    ));
                }
            }
        }
    }

    /// Emits drain_started for each server of drain override `o`, and drain_finished as each
    /// has no active connections left (looked at on the loop's timer).
    fn watch_drain(&self, o: &Override, table: &Table) {
        let mut left: Vec<(ServiceKey, SocketAddr)> = Vec::new();
        for t in &o.targets {
            if let Some((k, _)) = table.iter().find(|(k, _)| k.to_string() == t.service) {
                left.push((k.clone(), t.server));
                crate::events::emit(
                    "drain_started",
                    serde_json::json!({"service": t.service, "server": t.server.to_string(), "override": o.id}),
                );
            }
        }
        let host = self.host.clone();
        let me = self.me.clone();
        let id = o.id.clone();
        let opts = DrainOpts {
            timeout: crate::check::overrides::MAX_TTL,
            wait: Wait::Active,
        };
        let task = self.host.spawn(Box::pin(async move {
            let started = Instant::now();
            while !left.is_empty() {
                // coarser than a deleting drain's looks: nothing waits on this one
                tokio::time::sleep(drain::LOOK_EVERY * 3).await;
                let mut i = 0;
                while i < left.len() {
                    let (k, a) = &left[i];
                    let dests = match host.servers(k) {
                        Ok(d) => d.unwrap_or_default(),
                        Err(_) => {
                            i += 1;
                            continue;
                        }
                    };
                    let dest = dests.iter().find(|d| SocketAddr::new(d.addr, d.port) == *a);
                    match drain::verdict(&opts, false, started, Instant::now(), dest) {
                        Verdict::Waiting => i += 1,
                        v => {
                            let (k, a) = left.remove(i);
                            log::info(&format!(
                                "override {id}: {a} in {k} {}",
                                match v {
                                    Verdict::Drained => "drained: no active connections left",
                                    Verdict::Gone => "is gone from the table",
                                    _ => "is no longer at weight 0",
                                }
                            ));
                            crate::events::emit(
                                "drain_finished",
                                serde_json::json!({"service": k.to_string(), "server": a.to_string(), "override": id}),
                            );
                        }
                    }
                }
            }
            if let Some(o) = me.upgrade() {
                o.drains.borrow_mut().remove(&id);
            }
        }));
        match task {
            Ok(t) => {
                self.drains.borrow_mut().insert(o.id.clone(), t);
            }
            Err(e) => log::error(&format!("override {}: cannot watch the drain: {e}", o.id)),
        }
    }

    /// Writes `set` to the state file (atomically, 0600, never through a link); a dry run
    /// keeps its overrides in memory only. Synchronous, as the transaction journal's write
    /// is: an override the table shows must survive a crash right after, so the file is
    /// durable before the table changes (a small file; the loop waits for one fsync).
    fn save(&self, set: &OverrideSet) -> Result<(), String> {
        if self.host.is_model() {
            return Ok(());
        }
        let shown = self.path.display();
        if let Some(dir) = self.path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        }
        crate::host::files::write_atomic(&self.path, set.to_json().as_bytes())
            .map_err(|e| format!("cannot write the override state file {shown}: {e}"))
    }
}

/// Sets the weight of `t` in the table directly (a server no monitor watches).
fn edit(host: &dyn Host, table: &Table, t: &Target, weight: u32) -> Result<(), String> {
    let Some((key, dests)) = table.iter().find(|(k, _)| k.to_string() == t.service) else {
        return Err("the service is gone".into());
    };
    let Some(d) = dests.iter().find(|d| SocketAddr::new(d.addr, d.port) == t.server) else {
        return Err("the server is gone from the service".into());
    };
    if d.weight == weight {
        return Ok(());
    }
    let mut d = d.clone();
    d.weight = weight;
    host.execute(&Op::EditDest(key.clone(), d))
}

/// The state file's text, None when there is none; never through a symbolic link, never
/// blocking on a FIFO planted there.
fn read_private(path: &std::path::Path) -> std::io::Result<Option<String>> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path);
    let mut f = match f {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(std::io::Error::other(
                "it is a symbolic link; lvsh does not read it through links",
            ));
        }
        Err(e) => return Err(e),
    };
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let mut text = String::new();
    // a state file is small; a huge one is not ours
    (&mut f).take(16 << 20).read_to_string(&mut text)?;
    Ok(Some(text))
}
