//! `lvs.check.*` (run a check now, or describe one for a monitor), and the async primitives
//! Lua checks are written with: `lvs.net.connect`, `lvs.http.get`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mlua::{AnyUserData, Function, Lua, MetaMethod, MultiValue, Table, UserData, UserDataMethods, Value};

use super::args::{Fields, show, spec_err};
use crate::check::{self, Check, Matcher, Outcome};
use crate::model::spec::{bad, parse_endpoint};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

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

/// A check without its target: what `lvs.check.http{path="/health"}` gives, and what a
/// monitor aims at each of its servers.
#[derive(Clone, Debug)]
pub struct Template {
    check: Check,
    port: Option<u16>,
    /// The timeout was given: a monitor's own `timeout` does not replace it.
    timeout_set: bool,
}

impl Template {
    pub fn kind(&self) -> &'static str {
        self.check.kind()
    }

    pub fn with_default_timeout(&self, t: Duration) -> Template {
        let mut out = self.clone();
        if !out.timeout_set {
            out.check.set_timeout(t);
        }
        out
    }

    /// The check of real server `server` (on the check's own port if it names one).
    pub fn aim(&self, server: SocketAddr) -> Check {
        self.check.aimed_at(check::target(server, self.port))
    }
}

impl UserData for Template {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_async_meta_function(
            MetaMethod::Call,
            |lua, (ud, target): (AnyUserData, Value)| async move {
                let t = ud.borrow::<Template>()?.clone();
                let server = match (&t.check, &target) {
                    (Check::Exec(_), Value::Nil) => PLACEHOLDER,
                    _ => server_addr(&target, t.port)?,
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
fn server_addr(v: &Value, port: Option<u16>) -> mlua::Result<SocketAddr> {
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
    let (ip, p) = parse_endpoint("server", &text).map_err(spec_err)?;
    match p.or(port) {
        Some(p) => Ok(SocketAddr::new(ip, p)),
        None => Err(spec_err(bad("server", &text, "needs a port"))),
    }
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

const PLACEHOLDER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

fn parse(kind: &str, t: Table) -> mlua::Result<(Template, Option<SocketAddr>)> {
    let allowed: &[&str] = match kind {
        "tcp" => &["addr", "port", "timeout"],
        "http" => &[
            "addr", "port", "timeout", "path", "host", "status", "body", "tls", "headers", "max_body",
        ],
        "udp" => &["addr", "port", "timeout", "send", "expect"],
        "dns" => &["addr", "port", "timeout", "name", "type"],
        _ => &["addr", "port", "timeout", "cmd"],
    };
    let f = Fields::new(t, &format!("check.{kind}"), allowed, &[])?;
    let timeout = f.seconds("timeout")?;
    let port = match f.int("port")? {
        None => None,
        Some(p) if (1..=65535).contains(&p) => Some(p as u16),
        Some(p) => return Err(spec_err(bad("port", p, "must be from 1 to 65535"))),
    };
    let default_port = match kind {
        "dns" => Some(53),
        "http" if f.bool("tls")? == Some(true) => Some(443),
        "http" => Some(80),
        _ => None,
    };
    let target = match f.string("addr")? {
        None => None,
        Some(a) => {
            let (ip, p) = parse_endpoint("addr", &a).map_err(spec_err)?;
            match p.or(port).or(default_port) {
                Some(p) => Some(SocketAddr::new(ip, p)),
                None if kind == "exec" => Some(SocketAddr::new(ip, 0)),
                None => return Err(spec_err(bad("addr", &a, "needs a port (\"ip:port\")"))),
            }
        }
    };
    let to = timeout.unwrap_or(DEFAULT_TIMEOUT);
    let check = match kind {
        "tcp" => Check::Tcp(check::Tcp {
            addr: PLACEHOLDER,
            timeout: to,
        }),
        "http" => {
            let mut h = check::Http::new(PLACEHOLDER);
            h.timeout = to;
            if let Some(p) = f.string("path")? {
                h.path = p;
            }
            h.host = f.string("host")?;
            h.body = f.string("body")?;
            h.tls = f.bool("tls")?.unwrap_or(false);
            if let Some(m) = f.int("max_body")? {
                h.max_body =
                    usize::try_from(m).map_err(|_| spec_err(bad("max_body", m, "must be 0 or more")))?;
            }
            h.status = match f.raw("status")? {
                Value::Nil => vec![200],
                Value::Table(list) => {
                    let mut v = Vec::new();
                    for x in list.sequence_values::<Value>() {
                        v.push(status_code(x?)?);
                    }
                    v
                }
                other => vec![status_code(other)?],
            };
            if let Value::Table(hs) = f.raw("headers")? {
                for pair in hs.pairs::<String, String>() {
                    h.headers.push(pair?);
                }
                h.headers.sort();
            }
            Check::Http(h)
        }
        "udp" => Check::Udp(check::Udp {
            addr: PLACEHOLDER,
            send: match f.raw("send")? {
                Value::String(s) => s.as_bytes().to_vec(),
                other => {
                    return Err(spec_err(bad(
                        "send",
                        show(&other),
                        "must be the datagram to send (a string)",
                    )));
                }
            },
            expect: f.string("expect")?,
            timeout: to,
        }),
        "dns" => {
            let d = check::Dns {
                addr: PLACEHOLDER,
                name: f
                    .string("name")?
                    .ok_or_else(|| spec_err(bad("name", "nil", "the name to ask for")))?,
                rtype: f.string("type")?.unwrap_or_else(|| "A".into()),
                timeout: to,
            };
            d.query(0).map_err(|e| spec_err(bad("check.dns", &d.name, e)))?;
            Check::Dns(d)
        }
        _ => {
            let argv = f.strings("cmd")?.unwrap_or_default();
            if argv.is_empty() || f.raw("cmd")?.is_string() {
                return Err(spec_err(bad(
                    "cmd",
                    show(&f.raw("cmd")?),
                    "must be a list: the program and its arguments ({\"/usr/lib/check\", \"{ip}\"}), never a shell string",
                )));
            }
            Check::Exec(check::Exec { argv, timeout: to })
        }
    };
    let tpl = Template {
        check,
        port,
        timeout_set: timeout.is_some(),
    };
    Ok((tpl, target))
}

fn status_code(v: Value) -> mlua::Result<u16> {
    match super::args::to_int("status", v.clone())? {
        Some(n) if (100..=599).contains(&n) => Ok(n as u16),
        _ => Err(spec_err(bad(
            "status",
            show(&v),
            "must be an HTTP status (100..599) or a list of them",
        ))),
    }
}

fn check_fn(lua: &Lua, kind: &'static str) -> mlua::Result<Function> {
    lua.create_async_function(move |lua, t: Table| async move {
        let (tpl, mut target) = parse(kind, t)?;
        if let Check::Exec(e) = &tpl.check {
            // A command that names no server runs now; one with {ip}/{port}/{addr} waits for one.
            let aimed = e
                .argv
                .iter()
                .any(|a| a.contains("{ip}") || a.contains("{port}") || a.contains("{addr}"));
            if !aimed {
                target = target.or(Some(PLACEHOLDER));
            }
        }
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

/// What a monitor's `check=` may be.
#[derive(Clone, Debug)]
pub enum Probe {
    Builtin(Template),
    Lua(Function),
}

/// `check = lvs.check.http{...}`, `"tcp"`, a function, or a list of those.
pub fn probes(lua: &Lua, v: Value) -> mlua::Result<Vec<Probe>> {
    let one = |v: Value| -> mlua::Result<Probe> {
        match v {
            Value::UserData(ud) => Ok(Probe::Builtin(ud.borrow::<Template>()?.clone())),
            Value::Function(f) => Ok(Probe::Lua(f)),
            Value::String(s) if ["tcp", "http"].contains(&s.to_string_lossy().as_str()) => Ok(
                Probe::Builtin(parse(&s.to_string_lossy(), lua.create_table()?)?.0),
            ),
            other => Err(spec_err(bad(
                "check",
                show(&other),
                "must be a check (lvs.check.http{...}), \"tcp\", \"http\", a function(server), or a list of them",
            ))),
        }
    };
    match v {
        Value::Table(t) if t.raw_len() > 0 => t.sequence_values::<Value>().map(|x| x.and_then(one)).collect(),
        Value::Nil => Err(spec_err(bad("check", "nil", "a monitor needs a check"))),
        other => Ok(vec![one(other)?]),
    }
}

/// A monitor's check aimed at one server.
#[derive(Clone, Debug)]
pub enum Aimed {
    Check(Check),
    Lua(Function),
}

impl Probe {
    /// The check of `server`, with the monitor's timeout where the check sets none.
    pub fn aim(&self, server: SocketAddr, timeout: Duration) -> Aimed {
        match self {
            Probe::Builtin(t) => Aimed::Check(t.with_default_timeout(timeout).aim(server)),
            Probe::Lua(f) => Aimed::Lua(f.clone()),
        }
    }
}

/// Runs one probe of a monitor against a server; a Lua check that raises, returns garbage or
/// overruns is a failure that says so.
pub async fn run_probe(
    lua: &Lua,
    probe: &Aimed,
    server: SocketAddr,
    weight: u32,
    timeout: Duration,
    started: Instant,
) -> Outcome {
    match probe {
        Aimed::Check(c) => c.run(&LuaMatcher(lua.clone()), started).await,
        Aimed::Lua(f) => {
            let arg = match server_table(lua, server, weight) {
                Ok(t) => t,
                Err(e) => return Outcome::down(e.to_string(), started),
            };
            check::within(timeout, started, async {
                match f.call_async::<MultiValue>(arg).await {
                    Ok(vals) => lua_verdict(vals, started),
                    Err(e) => Outcome::down(
                        format!(
                            "check raised: {}",
                            super::describe_error(&Value::Error(Box::new(e)))
                        ),
                        started,
                    ),
                }
            })
            .await
        }
    }
}

fn server_table(lua: &Lua, s: SocketAddr, weight: u32) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("addr", s.to_string())?;
    t.set("ip", s.ip().to_string())?;
    t.set("port", s.port())?;
    t.set("weight", weight)?;
    Ok(t)
}

fn lua_verdict(vals: MultiValue, started: Instant) -> Outcome {
    let mut it = vals.into_iter();
    let first = it.next().unwrap_or(Value::Nil);
    let detail = match it.next() {
        Some(Value::String(s)) => s.to_string_lossy(),
        Some(Value::Nil) | None => String::new(),
        Some(other) => other.to_string().unwrap_or_default(),
    };
    match first {
        Value::Boolean(true) => Outcome::up(if detail.is_empty() { "ok".into() } else { detail }, started),
        Value::Boolean(false) => Outcome::down(
            if detail.is_empty() {
                "failed".into()
            } else {
                detail
            },
            started,
        ),
        other => Outcome::down(
            format!(
                "check returned {} ({}), not true or false",
                show(&other),
                other.type_name()
            ),
            started,
        ),
    }
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    let t = lua.create_table()?;
    for kind in ["tcp", "http", "udp", "dns", "exec"] {
        t.set(kind, check_fn(lua, kind)?)?;
    }
    lvs.set("check", t)?;
    super::net::register(lua, lvs)
}
