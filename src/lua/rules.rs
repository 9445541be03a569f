//! `lvs.save`, `lvs.restore` and `lvs.ipvsadm`: the table as ipvsadm rules, and ipvsadm
//! command lines run natively.

use mlua::{Lua, Table, Value};

use super::args::{Fields, bad};
use super::ipvs::{with_director, with_slot, with_writer};
use super::listing::emit;
use crate::director::{RulesArg, path_or_rules};
use crate::ipvsadm::args::Format;
use crate::ipvsadm::{exec, listing, rules};

fn save(lua: &Lua, arg: Value) -> mlua::Result<Value> {
    let (mut path, mut complete, mut numeric) = (None, false, true);
    match arg {
        Value::Nil => {}
        Value::String(s) => path = Some(s.to_string_lossy()),
        Value::Table(t) => {
            let f = Fields::new(t, "save options", &["path", "complete", "names"], &[])?;
            path = f.string("path")?;
            complete = f.bool("complete")?.unwrap_or(false);
            numeric = !f.bool("names")?.unwrap_or(false);
        }
        other => return Err(bad("save", &other, "expected a path or {path=, complete=}")),
    }
    let table = with_director(lua, |d| d.services())?;
    let f = Format {
        rule: true,
        numeric,
        ..Default::default()
    };
    let info = crate::ipvs::Info {
        version: 0,
        conn_tab_size: 0,
    };
    let text = listing::list_all(&info, &table, &f, complete);
    match path {
        Some(p) => {
            crate::host::files::write_atomic(std::path::Path::new(&p), text.as_bytes())
                .map_err(|e| mlua::Error::runtime(format!("cannot write {p}: {e}")))?;
            Ok(Value::Boolean(true))
        }
        None => Ok(Value::String(lua.create_string(&text)?)),
    }
}

async fn restore(lua: Lua, arg: String) -> mlua::Result<usize> {
    if arg.trim().is_empty() {
        // what lvs.save() gives of an empty table; a restore never removes anything
        return Ok(0);
    }
    let text = match path_or_rules("restore", arg).map_err(mlua::Error::external)? {
        RulesArg::Path(p) => std::fs::read_to_string(&p)
            .map_err(|e| mlua::Error::runtime(format!("cannot read rules from {p}: {e}")))?,
        RulesArg::Text(t) => t,
    };
    let (lines, list) = rules::parse_lines(&text).map_err(mlua::Error::external)?;
    with_writer(&lua, |d| d.restore(&list, &lines)).await
}

/// Runs an ipvsadm command line; returns (stdout, stderr, exit code).
pub fn run_ipvsadm(lua: &Lua, argv: &[String]) -> mlua::Result<exec::Outcome> {
    with_slot(lua, |slot| {
        let mut stdin = || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s);
            s
        };
        exec::run(slot, argv, &mut stdin)
    })
}

async fn ipvsadm(lua: Lua, (line, opts): (Value, Option<Table>)) -> mlua::Result<Value> {
    let argv: Vec<String> = match &line {
        Value::String(s) => rules::tokens(&s.to_string_lossy())
            .into_iter()
            .map(String::from)
            .collect(),
        Value::Table(t) => t.sequence_values::<String>().collect::<mlua::Result<_>>()?,
        other => {
            return Err(bad(
                "ipvsadm",
                other,
                "expected a command line such as \"-A -t 192.0.2.1:80 -s rr\"",
            ));
        }
    };
    let print = match opts {
        Some(t) => Fields::new(t, "ipvsadm options", &["print"], &[])?
            .bool("print")?
            .unwrap_or(true),
        None => true,
    };
    if exec::stops_daemon(&argv) {
        super::ipvs::settle_daemon(&lua).await?;
    }
    // a change is made holding the namespace's lock, waited for on the loop's timer
    let writes = crate::ipvsadm::args::parse(&argv).is_ok_and(|p| {
        use crate::ipvsadm::args::Cmd::*;
        !matches!(
            p.cmd,
            List | Save | Help | Version | Zero | StartDaemon | StopDaemon
        )
    });
    let held = if writes {
        super::ipvs::write_lock(&lua).await?
    } else {
        None
    };
    with_slot(&lua, |slot| slot.as_mut().map(|d| d.hold(held)))?;
    let out = run_ipvsadm(&lua, &argv);
    with_slot(&lua, |slot| slot.as_mut().map(|d| d.hold(None)))?;
    let out = out?;
    if out.code != 0 {
        return Err(mlua::Error::runtime(format!(
            "ipvsadm: {}",
            out.stderr.trim_end()
        )));
    }
    emit(&lua, out.stdout, print)
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("save", lua.create_function(save)?)?;
    lvs.set("restore", lua.create_async_function(restore)?)?;
    lvs.set("ipvsadm", lua.create_async_function(ipvsadm)?)?;
    Ok(())
}
