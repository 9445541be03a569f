//! The Lua state as the host of its monitors: the IPVS client of `lvs`, Lua functions as
//! checks and callbacks, and the engine's loop.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use mlua::{Function, Lua, MultiValue, Table, Value, WeakLua};

use crate::check::monitor::{Call, Event, FnId, Host, Local, read_servers};
use crate::check::{Matcher, Outcome};
use crate::ipvs::{Dest, Op, ServiceKey};
use crate::log;
use crate::lua::args::show;
use crate::lua::checks::LuaMatcher;
use crate::lua::describe_error;
use crate::lua::engine::{call_logged, spawn};
use crate::lua::ipvs::{with_client, with_director};
use crate::runtime::budget;

pub struct LuaHost {
    /// Weak: the host lives in the Lua state's own app data.
    lua: WeakLua,
    /// The functions monitors refer to, kept until the runtime releases them.
    functions: RefCell<HashMap<FnId, Function>>,
    /// `LVSH_SHARED_READ=0`: monitors dump their services every interval, as before the
    /// shared read (for comparing the two, and a way out should the file mislead).
    shared_read: bool,
}

/// A function's id: the same function gives the same id, so monitors share its probes.
pub fn fn_id(f: &Function) -> FnId {
    f.to_pointer() as usize
}

impl LuaHost {
    pub fn new(lua: &Lua) -> LuaHost {
        LuaHost {
            lua: lua.weak(),
            functions: RefCell::new(HashMap::new()),
            shared_read: std::env::var_os("LVSH_SHARED_READ").is_none_or(|v| v != "0"),
        }
    }

    pub fn hold(&self, f: &Function) {
        self.functions.borrow_mut().insert(fn_id(f), f.clone());
    }

    fn function(&self, id: FnId) -> Option<Function> {
        self.functions.borrow().get(&id).cloned()
    }

    fn lua(&self) -> Result<Lua, String> {
        self.lua
            .try_upgrade()
            .ok_or_else(|| "the Lua state is gone".to_string())
    }
}

fn message(e: mlua::Error) -> String {
    describe_error(&Value::Error(Box::new(e)))
}

impl Matcher for LuaHost {
    fn matches(&self, pattern: &str, subject: &[u8]) -> Result<bool, String> {
        LuaMatcher(self.lua()?).matches(pattern, subject)
    }
}

impl Host for LuaHost {
    fn servers(&self, key: &ServiceKey) -> Result<Option<Vec<Dest>>, String> {
        with_client(&self.lua()?, |c| read_servers(c, key)).map_err(message)
    }

    fn execute(&self, op: &Op) -> Result<(), String> {
        // through the director, as every change to the table goes; trying the namespace's
        // lock once (the loop must not wait here), so another writer at work fails the edit
        // (a server put back into an mh service goes to its place in the list's order)
        with_director(&self.lua()?, |d| match op {
            Op::AddDest(k, dest) => d.put_server(k, dest.clone(), false),
            op => Ok(d.perform_now(op.clone())?),
        })
        .map_err(message)
    }

    fn table(&self) -> Result<Vec<(ServiceKey, Vec<Dest>)>, String> {
        let t = with_client(&self.lua()?, |c| c.services()).map_err(message)?;
        Ok(t.into_iter().map(|(s, d)| (s.key, d)).collect())
    }

    fn table_digests(&self) -> Option<crate::ipvs::proc_table::Digests> {
        if !self.shared_read {
            return None;
        }
        let lua = self.lua().ok()?;
        with_client(&lua, |c| Ok(c.table_digests())).ok().flatten()
    }

    fn table_scope(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = rustc_hash::FxHasher::default();
        crate::runtime::netns::here().ok().map(|n| n.id()).hash(&mut h);
        h.finish()
    }

    fn is_model(&self) -> bool {
        self.lua()
            .and_then(|l| with_client(&l, |c| Ok(c.is_model())).map_err(message))
            .unwrap_or(false)
    }

