//! `lvs.monitor{...}`: watches the real servers of a service with checks, and applies the
//! health board's verdicts to the kernel (weights, removal, sorry server) and to Lua
//! callbacks. The rules themselves live in `check::state`; this file wires them to probes,
//! the kernel and Lua.

mod effects;
mod table;
mod view;

use effects::{apply, unix_now};
use table::{refresh, unsubscribe};
use view::{all_rows, render, status};

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Function, Lua, Table, UserData, UserDataMethods, Value};

use super::args::{Fields, show, spec_err};
use super::checks::{Probe, probes};
use super::convert::{server_spec, service_key};
use super::ipvs::with_client;
use super::probes::{ProbeKey, Registry, Subscriber};
use crate::check::state::{Action, Board, MaxDown, Policy};
use crate::check::{Outcome, secs};
use crate::ipvs::{Dest, ServiceKey};
use crate::log;
use crate::model::spec::{ServerSpec, bad};

#[derive(Default)]
struct Callbacks {
    on_change: Option<Function>,
    on_quorum: Option<Function>,
    on_panic: Option<Function>,
}

#[derive(Clone)]
struct PerServer {
    probes: Option<Vec<Probe>>,
    weight: Option<u32>,
}

pub struct Monitor {
    id: u64,
    name: String,
    key: ServiceKey,
    board: Board<SocketAddr>,
    /// The kernel's view of each watched server, to edit it or put it back as it was.
    dests: HashMap<SocketAddr, Dest>,
    sorry: Option<ServerSpec>,
    sorry_dest: Option<Dest>,
    probes: Vec<Probe>,
    per_server: HashMap<SocketAddr, PerServer>,
    interval: Duration,
    timeout: Duration,
    warmup: Duration,
    callbacks: Callbacks,
    subs: HashMap<SocketAddr, Vec<ProbeKey>>,
    /// When each server was last probed (monotonic: read once per probe, not per delivery).
    checked: HashMap<SocketAddr, Instant>,
    checks_run: u64,
    stopped: bool,
    service_missing: bool,
    refresher: Option<tokio::task::AbortHandle>,
}

type Shared = Rc<RefCell<Monitor>>;

/// The monitors of this Lua state, and the probes they share.
#[derive(Default)]
struct Monitors {
    all: RefCell<Vec<Shared>>,
    registry: Rc<Registry<Monitor>>,
    next_id: std::cell::Cell<u64>,
}

fn monitors(lua: &Lua) -> Rc<Monitors> {
    if let Some(m) = lua.app_data_ref::<Rc<Monitors>>() {
        return m.clone();
    }
    let m = Rc::new(Monitors::default());
    lua.set_app_data(m.clone());
    m
}

/// Probes run since start, over all monitors.
fn probes_run(lua: &Lua) -> u64 {
    monitors(lua).registry.runs.get()
}

impl Subscriber for Monitor {
    fn id(&self) -> u64 {
        self.id
    }

    fn deliver(
        this: &Rc<RefCell<Self>>,
        lua: &Lua,
        server: SocketAddr,
        index: usize,
        outcome: Outcome,
        at: Instant,
    ) {
        let fx = {
            let mut m = this.borrow_mut();
            if m.stopped {
                return;
            }
            m.checks_run += 1;
            m.checked.insert(server, at);
            m.board.observe(&server, index, outcome)
        };
        apply(lua, this, fx);
    }
}

