//! Runtime overrides: an operator's word on a real server (drain it, put it in maintenance,
//! hold it at a weight) that wins over what its checks say until it is lifted or expires.
//! Pure: the set of overrides, which servers and services one covers, TTL arithmetic, the
//! weight that wins, and the state file's JSON. The monitor runtime carries them out.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::ipvs::{Dest, ServiceKey};
use crate::model::SpecError;
use crate::model::spec::{MAX_WEIGHT, bad, parse_endpoint};

/// The longest TTL taken: a year (a longer hold is one to lift by hand).
pub const MAX_TTL: Duration = Duration::from_secs(366 * 86400);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Weight 0 while connections drain; the server stays in the table.
    Drain,
    /// Weight 0, checks keep running, no verdict touches the table.
    Maintenance,
    /// This weight, whatever the checks say.
    Weight,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Drain => "drain",
            Kind::Maintenance => "maintenance",
            Kind::Weight => "weight",
        }
    }
}

/// Who set an override: an attached control client (SO_PEERCRED's uid and pid), or the
/// director's own code (its script, a timer, the REPL on its terminal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "lowercase")]
pub enum By {
    Script { pid: i32 },
    Client { uid: u32, pid: i32 },
}

impl By {
    pub fn json(self) -> serde_json::Value {
        match self {
            By::Script { .. } => serde_json::json!("script"),
            By::Client { uid, pid } => serde_json::json!({"uid": uid, "pid": pid}),
        }
    }
}

impl std::fmt::Display for By {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            By::Script { pid } => write!(f, "the script (pid {pid})"),
            By::Client { uid, pid } => write!(f, "a client (uid {uid}, pid {pid})"),
        }
    }
}

/// One real server of one service an override holds, and the weight it had before any
/// override held it (what an unmonitored server goes back to).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The service as it prints (`TCP 192.0.2.110:80`): how the state file names it.
    pub service: String,
    pub server: SocketAddr,
    pub before: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub id: String,
    pub kind: Kind,
    /// The server as given, normalised ("192.0.2.101" covers every port).
    pub server: String,
    pub targets: Vec<Target>,
    pub weight: u32,
    pub reason: String,
    pub by: By,
    /// Seconds since the Unix epoch.
    pub set: f64,
    pub expires: Option<f64>,
}

impl Override {
    pub fn services(&self) -> Vec<String> {
        let mut s: Vec<String> = self.targets.iter().map(|t| t.service.clone()).collect();
        s.dedup();
        s
    }

    pub fn covers(&self, service: &str, server: SocketAddr) -> bool {
        self.targets
            .iter()
            .any(|t| t.service == service && t.server == server)
    }

    pub fn expired(&self, now: f64) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    /// What `lvs.overrides()` shows of it at `now`: times as RFC 3339 and as epoch seconds;
    /// `expires` and `expires_in` are left out of one held until lifted.
    pub fn view(&self, now: f64) -> serde_json::Value {
        let mut v = serde_json::json!({
            "id": self.id, "kind": self.kind.name(), "server": self.server,
            "services": self.services(), "weight": self.weight, "reason": self.reason,
            "by": self.by.json(), "set": rfc3339(self.set), "set_epoch": self.set.floor() as i64,
        });
        if let Some(e) = self.expires {
            v["expires"] = rfc3339(e).into();
            v["expires_epoch"] = (e.floor() as i64).into();
            v["expires_in"] = (((e - now).max(0.0) * 10.0).round() / 10.0).into();
        }
        v
    }

    /// The fields events carry.
    pub fn event(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id, "kind": self.kind.name(), "server": self.server,
            "services": self.services(), "weight": self.weight, "reason": self.reason,
            "by": self.by.json(), "until": self.expires.map(rfc3339),
        })
    }
}

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z).
const LAST_TIME: f64 = 253_402_300_799.0;

/// Seconds since the epoch as RFC 3339 (to the second).
pub fn rfc3339(t: f64) -> String {
    let secs = if t.is_finite() {
        t.clamp(0.0, LAST_TIME)
    } else {
        0.0
    };
    let at = UNIX_EPOCH + Duration::from_secs_f64(secs);
    humantime::format_rfc3339_seconds(at).to_string()
}

pub fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A server as an override names it: an address, with or without a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, SpecError> {
        let (ip, port) = parse_endpoint("server", s)?;
        Ok(Pattern { ip, port })
    }

    pub fn matches(&self, s: SocketAddr) -> bool {
        s.ip() == self.ip && self.port.is_none_or(|p| p == s.port())
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.ip, self.port) {
            (ip, Some(p)) => write!(f, "{}", SocketAddr::new(ip, p)),
            (IpAddr::V6(ip), None) => write!(f, "[{ip}]"),
            (ip, None) => write!(f, "{ip}"),
        }
    }
}

/// What an operator asks for, as read from the script.
#[derive(Clone, Debug)]
pub struct Request {
    pub kind: Kind,
    pub server: String,
    pub service: Option<ServiceKey>,
    pub weight: Option<i64>,
    pub reason: Option<String>,
    pub ttl: Option<Duration>,
}

/// A request checked: the pattern, the weight to hold, and the TTL.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    pub pattern: Pattern,
    pub weight: u32,
    pub ttl: Option<Duration>,
}

