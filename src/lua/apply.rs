//! `lvs.state`, `lvs.apply` and `lvs.print_plan`: the declarative way to configure a director.

use std::time::{Duration, Instant};

use mlua::{Lua, Table, Value};
use prettytable::{Cell, Row, format};

use super::args::{Fields, show, spec_err};
use super::convert::{server_settings, server_spec, service_settings, service_spec};
use super::ipvs::with_client;
use crate::ipvs::{Dest, Error, Op, Service, ServiceKey, Timeouts, sockaddr};
use crate::ipvsadm::rules;
use crate::model::plan::{Desired, Plan, plan, plan_rules};
use crate::model::table::Table as Model;
use crate::model::{SpecError, daemon, order, txn};

fn bad(field: &str, v: &Value, reason: &str) -> mlua::Error {
    spec_err(SpecError {
        field: field.into(),
        value: show(v),
        reason: reason.into(),
    })
}

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
enum Wanted {
    Table(Desired),
    Text(String),
    File(String),
}

fn wanted(v: Value) -> mlua::Result<Wanted> {
    match v {
        Value::Table(t) => Ok(Wanted::Table(desired_from_table(t)?)),
        Value::String(s) => {
            let s = s.to_string_lossy();
            if s.contains('\n') || s.trim_start().starts_with('-') {
                Ok(Wanted::Text(s))
            } else {
                // opened now, so a missing file is named before anything else is done
                std::fs::File::open(&*s)
                    .map_err(|e| mlua::Error::runtime(format!("cannot read rules from {s}: {e}")))?;
                Ok(Wanted::File(s))
            }
        }
        other => Err(bad(
            "desired",
            &other,
            "a list of services, rules text, or a rules file",
        )),
    }
}

/// The plan for `want` against the current table; rules are compared as they are read.
fn make_plan(
    want: Wanted,
    current: &[(Service, Vec<Dest>)],
    timeouts: Timeouts,
    o: &ApplyOpts,
) -> mlua::Result<Plan> {
    let p = match want {
        Wanted::Table(d) => plan(current, timeouts, d, o.prune, o.drain),
        Wanted::Text(text) => plan_rules(|| Ok(text.as_bytes()), current, timeouts, o.prune, o.drain)
            .map_err(mlua::Error::external)?,
        Wanted::File(path) => plan_rules(
            || {
                Ok(std::io::BufReader::with_capacity(
                    1 << 16,
                    std::fs::File::open(&path)?,
                ))
            },
            current,
            timeouts,
            o.prune,
            o.drain,
        )
        .map_err(|e| mlua::Error::runtime(format!("{path}: {e}")))?,
    };
    Ok(p)
}

fn key_name(k: &ServiceKey) -> String {
    k.to_string()
}

/// One plan operation as Lua data, with the equivalent ipvsadm command line. Built field by
/// field (not through the full service and server objects): plans can hold 20,000 of these.
fn op_table(lua: &Lua, op: &Op) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 10)?;
    let name = match op {
        Op::AddService(_) => "add_service",
        Op::EditService(_) => "edit_service",
        Op::DelService(_) => "del_service",
        Op::AddDest(..) => "add_server",
        Op::EditDest(..) => "edit_server",
        Op::DelDest(..) => "del_server",
        Op::SetTimeouts(_) => "set_timeouts",
        Op::Zero(_) => "zero",
        Op::Flush => "clear",
        Op::StartDaemon(_) => "start_daemon",
        Op::StopDaemon(_) => "stop_daemon",
    };
    t.raw_set("op", name)?;
    match op {
        Op::AddService(s) | Op::EditService(s) => {
            t.raw_set("service", key_name(&s.key))?;
            t.raw_set("scheduler", s.scheduler.as_str())?;
            if s.persistent() {
                t.raw_set("persistent", s.timeout)?;
            }
            if let Some(pe) = &s.pe {
                t.raw_set("pe", pe.as_str())?;
            }
        }
        Op::DelService(k) => t.raw_set("service", key_name(k))?,
        Op::AddDest(k, d) | Op::EditDest(k, d) => {
            t.raw_set("service", key_name(k))?;
            t.raw_set("addr", d.name())?;
            t.raw_set("method", d.fwd.name())?;
            t.raw_set("weight", d.weight as i64)?;
            t.raw_set("upper", d.upper as i64)?;
            t.raw_set("lower", d.lower as i64)?;
        }
        Op::DelDest(k, a, p) => {
            t.raw_set("service", key_name(k))?;
            t.raw_set("addr", sockaddr(a, *p))?;
        }
        Op::SetTimeouts(x) => {
            t.raw_set("tcp", x.tcp)?;
            t.raw_set("tcpfin", x.tcpfin)?;
            t.raw_set("udp", x.udp)?;
        }
        _ => {}
    }
    t.raw_set("ipvsadm", rules::command_line(op))?;
    Ok(t)
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

struct ApplyOpts {
    dry_run: bool,
    prune: bool,
    drain: bool,
    drain_timeout: Duration,
}