fn policy(f: &Fields) -> mlua::Result<Policy> {
    let mut p = Policy::default();
    let count = |name: &str, min: i64| -> mlua::Result<Option<u32>> {
        match f.int(name)? {
            None => Ok(None),
            Some(n) if n >= min && n <= i64::from(u32::MAX) => Ok(Some(n as u32)),
            Some(n) => Err(spec_err(bad(name, n, format!("must be an integer from {min}")))),
        }
    };
    if let Some(n) = count("rise", 1)? {
        p.rise = n;
    }
    if let Some(n) = count("fall", 1)? {
        p.fall = n;
    }
    p.action = match f.string("action")?.as_deref() {
        None | Some("inhibit") => Action::Inhibit,
        Some("remove") => Action::Remove,
        Some(other) => {
            return Err(spec_err(bad(
                "action",
                other,
                "must be \"inhibit\" or \"remove\"",
            )));
        }
    };
    p.alpha = f.bool("alpha")?.unwrap_or(false);
    p.quorum = count("quorum", 0)?.map(u64::from);
    p.hysteresis = count("hysteresis", 0)?.map_or(0, u64::from);
    p.max_down = match f.raw("max_down")? {
        Value::Nil => None,
        Value::String(s) => Some(
            MaxDown::parse(&s.to_string_lossy())
                .map_err(|e| spec_err(bad("max_down", &*s.to_string_lossy(), e)))?,
        ),
        v => Some(MaxDown::Count(
            count("max_down", 0)?.ok_or_else(|| spec_err(bad("max_down", show(&v), "a count or a share")))?
                as usize,
        )),
    };
    p.sorry = !f.raw("sorry")?.is_nil();
    Ok(p)
}

fn callback_field(f: &Fields, name: &str) -> mlua::Result<Option<Function>> {
    match f.raw(name)? {
        Value::Nil => Ok(None),
        Value::Function(func) => Ok(Some(func)),
        other => Err(spec_err(bad(name, show(&other), "must be a function"))),
    }
}

const FIELDS: &[&str] = &[
    "service",
    "check",
    "interval",
    "timeout",
    "rise",
    "fall",
    "action",
    "alpha",
    "warmup",
    "sorry",
    "quorum",
    "hysteresis",
    "max_down",
    "servers",
    "on_change",
    "on_quorum",
    "on_panic",
];

fn create(lua: &Lua, t: Table) -> mlua::Result<MonitorHandle> {
    let f = Fields::new(t, "monitor", FIELDS, &[])?;
    let key = service_key(f.raw("service")?)?;
    let probes = probes(lua, f.raw("check")?)?;
    let interval = f.seconds("interval")?.unwrap_or(Duration::from_secs(5));
    if interval < Duration::from_millis(10) {
        return Err(spec_err(bad(
            "interval",
            secs(interval),
            "must be at least 0.01 seconds",
        )));
    }
    let timeout = f.seconds("timeout")?.unwrap_or(Duration::from_secs(3));
    if timeout.is_zero() {
        return Err(spec_err(bad("timeout", 0, "must be more than 0 seconds")));
    }
    let warmup = f.seconds("warmup")?.unwrap_or_default();
    let policy = policy(&f)?;
    let sorry = match f.raw("sorry")? {
        Value::Nil => None,
        v => {
            let spec = server_spec(v)?;
            // Without a method it takes that of the service's servers when it goes in.
            let mut probe = spec.clone();
            probe.method = probe.method.or(Some("nat".into()));
            probe.to_dest(&key, None).map_err(spec_err)?;
            Some(spec)
        }
    };
    let mut per_server = HashMap::new();
    if let Value::Table(list) = f.raw("servers")? {
        for pair in list.pairs::<String, Table>() {
            let (addr, opts) = pair?;
            let (ip, port) = crate::model::spec::server_endpoint(&key, &addr).map_err(spec_err)?;
            let o = Fields::new(opts, &format!("servers[\"{addr}\"]"), &["check", "weight"], &[])?;
            let probes = match o.raw("check")? {
                Value::Nil => None,
                v => Some(super::checks::probes(lua, v)?),
            };
            let weight = match o.int("weight")? {
                None => None,
                Some(w) if (0..=i64::from(i32::MAX)).contains(&w) => Some(w as u32),
                Some(w) => return Err(spec_err(bad("weight", w, "must be from 0 to 2147483647"))),
            };
            per_server.insert(SocketAddr::new(ip, port), PerServer { probes, weight });
        }
    }
    let callbacks = Callbacks {
        on_change: callback_field(&f, "on_change")?,
        on_quorum: callback_field(&f, "on_quorum")?,
        on_panic: callback_field(&f, "on_panic")?,
    };
    let all = monitors(lua);
    let id = all.next_id.get() + 1;
    all.next_id.set(id);
    let m = Rc::new(RefCell::new(Monitor {
        id,
        name: key.to_string(),
        key,
        board: Board::new(policy),
        dests: HashMap::new(),
        sorry,
        sorry_dest: None,
        probes,
        per_server,
        interval,
        timeout,
        warmup,
        callbacks,
        subs: HashMap::new(),
        checked: HashMap::new(),
        checks_run: 0,
        stopped: false,
        service_missing: false,
        refresher: None,
    }));
    // The first read is synchronous: a monitor of a service that is not there is an error now.
    {
        let k = m.borrow().key.clone();
        let exists = with_client(lua, |c| c.service(&k))?;
        if exists.is_none() {
            return Err(mlua::Error::runtime(format!("monitor: no such service: {k}")));
        }
    }
    refresh(lua, &m).map_err(mlua::Error::runtime)?;
    let weak = Rc::downgrade(&m);
    let l = lua.clone();
    let handle = super::engine::spawn(lua, async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(m) = weak.upgrade() else { break };
            if let Err(e) = refresh(&l, &m) {
                log::error(&format!("{}: reading the service: {e}", m.borrow().name));
            }
        }
    })?;
    m.borrow_mut().refresher = Some(handle.abort_handle());

    all.all.borrow_mut().push(m.clone());
    log::info(&format!(
        "{}: monitoring {} real servers every {}",
        m.borrow().name,
        m.borrow().board.servers.len(),
        secs(interval)
    ));
    Ok(MonitorHandle(m))
}