    fn run_check(&self, check: FnId, call: Call, started: Instant) -> Local<Outcome> {
        let Call {
            server,
            weight,
            timeout,
        } = call;
        let ready = |detail: String| -> Local<Outcome> {
            Box::pin(std::future::ready(Outcome::down(detail, started)))
        };
        let lua = match self.lua() {
            Ok(l) => l,
            Err(e) => return ready(e),
        };
        let Some(f) = self.function(check) else {
            return ready("the check function is gone".into());
        };
        let arg = match server_table(&lua, server, weight) {
            Ok(t) => t,
            Err(e) => return ready(e.to_string()),
        };
        // a check that does not yield is stopped at its timeout, or sooner at lvs.budget's
        let budget = timeout.min(budget::default_budget());
        let what = format!("the Lua check of {server}");
        Box::pin(async move {
            match budget::budgeted(what, budget, f.call_async::<MultiValue>(arg)).await {
                Ok(vals) => verdict(vals, started),
                Err(e) => Outcome::down(format!("check raised: {}", message(e)), started),
            }
        })
    }

    /// Callbacks run as tasks of their own: a slow or failing callback holds up no check.
    fn notify(&self, callback: FnId, event: Event) {
        let (Ok(lua), Some(f)) = (self.lua(), self.function(callback)) else {
            return;
        };
        let (what, flag) = (event.callback(), event.flag());
        let ev = match super::fields_table(&lua, event.fields()) {
            Ok(t) => t,
            Err(e) => return log::error(&format!("{what}: {e}")),
        };
        let l = lua.clone();
        let spawned = spawn(&lua, async move {
            let mut args = MultiValue::new();
            if let Some(b) = flag {
                args.push_back(Value::Boolean(b));
            }
            args.push_back(Value::Table(ev));
            call_logged(&l, what, &f, args).await;
        });
        if let Err(e) = spawned {
            log::error(&format!("{what}: {e}"));
        }
    }

    fn release(&self, f: FnId) {
        self.functions.borrow_mut().remove(&f);
    }

    fn spawn(&self, task: Local<()>) -> Result<tokio::task::AbortHandle, String> {
        let lua = self.lua()?;
        spawn(&lua, task)
            .map(|h| h.abort_handle())
            .map_err(|e| e.to_string())
    }
}

fn server_table(lua: &Lua, s: SocketAddr, weight: u32) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("addr", s.to_string())?;
    t.set("ip", s.ip().to_string())?;
    t.set("port", s.port())?;
    t.set("weight", weight)?;
    Ok(t)
}

/// What a Lua check returned: true or false, and a detail; anything else is a failure.
fn verdict(vals: MultiValue, started: Instant) -> Outcome {
    let mut it = vals.into_iter();
    let first = it.next().unwrap_or(Value::Nil);
    let detail = match it.next() {
        Some(Value::String(s)) => s.to_string_lossy(),
        Some(Value::Nil) | None => String::new(),
        Some(other) => other.to_string().unwrap_or_default(),
    };
    let or = |default: &str| {
        if detail.is_empty() {
            default.to_string()
        } else {
            detail.clone()
        }
    };
    // a third value asks for a weight, as an exec check's 2+N does (keepalived's misc_dynamic)
    let weight = match it.next() {
        Some(Value::Integer(w)) => u32::try_from(w)
            .ok()
            .filter(|w| *w <= crate::model::spec::MAX_WEIGHT as u32),
        _ => None,
    };
    match first {
        Value::Boolean(true) => {
            let mut o = Outcome::up(or("ok"), started);
            o.weight = weight;
            o
        }
        Value::Boolean(false) => Outcome::down(or("failed"), started),
        other => Outcome::down(
            format!(
                "check returned {} ({}), not true or false",
                show(&other),
                other.type_name()
            ),
            started,
        ),
    }
}
