//! The embedded Lua state: standard libraries, the `lvs` module, the Lua-side prelude and
//! the helpers the shell needs (traced calls, pretty printing, completion).

mod anycast;
mod apply;
mod args;
mod checks;
mod conns;
mod control;
mod convert;
pub mod engine;
mod host;
mod ipvs;
mod listing;
mod lvs;
mod metrics;
mod mh;
mod monitor;
mod net;
mod rules;
mod shadow;
mod tasks;
mod watch;

pub use ipvs::daemon_settle;
pub use rules::run_ipvsadm;

use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;

use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

/// Lua sources shipped inside the binary.
pub mod builtin {
    pub const PRELUDE: &str = include_str!("../../lua/prelude.lua");
    pub const META: &str = include_str!("../../lua/lvs.meta.lua");
    pub const SERVICE: &str = include_str!("../../lua/service.lua");
    pub const WRAP: &str = include_str!("../../lua/wrap.lua");
    pub const ROLES: &str = include_str!("../../lua/roles.lua");
}

/// Why running a chunk failed; the message is ready to print after `lvsh: `.
#[derive(Debug)]
pub enum Failure {
    /// The chunk does not compile; `incomplete` is set when more input could complete it.
    Syntax { message: String, incomplete: bool },
    /// The chunk raised an error; the message carries the position and a traceback.
    Runtime(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Syntax { message, .. } | Failure::Runtime(message) => f.write_str(message),
        }
    }
}

#[derive(Clone)]
pub struct State {
    lua: Lua,
    internal: Table,
    engine: Rc<crate::runtime::Loop>,
}

impl State {
    pub fn new(script_dir: Option<&Path>) -> mlua::Result<State> {
        // SAFETY: lvsh is a root shell for operators' own scripts; like the standalone lua it
        // offers the debug library and C modules. No Rust code relies on Lua being sandboxed.
        let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL, LuaOptions::default()) };
        let lvs = lvs::module(&lua)?;
        lua.globals().set("lvs", lvs.clone())?;
        let loaded: Table = lua.globals().get::<Table>("package")?.get("loaded")?;
        loaded.set("lvs", lvs)?;
        set_package_path(&lua, script_dir)?;

        let internal = lua.create_table()?;
        internal.set(
            "describe_error",
            lua.create_function(|_, v: Value| Ok(describe_error(&v)))?,
        )?;
        internal.set("meta", builtin::META)?;
        let prelude: Function = lua.load(builtin::PRELUDE).set_name("=prelude").into_function()?;
        prelude.call::<()>(internal.clone())?;
        lua.set_named_registry_value("lvsh.call", internal.get::<Function>("call")?)?;
        // what a chunk from an attached client needs of the shell's helpers
        lua.set_named_registry_value("lvsh.pretty", internal.get::<Function>("pretty_values")?)?;
        lua.set_named_registry_value("lvsh.complete", internal.get::<Function>("complete")?)?;
        let engine = Rc::new(engine::new_loop(&lua).map_err(mlua::Error::external)?);
        engine::install_interrupt_hook(&lua)?;
        Ok(State {
            lua,
            internal,
            engine,
        })
    }

    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// Makes the `lvs` functions talk to `backend` (a model, for dry runs) instead of the kernel.
    /// Shadow mode: the script reads the kernel's table and writes nothing (`backend`), and
    /// `lvs.run()` compares its monitors with the table.
    pub fn use_shadow(&self, backend: Box<dyn crate::model::backend::Ipvs>) -> mlua::Result<()> {
        shadow::enable(&self.lua);
        self.use_backend(backend)
    }

    pub fn use_backend(&self, backend: Box<dyn crate::model::backend::Ipvs>) -> mlua::Result<()> {
        ipvs::use_model(&self.lua, crate::director::Director::new(backend));
        Ok(())
    }

    /// Compiles `src` as a chunk named `name` (`@file` or `=label`, as Lua names chunks).
    /// A chunk is bytes: string literals reach Lua as the bytes written, UTF-8 or not.
    pub fn load(&self, src: impl AsRef<[u8]>, name: &str) -> Result<Function, Failure> {
        self.lua
            .load(src.as_ref())
            .set_name(name)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError {
                    message,
                    incomplete_input,
                } => Failure::Syntax {
                    message,
                    incomplete: incomplete_input,
                },
                other => Failure::Syntax {
                    message: other.to_string(),
                    incomplete: false,
                },
            })
    }

    pub fn engine(&self) -> &crate::runtime::Loop {
        &self.engine
    }

    /// Calls `f` with a message handler that adds the error position and a traceback. It
    /// runs as a coroutine on the event loop, so it may wait (`lvs.sleep`, checks).
    pub fn call_traced(&self, f: Function, args: MultiValue) -> Result<MultiValue, Failure> {
        self.call_traced_until(f, args, None)
    }

    /// As `call_traced`, given up when `interrupt` is raised (Ctrl-C at the REPL).
    pub fn call_traced_until(
        &self,
        f: Function,
        args: MultiValue,
        interrupt: Option<&AtomicBool>,
    ) -> Result<MultiValue, Failure> {
        let call: Function = self.internal.get("call").map_err(runtime)?;
        let mut argv = MultiValue::new();
        argv.push_back(Value::Function(f));
        argv.extend(args);
        let fut = call.call_async::<MultiValue>(argv);
        let mut out = match self.engine.block_on(fut, interrupt) {
            Some(r) => r.map_err(runtime)?,
            None => return Err(Failure::Runtime("interrupted".into())),
        };
        match out.pop_front() {
            Some(Value::Boolean(true)) => Ok(out),
            _ => {
                let msg = out.pop_front().map(|v| describe_error(&v)).unwrap_or_default();
                Err(Failure::Runtime(msg))
            }
        }
    }

    /// Renders values the way the REPL shows them: tab-separated, tables nested and sorted.
    pub fn pretty(&self, values: MultiValue) -> String {
        let pretty: mlua::Result<Function> = self.internal.get("pretty_values");
        match pretty.and_then(|f| f.call::<String>(values)) {
            Ok(s) => s,
            Err(e) => format!("<cannot print: {}>", describe_error(&Value::Error(Box::new(e)))),
        }
    }

    /// Candidates that complete `word` (a dotted/colon path such as `lvs.add_s`).
    pub fn complete(&self, word: &str) -> Vec<String> {
        let f: mlua::Result<Function> = self.internal.get("complete");
        f.and_then(|f| f.call::<Vec<String>>(word)).unwrap_or_default()
    }
}

