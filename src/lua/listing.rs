//! `lvs.list` and the other `lvs` functions that print: the table boxed, as ipvsadm -L -n
//! prints it, or as JSON; timeouts and sync daemons as ipvsadm shows them.

use std::io::{IsTerminal, Write};

use mlua::{Lua, Table, Value};

use super::args::{spec_err, to_value};
use super::ipvs::with_director;
use crate::ipvs::{Dest, Service};
use crate::ipvsadm::listing;
use crate::view::{self, list::ListOpts, list::Listed, list::Style};

/// Writes `text` to stdout after what Lua's io.write has buffered, or to the attached
/// client whose chunk runs now.
pub fn emit_text(text: &str) {
    if crate::runtime::client::write(crate::runtime::client::Stream::Out, text) {
        return;
    }
    super::flush_c_stdout();
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Output either printed (the default) or handed back when `print = false`.
pub fn emit(lua: &Lua, text: String, print: bool) -> mlua::Result<Value> {
    if print {
        emit_text(&text);
        Ok(Value::Nil)
    } else {
        Ok(Value::String(lua.create_string(&text)?))
    }
}

/// ipvsadm's listing of `entries`: printed a piece at a time as it is made (as ipvsadm
/// prints), or handed back whole.
fn write_listing<'a>(
    lua: &Lua,
    info: &crate::ipvs::Info,
    entries: impl Iterator<Item = (&'a Service, std::borrow::Cow<'a, [Dest]>)>,
    lines: usize,
    o: &ListOpts,
) -> mlua::Result<Value> {
    if o.print && crate::runtime::client::peer().is_some() {
        let text = listing::text(info, entries, lines, &o.format, false);
        emit_text(&text);
        return Ok(Value::Nil);
    }
    if o.print {
        super::flush_c_stdout();
        let mut stdout = std::io::stdout().lock();
        let _ = listing::write_all(info, entries, &o.format, false, &mut |piece| {
            stdout.write_all(piece.as_bytes())
        });
        let _ = stdout.flush();
        return Ok(Value::Nil);
    }
    emit(lua, listing::text(info, entries, lines, &o.format, false), false)
}

fn list(lua: &Lua, opts: Option<Value>) -> mlua::Result<Value> {
    let o = match opts {
        None | Some(Value::Nil) => ListOpts::default(),
        Some(v) => ListOpts::read(&to_value(v)?).map_err(spec_err)?,
    };
    let table = match with_director(lua, |d| view::list::read(d, &o))? {
        (info, Listed::Brief(brief)) => {
            let lines = listing::lines(&brief);
            return write_listing(lua, &info, listing::brief_entries(&brief), lines, &o);
        }
        (info, Listed::Full(table)) if o.style == Style::Ipvsadm && o.service.is_none() => {
            let entries = table.iter().map(|(s, d)| (s, std::borrow::Cow::Borrowed(&d[..])));
            return write_listing(lua, &info, entries, listing::lines(&table), &o);
        }
        (_, Listed::Full(table)) => table,
    };
    let text = match o.style {
        Style::Ipvsadm => {
            let mut out = listing::title(&o.format);
            for (s, d) in &table {
                listing::service_entry(&mut out, s, d, &o.format, false);
            }
            out
        }
        Style::Json => {
            let mut mh = std::collections::HashMap::new();
            for (s, _) in table.iter().filter(|(s, _)| s.scheduler == "mh") {
                if let Some((m, _)) = with_director(lua, |d| d.mh(&s.key))? {
                    mh.insert(s.key.clone(), m);
                }
            }
            view::list::json(&table, &mh)
        }
        Style::Table => view::services(&table, &o.format, o.print && std::io::stdout().is_terminal()),
    };
    // the table's memory is free again before Lua copies the text
    drop(table);
    emit(lua, text, o.print)
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("list", lua.create_function(list)?)?;
    lvs.set(
        "show_timeouts",
        lua.create_function(|lua, ()| {
            let t = with_director(lua, |d| d.timeouts())?;
            emit(lua, listing::timeout_line(&t), true)
        })?,
    )?;
    lvs.set(
        "show_daemons",
        lua.create_function(|lua, ()| {
            let d = with_director(lua, |d| d.daemons())?;
            emit(lua, listing::daemon_lines(&d), true)
        })?,
    )?;
    Ok(())
}
