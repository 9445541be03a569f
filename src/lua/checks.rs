//! `lvs.check.*` (run a check now, or describe one for a monitor), and the async primitives
//! Lua checks are written with: `lvs.net.connect`, `lvs.http.get`.

use std::net::SocketAddr;
use std::time::Instant;

use mlua::{AnyUserData, Function, Lua, MetaMethod, MultiValue, Table, UserData, UserDataMethods, Value};

use super::args::{Fields, show, spec_err, to_int};
use crate::check::spec::{self, CheckSpec, Cmd, Kind, Template};
use crate::check::{Matcher, Outcome};
use crate::model::spec::bad;

/// Lua patterns for `body=` and `expect=`, matched by Lua's own string.find.
pub struct LuaMatcher(pub Lua);

impl Matcher for LuaMatcher {
    fn matches(&self, pattern: &str, subject: &[u8]) -> Result<bool, String> {
        let find = || -> mlua::Result<bool> {
            let string: Table = self.0.globals().get("string")?;
            let find: Function = string.get("find")?;
            let s = self.0.create_string(subject)?;
            let v: Value = find.call((s, pattern))?;
            Ok(!v.is_nil())
        };
        find().map_err(|e| super::describe_error(&Value::Error(Box::new(e))))
    }
}

impl UserData for Template {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_async_meta_function(
            MetaMethod::Call,
            |lua, (ud, target): (AnyUserData, Value)| async move {
                let t = ud.borrow::<Template>()?.clone();
                let server = match (t.unaimed(), &target) {
                    (Some(nowhere), Value::Nil) => nowhere,
                    _ => server_addr(&t, &target)?,
                };
                let out = t.aim(server).run(&LuaMatcher(lua.clone()), Instant::now()).await;
                results(&lua, &out)
            },
        );
        m.add_meta_method(MetaMethod::ToString, |_, t, ()| Ok(format!("check {}", t.kind())));
        m.add_method("kind", |_, t, ()| Ok(t.kind()));
    }
}

/// A server to check: "192.0.2.1:80", or a server table ({addr = ...}) as lvs returns them.
fn server_addr(t: &Template, v: &Value) -> mlua::Result<SocketAddr> {
    let text = match v {
        Value::String(s) => s.to_string_lossy(),
        Value::Table(t) => t.get::<String>("addr")?,
        other => {
            return Err(spec_err(bad(
                "server",
                show(other),
                "must be \"ip:port\" or a server table",
            )));
        }
    };
    t.server(&text).map_err(spec_err)
}

pub fn results(lua: &Lua, o: &Outcome) -> mlua::Result<MultiValue> {
    let mut out = MultiValue::new();
    out.push_back(Value::Boolean(o.ok));
    out.push_back(Value::String(lua.create_string(&o.detail)?));
    out.push_back(Value::Number((o.latency_ms() * 1000.0).round() / 1000.0));
    if let Some(w) = o.weight {
        out.push_back(Value::Integer(i64::from(w)));
    }
    Ok(out)
}

/// The fields of `lvs.check.<kind>{...}`, read into a spec.
fn read(kind: Kind, t: Table) -> mlua::Result<CheckSpec> {
    let f = Fields::new(t, &format!("check.{}", kind.name()), kind.fields(), &[])?;
    let mut s = CheckSpec::new(kind);
    s.timeout = f.seconds("timeout")?;
    s.port = f.int("port")?;
    s.addr = f.string("addr")?;
    s.tls = f.bool("tls")?;
    s.path = f.string("path")?;
    s.host = f.string("host")?;
    s.body = f.string("body")?;
    s.max_body = f.int("max_body")?;
    s.status = match f.raw("status")? {
        Value::Nil => None,
        Value::Table(list) => Some(
            list.sequence_values::<Value>()
                .map(|x| x.and_then(status_code))
                .collect::<mlua::Result<_>>()?,
        ),
        other => Some(vec![status_code(other)?]),
    };
    if let Value::Table(hs) = f.raw("headers")? {
        for pair in hs.pairs::<String, String>() {
            s.headers.push(pair?);
        }
    }
    s.send = match f.raw("send")? {
        Value::Nil => None,
        Value::String(b) => Some(b.as_bytes().to_vec()),
        other => return Err(spec_err(bad("send", show(&other), spec::SEND_MUST))),
    };
    s.expect = f.string("expect")?;
    s.name = f.string("name")?;
    s.rtype = f.string("type")?;
    s.cmd = match f.raw("cmd")? {
        Value::Nil => None,
        Value::String(c) => Some(Cmd::Shell(c.to_string_lossy())),
        _ => Some(Cmd::List(f.strings("cmd")?.unwrap_or_default())),
    };
    Ok(s)
}

/// A status code's type; its range is the spec's to check.
fn status_code(v: Value) -> mlua::Result<i64> {
    match to_int("status", v.clone())? {
        Some(n) => Ok(n),
        None => Err(spec_err(bad(
            "status",
            show(&v),
            "must be an HTTP status (100..599) or a list of them",
        ))),
    }
}

fn check_fn(lua: &Lua, kind: Kind) -> mlua::Result<Function> {
    lua.create_async_function(move |lua, t: Table| async move {
        let (tpl, target) = spec::build(&read(kind, t)?).map_err(spec_err)?;
        match target {
            None => Ok(MultiValue::from_iter([Value::UserData(
                lua.create_userdata(tpl)?,
            )])),
            Some(to) => {
                let out = tpl.aim(to).run(&LuaMatcher(lua.clone()), Instant::now()).await;
                results(&lua, &out)
            }
        }
    })
}

/// `check = lvs.check.http{...}` or `"tcp"`/`"http"`: a built-in check; a function is the
/// caller's to take (`None`).
pub fn builtin(v: &Value) -> mlua::Result<Option<Template>> {
    match v {
        Value::UserData(ud) => Ok(Some(ud.borrow::<Template>()?.clone())),
        Value::String(s) => match Kind::parse(&s.to_string_lossy()) {
            Some(k @ (Kind::Tcp | Kind::Http)) => {
                Ok(Some(spec::build(&CheckSpec::new(k)).map_err(spec_err)?.0))
            }
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    let t = lua.create_table()?;
    for kind in Kind::ALL {
        t.set(kind.name(), check_fn(lua, kind)?)?;
    }
    lvs.set("check", t)?;
    super::net::register(lua, lvs)
}
