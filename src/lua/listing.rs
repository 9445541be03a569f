//! `lvs.list` and the other `lvs` functions that print: the table boxed, as ipvsadm -L -n
//! prints it, or as JSON; timeouts and sync daemons as ipvsadm shows them.

use std::io::{IsTerminal, Write};

use mlua::{Lua, LuaSerdeExt, Table, Value};

use super::args::{Fields, bad};
use super::convert::{service_key, service_table};
use super::ipvs::{with_client, with_director};
use crate::ipvs::{Dest, Error, Service};
use crate::ipvsadm::args::Format;
use crate::ipvsadm::listing;
use crate::model::order;

/// Writes `text` to stdout after what Lua's io.write has buffered.
pub fn emit_text(text: &str) {
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

struct ListOpts {
    format: Format,
    style: String,
    service: Option<Value>,
    print: bool,
}

impl ListOpts {
    /// Whether the listing shows no more than method, weight and connection counts.
    fn brief(&self) -> bool {
        let f = &self.format;
        self.style != "json" && !(f.stats || f.rate || f.thresholds || f.persistent_conn || f.tun_info)
    }
}

fn list_opts(v: Option<Table>) -> mlua::Result<ListOpts> {
    let mut o = ListOpts {
        format: Format {
            numeric: true,
            ..Default::default()
        },
        style: "table".into(),
        service: None,
        print: true,
    };
    let Some(t) = v else { return Ok(o) };
    let f = Fields::new(
        t,
        "list options",
        &[
            "stats",
            "rate",
            "thresholds",
            "persistent_conn",
            "tun_info",
            "exact",
            "sort",
            "names",
            "service",
            "format",
            "print",
        ],
        &[],
    )?;
    let flag = |name: &str| f.bool(name).map(|b| b.unwrap_or(false));
    o.format.stats = flag("stats")?;
    o.format.rate = flag("rate")?;
    o.format.thresholds = flag("thresholds")?;
    o.format.persistent_conn = flag("persistent_conn")?;
    o.format.tun_info = flag("tun_info")?;
    o.format.exact = flag("exact")?;
    o.format.nosort = f.bool("sort")? == Some(false);
    o.format.numeric = !flag("names")?;
    o.print = f.bool("print")?.unwrap_or(true);
    if let Some(style) = f.string("format")? {
        if !["table", "ipvsadm", "json"].contains(&style.as_str()) {
            return Err(bad(
                "format",
                &f.raw("format")?,
                "expected \"table\", \"ipvsadm\" or \"json\"",
            ));
        }
        o.style = style;
    }
    o.service = match f.raw("service")? {
        Value::Nil => None,
        v => Some(v),
    };
    Ok(o)
}

/// What a listing read: whole real servers, or (ipvsadm's default format) what it shows.
enum Listed {
    Full(crate::ipvs::ServiceTable),
    Brief(crate::ipvs::BriefTable),
}

fn read_for_list(lua: &Lua, o: &ListOpts) -> mlua::Result<(crate::ipvs::Info, Listed)> {
    let key = o.service.clone().map(service_key).transpose()?;
    with_client(lua, |c| {
        let info = c.info()?;
        if key.is_none() && o.brief() && o.style == "ipvsadm" {
            let mut table = c.services_brief()?;
            if !o.format.nosort {
                order::sort_brief(&mut table);
            }
            return Ok((info, Listed::Brief(table)));
        }
        let mut table = match &key {
            Some(k) => match c.service(k)? {
                Some(s) => vec![(s, c.dests(k)?)],
                None => {
                    return Err(Error::Kernel {
                        errno: nix::libc::ESRCH,
                        message: format!("no such service: {k}"),
                    });
                }
            },
            None if o.brief() => c
                .services_brief()?
                .into_iter()
                .map(|(s, d)| (s, d.iter().map(|b| b.dest()).collect()))
                .collect(),
            None => c.services()?,
        };
        if !o.format.nosort {
            order::sort_table(&mut table);
        }
        Ok((info, Listed::Full(table)))
    })
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

fn list(lua: &Lua, opts: Option<Table>) -> mlua::Result<Value> {
    let o = list_opts(opts)?;
    let table = match read_for_list(lua, &o)? {
        (info, Listed::Brief(brief)) => {
            let lines = listing::lines(&brief);
            return write_listing(lua, &info, listing::brief_entries(&brief), lines, &o);
        }
        (info, Listed::Full(table)) if o.style == "ipvsadm" && o.service.is_none() => {
            let entries = table.iter().map(|(s, d)| (s, std::borrow::Cow::Borrowed(&d[..])));
            return write_listing(lua, &info, entries, listing::lines(&table), &o);
        }
        (_, Listed::Full(table)) => table,
    };
    let text = match o.style.as_str() {
        "ipvsadm" if o.service.is_some() => {
            let mut out = listing::title(&o.format);
            for (s, d) in &table {
                listing::service_entry(&mut out, s, d, &o.format, false);
            }
            out
        }
        "json" => {
            let list = lua.create_table()?;
            list.set_metatable(Some(lua.array_metatable()))?;
            for (s, d) in &table {
                let t = service_table(lua, s, d)?;
                // lists stay JSON arrays even when empty
                t.get::<Table>("servers")?
                    .set_metatable(Some(lua.array_metatable()))?;
                list.push(t)?;
            }
            // through serde_json's own map, so keys come out sorted
            let v = serde_json::to_value(Value::Table(list)).map_err(mlua::Error::external)?;
            serde_json::to_string_pretty(&v).map_err(mlua::Error::external)? + "\n"
        }
        _ => crate::view::services(&table, &o.format, o.print && std::io::stdout().is_terminal()),
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
