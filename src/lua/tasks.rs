//! `lvs.spawn`, `lvs.sleep`, `lvs.every`, `lvs.after`, `lvs.run`, `lvs.stop`, `lvs.on_signal`
//! and `lvs.log`: the Lua face of the event loop.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Table, UserData, UserDataMethods, Value, Variadic};
use tokio::task::AbortHandle;

use super::args::seconds;
use super::engine::{call_logged, control};
use crate::log;

/// A handle on a spawned task.
pub struct Task {
    abort: AbortHandle,
    done: Rc<Cell<bool>>,
}

impl UserData for Task {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("cancel", |_, t, ()| {
            t.abort.abort();
            t.done.set(true);
            Ok(())
        });
        m.add_method("done", |_, t, ()| Ok(t.done.get() || t.abort.is_finished()));
        m.add_meta_method(mlua::MetaMethod::ToString, |_, t, ()| {
            Ok(if t.done.get() || t.abort.is_finished() {
                "task (done)"
            } else {
                "task (running)"
            })
        });
    }
}

pub(super) fn spawn_task<F: std::future::Future<Output = ()> + 'static>(
    lua: &Lua,
    fut: F,
) -> mlua::Result<Task> {
    let done = Rc::new(Cell::new(false));
    let flag = done.clone();
    let handle = super::engine::spawn(lua, async move {
        fut.await;
        flag.set(true);
    })?;
    Ok(Task {
        abort: handle.abort_handle(),
        done,
    })
}

fn spawn(lua: &Lua, (f, args): (Function, Variadic<Value>)) -> mlua::Result<Task> {
    let l = lua.clone();
    let what = describe_fn(&f, "lvs.spawn");
    spawn_task(lua, async move {
        call_logged(&l, &what, &f, args.into_iter().collect()).await;
    })
}

/// Names background work in log lines: where its function was defined.
fn describe_fn(f: &Function, kind: &str) -> String {
    let info = f.info();
    match (info.short_src, info.line_defined) {
        (Some(src), Some(line)) => format!("{kind} (function at {src}:{line})"),
        _ => kind.to_string(),
    }
}

fn every(lua: &Lua, (secs, f): (f64, Function)) -> mlua::Result<Task> {
    let period = seconds("every", secs)?;
    if period.is_zero() {
        return Err(mlua::Error::runtime(
            "every: the period must be more than 0 seconds",
        ));
    }
    let l = lua.clone();
    let what = describe_fn(&f, "lvs.every");
    spawn_task(lua, async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            call_logged(&l, &what, &f, MultiValue::new()).await;
        }
    })
}

fn after(lua: &Lua, (secs, f): (f64, Function)) -> mlua::Result<Task> {
    let delay = seconds("after", secs)?;
    let l = lua.clone();
    let what = describe_fn(&f, "lvs.after");
    spawn_task(lua, async move {
        tokio::time::sleep(delay).await;
        call_logged(&l, &what, &f, MultiValue::new()).await;
    })
}

pub fn signal_number(name: &str) -> mlua::Result<i32> {
    crate::runtime::signal_number(name).map_err(mlua::Error::runtime)
}

fn on_signal(lua: &Lua, (name, f): (String, Function)) -> mlua::Result<Task> {
    let num = signal_number(&name)?;
    let mut stream = super::engine::within_runtime(lua, || crate::runtime::signals::Listener::new(num))?
        .map_err(|e| mlua::Error::runtime(format!("signal {name}: {e}")))?;
    control(lua).handled.borrow_mut().insert(num);
    let l = lua.clone();
    let what = format!("on_signal {name}");
    spawn_task(lua, async move {
        while stream.recv().await.is_some() {
            let sig = l.create_string(&name).map(Value::String).unwrap_or(Value::Nil);
            call_logged(&l, &what, &f, MultiValue::from_iter([sig])).await;
        }
    })
}

