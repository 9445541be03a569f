//! Signals lvsh waits for on the loop. tokio delivers a signal only when the loop turns, so
//! two things are added around its listeners: a signal that has waited too long interrupts
//! the Lua code that keeps the loop from turning (`overdue`, asked by the count hook), and a
//! signal that arrives while nothing listens for it does what it would have done had lvsh
//! never listened (tokio's handler stays installed for the life of the process and would
//! swallow it: a SIGTERM after a drain ended would be ignored).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::signal::unix::{Signal, SignalKind, signal};

/// How long a signal may wait for a busy loop before the Lua code is interrupted: short
/// enough that SIGTERM is honoured within a second, long enough for a callback's usual work.
const PATIENCE: Duration = Duration::from_millis(300);
const GRACE: Duration = Duration::from_millis(20);

const SLOTS: usize = 65;

struct Slot {
    registered: AtomicBool,
    listeners: AtomicUsize,
    pending: AtomicBool,
    /// Someone else handles it when nobody on the loop listens (the REPL's SIGINT).
    kept: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const SLOT: Slot = Slot {
    registered: AtomicBool::new(false),
    listeners: AtomicUsize::new(0),
    pending: AtomicBool::new(false),
    kept: AtomicBool::new(false),
};
static STATE: [Slot; SLOTS] = [SLOT; SLOTS];
/// Some slot may be pending: the hook asks this one flag, not every slot.
static ANY: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// When the loop's thread first saw each pending signal.
    static SEEN: RefCell<[Option<Instant>; SLOTS]> = const { RefCell::new([None; SLOTS]) };
}

fn slot(sig: i32) -> Option<&'static Slot> {
    usize::try_from(sig).ok().and_then(|i| STATE.get(i))
}

/// A signal the process has someone else for when the loop does not listen (the REPL
/// handles SIGINT itself).
pub fn keep(sig: i32) {
    if let Some(s) = slot(sig) {
        s.kept.store(true, Ordering::SeqCst);
    }
}

fn register(sig: i32) -> std::io::Result<()> {
    let Some(s) = slot(sig) else {
        return Err(std::io::Error::other(format!("signal {sig} out of range")));
    };
    if s.registered.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let action = move || {
        let s = &STATE[sig as usize];
        if s.listeners.load(Ordering::SeqCst) == 0 && !s.kept.load(Ordering::SeqCst) {
            // nobody will ever take it: the default action, as if lvsh had never listened
            // (sigaction and raise are async-signal-safe; the signal is blocked until the
            // handler returns, and then it ends the process)
            unsafe {
                nix::libc::signal(sig, nix::libc::SIG_DFL);
                nix::libc::raise(sig);
            }
        } else {
            s.pending.store(true, Ordering::SeqCst);
            ANY.store(true, Ordering::SeqCst);
        }
    };
    // SAFETY: the action only touches atomics and calls async-signal-safe functions.
    unsafe { signal_hook_registry::register(sig, action) }.map(|_| ())
}

/// A listener for one signal on the loop (made inside the loop's runtime context).
pub struct Listener {
    sig: i32,
    inner: Signal,
}

impl Listener {
    pub fn new(sig: i32) -> std::io::Result<Listener> {
        let inner = signal(SignalKind::from_raw(sig))?;
        register(sig)?;
        if let Some(s) = slot(sig) {
            s.listeners.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Listener { sig, inner })
    }

    pub async fn recv(&mut self) -> Option<()> {
        let got = self.inner.recv().await;
        if let Some(s) = slot(self.sig) {
            s.pending.store(false, Ordering::SeqCst);
        }
        set_seen(self.sig, None);
        got
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(s) = slot(self.sig) {
            s.listeners.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn set_seen(sig: i32, at: Option<Instant>) {
    if let Ok(i) = usize::try_from(sig) {
        SEEN.with(|seen| {
            if let Some(x) = seen.borrow_mut().get_mut(i) {
                *x = at;
            }
        });
    }
}

/// A signal that has waited past its patience for the loop to take it: the running Lua
/// code must stop so that the loop turns.
pub fn overdue() -> Option<String> {
    if !ANY.swap(false, Ordering::SeqCst) {
        return None;
    }
    let now = Instant::now();
    for (i, s) in STATE.iter().enumerate() {
        if !s.pending.load(Ordering::SeqCst) {
            continue;
        }
        ANY.store(true, Ordering::SeqCst);
        let sig = i as i32;
        let seen = SEEN.with(|seen| seen.borrow()[i]);
        match seen {
            None => set_seen(sig, Some(now)),
            Some(t) if now >= t + PATIENCE => {
                set_seen(sig, Some(now + GRACE - PATIENCE));
                let name = nix::sys::signal::Signal::try_from(sig)
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|_| format!("signal {sig}"));
                return Some(format!(
                    "interrupted: {name} came and the event loop must turn to handle it"
                ));
            }
            Some(_) => {}
        }
    }
    None
}
