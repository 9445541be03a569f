//! The event loop that owns the Lua state: a current-thread tokio runtime and a LocalSet, so
//! Lua coroutines (driven by mlua's async support) wait on timers, sockets and child
//! processes without blocking each other. Every chunk lvsh runs is driven by it; tasks that
//! Lua spawns (checks, monitors, `lvs.every`) make progress whenever a chunk runs, and for
//! as long as `lvs.run()` waits.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Value};
use tokio::sync::Notify;

/// Raised by the REPL's SIGINT handler: running Lua stops at its next hook, a waiting chunk
/// is dropped.
pub static INTERRUPT: AtomicBool = AtomicBool::new(false);

/// A count hook in every coroutine lvsh creates, so a busy loop can be interrupted too.
pub fn install_interrupt_hook(lua: &Lua) -> mlua::Result<()> {
    lua.set_global_hook(mlua::HookTriggers::new().every_nth_instruction(1000), |_, _| {
        if INTERRUPT.swap(false, Ordering::SeqCst) {
            Err(mlua::Error::runtime("interrupted"))
        } else {
            Ok(mlua::VmState::Continue)
        }
    })
}

/// At the REPL, `print` from background tasks goes above the prompt instead of through it.
pub fn print_above_prompt(lua: &Lua) -> mlua::Result<()> {
    let tostring: Function = lua.globals().get("tostring")?;
    let print = lua.create_function(move |_, args: mlua::Variadic<Value>| {
        let mut parts = Vec::with_capacity(args.len());
        for a in args {
            parts.push(tostring.call::<mlua::LuaString>(a)?.to_string_lossy());
        }
        let text = parts.join("\t");
        if !crate::log::above_prompt(&text) {
            use std::io::Write;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
        Ok(())
    })?;
    lua.globals().set("print", print)
}

pub struct Engine {
    rt: tokio::runtime::Runtime,
    local: Rc<tokio::task::LocalSet>,
}

/// What Lua functions need to start work on the loop from anywhere, even from code that
/// runs outside it (a `__tostring` called while the REPL prints a value).
#[derive(Clone)]
struct Spawner {
    local: Rc<tokio::task::LocalSet>,
    handle: tokio::runtime::Handle,
}

impl Engine {
    pub fn new(lua: &Lua) -> std::io::Result<Engine> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let local = Rc::new(tokio::task::LocalSet::new());
        lua.set_app_data(Spawner {
            local: local.clone(),
            handle: rt.handle().clone(),
        });
        Ok(Engine { rt, local })
    }

    /// Drives the loop until `fut` is done, or, when `interrupt` is given, until that flag is
    /// raised (the future is then dropped, which cancels what it was waiting for).
    pub fn block_on<F: Future>(&self, fut: F, interrupt: Option<&AtomicBool>) -> Option<F::Output> {
        self.rt.block_on(self.local.run_until(async {
            match interrupt {
                None => Some(fut.await),
                Some(flag) => {
                    let watch = async {
                        loop {
                            if flag.load(Ordering::SeqCst) {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    };
                    tokio::select! {
                        out = fut => Some(out),
                        _ = watch => None,
                    }
                }
            }
        }))
    }

    /// Lets the tasks run for a moment without a chunk: the REPL calls it while it waits.
    pub fn turn(&self, until: impl Future<Output = ()>) {
        self.rt.block_on(self.local.run_until(until))
    }
}

/// Starts `fut` as a task of the loop; it runs whenever the loop turns.
pub fn spawn<F: Future<Output = ()> + 'static>(
    lua: &Lua,
    fut: F,
) -> mlua::Result<tokio::task::JoinHandle<()>> {
    let s = lua
        .app_data_ref::<Spawner>()
        .map(|s| s.clone())
        .ok_or_else(|| mlua::Error::runtime("lvsh's event loop is not running"))?;
    let _inside = s.handle.enter();
    Ok(s.local.spawn_local(fut))
}

/// Runs `f` inside the loop's runtime context (for tokio objects made outside a task).
pub fn within_runtime<R>(lua: &Lua, f: impl FnOnce() -> R) -> mlua::Result<R> {
    let handle = lua
        .app_data_ref::<Spawner>()
        .map(|s| s.handle.clone())
        .ok_or_else(|| mlua::Error::runtime("lvsh's event loop is not running"))?;
    let _inside = handle.enter();
    Ok(f())
}

/// What `lvs.run`/`lvs.stop`/`lvs.on_signal` share.
#[derive(Default)]
pub struct Control {
    pub stop: Rc<Notify>,
    pub stopping: Cell<bool>,
    /// Signals a script handles itself: `lvs.run` does not end on them.
    pub handled: RefCell<BTreeSet<i32>>,
}

pub fn control(lua: &Lua) -> Rc<Control> {
    if let Some(c) = lua.app_data_ref::<Rc<Control>>() {
        return c.clone();
    }
    let c = Rc::new(Control::default());
    lua.set_app_data(c.clone());
    c
}

/// Calls `f` in its own coroutine with the shell's traceback handler; an error is logged
/// (with `what` saying whose) rather than raised: background work must not die silently,
/// and must not take the loop down either.
pub async fn call_logged(lua: &Lua, what: &str, f: &Function, args: MultiValue) -> Option<MultiValue> {
    let call: Function = match lua.named_registry_value("lvsh.call") {
        Ok(c) => c,
        Err(e) => {
            crate::log::error(&format!("{what}: {e}"));
            return None;
        }
    };
    let mut argv = MultiValue::new();
    argv.push_back(Value::Function(f.clone()));
    argv.extend(args);
    match call.call_async::<MultiValue>(argv).await {
        Ok(mut out) => match out.pop_front() {
            Some(Value::Boolean(true)) => Some(out),
            _ => {
                let msg = out
                    .pop_front()
                    .map(|v| super::describe_error(&v))
                    .unwrap_or_default();
                crate::log::error(&format!("{what}: {msg}"));
                None
            }
        },
        Err(e) => {
            crate::log::error(&format!(
                "{what}: {}",
                super::describe_error(&Value::Error(Box::new(e)))
            ));
            None
        }
    }
}
