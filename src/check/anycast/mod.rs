//! Anycast: a director announces its VIPs through BIRD 2 while its services can be served
//! from it, and stops attracting traffic when they cannot, when it stops, and when it dies or
//! hangs. The VIPs are addresses on a TUN device that only lives while lvsh holds it (see
//! `host::tun`); BIRD's `direct` protocol makes them routes, and the operator's BGP exports
//! them with the filter of the file lvsh writes for BIRD to include (`host::bird`).
//!
//! On the loop, a task beats the lifeline and, every tick, decides from the monitors
//! (`rule`) and puts the device's addresses where the decision says. A withdrawal by
//! decision removes the addresses; a stop cuts the device; a death or a hang loses it.

pub mod rule;

use std::cell::RefCell;
use std::net::IpAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use rule::{Grade, Verdict};

use super::monitor::Handle;
use super::monitor::view::Vitals;
use crate::host::bird::Include;
use crate::host::rtnl::Rtnl;
use crate::host::tun::Lifeline;

const TICK: Duration = Duration::from_millis(100);
/// Ticks between looks at the device when nothing changed (someone may have removed an
/// address by hand).
const LOOK_EVERY: u64 = 10;
const BIRDC_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct BirdSpec {
    /// The file BIRD's configuration includes.
    pub include: PathBuf,
    /// BIRD's control socket, to reconfigure after the file changed (none: BIRD reads the
    /// file when it starts or is told to by someone else).
    pub socket: Option<PathBuf>,
    /// The direct protocol's name (the filter is `<protocol>_export`).
    pub protocol: String,
    pub birdc: String,
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub vips: Vec<IpAddr>,
    pub dev: String,
    /// How long the event loop may go without turning before the device is let go.
    pub hang: Duration,
    /// How long a graceful stop waits after the withdrawal before lvsh goes on stopping.
    pub linger: Duration,
    pub grade: Option<Grade>,
    pub bird: Option<BirdSpec>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub dev: String,
    pub vips: Vec<IpAddr>,
    pub announced: bool,
    pub reason: Option<String>,
    pub med: Option<u32>,
    /// Since when (seconds since the Unix epoch) the verdict holds.
    pub since: f64,
    /// The device is there (not cut, not lost to a stall).
    pub device: bool,
    pub stalls: u64,
    pub changes: u64,
}

struct State {
    spec: Spec,
    monitors: Vec<Handle>,
    lifeline: Lifeline,
    rtnl: Rtnl,
    verdict: Verdict,
    since: f64,
    changes: u64,
    /// The device generation whose addresses are in place.
    applied: u64,
    by_hand: bool,
    stopping: bool,
    include: Option<String>,
    last_error: Option<String>,
    task: Option<tokio::task::AbortHandle>,
}

/// One anycast group (a device and its VIPs), as its owner holds it.
#[derive(Clone)]
pub struct Group(Rc<RefCell<State>>);

/// Starts announcing `spec.vips` as `monitors` allow. Must run on a tokio LocalSet.
pub fn start(spec: Spec, monitors: Vec<Handle>) -> Result<Group, String> {
    if let Some(b) = &spec.bird {
        crate::host::bird::check_name(&b.protocol)?;
    }
    // the device and the netlink socket are made here, in the namespace the caller is in
    let rtnl = Rtnl::new().map_err(|e| e.0)?;
    let lifeline = Lifeline::start(&spec.dev, spec.hang).map_err(|e| format!("anycast: {}", e.0))?;
    let g = Group(Rc::new(RefCell::new(State {
        spec,
        monitors,
        lifeline,
        rtnl,
        verdict: Verdict::Withdraw("starting".into()),
        since: crate::check::monitor::view::now(),
        changes: 0,
        applied: 0,
        by_hand: false,
        stopping: false,
        include: None,
        last_error: None,
        task: None,
    })));
    g.write_include();
    let weak = Rc::downgrade(&g.0);
    let task = tokio::task::spawn_local(async move {
        let mut ticks = 0u64;
        let mut every = tokio::time::interval(TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(s) = weak.upgrade() else { return };
            Group(s).tick(ticks.is_multiple_of(LOOK_EVERY));
            ticks += 1;
        }
    });
    g.0.borrow_mut().task = Some(task.abort_handle());
    Ok(g)
}

