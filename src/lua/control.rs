//! The Lua side of the control socket: a chunk from an attached client is compiled and run
//! here as the REPL runs one (an expression prints its value), its output sent back to the
//! client, and names completed from this state.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use mlua::{Function, Lua, MultiValue, Value, Variadic};

use crate::control::server::{self, Handler, Server};
use crate::runtime::client::{self, Stream};

struct LuaHandler {
    lua: Lua,
}

/// As the REPL does (`values`): `=x` and a bare expression print their values; otherwise
/// as `lvsh -e` does.
fn compile(lua: &Lua, chunk: &str, values: bool) -> Result<Function, String> {
    if !values {
        return lua
            .load(chunk)
            .set_name("=(attach -e)")
            .into_function()
            .map_err(describe);
    }
    let body = chunk.strip_prefix('=').map(|rest| format!("return {rest}"));
    if let Some(expr) = body {
        return lua
            .load(expr)
            .set_name("=attach")
            .into_function()
            .map_err(describe);
    }
    if let Ok(f) = lua
        .load(format!("return {chunk};"))
        .set_name("=attach")
        .into_function()
    {
        return Ok(f);
    }
    lua.load(chunk)
        .set_name("=attach")
        .into_function()
        .map_err(describe)
}

fn describe(e: mlua::Error) -> String {
    super::describe_error(&Value::Error(Box::new(e)))
}

async fn run(lua: Lua, chunk: String, values: bool) -> (bool, String) {
    let f = match compile(&lua, &chunk, values) {
        Ok(f) => f,
        Err(msg) => return (false, msg),
    };
    let call: Function = match lua.named_registry_value("lvsh.call") {
        Ok(c) => c,
        Err(e) => return (false, describe(e)),
    };
    let thread = match lua.create_thread(call) {
        Ok(t) => t,
        Err(e) => return (false, describe(e)),
    };
    let chunk = match thread.clone().into_async::<MultiValue>(f) {
        Ok(c) => c,
        Err(e) => return (false, describe(e)),
    };
    match super::engine::yielding(&thread, chunk).await {
        Ok(mut out) => match out.pop_front() {
            Some(Value::Boolean(true)) if out.is_empty() || !values => (true, String::new()),
            Some(Value::Boolean(true)) => {
                let pretty: mlua::Result<Function> = lua.named_registry_value("lvsh.pretty");
                match pretty.and_then(|p| p.call::<String>(out)) {
                    Ok(text) => (true, text),
                    Err(e) => (true, format!("<cannot print: {}>", describe(e))),
                }
            }
            _ => (
                false,
                out.pop_front()
                    .map(|v| super::describe_error(&v))
                    .unwrap_or_default(),
            ),
        },
        Err(e) => (false, describe(e)),
    }
}

impl Handler for LuaHandler {
    fn run(&self, chunk: String, values: bool) -> Pin<Box<dyn Future<Output = (bool, String)>>> {
        Box::pin(run(self.lua.clone(), chunk, values))
    }

    fn complete(&self, word: &str) -> Vec<String> {
        let f: mlua::Result<Function> = self.lua.named_registry_value("lvsh.complete");
        f.and_then(|f| f.call::<Vec<String>>(word)).unwrap_or_default()
    }
}

/// `print` and `io.write` send to the attached client whose chunk runs, and do what they did
/// otherwise.
fn capture_output(lua: &Lua) -> mlua::Result<()> {
    if lua.named_registry_value::<bool>("lvsh.captured")? {
        return Ok(());
    }
    let g = lua.globals();
    let tostring: Function = g.get("tostring")?;
    let old_print: Function = g.get("print")?;
    let print = lua.create_function(move |_, args: MultiValue| {
        if client::peer().is_none() {
            return old_print.call::<()>(args);
        }
        let mut parts = Vec::with_capacity(args.len());
        for a in args {
            parts.push(tostring.call::<mlua::LuaString>(a)?.to_string_lossy());
        }
        client::write(Stream::Out, &(parts.join("\t") + "\n"));
        Ok(())
    })?;
    g.set("print", print)?;
    let io: mlua::Table = g.get("io")?;
    let old_write: Function = io.get("write")?;
    let write = lua.create_function(move |lua, args: Variadic<Value>| {
        if client::peer().is_none() {
            return old_write.call::<MultiValue>(args);
        }
        let mut text = String::new();
        for (i, a) in args.iter().enumerate() {
            match a {
                Value::String(s) => text.push_str(&s.to_string_lossy()),
                Value::Integer(n) => text.push_str(&n.to_string()),
                Value::Number(n) => text.push_str(&n.to_string()),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "bad argument #{} to 'write' (string expected, got {})",
                        i + 1,
                        other.type_name()
                    )));
                }
            }
        }
        client::write(Stream::Out, &text);
        let stdout: Value = lua.globals().get::<mlua::Table>("io")?.get("stdout")?;
        Ok(MultiValue::from_iter([stdout]))
    })?;
    io.set("write", write)?;
    lua.set_named_registry_value("lvsh.captured", true)
}

/// Starts the control socket of a named director (a script, or `--name`; chunks given with
/// -e and stdin are not directors to attach to), unless LVSH_CONTROL=off. A socket that
/// cannot be had is a warning, not the end of the run (the director still directs).
pub fn serve(lua: &Lua) -> Option<Server> {
    if !crate::runtime::named() || std::env::var("LVSH_CONTROL").is_ok_and(|v| v == "off") {
        return None;
    }
    if let Err(e) = capture_output(lua) {
        crate::log::warn(&format!("control: {e}"));
        return None;
    }
    let path = crate::control::socket_path(crate::runtime::name());
    let handler = Rc::new(LuaHandler { lua: lua.clone() });
    match server::start(&path, handler) {
        Ok(s) => Some(s),
        Err(e) => {
            crate::log::warn(&format!("control: not listening: {e}"));
            None
        }
    }
}
