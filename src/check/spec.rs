//! A check as a caller describes it (`lvs.check.http{path="/health"}`), checked for sense
//! before anything runs: ports in range, the fields each kind needs, a DNS query that can be
//! built, a program given as argv. What comes out is a [`Template`]: the check without its
//! target, which a monitor aims at each of its servers.

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::udp::Reply;
use super::{Check, Dns, Exec, File, Http, Ping, Smtp, Tcp, Udp};
use crate::model::SpecError;
use crate::model::input::{self, Args, Value, to_int};
use crate::model::spec::{bad, parse_endpoint};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The target of a check made before it knows its server; aiming replaces it.
pub const PLACEHOLDER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// Why `send` is refused; shared with callers that refuse a value of the wrong type.
pub const SEND_MUST: &str = "must be the datagram to send (a string)";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    #[default]
    Tcp,
    Http,
    Udp,
    Dns,
    Exec,
    Smtp,
    Ping,
    File,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Tcp,
        Kind::Http,
        Kind::Udp,
        Kind::Dns,
        Kind::Exec,
        Kind::Smtp,
        Kind::Ping,
        Kind::File,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Tcp => "tcp",
            Kind::Http => "http",
            Kind::Udp => "udp",
            Kind::Dns => "dns",
            Kind::Exec => "exec",
            Kind::Smtp => "smtp",
            Kind::Ping => "ping",
            Kind::File => "file",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The fields a check of this kind takes (`type` is the DNS record type).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Tcp => &["addr", "port", "timeout", "half_open"],
            Kind::Http => &[
                "addr",
                "port",
                "timeout",
                "path",
                "host",
                "status",
                "body",
                "digest",
                "regex",
                "regex_no_match",
                "tls",
                "headers",
                "max_body",
            ],
            Kind::Udp => &[
                "addr",
                "port",
                "timeout",
                "send",
                "expect",
                "expect_hex",
                "min_reply",
                "max_reply",
                "silence_ok",
            ],
            Kind::Dns => &["addr", "port", "timeout", "name", "type"],
            Kind::Exec => &["addr", "port", "timeout", "cmd"],
            Kind::Smtp => &["addr", "port", "timeout", "helo"],
            Kind::Ping => &["addr", "timeout"],
            Kind::File => &["path", "weight", "reverse", "base", "timeout"],
        }
    }
}

/// An exec check's program: an argv list, or the shell string it must never be.
#[derive(Clone, Debug, PartialEq)]
pub enum Cmd {
    List(Vec<String>),
    Shell(String),
}

/// The fields of a check, as given (types already read; sense not yet checked).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckSpec {
    pub kind: Kind,
    pub addr: Option<String>,
    pub port: Option<i64>,
    pub timeout: Option<Duration>,
    pub path: Option<String>,
    pub host: Option<String>,
    pub status: Option<Vec<i64>>,
    pub body: Option<String>,
    pub digest: Option<String>,
    pub regex: Option<String>,
    pub regex_no_match: Option<bool>,
    pub tls: Option<bool>,
    pub half_open: Option<bool>,
    pub headers: Vec<(String, String)>,
    pub max_body: Option<i64>,
    pub send: Option<Vec<u8>>,
    pub expect: Option<String>,
    pub expect_hex: Option<String>,
    pub min_reply: Option<i64>,
    pub max_reply: Option<i64>,
    pub silence_ok: Option<bool>,
    pub name: Option<String>,
    pub rtype: Option<String>,
    pub cmd: Option<Cmd>,
    pub helo: Option<String>,
    pub weight: Option<i64>,
    pub reverse: Option<bool>,
    pub base: Option<i64>,
}

impl CheckSpec {
    pub fn new(kind: Kind) -> CheckSpec {
        CheckSpec {
            kind,
            ..CheckSpec::default()
        }
    }
}

