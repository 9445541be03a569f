//! The event loop lvsh runs everything on: a current-thread tokio runtime and a LocalSet, so
//! tasks that are not Send (Lua's, the monitors') wait on timers, sockets and child
//! processes without blocking each other; and how a long run ends (a stop, or a signal).

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

pub mod budget;
pub mod client;
pub mod lag;
pub mod netns;
pub mod signals;
pub mod systemd;

use signals::Listener;

pub struct Loop {
    rt: tokio::runtime::Runtime,
    local: Rc<tokio::task::LocalSet>,
}

thread_local! {
    static LOOP_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// This thread runs an event loop (it made one): it must never wait on a blocking call, even
/// where no task of the loop is running right now (a line at the REPL).
pub fn is_loop_thread() -> bool {
    LOOP_THREAD.with(Cell::get)
}

impl Loop {
    pub fn new() -> std::io::Result<Loop> {
        LOOP_THREAD.with(|t| t.set(true));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Loop {
            rt,
            local: Rc::new(tokio::task::LocalSet::new()),
        })
    }

    /// What starts tasks on this loop from anywhere, even from code running outside it.
    pub fn spawner(&self) -> Spawner {
        Spawner {
            local: self.local.clone(),
            handle: self.rt.handle().clone(),
        }
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

    /// Lets the tasks run until `until` is done (the REPL, while it waits for a line).
    pub fn turn(&self, until: impl Future<Output = ()>) {
        self.rt.block_on(self.local.run_until(until))
    }
}

#[derive(Clone)]
pub struct Spawner {
    local: Rc<tokio::task::LocalSet>,
    handle: tokio::runtime::Handle,
}

impl Spawner {
    pub fn spawn<F: Future<Output = ()> + 'static>(&self, fut: F) -> tokio::task::JoinHandle<()> {
        let _inside = self.handle.enter();
        self.local.spawn_local(fut)
    }

    /// Runs `f` inside the loop's runtime context (for tokio objects made outside a task).
    pub fn within<R>(&self, f: impl FnOnce() -> R) -> R {
        let _inside = self.handle.enter();
        f()
    }
}

static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names this director (`lvsh --name NAME`, or the script's base name): its control socket
/// is /run/lvsh/NAME.sock and its overrides /var/lib/lvsh/NAME.overrides.json. The first
/// name given holds.
pub fn set_name(name: &str) {
    let _ = NAME.set(name.to_string());
}

/// Whether this director was named (a script file, or --name): only those listen.
pub fn named() -> bool {
    NAME.get().is_some()
}

/// This director's name; "lvsh" when it was given none (chunks, stdin).
pub fn name() -> &'static str {
    NAME.get().map(String::as_str).unwrap_or("lvsh")
}

static SCRIPT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
static STARTED: std::sync::OnceLock<std::time::SystemTime> = std::sync::OnceLock::new();

/// What the director runs (its script's path), and when it started: `lvsh attach --list`.
pub fn set_script(script: &str) {
    let _ = SCRIPT.set(script.to_string());
    started();
}

pub fn script() -> &'static str {
    SCRIPT.get().map(String::as_str).unwrap_or("")
}

/// When this process started running scripts, as the first caller saw it.
pub fn started() -> std::time::SystemTime {
    *STARTED.get_or_init(std::time::SystemTime::now)
}

/// How a long run (`lvs.run`) is ended: a stop asked for, or SIGINT/SIGTERM when the script
/// does not handle those itself.
#[derive(Default)]
pub struct Control {
    pub stop: Notify,
    pub stopping: Cell<bool>,
    /// Signals the script handles itself: they do not end a run.
    pub handled: RefCell<BTreeSet<i32>>,
    /// Drains waiting on the loop: the network namespace must not change under them.
    pub drains: Cell<usize>,
    /// Code running where it cannot give the loop a turn (`lvs.with_netns`'s function): a
    /// wait there would fail after its work began, so waits are refused before it.
    pub no_wait: Cell<usize>,
}

/// Waits for a signal from `s`, or forever when there is none to wait for.
pub async fn recv(s: &mut Option<Listener>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

impl Control {
    pub fn ask_stop(&self) {
        self.stopping.set(true);
        self.stop.notify_waiters();
    }

    /// A listener for `sig` unless the script handles it itself.
    pub fn unhandled(&self, sig: i32) -> Option<Listener> {
        if self.handled.borrow().contains(&sig) {
            None
        } else {
            Listener::new(sig).ok()
        }
    }

    /// Waits until a stop is asked for or an unhandled SIGINT/SIGTERM comes; says which.
    pub async fn wait(&self) -> &'static str {
        if self.stopping.replace(false) {
            return "stop";
        }
        let mut int = self.unhandled(nix::libc::SIGINT);
        let mut term = self.unhandled(nix::libc::SIGTERM);
        let why = tokio::select! {
            _ = self.stop.notified() => "stop",
            _ = recv(&mut int) => "SIGINT",
            _ = recv(&mut term) => "SIGTERM",
        };
        self.stopping.set(false);
        why
    }
}

/// A signal by name ("HUP", "SIGHUP", "usr1"); the ones a process cannot or must not catch
/// are refused.
pub fn signal_number(name: &str) -> Result<i32, String> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    let sig = full
        .parse::<nix::sys::signal::Signal>()
        .map_err(|_| format!("signal: {name:?} is not a signal name (HUP, USR1, TERM...)"))?;
    use nix::sys::signal::Signal::*;
    if matches!(
        sig,
        SIGKILL | SIGSTOP | SIGSEGV | SIGBUS | SIGILL | SIGFPE | SIGTRAP
    ) {
        return Err(format!("signal: {name:?} cannot be handled"));
    }
    Ok(sig as i32)
}
