//! `lvs.monitor{...}`: watches the real servers of a service with checks, and applies the
//! health board's verdicts to the kernel (weights, removal, sorry server) and to Lua
//! callbacks. The rules themselves live in `check::state`; this file wires them to probes,
//! the kernel and Lua.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use mlua::{Function, Lua, MultiValue, Table, UserData, UserDataMethods, Value};

use super::args::{Fields, show, spec_err};
use super::checks::{Aimed, Probe, probes};
use super::convert::{server_spec, service_key};
use super::engine::call_logged;
use super::ipvs::with_client;
use super::probes::{Plan, ProbeKey, Registry, Subscriber};
use crate::check::state::{Action, Board, Effect, Health, MaxDown, Policy};
use crate::check::{Outcome, secs};
use crate::ipvs::{Dest, Forward, Op, ServiceKey};
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
pub fn probes_run(lua: &Lua) -> u64 {
    monitors(lua).registry.runs.get()
}

impl Subscriber for Monitor {
    fn id(&self) -> u64 {
        self.id
    }

    fn deliver(this: &Rc<RefCell<Self>>, lua: &Lua, server: SocketAddr, index: usize, outcome: Outcome, at: Instant) {
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

fn endpoint(a: &SocketAddr) -> String {
    a.to_string()
}

/// Carries out what the board decided: kernel changes first, then logs and callbacks.
fn apply(lua: &Lua, this: &Shared, fx: Vec<Effect<SocketAddr>>) {
    for e in fx {
        let name = this.borrow().name.clone();
        match e {
            Effect::SetWeight(s, w) => {
                let dest = this.borrow().dests.get(&s).cloned();
                if let Some(mut d) = dest {
                    d.weight = w;
                    let key = this.borrow().key.clone();
                    match kernel(lua, Op::EditDest(key, d.clone())) {
                        Ok(()) => {
                            this.borrow_mut().dests.insert(s, d);
                        }
                        Err(e) => log::error(&format!("{name}: setting weight {w} on {s}: {e}")),
                    }
                }
            }
            Effect::Remove(s) => {
                let key = this.borrow().key.clone();
                if let Err(e) = kernel(lua, Op::DelDest(key, s.ip(), s.port())) {
                    log::error(&format!("{name}: removing {s}: {e}"));
                }
            }
            Effect::Restore(s, w) => {
                let dest = this.borrow().dests.get(&s).cloned();
                if let Some(mut d) = dest {
                    d.weight = w;
                    let key = this.borrow().key.clone();
                    if let Err(e) = kernel(lua, Op::AddDest(key, d)) {
                        log::error(&format!("{name}: putting back {s}: {e}"));
                    }
                }
            }
            Effect::SorryIn => sorry(lua, this, true),
            Effect::SorryOut => sorry(lua, this, false),
            Effect::Changed { server, from, to, reason, detail } => {
                let line = format!(
                    "{name}: real server {} {} -> {} ({reason}{}{detail})",
                    endpoint(&server),
                    from.name(),
                    to.name(),
                    if detail.is_empty() { "" } else { ": " }
                );
                if to == Health::Down { log::warn(&line) } else { log::info(&line) }
                let cb = this.borrow().callbacks.on_change.clone();
                if let Some(f) = cb {
                    let ev = event(lua, &name, |t| {
                        t.set("server", endpoint(&server))?;
                        t.set("from", from.name())?;
                        t.set("to", to.name())?;
                        t.set("reason", reason.as_str())?;
                        t.set("detail", detail.as_str())
                    });
                    callback(lua, "on_change", f, ev, None);
                }
            }
            Effect::Quorum { up, sum } => {
                let q = this.borrow().board.policy.quorum.unwrap_or(0);
                let line = format!("{name}: quorum {} (live weight {sum}, quorum {q})", if up { "met" } else { "lost" });
                if up { log::info(&line) } else { log::warn(&line) }
                let cb = this.borrow().callbacks.on_quorum.clone();
                if let Some(f) = cb {
                    let ev = event(lua, &name, |t| {
                        t.set("up", up)?;
                        t.set("weight", sum)?;
                        t.set("quorum", q)
                    });
                    callback(lua, "on_quorum", f, ev, Some(up));
                }
            }
            Effect::Panic { server, out, limit } => {
                log::error(&format!(
                    "{name}: PANIC: {} failed its checks but {out} of {} servers are out already (max_down {limit}); \
                     keeping the failing servers in: a broken check or a partition is likelier than a mass outage",
                    endpoint(&server),
                    this.borrow().board.servers.len()
                ));
                let cb = this.borrow().callbacks.on_panic.clone();
                if let Some(f) = cb {
                    let ev = event(lua, &name, |t| {
                        t.set("server", endpoint(&server))?;
                        t.set("out", out)?;
                        t.set("max_down", limit)
                    });
                    callback(lua, "on_panic", f, ev, None);
                }
            }
        }
    }
}

fn kernel(lua: &Lua, op: Op) -> Result<(), String> {
    with_client(lua, |c| c.execute(&op)).map_err(|e| super::describe_error(&Value::Error(Box::new(e))))
}

fn event(lua: &Lua, service: &str, fill: impl FnOnce(&Table) -> mlua::Result<()>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("service", service)?;
    t.set("time", unix_now())?;
    fill(&t)?;
    Ok(t)
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Callbacks run as tasks of their own: a slow or failing callback holds up no check.
fn callback(lua: &Lua, what: &'static str, f: Function, ev: mlua::Result<Table>, flag: Option<bool>) {
    let ev = match ev {
        Ok(t) => t,
        Err(e) => return log::error(&format!("{what}: {e}")),
    };
    let lua = lua.clone();
    tokio::task::spawn_local(async move {
        let mut args = MultiValue::new();
        if let Some(b) = flag {
            args.push_back(Value::Boolean(b));
        }
        args.push_back(Value::Table(ev));
        call_logged(&lua, what, &f, args).await;
    });
}

fn sorry(lua: &Lua, this: &Shared, put_in: bool) {
    let (name, key, spec, fwd) = {
        let m = this.borrow();
        let fwd = m.dests.values().next().map(|d| d.fwd);
        (m.name.clone(), m.key.clone(), m.sorry.clone(), fwd)
    };
    let Some(mut spec) = spec else { return };
    if put_in {
        let inherit = spec.method.is_none();
        spec.weight = spec.weight.or(Some(1));
        if inherit {
            spec.method = Some("nat".into());
        }
        let mut dest = match spec.to_dest(&key, None) {
            Ok(d) => d,
            Err(e) => return log::error(&format!("{name}: sorry server: {e}")),
        };
        if inherit {
            dest.fwd = fwd.unwrap_or(Forward::Masq);
        }
        match kernel(lua, Op::AddDest(key, dest.clone())) {
            Ok(()) => {
                log::warn(&format!("{name}: no real server is up: sorry server {}:{} in", dest.addr, dest.port));
                this.borrow_mut().sorry_dest = Some(dest);
            }
            Err(e) => log::error(&format!("{name}: adding the sorry server: {e}")),
        }
    } else {
        let dest = this.borrow_mut().sorry_dest.take();
        if let Some(d) = dest {
            match kernel(lua, Op::DelDest(key, d.addr, d.port)) {
                Ok(()) => log::info(&format!("{name}: a real server is up again: sorry server out")),
                Err(e) => log::error(&format!("{name}: removing the sorry server: {e}")),
            }
        }
    }
}

/// Reads the service's real servers from the kernel and follows changes: new servers are
/// watched, servers someone else deleted are forgotten, weights someone else set adopted.
fn refresh(lua: &Lua, this: &Shared) -> Result<(), String> {
    let key = this.borrow().key.clone();
    let dests = match with_client(lua, |c| match c.service(&key)? {
        Some(_) => c.dests(&key).map(Some),
        None => Ok(None),
    }) {
        Ok(Some(d)) => d,
        Ok(None) => {
            let mut m = this.borrow_mut();
            if !m.service_missing {
                m.service_missing = true;
                log::warn(&format!("{}: the service is gone from the kernel; its servers are not checked", m.name));
            }
            Vec::new()
        }
        Err(e) => return Err(super::describe_error(&Value::Error(Box::new(e)))),
    };
    let mut fx = Vec::new();
    let mut added = Vec::new();
    let mut forgotten = Vec::new();
    {
        let mut m = this.borrow_mut();
        m.service_missing = m.service_missing && dests.is_empty();
        let sorry = m.sorry_dest.as_ref().map(|d| SocketAddr::new(d.addr, d.port));
        let seen: BTreeMap<SocketAddr, Dest> = dests
            .into_iter()
            .map(|d| (SocketAddr::new(d.addr, d.port), d))
            .filter(|(a, _)| Some(*a) != sorry)
            .collect();
        for (addr, d) in &seen {
            if let Some(s) = m.board.servers.get(addr) {
                let expected = if s.out { 0 } else { s.weight };
                if d.weight != expected {
                    fx.extend(m.board.weight_changed(addr, d.weight));
                }
                let mut d = d.clone();
                if let Some(old) = m.dests.get(addr) {
                    d.weight = if d.weight == 0 { old.weight } else { d.weight };
                }
                m.dests.insert(*addr, d);
            } else {
                let ps = m.per_server.get(addr).cloned();
                let n = ps.as_ref().and_then(|p| p.probes.as_ref()).map_or(m.probes.len(), Vec::len);
                m.dests.insert(*addr, d.clone());
                fx.extend(m.board.add(*addr, d.weight, ps.and_then(|p| p.weight), n));
                added.push(*addr);
            }
        }
        let action = m.board.policy.action;
        let gone: Vec<SocketAddr> = m
            .board
            .servers
            .iter()
            .filter(|(a, s)| !seen.contains_key(a) && !(s.out && action == Action::Remove))
            .map(|(a, _)| *a)
            .collect();
        for a in gone {
            log::info(&format!("{}: real server {a} left the service; no longer checked", m.name));
            fx.extend(m.board.forget(&a));
            m.dests.remove(&a);
            forgotten.push(a);
        }
    }
    for a in forgotten {
        unsubscribe(lua, this, a);
    }
    for a in added {
        subscribe(lua, this, a);
    }
    apply(lua, this, fx);
    Ok(())
}

fn subscribe(lua: &Lua, this: &Shared, server: SocketAddr) {
    let reg = monitors(lua).registry.clone();
    let plans: Vec<(usize, Plan)> = {
        let m = this.borrow();
        let ps = m.per_server.get(&server);
        let list = ps.and_then(|p| p.probes.clone()).unwrap_or_else(|| m.probes.clone());
        let weight = m.board.servers.get(&server).map_or(1, |s| s.weight);
        list.into_iter()
            .enumerate()
            .map(|(i, probe)| {
                let aimed = probe.aim(server, m.timeout);
                let key = match &aimed {
                    Aimed::Check(c) => ProbeKey::Builtin(c.clone()),
                    Aimed::Lua(f) => ProbeKey::Lua(f.to_pointer() as usize, server, m.timeout),
                };
                let plan = Plan {
                    key,
                    probe: aimed,
                    server,
                    weight,
                    timeout: m.timeout,
                    interval: m.interval,
                    delay: m.warmup,
                };
                (i, plan)
            })
            .collect()
    };
    let mut keys = Vec::new();
    for (i, plan) in plans {
        keys.push(plan.key.clone());
        reg.subscribe(lua, plan, this, server, i);
    }
    this.borrow_mut().subs.insert(server, keys);
}

fn unsubscribe(lua: &Lua, this: &Shared, server: SocketAddr) {
    let reg = monitors(lua).registry.clone();
    let (id, keys) = {
        let mut m = this.borrow_mut();
        (m.id, m.subs.remove(&server).unwrap_or_default())
    };
    for k in keys {
        reg.unsubscribe(&k, id, server);
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
        Some(other) => return Err(spec_err(bad("action", other, "must be \"inhibit\" or \"remove\""))),
    };
    p.alpha = f.bool("alpha")?.unwrap_or(false);
    p.quorum = count("quorum", 0)?.map(u64::from);
    p.hysteresis = count("hysteresis", 0)?.map_or(0, u64::from);
    p.max_down = match f.raw("max_down")? {
        Value::Nil => None,
        Value::String(s) => Some(MaxDown::parse(&s.to_string_lossy()).map_err(|e| spec_err(bad("max_down", &*s.to_string_lossy(), e)))?),
        v => Some(MaxDown::Count(
            count("max_down", 0)?.ok_or_else(|| spec_err(bad("max_down", show(&v), "a count or a share")))? as usize,
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
    "service", "check", "interval", "timeout", "rise", "fall", "action", "alpha", "warmup", "sorry", "quorum",
    "hysteresis", "max_down", "servers", "on_change", "on_quorum", "on_panic",
];

fn create(lua: &Lua, t: Table) -> mlua::Result<MonitorHandle> {
    let f = Fields::new(t, "monitor", FIELDS, &[])?;
    let key = service_key(f.raw("service")?)?;
    let probes = probes(lua, f.raw("check")?)?;
    let interval = f.seconds("interval")?.unwrap_or(Duration::from_secs(5));
    if interval < Duration::from_millis(10) {
        return Err(spec_err(bad("interval", secs(interval), "must be at least 0.01 seconds")));
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
    let handle = tokio::task::spawn_local(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(m) = weak.upgrade() else { break };
            if let Err(e) = refresh(&l, &m) {
                log::error(&format!("{}: reading the service: {e}", m.borrow().name));
            }
        }
    });
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
    log::info(&format!("{}: monitor stopped; weights left as they are", m.borrow().name));
}

/// One row per server: what `m:status()` returns and `lvs.show_monitors()` prints.
pub struct Row {
    pub service: String,
    pub server: String,
    pub state: &'static str,
    pub in_table: bool,
    pub weight: u32,
    pub checked: Option<f64>,
    pub latency: Option<f64>,
    pub detail: String,
}

pub fn rows(m: &Monitor) -> Vec<Row> {
    m.board
        .servers
        .iter()
        .map(|(a, s)| {
            let last = s.checks.iter().filter_map(|c| c.last.as_ref()).map(|o| o.latency_ms()).reduce(f64::max);
            Row {
                service: m.name.clone(),
                server: endpoint(a),
                state: if s.kept { "down (kept)" } else { s.health.name() },
                in_table: !s.out,
                weight: s.weight,
                checked: m.checked.get(a).map(|t| unix_now() - t.elapsed().as_secs_f64()),
                latency: last,
                detail: s.last_detail.clone(),
            }
        })
        .collect()
}

fn status(lua: &Lua, m: &Monitor) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("service", m.name.as_str())?;
    t.set("checks", m.checks_run)?;
    t.set("stopped", m.stopped)?;
    t.set("sorry", m.sorry_dest.is_some())?;
    t.set("quorum", m.board.policy.quorum.map(|_| m.board.quorum_met))?;
    t.set("live_weight", m.board.live_weight())?;
    let servers = lua.create_table()?;
    for r in rows(m) {
        let s = lua.create_table()?;
        s.set("server", r.server)?;
        s.set("state", r.state)?;
        s.set("in_table", r.in_table)?;
        s.set("weight", r.weight)?;
        s.set("checked", r.checked)?;
        s.set("latency", r.latency.map(|l| (l * 1000.0).round() / 1000.0))?;
        s.set("detail", r.detail)?;
        servers.push(s)?;
    }
    t.set("servers", servers)?;
    Ok(t)
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

fn all_rows(lua: &Lua) -> Vec<Row> {
    monitors(lua).all.borrow().iter().flat_map(|m| rows(&m.borrow())).collect()
}

/// The table `lvs.show_monitors()` prints.
pub fn render(rows: &[Row], now: f64) -> String {
    use prettytable::{Cell, Row as PRow, format};
    let mut t = prettytable::Table::new();
    t.set_format(*format::consts::FORMAT_BOX_CHARS);
    t.set_titles(PRow::new(
        ["Service", "Real server", "State", "Weight", "Checked", "Latency", "Detail"].iter().map(|h| Cell::new(h)).collect(),
    ));
    for r in rows {
        let weight = if r.in_table { r.weight.to_string() } else { format!("{} (out)", r.weight) };
        let checked = r.checked.map_or("never".to_string(), |c| format!("{:.1}s ago", (now - c).max(0.0)));
        let latency = r.latency.map_or(String::new(), |l| format!("{l:.1} ms"));
        t.add_row(PRow::new(
            [r.service.as_str(), &r.server, r.state, &weight, &checked, &latency, &r.detail]
                .iter()
                .map(|c| Cell::new(c))
                .collect(),
        ));
    }
    if rows.is_empty() { "no monitors\n".to_string() } else { t.to_string() }
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("monitor", lua.create_function(create)?)?;
    lvs.set(
        "monitors",
        lua.create_function(|lua, ()| {
            let list: Vec<MonitorHandle> =
                monitors(lua).all.borrow().iter().map(|m| MonitorHandle(m.clone())).collect();
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