fn runtime(e: mlua::Error) -> Failure {
    Failure::Runtime(describe_error(&Value::Error(Box::new(e))))
}

/// The message of an error value, without mlua's wrapping: a Rust error raised inside a
/// callback shows as its own message, not as "callback error" plus a Rust-side traceback.
pub fn describe_error(v: &Value) -> String {
    match v {
        Value::Error(e) => root_message(e),
        Value::String(s) => s.to_string_lossy(),
        other => other
            .to_string()
            .unwrap_or_else(|_| format!("({} error object)", other.type_name())),
    }
}

fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::WithContext { context, cause } => format!("{context}: {}", root_message(cause)),
        mlua::Error::RuntimeError(msg) => msg.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::ExternalError(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

/// `require` looks in the script's directory, then in LVSH_PATH, then where Lua usually
/// looks; the current directory only last, where standard Lua has it, and not at all when
/// anyone may write there (a module planted in /tmp would otherwise run as root).
fn set_package_path(lua: &Lua, script_dir: Option<&Path>) -> mlua::Result<()> {
    let package: Table = lua.globals().get("package")?;
    let mut parts: Vec<String> = Vec::new();
    let mut add_dir = |dir: &str| {
        if dir.contains('?') {
            parts.push(dir.to_string());
        } else if !dir.is_empty() {
            let dir = dir.trim_end_matches('/');
            parts.push(format!("{dir}/?.lua"));
            parts.push(format!("{dir}/?/init.lua"));
        }
    };
    if let Some(d) = script_dir {
        // `lvsh x.lua` has "" as its directory: the current one, which is the script's own
        let d = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        let d = std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf());
        add_dir(&d.to_string_lossy());
    }
    if let Ok(extra) = std::env::var("LVSH_PATH") {
        extra.split([':', ';']).for_each(&mut add_dir);
    }
    let cwd_ok = cwd_is_private();
    for (key, mut ahead) in [("path", parts), ("cpath", Vec::new())] {
        let default: String = package.get(key)?;
        let (here, elsewhere): (Vec<&str>, Vec<&str>) = default
            .split(';')
            .filter(|t| !t.is_empty())
            .partition(|t| !t.starts_with('/'));
        ahead.extend(elsewhere.into_iter().map(String::from));
        if cwd_ok {
            ahead.extend(here.into_iter().map(String::from));
        }
        package.set(key, ahead.join(";"))?;
    }
    Ok(())
}

/// Whether only its owner (and root) may write in the current directory.
fn cwd_is_private() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(".").is_ok_and(|m| m.mode() & 0o002 == 0)
}

/// Lua's `io.write` goes through C's stdout buffer and lvsh's own output through Rust's: C's
/// is flushed before lvsh writes, so a script's output keeps its order when piped.
pub fn flush_c_stdout() {
    // SAFETY: fflush(NULL) flushes every open C output stream; no pointer is dereferenced.
    unsafe {
        nix::libc::fflush(std::ptr::null_mut());
    }
}