impl CheckSpec {
    /// The fields of `lvs.check.<kind>{...}` as a script gives them.
    pub fn read(kind: Kind, v: &Value) -> Result<CheckSpec, SpecError> {
        let f = Args::of(
            &format!("check.{}", kind.name()),
            v,
            kind.fields(),
            &[],
            "must be a table of the check's settings",
        )?;
        let status = |v: &Value| match to_int("status", v)? {
            Some(n) => Ok(n),
            None => Err(input::bad(
                "status",
                v,
                "must be an HTTP status (100..599) or a list of them",
            )),
        };
        let mut s = CheckSpec::new(kind);
        s.timeout = f.seconds("timeout")?;
        s.port = f.int("port")?;
        s.addr = f.string("addr")?;
        s.tls = f.bool("tls")?;
        s.half_open = f.bool("half_open")?;
        s.path = f.string("path")?;
        s.host = f.string("host")?;
        s.body = f.string("body")?;
        s.digest = f.string("digest")?;
        s.regex = f.string("regex")?;
        s.regex_no_match = f.bool("regex_no_match")?;
        s.max_body = f.int("max_body")?;
        s.status = match f.raw("status") {
            Value::Nil => None,
            Value::List(list) => Some(list.iter().map(status).collect::<Result<_, _>>()?),
            other => Some(vec![status(other)?]),
        };
        s.headers = crate::model::input::read_headers(f.raw("headers"))?;
        s.send = match f.raw("send") {
            Value::Nil => None,
            Value::Str(t) => Some(t.as_bytes().to_vec()),
            Value::Bytes(b) => Some(b.clone()),
            other => return Err(input::bad("send", other, SEND_MUST)),
        };
        s.expect = f.string("expect")?;
        s.expect_hex = f.string("expect_hex")?;
        s.min_reply = f.int("min_reply")?;
        s.max_reply = f.int("max_reply")?;
        s.silence_ok = f.bool("silence_ok")?;
        s.name = f.string("name")?;
        s.rtype = f.string("type")?;
        s.helo = f.string("helo")?;
        s.weight = f.int("weight")?;
        s.reverse = f.bool("reverse")?;
        s.base = f.int("base")?;
        s.cmd = match f.raw("cmd") {
            Value::Nil => None,
            v @ (Value::Str(_) | Value::Bytes(_)) => Some(Cmd::Shell(v.text().unwrap_or_default())),
            _ => Some(Cmd::List(f.strings("cmd")?.unwrap_or_default())),
        };
        Ok(s)
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

    /// The target when the caller names none: an exec or file check may run without a
    /// server.
    pub fn unaimed(&self) -> Option<SocketAddr> {
        matches!(self.check, Check::Exec(_) | Check::File(_)).then_some(PLACEHOLDER)
    }

    /// The server named `text` ("ip:port", or "ip" when the check names its port).
    pub fn server(&self, text: &str) -> Result<SocketAddr, SpecError> {
        let (ip, p) = parse_endpoint("server", text)?;
        match p.or(self.port) {
            Some(p) => Ok(SocketAddr::new(ip, p)),
            None => Err(bad("server", text, "needs a port")),
        }
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
        self.check.aimed_at(super::target(server, self.port))
    }
}

/// Checks `s` and makes its template, with the target to run it at now when there is one:
/// the `addr` given, or for a program that names no server ({ip}, {port}, {addr}), none.
pub fn build(s: &CheckSpec) -> Result<(Template, Option<SocketAddr>), SpecError> {
    let port = match s.port {
        None => None,
        Some(p) if (1..=65535).contains(&p) => Some(p as u16),
        Some(p) => return Err(bad("port", p, "must be from 1 to 65535")),
    };
    let default_port = match s.kind {
        Kind::Dns => Some(53),
        Kind::Smtp => Some(25),
        // ICMP has no port; an address alone is the whole target
        Kind::Ping => Some(0),
        Kind::Http if s.tls == Some(true) => Some(443),
        Kind::Http => Some(80),
        _ => None,
    };
    let mut target = match &s.addr {
        None => None,
        Some(a) => {
            let (ip, p) = parse_endpoint("addr", a)?;
            match p.or(port).or(default_port) {
                Some(p) => Some(SocketAddr::new(ip, p)),
                None if s.kind == Kind::Exec => Some(SocketAddr::new(ip, 0)),
                None => return Err(bad("addr", a, "needs a port (\"ip:port\")")),
            }
        }
    };
    let to = s.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let check = match s.kind {
        Kind::Tcp => Check::Tcp(Tcp {
            addr: PLACEHOLDER,
            timeout: to,
            half_open: s.half_open.unwrap_or(false),
        }),
        Kind::Http => Check::Http(Box::new(http(s, to)?)),
        Kind::Smtp => Check::Smtp(Box::new(Smtp {
            addr: PLACEHOLDER,
            // keepalived's default HELO name
            helo: s
                .helo
                .clone()
                .unwrap_or_else(|| "smtpchecker.keepalived.org".into()),
            timeout: to,
        })),
        Kind::File => {
            // a file names no server: it is read now
            target = target.or(Some(PLACEHOLDER));
            Check::File(Box::new(File {
                path: s
                    .path
                    .clone()
                    .ok_or_else(|| bad("path", "nil", "the file to read"))?,
                weight: match s.weight {
                    Some(w) if w.unsigned_abs() <= i32::MAX as u64 => w,
                    Some(w) => return Err(bad("weight", w, "must be from -2147483647 to 2147483647")),
                    None => 1,
                },
                reverse: s.reverse.unwrap_or(false),
                base: match s.base {
                    Some(b) if (0..=i64::from(i32::MAX)).contains(&b) => b as u32,
                    Some(b) => return Err(bad("base", b, "must be from 0 to 2147483647")),
                    None => 0,
                },
                timeout: to,
            }))
        }
        Kind::Ping => Check::Ping(Ping {
            addr: PLACEHOLDER,
            timeout: to,
        }),
        Kind::Udp => Check::Udp(Box::new(Udp {
            addr: PLACEHOLDER,
            send: s.send.clone().ok_or_else(|| bad("send", "nil", SEND_MUST))?,
            reply: reply(s)?,
            silence_ok: s.silence_ok.unwrap_or(false),
            timeout: to,
        })),
        Kind::Dns => {
            let d = Dns {
                addr: PLACEHOLDER,
                name: s
                    .name
                    .clone()
                    .ok_or_else(|| bad("name", "nil", "the name to ask for"))?,
                rtype: s.rtype.clone().unwrap_or_else(|| "A".into()),
                timeout: to,
            };
            d.query(0).map_err(|e| bad("check.dns", &d.name, e))?;
            Check::Dns(Box::new(d))
        }
        Kind::Exec => {
            let argv = match &s.cmd {
                Some(Cmd::List(argv)) if !argv.is_empty() => argv.clone(),
                other => {
                    let shown = match other {
                        None => "nil".to_string(),
                        Some(Cmd::Shell(s)) => format!("\"{s}\""),
                        Some(Cmd::List(_)) => "(table)".to_string(),
                    };
                    return Err(bad(
                        "cmd",
                        shown,
                        "must be a list: the program and its arguments ({\"/usr/lib/check\", \"{ip}\"}), never a shell string",
                    ));
                }
            };
            let aimed = argv
                .iter()
                .any(|a| a.contains("{ip}") || a.contains("{port}") || a.contains("{addr}"));
            if !aimed {
                target = target.or(Some(PLACEHOLDER));
            }
            Check::Exec(Exec { argv, timeout: to })
        }
    };
    let tpl = Template {
        check,
        port,
        timeout_set: s.timeout.is_some(),
    };
    Ok((tpl, target))
}

fn http(s: &CheckSpec, timeout: Duration) -> Result<Http, SpecError> {
    let mut h = Http::new(PLACEHOLDER);
    h.timeout = timeout;
    if let Some(p) = &s.path {
        h.path = p.clone();
    }
    h.host = s.host.clone();
    h.body.pattern = s.body.clone();
    if let Some(d) = &s.digest {
        h.body.digest = Some(
            crate::check::body::digest_text(d)
                .ok_or_else(|| bad("digest", d, "must be an MD5 digest: 32 hex digits"))?,
        );
    }
    if let Some(r) = &s.regex {
        h.body.regex = Some(
            crate::check::body::Regex::new(r)
                .map_err(|e| bad("regex", r, format!("is not a regular expression: {e}")))?,
        );
    }
    match (s.regex_no_match, &s.regex) {
        (Some(true), None) => return Err(bad("regex_no_match", true, "needs a regex")),
        (Some(n), _) => h.body.regex_no_match = n,
        (None, _) => {}
    }
    h.tls = s.tls.unwrap_or(false);
    if let Some(m) = s.max_body {
        h.max_body = usize::try_from(m).map_err(|_| bad("max_body", m, "must be 0 or more"))?;
    }
    h.status = match &s.status {
        None => vec![200],
        Some(list) => list.iter().map(|&n| status_code(n)).collect::<Result<_, _>>()?,
    };
    h.headers = s.headers.clone();
    h.headers.sort();
    Ok(h)
}

/// How a UDP check judges its reply.
fn reply(s: &CheckSpec) -> Result<Reply, SpecError> {
    let len = |name: &str, v: Option<i64>| -> Result<Option<usize>, SpecError> {
        match v {
            None => Ok(None),
            Some(n) if (0..=65535).contains(&n) => Ok(Some(n as usize)),
            Some(n) => Err(bad(name, n, "must be a length from 0 to 65535")),
        }
    };
    let prefix = match &s.expect_hex {
        None => None,
        Some(h) => Some(crate::check::udp::hex_prefix(h).map_err(|e| bad("expect_hex", h, e))?),
    };
    Ok(Reply {
        expect: s.expect.clone(),
        prefix,
        min_len: len("min_reply", s.min_reply)?,
        max_len: len("max_reply", s.max_reply)?,
    })
}

fn status_code(n: i64) -> Result<u16, SpecError> {
    if (100..=599).contains(&n) {
        Ok(n as u16)
    } else {
        Err(bad(
            "status",
            n,
            "must be an HTTP status (100..599) or a list of them",
        ))
    }
}