impl Group {
    fn tick(&self, look: bool) {
        let mut st = self.0.borrow_mut();
        st.lifeline.beat();
        let vitals: Vec<(String, Vitals)> = st.monitors.iter().map(|h| (h.name(), h.vitals())).collect();
        let mut v = rule::verdict(&vitals, st.spec.grade);
        if st.stopping {
            v = Verdict::Withdraw("stopping".into());
        } else if st.by_hand {
            v = Verdict::Withdraw("withdrawn by hand".into());
        }
        let changed = v != st.verdict;
        if changed {
            say(&st.spec, &v, st.verdict.announced());
            st.changes += 1;
            st.since = crate::check::monitor::view::now();
            st.verdict = v;
        }
        let fresh = st.lifeline.generation() != st.applied;
        if changed || fresh || look {
            st.reconcile();
        }
        drop(st);
        if changed {
            self.write_include();
        }
    }

    /// Writes BIRD's include when it differs (the MEDs), and asks BIRD to read it again.
    fn write_include(&self) {
        let mut st = self.0.borrow_mut();
        let Some(b) = st.spec.bird.clone() else { return };
        let meds: Vec<(IpAddr, u32)> = match st.verdict.med() {
            Some(m) => st.spec.vips.iter().map(|v| (*v, m)).collect(),
            None => Vec::new(),
        };
        let text = Include {
            protocol: &b.protocol,
            dev: &st.spec.dev,
            meds: &meds,
        }
        .render();
        if st.include.as_deref() == Some(text.as_str()) {
            return;
        }
        match crate::host::bird::write(&b.include, &text) {
            Ok(wrote) => {
                st.include = Some(text);
                // the first write may find the file as BIRD already read it
                if let (true, Some(sock)) = (wrote, b.socket.clone()) {
                    tokio::task::spawn_local(configure(b.birdc.clone(), sock));
                }
            }
            Err(e) => crate::log::error(&format!("anycast: cannot write {}: {e}", b.include.display())),
        }
    }

    pub fn status(&self) -> Status {
        let st = self.0.borrow();
        Status {
            dev: st.spec.dev.clone(),
            vips: st.spec.vips.clone(),
            announced: st.verdict.announced() && st.lifeline.is_open(),
            reason: match &st.verdict {
                Verdict::Withdraw(r) => Some(r.clone()),
                Verdict::Announce { .. } if !st.lifeline.is_open() => Some("the device is gone".into()),
                Verdict::Announce { .. } => None,
            },
            med: st.verdict.med(),
            since: st.since,
            device: st.lifeline.is_open(),
            stalls: st.lifeline.stalls(),
            changes: st.changes,
        }
    }

    /// Withdraws the VIPs until `announce(true)` (an operator's drain of this director).
    pub fn hold_down(&self, down: bool) {
        self.0.borrow_mut().by_hand = down;
        self.tick(true);
    }

    /// A graceful stop: the device goes (every route with it) and lvsh lingers so the
    /// routers move the flows before the rest of the director stops.
    pub async fn stop(&self, why: &str) {
        let linger = {
            let mut st = self.0.borrow_mut();
            if st.stopping {
                return;
            }
            st.stopping = true;
            st.lifeline.cut(true);
            if let Some(t) = st.task.take() {
                t.abort();
            }
            crate::log::info(&format!(
                "anycast: {why}: {} removed, its VIPs withdrawn; stopping in {:.1} s",
                st.spec.dev,
                st.spec.linger.as_secs_f64()
            ));
            st.spec.linger
        };
        tokio::time::sleep(linger).await;
    }
}

