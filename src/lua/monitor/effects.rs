//! Carrying out a monitor's verdicts: kernel changes (weights, removal, the sorry server),
//! log lines, and the Lua callbacks.

use std::net::SocketAddr;
use std::time::SystemTime;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::Shared;
use crate::check::state::{Effect, Health};
use crate::ipvs::{Forward, Op};
use crate::log;
use crate::lua::engine::call_logged;
use crate::lua::ipvs::with_client;

pub(super) fn endpoint(a: &SocketAddr) -> String {
    a.to_string()
}

/// Carries out what the board decided: kernel changes first, then logs and callbacks.
pub(super) fn apply(lua: &Lua, this: &Shared, fx: Vec<Effect<SocketAddr>>) {
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
            Effect::Changed {
                server,
                from,
                to,
                reason,
                detail,
            } => {
                let line = format!(
                    "{name}: real server {} {} -> {} ({reason}{}{detail})",
                    endpoint(&server),
                    from.name(),
                    to.name(),
                    if detail.is_empty() { "" } else { ": " }
                );
                if to == Health::Down {
                    log::warn(&line)
                } else {
                    log::info(&line)
                }
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
                let line = format!(
                    "{name}: quorum {} (live weight {sum}, quorum {q})",
                    if up { "met" } else { "lost" }
                );
                if up {
                    log::info(&line)
                } else {
                    log::warn(&line)
                }
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

pub(super) fn kernel(lua: &Lua, op: Op) -> Result<(), String> {
    with_client(lua, |c| c.execute(&op)).map_err(|e| crate::lua::describe_error(&Value::Error(Box::new(e))))
}

fn event(lua: &Lua, service: &str, fill: impl FnOnce(&Table) -> mlua::Result<()>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("service", service)?;
    t.set("time", unix_now())?;
    fill(&t)?;
    Ok(t)
}

pub(super) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Callbacks run as tasks of their own: a slow or failing callback holds up no check.
fn callback(lua: &Lua, what: &'static str, f: Function, ev: mlua::Result<Table>, flag: Option<bool>) {
    let ev = match ev {
        Ok(t) => t,
        Err(e) => return log::error(&format!("{what}: {e}")),
    };
    let l = lua.clone();
    let spawned = crate::lua::engine::spawn(lua, async move {
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
                log::warn(&format!(
                    "{name}: no real server is up: sorry server {}:{} in",
                    dest.addr, dest.port
                ));
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