/// `lvs.on_event(f)`: `f(event)` for every event from now on, in order, each a table as
/// `lvsh attach --events` prints it. A handler a whole queue behind is dropped (logged).
fn on_event(lua: &Lua, f: Function) -> mlua::Result<Task> {
    use mlua::LuaSerdeExt;
    let what = describe_fn(&f, "lvs.on_event");
    let mut rx = crate::events::subscribe(&what, 4096);
    let l = lua.clone();
    spawn_task(lua, async move {
        while let Some(ev) = rx.recv().await {
            let arg = l.to_value(&*ev).unwrap_or(Value::Nil);
            call_logged(&l, &what, &f, MultiValue::from_iter([arg])).await;
        }
    })
}

/// Waits until `lvs.stop()` or SIGINT/SIGTERM (unless the script handles those itself);
/// under systemd (NOTIFY_SOCKET) tells it how things stand meanwhile.
async fn run(lua: Lua, (): ()) -> mlua::Result<Option<String>> {
    // listening until the run ends: the socket goes with it
    let _control = super::control::serve(&lua);
    super::monitor::overrides::load(&lua);
    let sd = crate::runtime::systemd::Systemd::from_env().map(Rc::new);
    let told = match &sd {
        Some(sd) => Some(super::monitor::tell_systemd(&lua, sd.clone())?),
        None => None,
    };
    let shadow = super::shadow::start(&lua);
    let why = control(&lua).wait().await;
    if let Some(t) = shadow {
        t.abort();
        super::shadow::finish(&lua, why);
    }
    if let (Some(sd), Some(task)) = (sd, told) {
        task.abort();
        sd.stopping(why);
    }
    // routes first: a director that is going must stop attracting traffic before it goes
    super::anycast::stop_all(&lua, why).await;
    Ok(Some(why.to_string()))
}

/// `lvs.budget([seconds])`: what a callback may run without yielding (and the most a check
/// may, whose budget is otherwise its timeout); gives the budget in force before.
fn budget(_: &Lua, secs: Option<f64>) -> mlua::Result<f64> {
    use crate::runtime::budget;
    let before = budget::default_budget().as_secs_f64();
    if let Some(s) = secs {
        let d = seconds("budget", s)?;
        if d < Duration::from_millis(10) {
            return Err(mlua::Error::runtime(format!(
                "budget: {s} is too small (10 ms at least)"
            )));
        }
        budget::set_default(d);
    }
    Ok(before)
}

fn stop(lua: &Lua, (): ()) -> mlua::Result<()> {
    control(lua).ask_stop();
    Ok(())
}

fn log_fn(lua: &Lua, level: log::Level) -> mlua::Result<Function> {
    lua.create_function(move |_, parts: Variadic<Value>| {
        let text: Vec<String> = parts
            .iter()
            .map(|v| match v {
                Value::String(s) => s.to_string_lossy(),
                other => other
                    .to_string()
                    .unwrap_or_else(|_| other.type_name().to_string()),
            })
            .collect();
        log::log(level, &text.join(" "));
        Ok(())
    })
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("spawn", lua.create_function(spawn)?)?;
    lvs.set(
        "sleep",
        lua.create_async_function(|_, secs: f64| async move {
            let d = seconds("sleep", secs)?;
            tokio::time::sleep(d).await;
            Ok(())
        })?,
    )?;
    lvs.set("every", lua.create_function(every)?)?;
    lvs.set("after", lua.create_function(after)?)?;
    lvs.set("on_signal", lua.create_function(on_signal)?)?;
    lvs.set("on_event", lua.create_function(on_event)?)?;
    lvs.set("run", lua.create_async_function(run)?)?;
    lvs.set("budget", lua.create_function(budget)?)?;
    lvs.set("stop", lua.create_function(stop)?)?;
    let logt = lua.create_table()?;
    logt.set("info", log_fn(lua, log::Level::Info)?)?;
    logt.set("warn", log_fn(lua, log::Level::Warn)?)?;
    logt.set("error", log_fn(lua, log::Level::Error)?)?;
    logt.set(
        "file",
        lua.create_function(|_, path: String| {
            let f = crate::host::files::open_private(std::path::Path::new(&path), false)
                .map_err(|e| mlua::Error::runtime(format!("lvs.log.file: cannot log to {path}: {e}")))?;
            log::to_file(f);
            Ok(())
        })?,
    )?;
    logt.set("dropped", lua.create_function(|_, ()| Ok(log::dropped()))?)?;
    lvs.set("log", logt)?;
    Ok(())
}
