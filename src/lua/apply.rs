//! `lvs.state`, `lvs.apply` and `lvs.print_plan`: the declarative way to configure a director.

use std::time::Instant;

use mlua::{Lua, Table, Value};

use super::args::{bad, spec_err, to_value};
use super::convert::{server_settings, server_spec, service_key, service_settings};
use super::ipvs::{with_director, with_writer};
use crate::director::drain::{DrainOpts, Drains};
use crate::director::{ApplyOpts, Wanted};
use crate::ipvs::Op;
use crate::ipvsadm::rules;
use crate::model::plan::Desired;

/// The wanted table from Lua: the services (its list) and an optional `timeouts` field.
fn desired_from_table(t: Table) -> mlua::Result<Desired> {
    let (mut services, mut timeouts) = (Vec::new(), None);
    for pair in t.pairs::<Value, Value>() {
        match pair? {
            (Value::Integer(_), v) => services.push(to_value(v)?),
            (Value::String(s), v) if s.to_str().is_ok_and(|s| s == "timeouts") => {
                timeouts = Some(to_value(v)?)
            }
            (other, _) => {
                return Err(bad(
                    "desired",
                    &other,
                    "is a list of services (and an optional timeouts field)",
                ));
            }
        }
    }
    crate::director::desired(&services, timeouts.as_ref()).map_err(mlua::Error::external)
}

/// What lvs.apply is given: services as Lua data, or rules (text, or a file's path).
fn wanted(v: Value) -> mlua::Result<Wanted<'static>> {
    match v {
        Value::Table(t) => Ok(Wanted::Table(desired_from_table(t)?)),
        Value::String(s) => super::rules::wanted_rules("desired", &s),
        other => Err(bad(
            "desired",
            &other,
            "a list of services, rules text, or a rules file",
        )),
    }
}

/// One plan operation as Lua data, with the equivalent ipvsadm command line.
/// The desired table `lvs.apply` would take from `v` (services as Lua data, rules text, a
/// rules file's path), read into data now: for what compares against it (`lvs.watch`).
pub(super) fn desired_of(v: Value) -> mlua::Result<Desired> {
    let named = |e: String| mlua::Error::runtime(format!("desired: {e}"));
    let is_string = matches!(v, Value::String(_));
    // a file that cannot be opened is worded by the opener; it is the desired field's
    let want = wanted(v).map_err(|e| match e.to_string() {
        m if is_string && !m.contains("desired") => named(m),
        _ => e,
    })?;
    match want {
        Wanted::Table(d) => Ok(d),
        Wanted::Rules { origin, open } => {
            let mut src = open().map_err(|e| {
                named(format!(
                    "cannot read rules from {}: {e}",
                    origin.as_deref().unwrap_or("text")
                ))
            })?;
            Desired::from_rules(&mut *src)
                .map_err(|error| named(crate::director::Error::Rules { origin, error }.to_string()))
        }
    }
}

fn op_table(lua: &Lua, op: &Op) -> mlua::Result<Table> {
    super::convert::record(lua, crate::view::records::op(op, rules::command_line(op)))
}

/// The plan as a Lua list whose entries are made when first read: a plan of 22,000 operations
/// that a script only counts, or applies and drops, costs no Lua table per operation. `#`,
/// indexing, `ipairs` and `pairs` see every entry; an entry once read stays the same table.
fn plan_list(lua: &Lua, ops: Vec<Op>) -> mlua::Result<Table> {
    let ops = std::rc::Rc::new(ops);
    let list = lua.create_table()?;
    let mt = lua.create_table_with_capacity(0, 3)?;
    let n = ops.len();
    mt.raw_set("__len", lua.create_function(move |_, _: Table| Ok(n))?)?;
    let entry = {
        let ops = ops.clone();
        move |lua: &Lua, list: &Table, i: i64| -> mlua::Result<Value> {
            let Some(op) = usize::try_from(i - 1).ok().and_then(|i| ops.get(i)) else {
                return Ok(Value::Nil);
            };
            let t = op_table(lua, op)?;
            list.raw_set(i, &t)?;
            Ok(Value::Table(t))
        }
    };
    let index = entry.clone();
    mt.raw_set(
        "__index",
        lua.create_function(move |lua, (list, k): (Table, Value)| match k {
            Value::Integer(i) => index(lua, &list, i),
            _ => Ok(Value::Nil),
        })?,
    )?;
    let next = lua.create_function(move |lua, (list, k): (Table, Value)| {
        let i = match k {
            Value::Nil => 1,
            Value::Integer(i) => i + 1,
            _ => return Ok((Value::Nil, Value::Nil)),
        };
        let v = match list.raw_get::<Value>(i)? {
            Value::Nil => entry(lua, &list, i)?,
            v => v,
        };
        Ok(if v.is_nil() {
            (Value::Nil, v)
        } else {
            (Value::Integer(i), v)
        })
    })?;
    mt.raw_set(
        "__pairs",
        lua.create_function(move |_, list: Table| Ok((next.clone(), list, Value::Nil)))?,
    )?;
    list.set_metatable(Some(mt))?;
    Ok(list)
}

fn apply_opts(v: Option<Value>) -> mlua::Result<ApplyOpts> {
    match v {
        None | Some(Value::Nil) => Ok(ApplyOpts::default()),
        Some(v) => ApplyOpts::read(&to_value(v)?).map_err(spec_err),
    }
}

/// Refuses a drain where the caller cannot wait for it (before anything is changed).
fn can_wait(lua: &Lua, what: &str) -> mlua::Result<()> {
    if super::engine::control(lua).no_wait.get() > 0 {
        return Err(mlua::Error::runtime(format!(
            "{what}: a drain waits on the event loop, which lvs.with_netns's function cannot give a \
             turn to; drain outside it (lvs.netns(name) ... lvs.netns())"
        )));
    }
    Ok(())
}

