//! The health of a monitored service's real servers: rise/fall per check, a server up only
//! while all its checks are, and the service-wide policies (inhibit or remove, sorry server,
//! quorum with hysteresis, the max_down guard rail). Pure: it is told what checks found and
//! answers with the effects to carry out, so every rule is testable without a kernel.

use std::fmt::Debug;
use std::hash::Hash;

mod keyed;
pub use keyed::Keyed;

use super::Outcome;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Weight 0: established connections drain, new ones go elsewhere.
    Inhibit,
    /// Deleted from the service, put back when it recovers.
    Remove,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxDown {
    Count(usize),
    /// A share of the servers, 0.0 to 1.0.
    Share(f64),
}

impl MaxDown {
    pub fn parse(s: &str) -> Result<MaxDown, String> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            match p.trim().parse::<f64>() {
                Ok(v) if (0.0..=100.0).contains(&v) => Ok(MaxDown::Share(v / 100.0)),
                _ => Err(format!("{s:?} is not a share from 0% to 100%")),
            }
        } else {
            t.parse::<usize>()
                .map(MaxDown::Count)
                .map_err(|_| format!("{s:?} is not a count or a share such as \"50%\""))
        }
    }

    fn limit(self, total: usize) -> usize {
        match self {
            MaxDown::Count(n) => n,
            MaxDown::Share(p) => (p * total as f64).floor() as usize,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub rise: u32,
    pub fall: u32,
    pub action: Action,
    pub alpha: bool,
    pub quorum: Option<u64>,
    pub hysteresis: u64,
    pub max_down: Option<MaxDown>,
    pub sorry: bool,
    /// The sorry server replaces the real servers still up when the quorum is lost
    /// (keepalived's semantics), not only when none is up.
    pub sorry_quorum: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            rise: 2,
            fall: 3,
            action: Action::Inhibit,
            alpha: false,
            quorum: None,
            hysteresis: 0,
            max_down: None,
            sorry: false,
            sorry_quorum: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Up,
    Down,
}

impl Health {
    pub fn name(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// One check of one server.
#[derive(Clone, Debug)]
pub struct CheckState {
    pub health: Health,
    successes: u32,
    failures: u32,
    pub last: Option<Outcome>,
    /// Results taken in, and how many of them were failures (the metrics' counters).
    pub runs: u64,
    pub failed: u64,
}

#[derive(Clone, Debug)]
pub struct Server {
    /// The weight it gets while up.
    pub weight: u32,
    pub health: Health,
    /// Taken out of the table by this monitor (weight 0, or deleted).
    pub out: bool,
    /// Failed, but left in because taking it out would pass max_down.
    pub kept: bool,
    pub checks: Vec<CheckState>,
    /// The weight an override holds it at: the checks go on, but the table is the
    /// override's until it ends.
    pub held: Option<u32>,
    /// `weight` is a guess (1): the kernel had it at 0 when the watch began.
    pub guessed: bool,
    /// Times its health changed, up to down or back.
    pub transitions: u64,
    /// When a result last came in (monotonic; the probe's start).
    pub checked: Option<std::time::Instant>,
}

impl Server {
    /// What the checks last said: the first failing check's detail, else the last check's.
    /// Worked out when asked, not at every result: a checker delivers thousands a second.
    pub fn last_detail(&self) -> String {
        self.checks
            .iter()
            .filter_map(|c| c.last.as_ref())
            .find(|o| !o.ok)
            .or_else(|| self.checks.iter().rev().find_map(|c| c.last.as_ref()))
            .map(|o| o.detail.to_string())
            .unwrap_or_default()
    }
}

fn counted(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Effect<K> {
    SetWeight(K, u32),
    Remove(K),
    /// Put a removed server back with this weight.
    Restore(K, u32),
    SorryIn,
    SorryOut,
    Changed {
        server: K,
        from: Health,
        to: Health,
        reason: String,
        detail: String,
    },
    Quorum {
        up: bool,
        sum: u64,
    },
    Panic {
        server: K,
        out: usize,
        limit: usize,
    },
}

pub struct Board<K: Ord + Hash + Clone + Debug> {
    pub policy: Policy,
    pub servers: Keyed<K, Server>,
    pub sorry_in: bool,
    pub quorum_met: bool,
    pub panicking: bool,
    /// The real servers are out for the sorry server (quorum lost, `sorry_quorum`): their
    /// verdicts are kept and carried out when the quorum is back.
    pub swapped: bool,
}

impl<K: Ord + Hash + Clone + Debug> Board<K> {
    pub fn new(policy: Policy) -> Board<K> {
        Board {
            policy,
            servers: Keyed::default(),
            sorry_in: false,
            quorum_met: true,
            panicking: false,
            swapped: false,
        }
    }

    /// Starts watching a server the kernel has at `kernel_weight`, with `checks` checks.
    /// `weight` is the weight to give it while up when the kernel's is 0 (or unknown).
    pub fn add(&mut self, key: K, kernel_weight: u32, weight: Option<u32>, checks: usize) -> Vec<Effect<K>> {
        if self.servers.contains_key(&key) {
            return Vec::new();
        }
        let alpha = self.policy.alpha;
        let health = if alpha { Health::Down } else { Health::Up };
        let guessed = weight.is_none() && kernel_weight == 0;
        let weight = match (weight, kernel_weight) {
            (Some(w), _) => w,
            (None, 0) => 1,
            (None, w) => w,
        };
        let check = CheckState {
            health,
            successes: 0,
            failures: 0,
            last: None,
            runs: 0,
            failed: 0,
        };
        self.servers.insert(
            key.clone(),
            Server {
                weight,
                health,
                out: false,
                kept: false,
                checks: vec![check; checks.max(1)],
                held: None,
                guessed,
                transitions: 0,
                checked: None,
            },
        );
        let mut fx = Vec::new();
        if alpha {
            fx.push(Effect::Changed {
                server: key.clone(),
                from: Health::Up,
                to: Health::Down,
                reason: "alpha: down until its checks pass".into(),
                detail: String::new(),
            });
            self.take_out(&key, &mut fx);
        }
        // the quorum is weighed by `settled` once all the servers there are are added
        self.settle_servers(&mut fx);
        fx
    }

    /// The kernel no longer has the server and this monitor did not take it out: stop
    /// watching it (it is not put back).
    pub fn forget(&mut self, key: &K) -> Vec<Effect<K>> {
        let mut fx = Vec::new();
        if self.servers.remove(key).is_some() {
            self.settle(&mut fx);
        }
        fx
    }

    /// Someone else set the weight of a server this monitor keeps in: that is its weight now.
    pub fn weight_changed(&mut self, key: &K, kernel_weight: u32) -> Vec<Effect<K>> {
        let mut fx = Vec::new();
        let Some(s) = self.servers.get_mut(key) else {
            return fx;
        };
        if s.held.is_some() {
            // the override's weight, or someone editing a held server: neither is the
            // weight the server goes back to
            return fx;
        }
        if s.out && self.policy.action == Action::Inhibit && kernel_weight > 0 {
            // An inhibited server stays at 0 until it passes; remember what it should get.
            s.weight = kernel_weight;
            fx.push(Effect::SetWeight(key.clone(), 0));
        } else if !s.out && kernel_weight > 0 {
            s.weight = kernel_weight;
            s.guessed = false;
        }
        self.settle(&mut fx);
        fx
    }

    /// What check `index` of server `key` found.
    pub fn observe(&mut self, key: &K, index: usize, outcome: Outcome) -> Vec<Effect<K>> {
        self.observe_at(key, index, outcome, std::time::Instant::now())
    }

    /// Whether check `index` of `key` is failing on an up server: keepalived retries it
    /// sooner than its interval (delay_before_retry) until it goes down or passes.
    pub fn retrying(&self, key: &K, index: usize) -> bool {
        self.servers
            .get(key)
            .and_then(|s| s.checks.get(index))
            .is_some_and(|c| c.health == Health::Up && c.failures > 0)
    }

    /// A result of check `index` of `key`, from a probe that started `at`.
    pub fn observe_at(
        &mut self,
        key: &K,
        index: usize,
        outcome: Outcome,
        at: std::time::Instant,
    ) -> Vec<Effect<K>> {
        let mut fx = Vec::new();
        let (rise, fall) = (self.policy.rise.max(1), self.policy.fall.max(1));
        let Some(s) = self.servers.get_mut(key) else {
            return fx;
        };
        let Some(c) = s.checks.get_mut(index) else {
            return fx;
        };
        s.checked = Some(at);
        let mut reason = String::new();
        c.runs += 1;
        c.failed += u64::from(!outcome.ok);
        if outcome.ok {
            c.failures = 0;
            c.successes = c.successes.saturating_add(1);
            if c.health == Health::Down && c.successes >= rise {
                c.health = Health::Up;
                reason = counted(c.successes, "success", "consecutive successes");
            }
        } else {
            c.successes = 0;
            c.failures = c.failures.saturating_add(1);
            if c.health == Health::Up && c.failures >= fall {
                c.health = Health::Down;
                reason = counted(c.failures, "failure", "consecutive failures");
            }
        }
        let dynamic = outcome.weight.filter(|_| outcome.ok);
        c.last = Some(outcome);
        let was = s.health;
        let now = if s.checks.iter().all(|c| c.health == Health::Up) {
            Health::Up
        } else {
            Health::Down
        };
        let mut changed = was != now;
        if let Some(w) = dynamic.filter(|&w| w != s.weight) {
            changed = true;
            s.weight = w;
            if now == Health::Up && !s.out && s.held.is_none() && !self.swapped {
                fx.push(Effect::SetWeight(key.clone(), w));
            }
        }
        if was != now {
            let n = s.checks.len();
            let reason = if n > 1 {
                format!("check {} of {n}: {reason}", index + 1)
            } else {
                reason
            };
            s.health = now;
            s.transitions += 1;
            fx.push(Effect::Changed {
                server: key.clone(),
                from: was,
                to: now,
                reason,
                detail: s.last_detail(),
            });
            match now {
                Health::Down => self.take_out(key, &mut fx),
                Health::Up => self.put_back(key, &mut fx),
            }
        }
        // What settle weighs (who is out, kept or held, and the weights) moves only with a
        // change of health or weight; a result that changes neither leaves it as it was,
        // and settling looks at every server of the service.
        if changed {
            self.settle(&mut fx);
        }
        fx
    }

    fn out_count(&self) -> usize {
        self.servers.values().filter(|s| s.out).count()
    }

    fn limit(&self) -> usize {
        match self.policy.max_down {
            Some(m) => m.limit(self.servers.len()),
            None => usize::MAX,
        }
    }

    fn take_out(&mut self, key: &K, fx: &mut Vec<Effect<K>>) {
        let (out, limit) = (self.out_count(), self.limit());
        let action = self.policy.action;
        let Some(s) = self.servers.get_mut(key) else {
            return;
        };
        if s.out {
            return;
        }
        if out + 1 > limit {
            s.kept = true;
            if !self.panicking {
                self.panicking = true;
                fx.push(Effect::Panic {
                    server: key.clone(),
                    out,
                    limit,
                });
            }
            return;
        }
        s.kept = false;
        s.out = true;
        if s.held.is_none() && !self.swapped {
            fx.push(match action {
                Action::Inhibit => Effect::SetWeight(key.clone(), 0),
                Action::Remove => Effect::Remove(key.clone()),
            });
        }
    }

    fn put_back(&mut self, key: &K, fx: &mut Vec<Effect<K>>) {
        let action = self.policy.action;
        let Some(s) = self.servers.get_mut(key) else {
            return;
        };
        s.kept = false;
        if !s.out {
            return;
        }
        s.out = false;
        if s.held.is_none() && !self.swapped {
            fx.push(match action {
                Action::Inhibit => Effect::SetWeight(key.clone(), s.weight),
                Action::Remove => Effect::Restore(key.clone(), s.weight),
            });
        }
    }

    /// An override holds `key` at `weight` (None: it no longer does). While held, verdicts
    /// are kept but not carried out; at the end the table gets what the checks say now.
    /// `before` is the server's weight before the override, which replaces a guessed one.
    pub fn hold(&mut self, key: &K, weight: Option<u32>, before: u32) -> Vec<Effect<K>> {
        let mut fx = Vec::new();
        let action = self.policy.action;
        let Some(s) = self.servers.get_mut(key) else {
            return fx;
        };
        if s.guessed && before > 0 {
            s.weight = before;
            s.guessed = false;
        }
        let in_table = s.held.is_some() || !(s.out && action == Action::Remove);
        match weight {
            Some(w) => {
                if s.held == Some(w) {
                    return fx;
                }
                s.held = Some(w);
                fx.push(if in_table {
                    Effect::SetWeight(key.clone(), w)
                } else {
                    Effect::Restore(key.clone(), w)
                });
            }
            None => {
                if s.held.take().is_none() {
                    return fx;
                }
                fx.push(match (s.out, action) {
                    (false, _) => Effect::SetWeight(key.clone(), s.weight),
                    (true, Action::Inhibit) => Effect::SetWeight(key.clone(), 0),
                    (true, Action::Remove) => Effect::Remove(key.clone()),
                });
            }
        }
        self.settle(&mut fx);
        fx
    }

    /// Service-wide consequences of the servers' states: servers kept in by max_down go out
    /// when there is room, the sorry server, quorum.
    fn settle(&mut self, fx: &mut Vec<Effect<K>>) {
        self.settle_servers(fx);
        self.settle_quorum(fx);
    }

    /// Everything of `settle` but the quorum (which a monitor weighs once the kernel's
    /// servers are all added, not after each).
    fn settle_servers(&mut self, fx: &mut Vec<Effect<K>>) {
        let kept: Vec<K> = self
            .servers
            .iter()
            .filter(|(_, s)| s.kept)
            .map(|(k, _)| k.clone())
            .collect();
        for k in kept {
            if self.out_count() < self.limit() {
                if let Some(s) = self.servers.get_mut(&k) {
                    s.kept = false;
                }
                self.take_out(&k, fx);
            }
        }
        if self.panicking && !self.servers.values().any(|s| s.kept) {
            self.panicking = false;
        }
        let swaps = self.policy.sorry_quorum && self.policy.quorum.is_some();
        if self.policy.sorry && !swaps {
            let serving = self.servers.values().any(|s| match s.held {
                Some(w) => w > 0,
                None => !s.out,
            });
            if !serving && !self.sorry_in {
                self.sorry_in = true;
                fx.push(Effect::SorryIn);
            } else if serving && self.sorry_in {
                self.sorry_in = false;
                fx.push(Effect::SorryOut);
            }
        }
    }

    /// The service-wide consequences once servers were added: the quorum is weighed.
    pub fn settled(&mut self) -> Vec<Effect<K>> {
        let mut fx = Vec::new();
        self.settle(&mut fx);
        fx
    }

    /// The quorum: lost below quorum − hysteresis (or with nothing live), met again at
    /// quorum + hysteresis. With `sorry_quorum` and a sorry server, losing it takes the
    /// real servers still in out for the sorry server, and meeting it puts them back.
    fn settle_quorum(&mut self, fx: &mut Vec<Effect<K>>) {
        let Some(q) = self.policy.quorum else {
            return;
        };
        let sum = self.live_weight();
        let h = self.policy.hysteresis;
        let swap = self.policy.sorry_quorum && self.policy.sorry;
        if self.quorum_met && (sum < q.saturating_sub(h) || sum == 0) {
            self.quorum_met = false;
            if swap && !self.swapped {
                let action = self.policy.action;
                for (k, s) in self.servers.iter() {
                    if !s.out && s.held.is_none() {
                        fx.push(match action {
                            Action::Inhibit => Effect::SetWeight(k.clone(), 0),
                            Action::Remove => Effect::Remove(k.clone()),
                        });
                    }
                }
                self.swapped = true;
                self.sorry_in = true;
                fx.push(Effect::SorryIn);
            }
            fx.push(Effect::Quorum { up: false, sum });
        } else if !self.quorum_met && sum >= q.saturating_add(h) && sum > 0 {
            self.quorum_met = true;
            if self.swapped {
                self.swapped = false;
                self.sorry_in = false;
                fx.push(Effect::SorryOut);
                let action = self.policy.action;
                for (k, s) in self.servers.iter() {
                    if !s.out && s.held.is_none() {
                        fx.push(match action {
                            Action::Inhibit => Effect::SetWeight(k.clone(), s.weight),
                            Action::Remove => Effect::Restore(k.clone(), s.weight),
                        });
                    }
                }
            }
            fx.push(Effect::Quorum { up: true, sum });
        }
    }

    /// The sum of the weights of the servers that are up, or that an override holds (at
    /// its weight: one held at 0 serves nobody, whatever its checks say).
    pub fn live_weight(&self) -> u64 {
        self.servers
            .values()
            .map(|s| match s.held {
                Some(w) => u64::from(w),
                None if s.health == Health::Up => u64::from(s.weight),
                None => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests;