fn apply_opts(v: Option<Table>) -> mlua::Result<ApplyOpts> {
    let mut o = ApplyOpts {
        dry_run: false,
        prune: true,
        drain: false,
        drain_timeout: Duration::from_secs(300),
    };
    let Some(t) = v else { return Ok(o) };
    let f = Fields::new(
        t,
        "apply options",
        &["dry_run", "prune", "drain", "drain_timeout"],
        &[],
    )?;
    o.dry_run = f.bool("dry_run")?.unwrap_or(false);
    o.prune = f.bool("prune")?.unwrap_or(true);
    o.drain = f.bool("drain")?.unwrap_or(false);
    if let Some(s) = f.int("drain_timeout")? {
        if !(0..=86400).contains(&s) {
            return Err(bad(
                "drain_timeout",
                &f.raw("drain_timeout")?,
                "seconds from 0 to 86400",
            ));
        }
        o.drain_timeout = Duration::from_secs(s as u64);
    }
    Ok(o)
}

fn apply(lua: &Lua, (want, opts): (Value, Option<Table>)) -> mlua::Result<Table> {
    let want = wanted(want)?;
    let o = apply_opts(opts)?;
    let (current, timeouts) = with_client(lua, |c| Ok((c.services()?, c.timeouts()?)))?;
    let p = make_plan(want, &current, timeouts, &o)?;
    let (mut p, done) = with_client(lua, |c| {
        if o.dry_run || p.ops.is_empty() {
            return Ok((p, true));
        }
        let model = Model::new(current, timeouts, c.daemons()?);
        txn::execute_atomic_from(c, model, &p.ops).map_err(|f| Error::Kernel {
            errno: f.error.errno().unwrap_or(0),
            message: format!(
                "apply: {} refused: {} ({})",
                rules::command_line(&p.ops[f.index]),
                f.error,
                if f.undone {
                    "the operations before it were undone"
                } else {
                    "undoing the operations before it failed too"
                }
            ),
        })?;
        Ok((p, false))
    })?;
    if !done && !p.draining.is_empty() {
        // graceful removal: weight 0 now, delete once the active connections are gone
        let deadline = Instant::now() + o.drain_timeout;
        let mut left = p.draining.clone();
        while !left.is_empty() {
            let mut still = Vec::new();
            for (k, a, port) in left {
                let active = with_client(lua, |c| {
                    Ok(c.dests(&k)?
                        .iter()
                        .find(|d| d.addr == a && d.port == port)
                        .map(|d| d.active))
                })?;
                match active {
                    None => {}
                    Some(n) if n > 0 && Instant::now() < deadline => still.push((k, a, port)),
                    Some(_) => {
                        let op = Op::DelDest(k.clone(), a, port);
                        with_client(lua, |c| c.execute(&op))?;
                        p.ops.push(op);
                    }
                }
            }
            left = still;
            if !left.is_empty() {
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    } else if done && o.dry_run {
        p.ops.extend(
            p.draining
                .iter()
                .map(|(k, a, port)| Op::DelDest(k.clone(), *a, *port)),
        );
    }
    plan_list(lua, p.ops)
}

/// The whole table as plain data that lvs.apply takes back.
fn state(lua: &Lua, (): ()) -> mlua::Result<Table> {
    let (mut table, timeouts): (_, Timeouts) = with_client(lua, |c| Ok((c.services()?, c.timeouts()?)))?;
    order::sort_table(&mut table);
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
    let t = lua.create_table()?;
    t.set("tcp", timeouts.tcp)?;
    t.set("tcpfin", timeouts.tcpfin)?;
    t.set("udp", timeouts.udp)?;
    list.set("timeouts", t)?;
    Ok(list)
}

fn print_plan(_: &Lua, plan: Table) -> mlua::Result<()> {
    let mut t = prettytable::Table::new();
    t.set_format(*format::consts::FORMAT_BOX_CHARS);
    t.set_titles(Row::new(
        ["#", "operation", "object", "ipvsadm"].map(Cell::new).to_vec(),
    ));
    let mut n = 0;
    // by index, not raw: a plan from lvs.apply makes its entries as they are read
    for i in 1..=plan.len()? {
        let op: Table = plan.get(i)?;
        n += 1;
        let what: String = op.get("op").unwrap_or_default();
        let service: String = op.get("service").unwrap_or_default();
        let addr: Option<String> = op.get("addr").ok().flatten();
        let object = match (what.contains("server"), addr) {
            (true, Some(a)) => format!("{a} in {service}"),
            _ => service,
        };
        let cmd: String = op.get("ipvsadm").unwrap_or_default();
        t.add_row(Row::new(vec![
            Cell::new(&n.to_string()),
            Cell::new(&what),
            Cell::new(&object),
            Cell::new(&cmd),
        ]));
    }
    use std::io::Write;
    super::flush_c_stdout();
    if n == 0 {
        let _ = writeln!(std::io::stdout(), "(no changes)");
    } else {
        // prettytable's printstd panics when stdout is gone; print returns the error instead
        let _ = t.print(&mut std::io::stdout());
    }
    Ok(())
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("apply", lua.create_function(apply)?)?;
    lvs.set("state", lua.create_function(state)?)?;
    lvs.set("print_plan", lua.create_function(print_plan)?)?;
    Ok(())
}
