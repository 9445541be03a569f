//! `lvs.state`, `lvs.apply` and `lvs.print_plan`: the declarative way to configure a director.

use std::time::{Duration, Instant};

use mlua::{Lua, Table, Value};

use super::args::{Fields, bad, spec_err};
use super::convert::{server_settings, server_spec, service_key, service_settings, service_spec};
use super::ipvs::with_director;
use crate::director::drain::{DrainOpts, Drains, Wait};
use crate::director::{ApplyOpts, Wanted, path_or_rules};
use crate::ipvs::Op;
use crate::ipvsadm::rules;
use crate::model::daemon;
use crate::model::plan::Desired;

fn desired_from_table(t: Table) -> mlua::Result<Desired> {
    let mut d = Desired::default();
    let mut seen = std::collections::HashSet::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        match k {
            Value::Integer(_) => {
                let (spec, servers) = service_spec(v)?;
                let svc = spec.to_service(None).map_err(spec_err)?;
                if !seen.insert(svc.key.clone()) {
                    return Err(mlua::Error::runtime(format!(
                        "service {} is given twice",
                        svc.key
                    )));
                }
                let mut dests = Vec::new();
                let mut names = std::collections::HashSet::new();
                if let Some(list) = servers {
                    for rs in list.sequence_values::<Value>() {
                        let dest = server_spec(rs?)?.to_dest(&svc.key, None).map_err(spec_err)?;
                        if !names.insert((dest.addr, dest.port)) {
                            return Err(mlua::Error::runtime(format!(
                                "real server {} is given twice in {}",
                                dest.name(),
                                svc.key
                            )));
                        }
                        dests.push(dest);
                    }
                }
                d.services.push((svc, dests));
            }
            Value::String(s) if s.to_str().is_ok_and(|s| s == "timeouts") => {
                let Value::Table(tt) = v else {
                    return Err(bad("timeouts", &v, "must be {tcp=, tcpfin=, udp=}"));
                };
                let f = Fields::new(tt, "timeouts", &["tcp", "tcpfin", "udp"], &[])?;
                d.timeouts =
                    Some(daemon::timeouts(f.int("tcp")?, f.int("tcpfin")?, f.int("udp")?).map_err(spec_err)?);
            }
            other => {
                return Err(bad(
                    "desired",
                    &other,
                    "is a list of services (and an optional timeouts field)",
                ));
            }
        }
    }
    Ok(d)
}

/// What lvs.apply is given: services as Lua data, or rules (text, or a file's path).
fn wanted(v: Value) -> mlua::Result<Wanted<'static>> {
    match v {
        Value::Table(t) => Ok(Wanted::Table(desired_from_table(t)?)),
        Value::String(s) => {
            let arg = path_or_rules("desired", s.to_string_lossy()).map_err(mlua::Error::external)?;
            rules::opener(arg).map_err(mlua::Error::external)
        }
        other => Err(bad(
            "desired",
            &other,
            "a list of services, rules text, or a rules file",
        )),
    }
}

/// One plan operation as Lua data, with the equivalent ipvsadm command line.
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

/// `wait = "active" | "all" | seconds` and `timeout`/`drain_timeout` of a drain.
fn drain_opts(f: &Fields, timeout_field: &str, o: &mut DrainOpts) -> mlua::Result<()> {
    if let Some(s) = f.int(timeout_field)? {
        if !(0..=86400).contains(&s) {
            return Err(bad(
                timeout_field,
                &f.raw(timeout_field)?,
                "seconds from 0 to 86400",
            ));
        }
        o.timeout = Duration::from_secs(s as u64);
    }
    o.wait = match f.raw("wait")? {
        Value::Nil => o.wait,
        Value::String(s) if s.to_str().is_ok_and(|s| s == "active") => Wait::Active,
        Value::String(s) if s.to_str().is_ok_and(|s| s == "all") => Wait::All,
        v @ (Value::Integer(_) | Value::Number(_)) => match f.seconds("wait")? {
            Some(d) if d.as_secs() <= 86400 => Wait::For(d),
            _ => return Err(bad("wait", &v, "seconds from 0 to 86400")),
        },
        other => {
            return Err(bad(
                "wait",
                &other,
                "\"active\" (no active connections), \"all\" (no connection entries) or seconds",
            ));
        }
    };
    Ok(())
}

fn apply_opts(v: Option<Table>) -> mlua::Result<ApplyOpts> {
    let mut o = ApplyOpts::default();
    let Some(t) = v else { return Ok(o) };
    let f = Fields::new(
        t,
        "apply options",
        &["dry_run", "prune", "drain", "drain_timeout", "wait"],
        &[],
    )?;
    o.dry_run = f.bool("dry_run")?.unwrap_or(false);
    o.plan.prune = f.bool("prune")?.unwrap_or(true);
    o.plan.drain = f.bool("drain")?.unwrap_or(false);
    drain_opts(&f, "drain_timeout", &mut o.drain)?;
    Ok(o)
}

/// Waits for drains without holding up the loop: the calling coroutine sleeps between looks.
/// SIGTERM (unless the script handles it) gives the drains up, the servers left at weight 0.
async fn wait_drains(lua: &Lua, mut drains: Drains) -> mlua::Result<Vec<Op>> {
    let mut term = super::engine::control(lua).unhandled(nix::libc::SIGTERM);
    loop {
        let Some(wait) = with_director(lua, |d| drains.step(d, Instant::now()))? else {
            return Ok(drains.deleted);
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = crate::runtime::recv(&mut term) => {
                return Err(mlua::Error::external(drains.give_up("SIGTERM")));
            }
        }
    }
}

async fn apply(lua: Lua, (want, opts): (Value, Option<Table>)) -> mlua::Result<Table> {
    let want = wanted(want)?;
    let o = apply_opts(opts)?;
    let applied = with_director(&lua, |d| d.apply(want, &o, &rules::command_line))?;
    if !applied.executed {
        return plan_list(&lua, applied.all_ops());
    }
    let mut ops = applied.plan.ops.clone();
    if !applied.to_drain().is_empty() {
        let drains = with_director(&lua, |d| {
            Drains::new(d, applied.to_drain(), o.drain, Instant::now())
        })?;
        ops.extend(wait_drains(&lua, drains).await?);
    }
    plan_list(&lua, ops)
}

/// `lvs.drain(service, server, {timeout=, wait=})`: weight 0 now, deleted once drained.
async fn drain(lua: Lua, (svc, rs, opts): (Value, Value, Option<Table>)) -> mlua::Result<bool> {
    let key = service_key(svc)?;
    let spec = server_spec(rs)?;
    let mut o = ApplyOpts::default().drain;
    if let Some(t) = opts {
        drain_opts(
            &Fields::new(t, "drain options", &["timeout", "wait"], &[])?,
            "timeout",
            &mut o,
        )?;
    }
    let drains = with_director(&lua, |d| d.drain(&key, &spec, o, Instant::now()))?;
    Ok(!wait_drains(&lua, drains).await?.is_empty())
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
