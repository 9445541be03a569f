//! Carrying out a monitor's verdicts: table changes (weights, removal, the sorry server),
//! log lines, and events for the callbacks.

use std::net::SocketAddr;
use std::time::SystemTime;

use super::host::Event;
use super::registry::Subscriber;
use super::watch::{Monitor, Shared};
use crate::check::state::{Effect, Health};
use crate::ipvs::{Forward, Op};
use crate::log;

/// Carries out what the board decided: table changes first, then logs and callbacks.
pub(super) fn apply(this: &Shared, fx: Vec<Effect<SocketAddr>>) {
    if !fx.is_empty() {
        // the table may differ from the monitor's last read of it now
        this.borrow_mut().changed = true;
    }
    if fx
        .iter()
        .any(|e| matches!(e, Effect::SetWeight(..) | Effect::Restore(..)))
    {
        super::dump::settings_current(this);
    }
    for e in fx {
        let name = this.borrow().name.clone();
        match e {
            Effect::SetWeight(s, w) => {
                let dest = this.borrow().dests.get(&s).cloned();
                if let Some(mut d) = dest {
                    d.weight = w;
                    let key = this.borrow().key.clone();
                    match execute(this, Op::EditDest(key, d.clone())) {
                        Ok(()) => {
                            this.borrow_mut().dests.insert(s, d);
                        }
                        Err(e) => log::error(&format!("{name}: setting weight {w} on {s}: {e}")),
                    }
                }
            }
            Effect::Remove(s) => {
                let key = this.borrow().key.clone();
                if let Err(e) = execute(this, Op::DelDest(key, s.ip(), s.port())) {
                    log::error(&format!("{name}: removing {s}: {e}"));
                }
            }
            Effect::Restore(s, w) => {
                let dest = this.borrow().dests.get(&s).cloned();
                if let Some(mut d) = dest {
                    d.weight = w;
                    let key = this.borrow().key.clone();
                    if let Err(e) = execute(this, Op::AddDest(key, d)) {
                        log::error(&format!("{name}: putting back {s}: {e}"));
                    }
                }
            }
            Effect::SorryIn => sorry(this, true),
            Effect::SorryOut => sorry(this, false),
            Effect::Changed {
                server,
                from,
                to,
                reason,
                detail,
            } => {
                let line = format!(
                    "{name}: real server {server} {} -> {} ({reason}{}{detail})",
                    from.name(),
                    to.name(),
                    if detail.is_empty() { "" } else { ": " }
                );
                if to == Health::Down {
                    log::warn(&line)
                } else {
                    log::info(&line)
                }
                crate::events::emit(
                    "server_change",
                    serde_json::json!({"service": name, "server": server.to_string(),
                        "from": from.name(), "to": to.name(), "reason": reason, "detail": detail}),
                );
                let cb = this.borrow().callbacks.on_change;
                notify(this, cb, || Event::Change {
                    service: name,
                    time: unix_now(),
                    server,
                    from,
                    to,
                    reason,
                    detail,
                });
            }
            Effect::Quorum { up, sum } => {
                let q = this.borrow().board.policy.quorum.unwrap_or(0);
                let line = format!(
                    "{name}: quorum {} (live weight {sum}, quorum {q})",
                    if up { "met" } else { "lost" }
                );
                if up {
                    log::info(&line)
                } else {
                    log::warn(&line)
                }
                crate::events::emit(
                    "quorum",
                    serde_json::json!({"service": name, "up": up, "weight": sum, "quorum": q}),
                );
                let cb = this.borrow().callbacks.on_quorum;
                notify(this, cb, || Event::Quorum {
                    service: name,
                    time: unix_now(),
                    up,
                    weight: sum,
                    quorum: q,
                });
            }
            Effect::Panic { server, out, limit } => {
                log::error(&format!(
                    "{name}: PANIC: {server} failed its checks but {out} of {} servers are out already (max_down {limit}); \
                     keeping the failing servers in: a broken check or a partition is likelier than a mass outage",
                    this.borrow().board.servers.len()
                ));
                crate::events::emit(
                    "panic",
                    serde_json::json!({"service": name, "server": server.to_string(),
                        "out": out, "max_down": limit}),
                );
                let cb = this.borrow().callbacks.on_panic;
                notify(this, cb, || Event::Panic {
                    service: name,
                    time: unix_now(),
                    server,
                    out,
                    max_down: limit,
                });
            }
        }
    }
}

fn execute(this: &Shared, op: Op) -> Result<(), String> {
    let host = this.borrow().host.clone();
    host.execute(&op)
}