impl Drop for State {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl State {
    /// Puts on the device the addresses the verdict wants there.
    fn reconcile(&mut self) {
        if !self.lifeline.is_open() {
            return;
        }
        let generation = self.lifeline.generation();
        let r = self.put_addresses();
        match r {
            Ok(()) => {
                self.applied = generation;
                self.last_error = None;
            }
            Err(e) => {
                if self.last_error.as_deref() != Some(e.as_str()) {
                    crate::log::error(&format!("anycast: {e}"));
                }
                self.last_error = Some(e);
            }
        }
    }

    fn put_addresses(&mut self) -> Result<(), String> {
        let dev = self.spec.dev.clone();
        self.rtnl.set_up(&dev, true).map_err(|e| e.0)?;
        let want: Vec<IpAddr> = if self.verdict.announced() {
            self.spec.vips.clone()
        } else {
            Vec::new()
        };
        let have: Vec<IpAddr> = self
            .rtnl
            .addrs(Some(&dev))
            .map_err(|e| e.0)?
            .into_iter()
            .map(|a| a.addr)
            .collect();
        let full = |a: &IpAddr| if a.is_ipv4() { 32 } else { 128 };
        for a in want.iter().filter(|a| !have.contains(a)) {
            self.rtnl.add_addr(&dev, *a, full(a), None).map_err(|e| e.0)?;
        }
        for a in have
            .iter()
            .filter(|a| !want.contains(a) && !a.is_unicast_link_local_v6())
        {
            self.rtnl.del_addr(&dev, *a, full(a)).map_err(|e| e.0)?;
        }
        Ok(())
    }
}

trait LinkLocal {
    fn is_unicast_link_local_v6(&self) -> bool;
}

impl LinkLocal for IpAddr {
    /// The kernel's own fe80:: address on the device is not a VIP.
    fn is_unicast_link_local_v6(&self) -> bool {
        matches!(self, IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80)
    }
}

fn say(spec: &Spec, v: &Verdict, was_announced: bool) {
    let vips: Vec<String> = spec.vips.iter().map(|v| v.to_string()).collect();
    let vips = vips.join(", ");
    match v {
        Verdict::Announce { med: None } => crate::log::info(&format!("anycast: announcing {vips}")),
        Verdict::Announce { med: Some(m) } => crate::log::info(&format!(
            "anycast: announcing {vips} with MED {m} (few real servers up)"
        )),
        Verdict::Withdraw(why) if was_announced => {
            crate::log::warn(&format!("anycast: withdrawing {vips}: {why}"))
        }
        Verdict::Withdraw(why) => crate::log::info(&format!("anycast: not announcing {vips} yet: {why}")),
    }
    crate::events::emit_with("anycast", || {
        serde_json::json!({
            "dev": spec.dev,
            "vips": spec.vips.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
            "announced": v.announced(),
            "med": v.med(),
            "reason": match v { Verdict::Withdraw(r) => Some(r.clone()), _ => None },
        })
    });
}

/// `birdc -s SOCK configure`, off the loop's back: a child with a deadline.
async fn configure(birdc: String, sock: PathBuf) {
    let mut cmd = tokio::process::Command::new(&birdc);
    cmd.arg("-s").arg(&sock).arg("configure").kill_on_drop(true);
    cmd.stdin(std::process::Stdio::null());
    let run = async { cmd.output().await };
    match tokio::time::timeout(BIRDC_TIMEOUT, run).await {
        Ok(Ok(out)) if out.status.success() => crate::log::info(&format!(
            "anycast: BIRD ({}) read its configuration again",
            sock.display()
        )),
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text += &String::from_utf8_lossy(&out.stderr);
            let text = text.trim().replace('\n', " / ");
            if text.contains("Unable to connect") {
                // BIRD reads the file when it starts
                crate::log::info(&format!(
                    "anycast: BIRD does not answer on {} (yet)",
                    sock.display()
                ))
            } else {
                crate::log::error(&format!(
                    "anycast: {birdc} -s {} configure failed: {text}",
                    sock.display()
                ))
            }
        }
        Ok(Err(e)) => crate::log::error(&format!("anycast: cannot run {birdc}: {e}")),
        Err(_) => crate::log::error(&format!(
            "anycast: {birdc} -s {} configure took over 10 s",
            sock.display()
        )),
    }
}
