//! `lvs.net.connect` (a TCP connection with send/receive) and `lvs.http.get`, for checks
//! written in Lua: the Lua face of `check::net`.

use std::rc::Rc;

use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value};
use tokio::sync::Mutex;

use super::args::{bad, to_value};
use crate::check::net::{self, DEFAULT_TIMEOUT, Read};
use crate::model::spec::parse_endpoint;

pub struct Conn(Rc<Mutex<net::Conn>>);

impl UserData for Conn {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_async_method("send", |_, this, data: mlua::LuaString| async move {
            let bytes = data.as_bytes().to_vec();
            this.0
                .lock()
                .await
                .send(&bytes)
                .await
                .map_err(mlua::Error::runtime)
        });
        // receive(n) reads up to n bytes (at least 1); receive("l") a line without its end;
        // receive("a") all until the peer closes (at most 1 MiB).
        m.add_async_method("receive", |lua, this, what: Option<Value>| async move {
            let how = match &what {
                None => Read::Line,
                Some(Value::String(p)) if p.to_string_lossy().trim_start_matches('*') == "l" => Read::Line,
                Some(Value::String(p)) if p.to_string_lossy().trim_start_matches('*') == "a" => Read::All,
                Some(Value::Integer(n)) if *n > 0 => Read::Some(*n as usize),
                Some(other) => return Err(bad("receive", other, "takes a byte count, \"l\" or \"a\"")),
            };
            let data = this
                .0
                .lock()
                .await
                .receive(how)
                .await
                .map_err(mlua::Error::runtime)?;
            lua.create_string(&data)
        });
        m.add_async_method("close", |_, this, ()| async move {
            this.0.lock().await.close();
            Ok(())
        });
    }
}

async fn connect(_: Lua, (addr, timeout): (String, Option<f64>)) -> mlua::Result<Conn> {
    let (ip, port) = parse_endpoint("addr", &addr).map_err(super::args::spec_err)?;
    let Some(port) = port else {
        return Err(super::args::spec_err(crate::model::spec::bad(
            "addr",
            &addr,
            "needs a port (\"ip:port\")",
        )));
    };
    let t = match timeout {
        Some(s) => super::args::seconds("timeout", s)?,
        None => DEFAULT_TIMEOUT,
    };
    let c = net::Conn::connect(std::net::SocketAddr::new(ip, port), t)
        .await
        .map_err(mlua::Error::runtime)?;
    Ok(Conn(Rc::new(Mutex::new(c))))
}

/// `lvs.http.get(url)` or `lvs.http.get{url=, host=, headers=, timeout=, max_body=}`:
/// status, body, headers (names lower-cased).
async fn http_get(lua: Lua, v: Value) -> mlua::Result<MultiValue> {
    let g = net::Get::read(&to_value(v)?).map_err(super::args::spec_err)?;
    let reply = net::get(&g).await.map_err(mlua::Error::runtime)?;
    let hdrs = lua.create_table()?;
    for (k, v) in reply.headers {
        hdrs.set(k, v)?;
    }
    Ok(MultiValue::from_iter([
        Value::Integer(i64::from(reply.status)),
        Value::String(lua.create_string(&reply.body)?),
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