pub struct MonitorHandle(Shared);

fn stop(lua: &Lua, m: &Shared) {
    let servers: Vec<SocketAddr> = {
        let mut mm = m.borrow_mut();
        if mm.stopped {
            return;
        }
        mm.stopped = true;
        if let Some(h) = mm.refresher.take() {
            h.abort();
        }
        mm.subs.keys().copied().collect()
    };
    for s in servers {
        unsubscribe(lua, m, s);
    }
    monitors(lua).all.borrow_mut().retain(|x| !Rc::ptr_eq(x, m));
    log::info(&format!(
        "{}: monitor stopped; weights left as they are",
        m.borrow().name
    ));
}

impl UserData for MonitorHandle {
    fn add_fields<F: mlua::UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("service", |_, h| Ok(h.0.borrow().name.clone()));
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("status", |lua, h, ()| status(lua, &h.0.borrow()));
        m.add_method("stop", |lua, h, ()| {
            stop(lua, &h.0);
            Ok(())
        });
        m.add_meta_method(mlua::MetaMethod::ToString, |_, h, ()| {
            let m = h.0.borrow();
            Ok(format!(
                "monitor {} ({} servers{})",
                m.name,
                m.board.servers.len(),
                if m.stopped { ", stopped" } else { "" }
            ))
        });
    }
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("monitor", lua.create_function(create)?)?;
    lvs.set(
        "monitors",
        lua.create_function(|lua, ()| {
            let list: Vec<MonitorHandle> = monitors(lua)
                .all
                .borrow()
                .iter()
                .map(|m| MonitorHandle(m.clone()))
                .collect();
            let t = lua.create_table()?;
            for h in list {
                t.push(h)?;
            }
            Ok(t)
        })?,
    )?;
    lvs.set(
        "show_monitors",
        lua.create_function(|lua, ()| {
            use std::io::Write;
            let text = render(&all_rows(lua), unix_now());
            let mut out = std::io::stdout();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            Ok(())
        })?,
    )?;
    lvs.set("probes_run", lua.create_function(|lua, ()| Ok(probes_run(lua)))?)?;
    Ok(())
}
