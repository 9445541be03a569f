//! `lvs` functions that show and move whole tables: listings (boxed, ipvsadm, JSON),
//! connections, save and restore, and ipvsadm command lines.

use std::io::{BufReader, IsTerminal, Write};

use mlua::{Lua, LuaSerdeExt, Table, Value};
use prettytable::{Cell, Row, format};

use super::args::{Fields, show, spec_err};
use super::convert::{service_key, service_table};
use super::ipvs::{with_client, with_slot};
use crate::ipvs::conns::{self, Conn};
use crate::ipvs::{Dest, Error, Service, sockaddr};
use crate::ipvsadm::args::Format;
use crate::ipvsadm::{exec, listing, rules};
use crate::model::spec::sched_flag_names;
use crate::model::{SpecError, order, txn};

fn bad(field: &str, v: &Value, reason: &str) -> mlua::Error {
    spec_err(SpecError {
        field: field.into(),
        value: show(v),
        reason: reason.into(),
    })
}

/// Output either printed (the default) or handed back when `print = false`.
fn emit(lua: &Lua, text: String, print: bool) -> mlua::Result<Value> {
    if print {
        super::flush_c_stdout();
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
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

fn boxed(table: &[(Service, Vec<Dest>)], f: &Format, colour: bool) -> String {
    let mut t = prettytable::Table::new();
    t.set_format(*format::consts::FORMAT_BOX_CHARS);
    let mut head = vec![
        "Service / real server",
        "Scheduler / method",
        "Weight",
        "Active",
        "Inactive",
    ];
    if f.thresholds {
        head.extend(["Upper", "Lower"]);
    }
    if f.persistent_conn {
        head.push("Persist");
    }
    if f.stats {
        head.extend(["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]);
    }
    if f.rate {
        head.extend(["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]);
    }
    t.set_titles(Row::new(head.iter().map(|h| Cell::new(h)).collect()));
    let num = |v: u64| {
        if f.exact {
            v.to_string()
        } else {
            let mut s = String::new();
            listing::largenum(&mut s, v, false);
            s.trim().to_string()
        }
    };
    for (svc, dests) in table {
        let mut sched = svc.scheduler.clone();
        let flags = sched_flag_names(svc.flags, &svc.scheduler);
        if !flags.is_empty() {
            sched.push_str(&format!(" ({})", flags.join(",")));
        }
        if svc.persistent() {
            sched.push_str(&format!(" persistent {}", svc.timeout));
        }
        let name = listing::service_name(
            svc,
            &Format {
                numeric: f.numeric,
                ..Default::default()
            },
        );
        let mut cells = vec![
            Cell::new(&name),
            Cell::new(&sched),
            Cell::new(""),
            Cell::new(""),
            Cell::new(""),
        ];
        let pad = head.len() - 5 - if f.stats { 5 } else { 0 } - if f.rate { 5 } else { 0 };
        cells.extend((0..pad).map(|_| Cell::new("")));
        let s = &svc.stats;
        if f.stats {
            cells.extend(
                [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes]
                    .map(|v| Cell::new(&num(v)).style_spec("r")),
            );
        }
        if f.rate {
            cells.extend(
                [s.cps, s.inpps, s.outpps, s.inbps, s.outbps].map(|v| Cell::new(&num(v)).style_spec("r")),
            );
        }
        if colour {
            cells = cells.into_iter().map(|c| c.style_spec("bFc")).collect();
        }
        t.add_row(Row::new(cells));
        for d in dests {
            let mut cells = vec![
                Cell::new(&format!("  -> {}", sockaddr(&d.addr, d.port))),
                Cell::new(&d.fwd.name()),
                Cell::new(&d.weight.to_string()).style_spec("r"),
                Cell::new(&d.active.to_string()).style_spec("r"),
                Cell::new(&d.inactive.to_string()).style_spec("r"),
            ];
            if f.thresholds {
                cells.push(Cell::new(&d.upper.to_string()).style_spec("r"));
                cells.push(Cell::new(&d.lower.to_string()).style_spec("r"));
            }
            if f.persistent_conn {
                cells.push(Cell::new(&d.persist.to_string()).style_spec("r"));
            }
            let st = &d.stats;
            if f.stats {
                cells.extend(
                    [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes]
                        .map(|v| Cell::new(&num(v)).style_spec("r")),
                );
            }
            if f.rate {
                cells.extend(
                    [st.cps, st.inpps, st.outpps, st.inbps, st.outbps]
                        .map(|v| Cell::new(&num(v)).style_spec("r")),
                );
            }
            t.add_row(Row::new(cells));
        }
    }
    t.to_string()
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
        _ => boxed(&table, &o.format, o.print && std::io::stdout().is_terminal()),
    };
    // the table's memory is free again before Lua copies the text
    drop(table);
    emit(lua, text, o.print)
}

/// Writes a file atomically: a temporary file beside it, then rename.
fn write_atomic(path: &str, text: &str) -> std::io::Result<()> {
    let p = std::path::Path::new(path);
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(p).map_err(|e| e.error)?;
    Ok(())
}

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
    let mut table = with_client(lua, |c| c.services())?;
    order::sort_table(&mut table);
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
            write_atomic(&p, &text).map_err(|e| mlua::Error::runtime(format!("cannot write {p}: {e}")))?;
            Ok(Value::Boolean(true))
        }
        None => Ok(Value::String(lua.create_string(&text)?)),
    }
}

fn restore(lua: &Lua, arg: String) -> mlua::Result<usize> {
    let looks_like_path = !arg.contains('\n') && !arg.trim_start().starts_with('-') && !arg.trim().is_empty();
    let text = if looks_like_path {
        std::fs::read_to_string(&arg)
            .map_err(|e| mlua::Error::runtime(format!("cannot read rules from {arg}: {e}")))?
    } else {
        arg
    };
    let (lines, list) = rules::parse_lines(&text).map_err(mlua::Error::external)?;
    with_client(lua, |c| {
        txn::execute_atomic(c, &list).map_err(|f| {
            let state = if f.undone {
                "nothing was changed"
            } else {
                "undoing the lines before it failed too"
            };
            Error::Kernel {
                errno: f.error.errno().unwrap_or(0),
                message: format!(
                    "restore line {}: {} ({state})",
                    lines.get(f.index).copied().unwrap_or(0),
                    f.error
                ),
            }
        })
    })?;
    Ok(list.len())
}

/// A connection filter: each given field must match (`ip` or `ip:port` for addresses).
struct ConnFilter {
    proto: Option<String>,
    state: Option<String>,
    vip: Option<String>,
    real: Option<String>,
    client: Option<String>,
}

fn conn_filter(v: Option<Table>) -> mlua::Result<(ConnFilter, Option<String>)> {
    let mut cf = ConnFilter {
        proto: None,
        state: None,
        vip: None,
        real: None,
        client: None,
    };
    let Some(t) = v else { return Ok((cf, None)) };
    let f = Fields::new(
        t,
        "connection filter",
        &["proto", "state", "vip", "real", "client", "format", "print"],
        &[],
    )?;
    cf.proto = f.string("proto")?.map(|s| s.to_ascii_uppercase());
    cf.state = f.string("state")?.map(|s| s.to_ascii_uppercase());
    cf.vip = f.string("vip")?;
    cf.real = f.string("real")?;
    cf.client = f.string("client")?;
    Ok((cf, f.string("format")?))
}

fn endpoint_matches(want: &Option<String>, (addr, port): &(std::net::IpAddr, u16)) -> bool {
    match want {
        None => true,
        Some(w) => match crate::model::spec::parse_endpoint("filter", w) {
            Ok((a, p)) => a == *addr && p.is_none_or(|p| p == *port),
            Err(_) => false,
        },
    }
}

impl ConnFilter {
    fn matches(&self, c: &Conn) -> bool {
        self.proto.as_ref().is_none_or(|p| *p == c.proto)
            && self.state.as_ref().is_none_or(|s| *s == c.state)
            && endpoint_matches(&self.vip, &c.vip)
            && endpoint_matches(&self.real, &c.real)
            && endpoint_matches(&self.client, &c.client)
    }
}

fn walk_conns(mut each: impl FnMut(Conn) -> mlua::Result<()>) -> mlua::Result<()> {
    let file = std::fs::File::open(conns::PROC_CONN).map_err(|e| {
        mlua::Error::runtime(format!(
            "cannot open {}: {e} (is ip_vs loaded?)",
            conns::PROC_CONN
        ))
    })?;
    let mut failure = None;
    conns::for_each(BufReader::with_capacity(1 << 16, file), |c| match each(c) {
        Ok(()) => true,
        Err(e) => {
            failure = Some(e);
            false
        }
    })
    .map_err(|e| mlua::Error::runtime(format!("reading {}: {e}", conns::PROC_CONN)))?;
    failure.map_or(Ok(()), Err)
}

fn connections(lua: &Lua, filter: Option<Table>) -> mlua::Result<Table> {
    let (cf, _) = conn_filter(filter)?;
    let list = lua.create_table()?;
    walk_conns(|c| {
        if cf.matches(&c) {
            let t = lua.create_table_with_capacity(0, 8)?;
            t.set("proto", c.proto.to_ascii_lowercase())?;
            t.set("client", sockaddr(&c.client.0, c.client.1))?;
            t.set("vip", sockaddr(&c.vip.0, c.vip.1))?;
            t.set("real", sockaddr(&c.real.0, c.real.1))?;
            t.set("state", c.state)?;
            t.set("expires", c.expires)?;
            if let Some(pe) = c.pe_name {
                t.set("pe_name", pe)?;
            }
            if let Some(d) = c.pe_data {
                t.set("pe_data", d)?;
            }
            list.push(t)?;
        }
        Ok(())
    })?;
    Ok(list)
}

fn list_connections(lua: &Lua, filter: Option<Table>) -> mlua::Result<Value> {
    let print = match &filter {
        Some(t) => t.raw_get::<Option<bool>>("print")?.unwrap_or(true),
        None => true,
    };
    let (cf, style) = conn_filter(filter)?;
    let text = if style.as_deref() == Some("ipvsadm") {
        let mut out = listing::conn_header(false);
        walk_conns(|c| {
            if cf.matches(&c) {
                listing::conn_row(&mut out, &c, true, false);
            }
            Ok(())
        })?;
        out
    } else {
        let mut t = prettytable::Table::new();
        t.set_format(*format::consts::FORMAT_BOX_CHARS);
        t.set_titles(Row::new(
            ["Proto", "Expires", "State", "Client", "Virtual", "Real server"]
                .map(Cell::new)
                .to_vec(),
        ));
        walk_conns(|c| {
            if cf.matches(&c) {
                t.add_row(Row::new(vec![
                    Cell::new(&c.proto),
                    Cell::new(&format!("{:02}:{:02}", c.expires / 60, c.expires % 60)),
                    Cell::new(&c.state),
                    Cell::new(&sockaddr(&c.client.0, c.client.1)),
                    Cell::new(&sockaddr(&c.vip.0, c.vip.1)),
                    Cell::new(&sockaddr(&c.real.0, c.real.1)),
                ]));
            }
            Ok(())
        })?;
        t.to_string()
    };
    emit(lua, text, print)
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

fn ipvsadm(lua: &Lua, (line, opts): (Value, Option<Table>)) -> mlua::Result<Value> {
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
    let out = run_ipvsadm(lua, &argv)?;
    if out.code != 0 {
        return Err(mlua::Error::runtime(format!(
            "ipvsadm: {}",
            out.stderr.trim_end()
        )));
    }
    emit(lua, out.stdout, print)
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("list", lua.create_function(list)?)?;
    lvs.set("save", lua.create_function(save)?)?;
    lvs.set("restore", lua.create_function(restore)?)?;
    lvs.set("connections", lua.create_function(connections)?)?;
    lvs.set("list_connections", lua.create_function(list_connections)?)?;
    lvs.set("ipvsadm", lua.create_function(ipvsadm)?)?;
    lvs.set(
        "show_timeouts",
        lua.create_function(|lua, ()| {
            let t = with_client(lua, |c| c.timeouts())?;
            emit(lua, listing::timeout_line(&t), true)
        })?,
    )?;
    lvs.set(
        "show_daemons",
        lua.create_function(|lua, ()| {
            let d = with_client(lua, |c| c.daemons())?;
            emit(lua, listing::daemon_lines(&d), true)
        })?,
    )?;
    Ok(())
}