fn notify(this: &Shared, callback: Option<super::FnId>, event: impl FnOnce() -> Event) {
    if let Some(f) = callback {
        let host = this.borrow().host.clone();
        host.notify(f, event());
    }
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The sorry server as it goes in: its spec's settings, weight 1 unless given, and without a
/// method that of the service's servers (NAT when it has none).
fn sorry_dest(this: &Shared) -> Option<Result<crate::ipvs::Dest, String>> {
    let (key, spec, fwd) = {
        let m = this.borrow();
        let fwd = m.dests.values().next().map(|d| d.fwd);
        (m.key.clone(), m.sorry.clone()?, fwd)
    };
    let mut spec = spec;
    let inherit = spec.method.is_none();
    spec.weight = spec.weight.or(Some(1));
    if inherit {
        spec.method = Some("nat".into());
    }
    Some(spec.to_dest(&key, None).map_err(|e| e.to_string()).map(|mut d| {
        if inherit {
            d.fwd = fwd.unwrap_or(Forward::Masq);
        }
        d
    }))
}

/// sorry_inhibit: the sorry server goes in at the start, at weight 0.
pub(super) fn sorry_standby(this: &Shared) {
    let name = this.borrow().name.clone();
    let key = this.borrow().key.clone();
    let mut dest = match sorry_dest(this) {
        Some(Ok(d)) => d,
        Some(Err(e)) => return log::error(&format!("{name}: sorry server: {e}")),
        None => return,
    };
    dest.weight = 0;
    match execute(this, Op::AddDest(key, dest.clone())) {
        Ok(()) => this.borrow_mut().sorry_dest = Some(dest),
        Err(e) => log::error(&format!("{name}: adding the sorry server at weight 0: {e}")),
    }
}

fn sorry(this: &Shared, put_in: bool) {
    if this.borrow().sorry_inhibit {
        return sorry_weight(this, put_in);
    }
    let (name, key, why) = {
        let m = this.borrow();
        let why = match (put_in, m.board.policy.sorry_quorum) {
            (true, true) => "the quorum is lost",
            (true, false) => "no real server is up",
            (false, true) => "the quorum is met again",
            (false, false) => "a real server is up again",
        };
        (m.name.clone(), m.key.clone(), why)
    };
    if put_in {
        let dest = match sorry_dest(this) {
            Some(Ok(d)) => d,
            Some(Err(e)) => return log::error(&format!("{name}: sorry server: {e}")),
            None => return,
        };
        match execute(this, Op::AddDest(key, dest.clone())) {
            Ok(()) => {
                log::warn(&format!(
                    "{name}: {why}: sorry server {}:{} in",
                    dest.addr, dest.port
                ));
                this.borrow_mut().sorry_dest = Some(dest);
            }
            Err(e) => log::error(&format!("{name}: adding the sorry server: {e}")),
        }
    } else {
        let dest = this.borrow_mut().sorry_dest.take();
        if let Some(d) = dest {
            match execute(this, Op::DelDest(key, d.addr, d.port)) {
                Ok(()) => log::info(&format!("{name}: {why}: sorry server out")),
                Err(e) => log::error(&format!("{name}: removing the sorry server: {e}")),
            }
        }
    }
}

/// sorry_inhibit: the sorry server's weight goes up or to 0 (it is added if it is not there).
fn sorry_weight(this: &Shared, put_in: bool) {
    let (name, key, present) = {
        let m = this.borrow();
        (m.name.clone(), m.key.clone(), m.sorry_dest.is_some())
    };
    let mut dest = match sorry_dest(this) {
        Some(Ok(d)) => d,
        Some(Err(e)) => return log::error(&format!("{name}: sorry server: {e}")),
        None => return,
    };
    if !put_in {
        dest.weight = 0;
    }
    let op = if present {
        Op::EditDest(key, dest.clone())
    } else {
        Op::AddDest(key, dest.clone())
    };
    match execute(this, op) {
        Ok(()) => {
            log::info(&format!(
                "{name}: sorry server {}:{} at weight {}",
                dest.addr, dest.port, dest.weight
            ));
            this.borrow_mut().sorry_dest = Some(dest);
        }
        Err(e) => log::error(&format!("{name}: the sorry server's weight: {e}")),
    }
}

/// Where probe results come in: the board decides, and its verdicts are carried out.
impl Subscriber for Monitor {
    fn id(&self) -> u64 {
        self.id
    }

    fn deliver(
        this: &Shared,
        server: SocketAddr,
        index: usize,
        outcome: crate::check::Outcome,
        at: std::time::Instant,
    ) -> Option<std::time::Duration> {
        let (fx, retry) = {
            let mut m = this.borrow_mut();
            if m.stopped {
                return None;
            }
            m.checks_run += 1;
            let kind = m.kind_of(&server, index);
            // a kind or two per monitor: a list finds it sooner than a map
            match m.latency.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, l)) => l.observe(outcome.latency),
                None => {
                    let mut l = crate::check::latency::Latencies::default();
                    l.observe(outcome.latency);
                    m.latency.push((kind, l));
                    m.latency.sort_by_key(|(k, _)| *k);
                }
            }
            let fx = m.board.observe_at(&server, index, outcome, at);
            let retry = m.retry_interval.filter(|_| m.board.retrying(&server, index));
            (fx, retry)
        };
        apply(this, fx);
        retry
    }
}