/// Waits for drains without holding up the loop: the calling coroutine sleeps between looks.
/// SIGTERM (unless the script handles it) gives the drains up, the servers left at weight 0,
/// and is an error; so is a failure to look at the kernel when `raise` (else it is logged).
async fn wait_drains(lua: &Lua, mut drains: Drains, raise: bool) -> mlua::Result<Vec<Op>> {
    let ctl = super::engine::control(lua);
    // Once a listener is in, SIGTERM no longer ends the process by itself (tokio keeps its
    // handler): a script that neither runs lvs.run nor handles SIGTERM keeps running after it.
    let mut term = ctl.unhandled(nix::libc::SIGTERM);
    ctl.drains.set(ctl.drains.get() + 1);
    let out = loop {
        let next = match with_director(lua, |d| drains.step(d, Instant::now())) {
            Ok(n) => n,
            Err(e) => {
                let e = drains.give_up(&format!("an error ({e})"));
                break if raise {
                    Err(mlua::Error::external(e))
                } else {
                    Ok(())
                };
            }
        };
        let Some(wait) = next else { break Ok(()) };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = crate::runtime::recv(&mut term) => {
                break Err(mlua::Error::external(drains.give_up("SIGTERM")));
            }
        }
    };
    ctl.drains.set(ctl.drains.get() - 1);
    out.map(|()| std::mem::take(&mut drains.deleted))
}

async fn apply(lua: Lua, (want, opts): (Value, Option<Value>)) -> mlua::Result<Table> {
    let want = wanted(want)?;
    let o = apply_opts(opts)?;
    if o.plan.drain && !o.dry_run {
        can_wait(&lua, "apply")?;
    }
    let applied = if o.dry_run {
        with_director(&lua, |d| d.apply(want, &o, &rules::command_line))?
    } else {
        with_writer(&lua, |d| d.apply(want, &o, &rules::command_line)).await?
    };
    if !applied.executed {
        return plan_list(&lua, applied.into_all_ops());
    }
    // taken apart, not copied: a plan can hold 22,000 operations
    let crate::model::plan::Plan { mut ops, draining } = applied.plan;
    if !draining.is_empty() {
        let drains = with_director(&lua, |d| Drains::new(d, &draining, o.drain, Instant::now()))?;
        // the plan is carried out: a failure to look is logged, and the plan returned
        ops.extend(wait_drains(&lua, drains, false).await?);
    }
    plan_list(&lua, ops)
}

/// `lvs.drain(server, {service=, reason=, ttl=})` (an override) or `lvs.drain(service,
/// server, {timeout=, wait=})` (weight 0 now, deleted once drained).
async fn drain(lua: Lua, (a, b, c): (Value, Value, Option<Value>)) -> mlua::Result<Value> {
    if super::monitor::overrides::is_override_form(&a, &b)? {
        return super::monitor::overrides::drain(&lua, a, b);
    }
    Ok(Value::Boolean(drain_server(lua, (a, b, c)).await?))
}

async fn drain_server(lua: Lua, (svc, rs, opts): (Value, Value, Option<Value>)) -> mlua::Result<bool> {
    let key = service_key(svc)?;
    let spec = server_spec(rs)?;
    let o = match opts {
        None | Some(Value::Nil) => ApplyOpts::default().drain,
        Some(v) => DrainOpts::read(&to_value(v)?).map_err(spec_err)?,
    };
    can_wait(&lua, "drain")?;
    let drains = with_writer(&lua, |d| d.drain(&key, &spec, o, Instant::now())).await?;
    Ok(!wait_drains(&lua, drains, true).await?.is_empty())
}

/// The whole table as plain data that lvs.apply takes back.
fn state(lua: &Lua, (): ()) -> mlua::Result<Table> {
    let (table, timeouts) = with_director(lua, |d| d.state())?;
    let list = lua.create_table()?;
    for (s, dests) in &table {
        // settings only: counters and connection counts are not something apply takes
        let t = service_settings(lua, s)?;
        let servers = lua.create_table_with_capacity(dests.len(), 0)?;
        for d in dests {
            servers.push(server_settings(lua, d)?)?;
        }
        t.set("servers", servers)?;
        list.push(t)?;
    }
    list.set("timeouts", super::ipvs::timeouts_table(lua, &timeouts)?)?;
    Ok(list)
}

fn print_plan(_: &Lua, plan: Table) -> mlua::Result<()> {
    let mut rows = Vec::new();
    // by index, not raw: a plan from lvs.apply makes its entries as they are read
    for i in 1..=plan.len()? {
        let op: Table = plan.get(i)?;
        let what: String = op.get("op").unwrap_or_default();
        let service: String = op.get("service").unwrap_or_default();
        let addr: Option<String> = op.get("addr").ok().flatten();
        let object = match (what.contains("server"), addr) {
            (true, Some(a)) => format!("{a} in {service}"),
            _ => service,
        };
        rows.push(crate::view::PlanRow {
            op: what,
            object,
            ipvsadm: op.get("ipvsadm").unwrap_or_default(),
        });
    }
    super::listing::emit_text(&crate::view::plan(&rows));
    Ok(())
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("apply", lua.create_async_function(apply)?)?;
    lvs.set("drain", lua.create_async_function(drain)?)?;
    lvs.set("state", lua.create_function(state)?)?;
    lvs.set("print_plan", lua.create_function(print_plan)?)?;
    Ok(())
}
