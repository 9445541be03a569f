//! The Lua state on the event loop (`crate::runtime`): Lua coroutines, driven by mlua's
//! async support, are its tasks. Every chunk lvsh runs is driven by it; tasks that Lua spawns
//! (checks, monitors, `lvs.every`) make progress whenever a chunk runs, and for as long as
//! `lvs.run()` waits.

use std::cell::Cell;
use std::ffi::c_void;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mlua::{Function, Lua, MultiValue, Value};

use crate::runtime::{Control, Loop, Spawner, budget, netns, signals};

/// Raised by the REPL's SIGINT handler: running Lua stops at its next hook, a waiting chunk
/// is dropped.
pub static INTERRUPT: AtomicBool = AtomicBool::new(false);

/// How long the chunk of an attached client runs before the count hook makes it give the
/// loop a turn. The loop polls timers and sockets every 61 turns of its tasks, so checks
/// wait at most about 61 of these while a chunk spins.
const YIELD_EVERY: Duration = Duration::from_millis(1);

thread_local! {
    /// The coroutine the count hook may yield (an attached client's chunk, while it is polled)
    /// and when its poll began.
    static YIELDER: Cell<Option<(*const c_void, Instant)>> = const { Cell::new(None) };
}

/// `fut` runs `thread`, which the count hook makes yield to the loop every YIELD_EVERY: a
/// chunk from an attached client must not hold up the director's checks however long it
/// runs. Only that coroutine: a coroutine of the script's own would see a yield it never
/// made.
pub fn yielding<F: Future>(thread: &mlua::Thread, fut: F) -> Yielding<F> {
    Yielding {
        fut: Box::pin(fut),
        thread: thread.to_pointer(),
    }
}

pub struct Yielding<F> {
    fut: std::pin::Pin<Box<F>>,
    thread: *const c_void,
}

impl<F: Future> Future for Yielding<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        struct Restore(Option<(*const c_void, Instant)>);
        impl Drop for Restore {
            fn drop(&mut self) {
                YIELDER.with(|y| y.set(self.0));
            }
        }
        let _restore = Restore(YIELDER.with(|y| y.replace(Some((self.thread, Instant::now())))));
        self.fut.as_mut().poll(cx)
    }
}

/// Whether the running code is the yielding coroutine, past its stretch.
fn must_yield(lua: &Lua) -> bool {
    YIELDER.with(Cell::get).is_some_and(|(thread, since)| {
        since.elapsed() >= YIELD_EVERY && lua.current_thread().to_pointer() == thread
    })
}

/// A count hook in every coroutine lvsh creates, so a busy loop can be interrupted: by
/// Ctrl-C at the REPL, past the budget of the check or callback it runs in, or when a signal
/// waits for the loop it keeps from turning.
pub fn install_interrupt_hook(lua: &Lua) -> mlua::Result<()> {
    lua.set_global_hook(
        mlua::HookTriggers::new().every_nth_instruction(1000),
        |hooked, _| {
            if INTERRUPT.swap(false, Ordering::SeqCst) {
                return Err(mlua::Error::runtime("interrupted"));
            }
            if crate::runtime::client::interrupted() {
                return Err(mlua::Error::runtime(
                    "interrupted (Ctrl-C from the attached client)",
                ));
            }
            if let Some(why) = budget::overrun().or_else(signals::overdue) {
                return Err(mlua::Error::runtime(why));
            }
            if must_yield(hooked) {
                budget::hook_yield();
                return Ok(mlua::VmState::Yield);
            }
            Ok(mlua::VmState::Continue)
        },
    )
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

/// The loop, with what Lua functions need to start work on it (from anywhere, even from code
/// that runs outside it: a `__tostring` called while the REPL prints a value) kept in the state.
pub fn new_loop(lua: &Lua) -> std::io::Result<Loop> {
    let l = Loop::new()?;
    lua.set_app_data(l.spawner());
    Ok(l)
}

fn spawner(lua: &Lua) -> mlua::Result<Spawner> {
    lua.app_data_ref::<Spawner>()
        .map(|s| s.clone())
        .ok_or_else(|| mlua::Error::runtime("lvsh's event loop is not running"))
}

/// Starts `fut` as a task of the loop; it runs whenever the loop turns, always in the
/// network namespace it was started in.
pub fn spawn<F: Future<Output = ()> + 'static>(
    lua: &Lua,
    fut: F,
) -> mlua::Result<tokio::task::JoinHandle<()>> {
    Ok(spawner(lua)?.spawn(netns::kept(fut)))
}

/// Runs `f` inside the loop's runtime context (for tokio objects made outside a task).
pub fn within_runtime<R>(lua: &Lua, f: impl FnOnce() -> R) -> mlua::Result<R> {
    Ok(spawner(lua)?.within(f))
}

/// What `lvs.run`/`lvs.stop`/`lvs.on_signal` share.
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
    let run = budget::budgeted(
        what,
        budget::default_budget(),
        call.call_async::<MultiValue>(argv),
    );
    match run.await {
        Ok(mut out) => match out.pop_front() {
            Some(Value::Boolean(true)) => Some(out),
            _ => {
                let msg = out
                    .pop_front()
                    .map(|v| super::describe_error(&v))
                    .unwrap_or_default();
                crate::log::error(&crate::check::bounded(format!("{what}: {msg}")));
                None
            }
        },
        Err(e) => {
            crate::log::error(&crate::check::bounded(format!(
                "{what}: {}",
                super::describe_error(&Value::Error(Box::new(e)))
            )));
            None
        }
    }
}

/// Runs `f` inside the loop (binding a listener wants its reactor, spawning a task its
/// local set).
pub fn lua_loop<R>(lua: &Lua, f: impl FnOnce() -> Result<R, String>) -> mlua::Result<R> {
    let spawner = lua
        .app_data_ref::<crate::runtime::Spawner>()
        .map(|s| s.clone())
        .ok_or_else(|| mlua::Error::runtime("lvsh's event loop is not running"))?;
    spawner.within(f).map_err(mlua::Error::runtime)
}
