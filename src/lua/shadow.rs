//! `lvsh --shadow SCRIPT`: the script runs against the kernel's table without writing it
//! (`model::shadow`), and while `lvs.run()` runs, each second its monitors' view is compared
//! with the table another checker keeps (`check::shadow`): a disagreement is logged and an
//! event when it starts and when it ends, and a summary comes at SIGUSR1 and at the end.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use mlua::Lua;

use super::ipvs::with_director;
use crate::check::shadow::{Tracker, compare};

#[derive(Clone, Default)]
struct Shadow(Rc<RefCell<Tracker>>);

/// Marks this state as running in shadow mode.
pub fn enable(lua: &Lua) {
    lua.set_app_data(Shadow::default());
}

fn look(lua: &Lua, t: &Shadow) {
    let rows: Vec<_> = super::monitor::statuses(lua)
        .into_iter()
        .flat_map(|s| s.servers)
        .collect();
    let table = match with_director(lua, |d| d.services()) {
        Ok(t) => t,
        Err(e) => return crate::log::warn(&format!("shadow: cannot read the table: {e}")),
    };
    let now = crate::check::monitor::view::now();
    let (fresh, ended) = t.0.borrow_mut().update(compare(&rows, &table, now));
    for d in fresh {
        crate::log::warn(&format!(
            "shadow: {} {}: the kernel has {}, lvsh's checks say {}",
            d.service, d.server, d.kernel, d.lvsh
        ));
        crate::events::emit(
            "shadow_disagreement",
            serde_json::json!({"service": d.service, "server": d.server, "kernel": d.kernel, "lvsh": d.lvsh}),
        );
    }
    for d in ended {
        crate::log::info(&format!(
            "shadow: {} {}: agreed again after {:.0} s",
            d.service,
            d.server,
            now - d.since
        ));
        crate::events::emit(
            "shadow_agreement",
            serde_json::json!({"service": d.service, "server": d.server}),
        );
    }
}

fn summary(t: &Shadow, why: &str) {
    let t = t.0.borrow();
    let open = t.open();
    crate::log::info(&format!(
        "shadow ({why}): {} disagreement(s) now, {} since the start",
        open.len(),
        t.seen
    ));
    let now = crate::check::monitor::view::now();
    for d in open {
        crate::log::info(&format!(
            "shadow: {} {}: the kernel has {}, lvsh's checks say {}, for {:.0} s",
            d.service,
            d.server,
            d.kernel,
            d.lvsh,
            now - d.since
        ));
    }
}

/// Starts comparing (shadow mode only); the task ends with the returned handle's abort.
pub fn start(lua: &Lua) -> Option<tokio::task::AbortHandle> {
    let t = lua.app_data_ref::<Shadow>()?.clone();
    crate::log::info(
        "shadow: the table is the other checker's; lvsh writes nothing and compares each second",
    );
    let l = lua.clone();
    let task = super::engine::spawn(lua, async move {
        let mut usr1 = crate::runtime::signals::Listener::new(nix::libc::SIGUSR1).ok();
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = every.tick() => look(&l, &t),
                _ = crate::runtime::recv(&mut usr1) => summary(&t, "SIGUSR1"),
            }
        }
    })
    .ok()?;
    Some(task.abort_handle())
}

/// The summary at the end of the run.
pub fn finish(lua: &Lua, why: &str) {
    if let Some(t) = lua.app_data_ref::<Shadow>() {
        summary(&t, why);
    }
}
