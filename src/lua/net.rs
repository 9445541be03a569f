//! Async network primitives for checks written in Lua: `lvs.net.connect` (a TCP connection
//! with send/receive) and `lvs.http.get`. Reads are bounded and every wait has a timeout.

use std::rc::Rc;
use std::time::Duration;

use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::args::{Fields, show, spec_err};
use crate::check::http::{builder, reason};
use crate::check::tcp::io_reason;
use crate::model::spec::{bad, parse_endpoint};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most one receive returns (and the most a line may be).
const MAX_READ: usize = 1024 * 1024;

pub struct Conn {
    stream: Rc<Mutex<Option<BufReader<TcpStream>>>>,
    timeout: Duration,
}

fn closed() -> mlua::Error {
    mlua::Error::runtime("connection is closed")
}

async fn timed<T>(
    t: Duration,
    what: &str,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> mlua::Result<T> {
    match tokio::time::timeout(t, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(mlua::Error::runtime(format!("{what}: {}", io_reason(&e)))),
        Err(_) => Err(mlua::Error::runtime(format!("{what}: timed out"))),
    }
}

impl UserData for Conn {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_async_method("send", |_, this, data: mlua::LuaString| async move {
            let mut guard = this.stream.lock().await;
            let s = guard.as_mut().ok_or_else(closed)?;
            let bytes = data.as_bytes().to_vec();
            timed(this.timeout, "send", s.get_mut().write_all(&bytes)).await?;
            Ok(bytes.len())
        });
        // receive(n) reads up to n bytes (at least 1); receive("l") a line without its end;
        // receive("a") all until the peer closes (at most 1 MiB).
        m.add_async_method("receive", |lua, this, what: Option<Value>| async move {
            let mut guard = this.stream.lock().await;
            let s = guard.as_mut().ok_or_else(closed)?;
            let data = match what {
                None => read_line(s, this.timeout).await?,
                Some(Value::String(p)) if p.to_string_lossy().trim_start_matches('*') == "l" => {
                    read_line(s, this.timeout).await?
                }
                Some(Value::String(p)) if p.to_string_lossy().trim_start_matches('*') == "a" => {
                    let mut buf = Vec::new();
                    timed(
                        this.timeout,
                        "receive",
                        s.take(MAX_READ as u64).read_to_end(&mut buf),
                    )
                    .await?;
                    buf
                }
                Some(Value::Integer(n)) if n > 0 => {
                    let mut buf = vec![0u8; (n as usize).min(MAX_READ)];
                    let got = timed(this.timeout, "receive", s.read(&mut buf)).await?;
                    buf.truncate(got);
                    buf
                }
                Some(other) => {
                    return Err(spec_err(bad(
                        "receive",
                        show(&other),
                        "takes a byte count, \"l\" or \"a\"",
                    )));
                }
            };
            lua.create_string(&data)
        });
        m.add_async_method("close", |_, this, ()| async move {
            this.stream.lock().await.take();
            Ok(())
        });
    }
}

async fn read_line(s: &mut BufReader<TcpStream>, t: Duration) -> mlua::Result<Vec<u8>> {
    let mut buf = Vec::new();
    timed(
        t,
        "receive",
        (&mut *s).take(MAX_READ as u64).read_until(b'\n', &mut buf),
    )
    .await?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Ok(buf)
}

async fn connect(_: Lua, (addr, timeout): (String, Option<f64>)) -> mlua::Result<Conn> {
    let (ip, port) = parse_endpoint("addr", &addr).map_err(spec_err)?;
    let port = port.ok_or_else(|| spec_err(bad("addr", &addr, "needs a port (\"ip:port\")")))?;
    let t = match timeout {
        Some(s) => super::tasks::seconds("timeout", s)?,
        None => DEFAULT_TIMEOUT,
    };
    let to = std::net::SocketAddr::new(ip, port);
    let stream = timed(t, &format!("connect {to}"), TcpStream::connect(to)).await?;
    Ok(Conn {
        stream: Rc::new(Mutex::new(Some(BufReader::new(stream)))),
        timeout: t,
    })
}

/// `lvs.http.get(url)` or `lvs.http.get{url=, host=, headers=, timeout=, max_body=}`:
/// status, body, headers (names lower-cased).
async fn http_get(lua: Lua, v: Value) -> mlua::Result<MultiValue> {
    let (url, host, headers, timeout, max_body) = match v {
        Value::String(s) => (s.to_string_lossy(), None, Vec::new(), DEFAULT_TIMEOUT, MAX_READ),
        Value::Table(t) => {
            let f = Fields::new(
                t,
                "http.get",
                &["url", "host", "headers", "timeout", "max_body"],
                &[],
            )?;
            let url = f
                .string("url")?
                .ok_or_else(|| spec_err(bad("url", "nil", "the URL to get")))?;
            let mut headers = Vec::new();
            if let Value::Table(hs) = f.raw("headers")? {
                for pair in hs.pairs::<String, String>() {
                    headers.push(pair?);
                }
            }
            let max = f
                .int("max_body")?
                .map_or(MAX_READ, |n| n.clamp(0, MAX_READ as i64 * 64) as usize);
            (
                url,
                f.string("host")?,
                headers,
                f.seconds("timeout")?.unwrap_or(DEFAULT_TIMEOUT),
                max,
            )
        }
        other => {
            return Err(spec_err(bad(
                "http.get",
                show(&other),
                "takes a URL or {url=...}",
            )));
        }
    };
    let client = builder()
        .build()
        .map_err(|e| mlua::Error::runtime(format!("http client: {e}")))?;
    let mut req = client.get(&url).timeout(timeout);
    if let Some(h) = host {
        req = req.header(reqwest::header::HOST, h);
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut resp = req
        .send()
        .await
        .map_err(|e| mlua::Error::runtime(format!("GET {url}: {}", reason(&e))))?;
    let status = resp.status().as_u16();
    let hdrs = lua.create_table()?;
    for (k, v) in resp.headers() {
        hdrs.set(k.as_str(), String::from_utf8_lossy(v.as_bytes()).into_owned())?;
    }
    let mut body = Vec::new();
    while body.len() < max_body {
        match resp.chunk().await {
            Ok(Some(c)) => body.extend_from_slice(&c[..c.len().min(max_body - body.len())]),
            Ok(None) => break,
            Err(e) => {
                return Err(mlua::Error::runtime(format!(
                    "GET {url}: reading body: {}",
                    reason(&e)
                )));
            }
        }
    }
    Ok(MultiValue::from_iter([
        Value::Integer(i64::from(status)),
        Value::String(lua.create_string(&body)?),
        Value::Table(hdrs),
    ]))
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    let net = lua.create_table()?;
    net.set("connect", lua.create_async_function(connect)?)?;
    lvs.set("net", net)?;
    let http = lua.create_table()?;
    http.set("get", lua.create_async_function(http_get)?)?;
    lvs.set("http", http)?;
    Ok(())
}
