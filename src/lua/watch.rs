//! `lvs.watch{desired=, every=, action=, max_changes=}`: drift detection on the event loop.
//! Reads the settings, then each round gathers what was done on purpose (monitors, drains),
//! reads the kernel's table once and hands both to `check::drift::watch`; a revert goes
//! through the director's apply, as `lvs.apply` does.

use std::net::SocketAddr;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::args::{Fields, spec_err};
use super::ipvs::{with_director, write_lock};
use super::tasks::{Task, spawn_task};
use crate::check::drift::Excuses;
use crate::check::drift::watch::{Action, Step, Watch, settings};
use crate::director::{ApplyOpts, Wanted};
use crate::ipvs::ServiceKey;
use crate::ipvsadm::rules;

/// The weight a runtime override holds `server` of `service` at, if one does: that weight
/// is no drift.
fn held_by_override(lua: &Lua, service: &ServiceKey, server: SocketAddr) -> Option<u32> {
    super::monitor::held(lua, service, server)
}

/// What monitors and drains did on purpose, as they stand now; the servers drains deleted
/// since the count was `seen` (none the first time: drains before the watch are history).
fn excuses(lua: &Lua, seen: &mut Option<u64>) -> mlua::Result<Excuses> {
    let mut ex = Excuses::default();
    super::monitor::excuse(lua, &mut ex);
    let (draining, (drained, total)) = with_director(lua, |d| {
        Ok((d.draining(), d.drained_since(seen.unwrap_or(u64::MAX))))
    })?;
    let server = |(k, a, p): (ServiceKey, std::net::IpAddr, u16)| (k, SocketAddr::new(a, p));
    ex.draining.extend(draining.into_iter().map(server));
    if seen.is_some() {
        ex.drained.extend(drained.into_iter().map(server));
    }
    *seen = Some(total);
    Ok(ex)
}

/// One round; an error (the kernel unreadable, a desired function failing) is logged by
/// the caller and the next round tries again.
async fn round(
    lua: &Lua,
    w: &mut Watch,
    source: Option<&Function>,
    seen: &mut Option<u64>,
) -> mlua::Result<()> {
    if let Some(f) = source {
        let what = "lvs.watch (desired function)";
        let Some(mut out) = super::engine::call_logged(lua, what, f, MultiValue::new()).await else {
            return Ok(());
        };
        w.set_desired(super::apply::desired_of(out.pop_front().unwrap_or(Value::Nil))?);
    }
    let ex = excuses(lua, seen)?;
    let (table, timeouts) = with_director(lua, |d| d.state())?;
    let held = |k: &ServiceKey, s: SocketAddr| held_by_override(lua, k, s);
    if let Step::Revert(_) = w.round(&table, timeouts, ex, &held) {
        let lock = write_lock(lua).await?;
        // looked at again once the lock is in hand: a monitor may have acted meanwhile, and
        // what it did is to be kept
        let ex = excuses(lua, seen)?;
        let (table, timeouts) = with_director(lua, |d| d.state())?;
        let want = w.effective(&table, timeouts, ex, &held);
        let o = ApplyOpts::default();
        let done = with_director(lua, |d| {
            d.holding(lock, |d| d.apply(Wanted::Table(want), &o, &rules::command_line))
        });
        w.reverted(done.map(|a| a.plan.ops).map_err(|e| e.to_string()));
    }
    Ok(())
}

fn watch(lua: &Lua, t: Table) -> mlua::Result<Task> {
    // `desired` is read as lvs.apply reads it, not as plain data (a list with `timeouts`)
    let settings_only = lua.create_table()?;
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        if !matches!(&k, Value::String(s) if s.as_bytes() == b"desired") {
            settings_only.raw_set(k, v)?;
        }
    }
    let f = Fields::new(
        settings_only,
        "watch",
        &["desired", "every", "action", "max_changes"],
        &[],
    )?;
    let s = settings(
        f.seconds("every")?,
        f.string("action")?.as_deref(),
        f.int("max_changes")?,
    )
    .map_err(spec_err)?;
    let (source, desired) = match t.raw_get("desired")? {
        Value::Function(func) => (Some(func), Default::default()),
        Value::Nil => {
            return Err(mlua::Error::runtime(
                "watch: desired: missing (a table, rules, a rules file or a function)",
            ));
        }
        v => (None, super::apply::desired_of(v)?),
    };
    if source.is_some() && s.action == Action::Adopt {
        return Err(mlua::Error::runtime(
            "watch: action: 'adopt' takes the kernel's table as the desired one, which a desired \
             function would replace each round; give a table or rules",
        ));
    }
    let mut w = Watch::new(s, desired);
    crate::log::info(&format!(
        "watch: comparing the kernel's table with the desired one every {}, action {}",
        crate::check::secs(s.every),
        s.action.name()
    ));
    let l = lua.clone();
    spawn_task(lua, async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + s.every, s.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut failing, mut seen) = (None, None);
        loop {
            tick.tick().await;
            let outcome = round(&l, &mut w, source.as_ref(), &mut seen)
                .await
                .map_err(|e| e.to_string());
            // the same failure every round is said once
            if let Err(e) = &outcome
                && failing.as_ref() != Some(e)
            {
                crate::log::error(&format!("watch: {e}"));
            }
            failing = outcome.err();
        }
    })
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("watch", lua.create_function(watch)?)
}
