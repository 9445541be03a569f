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

/// The rules file a Lua string names, or None when it is rules text itself, told apart as
/// `path_or_rules` does. The text is then used as the string's bytes, not as UTF-8: rules
/// are bytes, and a Latin-1 comment is no reason to fail.
fn rules_path(field: &str, s: &mlua::LuaString) -> mlua::Result<Option<String>> {
    match path_or_rules(field, s.to_string_lossy()).map_err(mlua::Error::external)? {
        RulesArg::Text(_) => Ok(None),
        RulesArg::Path(p) => Ok(Some(p)),
    }
}

/// What lvs.apply reads wanted rules from: the text, or the file.
pub(super) fn wanted_rules(
    field: &str,
    s: &mlua::LuaString,
) -> mlua::Result<crate::director::Wanted<'static>> {
    match rules_path(field, s)? {
        None => Ok(rules::text_opener(s.as_bytes().to_vec())),
        Some(p) => rules::opener(RulesArg::Path(p)).map_err(mlua::Error::external),
    }
}

async fn restore(lua: Lua, arg: mlua::LuaString) -> mlua::Result<usize> {
    if arg.as_bytes().trim_ascii().is_empty() {
        // what lvs.save() gives of an empty table; a restore never removes anything
        return Ok(0);
    }
    let parsed = match rules_path("restore", &arg)? {
        Some(p) => {
            let file = std::fs::File::open(&p)
                .map_err(|e| mlua::Error::runtime(format!("cannot read rules from {p}: {e}")))?;
            rules::parse_lines(std::io::BufReader::with_capacity(1 << 16, file))
                .map_err(|e| mlua::Error::runtime(format!("{p}: {e}")))?
        }
        None => rules::parse_lines(&arg.as_bytes()[..]).map_err(mlua::Error::external)?,
    };
    let (lines, list) = parsed;
    with_writer(&lua, |d| d.restore(&list, &lines)).await
}

/// Runs an ipvsadm command line; returns (stdout, stderr, exit code).
pub fn run_ipvsadm(lua: &Lua, argv: &[String]) -> mlua::Result<exec::Outcome> {
    with_slot(lua, |slot| {
        let mut stdin = || Box::new(std::io::stdin().lock()) as Box<dyn std::io::BufRead>;
        exec::run(slot, argv, &mut stdin)
    })
}

async fn ipvsadm(lua: Lua, (line, opts): (Value, Option<Table>)) -> mlua::Result<Value> {
    let argv: Vec<String> = match &line {
        // a command line as a shell would split it (quotes, backslashes), as handbooks give it
        Value::String(s) => crate::ipvsadm::words::shell_words(&s.to_string_lossy())
            .map_err(|e| mlua::Error::runtime(format!("ipvsadm: {e}")))?,
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
    // only through a director already open: opening one here would word a missing IPVS
    // the director's way, where the emulation words it as ipvsadm does (it opens its own)
    let open = with_slot(&lua, |slot| slot.is_some())?;
    let held = if writes && open {
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