pub fn check(r: &Request) -> Result<Checked, SpecError> {
    let pattern = Pattern::parse(&r.server)?;
    let weight = match (r.kind, r.weight) {
        (Kind::Weight, None) => return Err(bad("weight", "nil", "set_weight needs a weight")),
        (Kind::Weight, Some(w)) if (0..=MAX_WEIGHT).contains(&w) => w as u32,
        (Kind::Weight, Some(w)) => return Err(bad("weight", w, "must be from 0 to 2147483647")),
        _ => 0,
    };
    if let Some(t) = r.ttl
        && (t.is_zero() || t > MAX_TTL)
    {
        return Err(bad(
            "ttl",
            t.as_secs_f64(),
            "must be more than 0 seconds and at most a year (31622400); omit it to hold until lifted",
        ));
    }
    Ok(Checked {
        pattern,
        weight,
        ttl: r.ttl,
    })
}

/// The servers `pattern` names in `table`, in `service` only when given: (service, server,
/// weight now). An empty answer is an error naming what was asked for.
pub fn resolve(
    pattern: &Pattern,
    service: Option<&ServiceKey>,
    table: &[(ServiceKey, Vec<Dest>)],
) -> Result<Vec<(ServiceKey, SocketAddr, u32)>, String> {
    if let Some(k) = service
        && !table.iter().any(|(s, _)| s == k)
    {
        return Err(format!("service: no such service: {k}"));
    }
    let found: Vec<_> = table
        .iter()
        .filter(|(s, _)| service.is_none_or(|k| k == s))
        .flat_map(|(s, dests)| {
            dests
                .iter()
                .map(|d| (s.clone(), SocketAddr::new(d.addr, d.port), d.weight))
                .filter(|(_, a, _)| pattern.matches(*a))
        })
        .collect();
    if found.is_empty() {
        return Err(match service {
            Some(k) => format!("server: {pattern} is not a real server of {k}"),
            None => format!("server: {pattern} is not a real server of any service"),
        });
    }
    Ok(found)
}

/// The weight the table gets: an override's while one holds, else what the checks say (0
/// when they took the server out).
pub fn winner(held: Option<u32>, out: bool, weight: u32) -> u32 {
    held.unwrap_or(if out { 0 } else { weight })
}

/// The overrides in force, oldest first; the newest one covering a server wins.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OverrideSet {
    /// The number of the last id given: ids are not reused, not even across restarts.
    pub last: u64,
    pub overrides: Vec<Override>,
}

/// What a server goes back to when the last override holding it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Another override still holds it, at this weight.
    Held(u32),
    /// Nobody holds it: its weight from before the overrides.
    Free(u32),
}

impl OverrideSet {
    pub fn next_id(&mut self) -> String {
        self.last += 1;
        format!("o{}", self.last)
    }

    /// The override that decides the weight of `server` in `service`: the newest one.
    pub fn holding(&self, service: &str, server: SocketAddr) -> Option<&Override> {
        self.overrides.iter().rev().find(|o| o.covers(service, server))
    }

    /// The weight `server` had before the oldest override now holding it came.
    pub fn before(&self, service: &str, server: SocketAddr) -> Option<u32> {
        self.overrides.iter().find_map(|o| {
            o.targets
                .iter()
                .find(|t| t.service == service && t.server == server)
                .map(|t| t.before)
        })
    }

    /// Adds `o`, its targets' `before` taken from an older override where one holds them
    /// already (the weight at the table then is that override's, not the server's own).
    pub fn add(&mut self, mut o: Override) {
        for t in &mut o.targets {
            if let Some(b) = self.before(&t.service, t.server) {
                t.before = b;
            }
        }
        self.overrides.push(o);
    }

    pub fn get(&self, id: &str) -> Option<&Override> {
        self.overrides.iter().find(|o| o.id == id)
    }

    /// Ends override `id`; for each of its targets, what the server goes to now.
    pub fn remove(&mut self, id: &str) -> Option<(Override, Vec<(Target, Release)>)> {
        let i = self.overrides.iter().position(|o| o.id == id)?;
        let o = self.overrides.remove(i);
        let after = o
            .targets
            .iter()
            .map(|t| {
                let r = match self.holding(&t.service, t.server) {
                    Some(other) => Release::Held(other.weight),
                    None => Release::Free(t.before),
                };
                (t.clone(), r)
            })
            .collect();
        Some((o, after))
    }

    /// The ids of the overrides expired at `now`, oldest first.
    pub fn expired(&self, now: f64) -> Vec<String> {
        self.overrides
            .iter()
            .filter(|o| o.expired(now))
            .map(|o| o.id.clone())
            .collect()
    }

    /// How long from `now` until the next override expires.
    pub fn next_expiry(&self, now: f64) -> Option<Duration> {
        self.overrides
            .iter()
            .filter_map(|o| o.expires)
            .reduce(f64::min)
            .map(|e| Duration::try_from_secs_f64((e - now).max(0.0)).unwrap_or(MAX_TTL))
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    }

    pub fn from_json(text: &str) -> Result<OverrideSet, String> {
        let set: OverrideSet = serde_json::from_str(text).map_err(|e| e.to_string())?;
        // a file edited by hand: times past what a clock can show, weights the kernel
        // cannot take, are refused here rather than met later
        for o in &set.overrides {
            let time = |t: f64| (0.0..=LAST_TIME).contains(&t);
            if !time(o.set) || !o.expires.is_none_or(time) {
                return Err(format!("override {}: a time out of range", o.id));
            }
            if i64::from(o.weight) > MAX_WEIGHT {
                return Err(format!("override {}: weight {} is out of range", o.id, o.weight));
            }
        }
        // an id past `last` (a file edited by hand) must not be given again
        let top = set
            .overrides
            .iter()
            .filter_map(|o| o.id.strip_prefix('o')?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        Ok(OverrideSet {
            last: set.last.max(top),
            ..set
        })
    }
}

#[cfg(test)]
mod tests;
