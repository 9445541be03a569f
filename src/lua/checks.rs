//! `lvs.check.*` (run a check now, or describe one for a monitor), and the async primitives
//! Lua checks are written with: `lvs.net.connect`, `lvs.http.get`.

use std::net::SocketAddr;
use std::time::Instant;

use mlua::{AnyUserData, Function, Lua, MetaMethod, MultiValue, Table, UserData, UserDataMethods, Value};

use super::args::{show, spec_err, to_value};
use crate::check::spec::{self, CheckSpec, Kind, Template};
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
    out.push_back(Value::String(lua.create_string(o.detail.as_bytes())?));
    out.push_back(Value::Number((o.latency_ms() * 1000.0).round() / 1000.0));
    if let Some(w) = o.weight {
        out.push_back(Value::Integer(i64::from(w)));
    }
    Ok(out)
}

fn check_fn(lua: &Lua, kind: Kind) -> mlua::Result<Function> {
    lua.create_async_function(move |lua, t: Value| async move {
        let (tpl, target) =
            spec::build(&CheckSpec::read(kind, &to_value(t)?).map_err(spec_err)?).map_err(spec_err)?;
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
