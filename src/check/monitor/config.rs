//! A monitor's settings as given, and their checking: what `lvs.monitor{...}` accepts once
//! the types are read.

use std::net::SocketAddr;
use std::time::Duration;

use super::host::FnId;
use super::probe::Probe;
use crate::check::secs;
use crate::check::state::{Action, MaxDown, Policy};
use crate::ipvs::ServiceKey;
use crate::model::SpecError;
use crate::model::spec::{ServerSpec, bad, server_endpoint};

/// The fields a monitor takes.
pub const FIELDS: &[&str] = &[
    "service",
    "check",
    "interval",
    "retry_interval",
    "timeout",
    "rise",
    "fall",
    "action",
    "alpha",
    "warmup",
    "sorry",
    "sorry_quorum",
    "sorry_inhibit",
    "quorum",
    "hysteresis",
    "max_down",
    "servers",
    "on_change",
    "on_quorum",
    "on_panic",
];

/// The fields of one entry of `servers`.
pub const SERVER_FIELDS: &[&str] = &["check", "weight"];

/// `max_down` as given: a count, or a text ("2", "50%").
#[derive(Clone, Debug, PartialEq)]
pub enum MaxDownSpec {
    Count(i64),
    Text(String),
}

/// What one entry of `servers = {["ip:port"] = {...}}` sets for that server.
#[derive(Clone, Debug)]
pub struct ServerOverride {
    pub addr: String,
    pub checks: Option<Vec<Probe>>,
    pub weight: Option<i64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Callbacks {
    pub on_change: Option<FnId>,
    pub on_quorum: Option<FnId>,
    pub on_panic: Option<FnId>,
}

/// A monitor's fields, as given (types already read; sense not yet checked).
#[derive(Clone, Debug)]
pub struct MonitorSpec {
    pub service: ServiceKey,
    pub checks: Option<Vec<Probe>>,
    pub interval: Option<Duration>,
    pub retry_interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub warmup: Option<Duration>,
    pub rise: Option<i64>,
    pub fall: Option<i64>,
    pub action: Option<String>,
    pub alpha: Option<bool>,
    pub quorum: Option<i64>,
    pub hysteresis: Option<i64>,
    pub max_down: Option<MaxDownSpec>,
    pub sorry: Option<ServerSpec>,
    pub sorry_quorum: Option<bool>,
    pub sorry_inhibit: Option<bool>,
    pub servers: Vec<ServerOverride>,
    pub callbacks: Callbacks,
}

impl MonitorSpec {
    pub fn new(service: ServiceKey) -> MonitorSpec {
        MonitorSpec {
            service,
            checks: None,
            interval: None,
            retry_interval: None,
            timeout: None,
            warmup: None,
            rise: None,
            fall: None,
            action: None,
            alpha: None,
            quorum: None,
            hysteresis: None,
            max_down: None,
            sorry: None,
            sorry_quorum: None,
            sorry_inhibit: None,
            servers: Vec::new(),
            callbacks: Callbacks::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct PerServer {
    pub probes: Option<Vec<Probe>>,
    pub weight: Option<u32>,
}

/// A monitor's settings, checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub key: ServiceKey,
    pub probes: Vec<Probe>,
    pub interval: Duration,
    /// How soon a failing check of an up server runs again (keepalived's
    /// delay_before_retry); None: at the interval.
    pub retry_interval: Option<Duration>,
    pub timeout: Duration,
    pub warmup: Duration,
    pub policy: Policy,
    pub sorry: Option<ServerSpec>,
    /// The sorry server stays in the table, at weight 0 while it is not wanted.
    pub sorry_inhibit: bool,
    pub per_server: rustc_hash::FxHashMap<SocketAddr, PerServer>,
    pub callbacks: Callbacks,
}

impl Config {
    /// The custom functions the monitor refers to, once per mention.
    pub fn functions(&self) -> Vec<FnId> {
        let custom = |list: &[Probe]| -> Vec<FnId> {
            list.iter()
                .filter_map(|p| match p {
                    Probe::Custom(f) => Some(*f),
                    Probe::Builtin(_) => None,
                })
                .collect()
        };
        let cb = self.callbacks;
        let mut out = custom(&self.probes);
        for ps in self.per_server.values() {
            out.extend(ps.probes.as_deref().map(custom).unwrap_or_default());
        }
        out.extend([cb.on_change, cb.on_quorum, cb.on_panic].into_iter().flatten());
        out
    }
}

pub fn validate(spec: MonitorSpec) -> Result<Config, SpecError> {
    let key = spec.service.clone();
    let probes = spec
        .checks
        .clone()
        .ok_or_else(|| bad("check", "nil", "a monitor needs a check"))?;
    let interval = spec.interval.unwrap_or(Duration::from_secs(5));
    if interval < Duration::from_millis(10) {
        return Err(bad("interval", secs(interval), "must be at least 0.01 seconds"));
    }
    if let Some(r) = spec.retry_interval
        && r < Duration::from_millis(10)
    {
        return Err(bad("retry_interval", secs(r), "must be at least 0.01 seconds"));
    }
    let timeout = spec.timeout.unwrap_or(Duration::from_secs(3));
    if timeout.is_zero() {
        return Err(bad("timeout", 0, "must be more than 0 seconds"));
    }
    let warmup = spec.warmup.unwrap_or_default();
    let policy = policy(&spec)?;
    let sorry = match &spec.sorry {
        None => None,
        Some(s) => {
            // Without a method it takes that of the service's servers when it goes in.
            let mut probe = s.clone();
            probe.method = probe.method.or(Some("nat".into()));
            probe.to_dest(&key, None)?;
            Some(s.clone())
        }
    };
    if spec.sorry_inhibit == Some(true) && sorry.is_none() {
        return Err(bad("sorry_inhibit", true, "needs a sorry server"));
    }
    let mut per_server = rustc_hash::FxHashMap::default();
    for o in spec.servers {
        let (ip, port) = server_endpoint(&key, &o.addr)?;
        let weight = match o.weight {
            None => None,
            Some(w) if (0..=i64::from(i32::MAX)).contains(&w) => Some(w as u32),
            Some(w) => return Err(bad("weight", w, "must be from 0 to 2147483647")),
        };
        per_server.insert(
            SocketAddr::new(ip, port),
            PerServer {
                probes: o.checks,
                weight,
            },
        );
    }
    Ok(Config {
        key,
        probes,
        interval,
        retry_interval: spec.retry_interval,
        timeout,
        warmup,
        policy,
        sorry,
        sorry_inhibit: spec.sorry_inhibit.unwrap_or(false),
        per_server,
        callbacks: spec.callbacks,
    })
}

fn policy(s: &MonitorSpec) -> Result<Policy, SpecError> {
    let mut p = Policy::default();
    let count = |name: &str, v: Option<i64>, min: i64| -> Result<Option<u32>, SpecError> {
        match v {
            None => Ok(None),
            Some(n) if n >= min && n <= i64::from(u32::MAX) => Ok(Some(n as u32)),
            Some(n) => Err(bad(name, n, format!("must be an integer from {min}"))),
        }
    };
    if let Some(n) = count("rise", s.rise, 1)? {
        p.rise = n;
    }
    if let Some(n) = count("fall", s.fall, 1)? {
        p.fall = n;
    }
    p.action = match s.action.as_deref() {
        None | Some("inhibit") => Action::Inhibit,
        Some("remove") => Action::Remove,
        Some(other) => return Err(bad("action", other, "must be \"inhibit\" or \"remove\"")),
    };
    p.alpha = s.alpha.unwrap_or(false);
    p.quorum = count("quorum", s.quorum, 0)?.map(u64::from);
    p.hysteresis = count("hysteresis", s.hysteresis, 0)?.map_or(0, u64::from);
    p.max_down = match &s.max_down {
        None => None,
        Some(MaxDownSpec::Text(t)) => Some(MaxDown::parse(t).map_err(|e| bad("max_down", t, e))?),
        Some(MaxDownSpec::Count(n)) => count("max_down", Some(*n), 0)?.map(|n| MaxDown::Count(n as usize)),
    };
    p.sorry = s.sorry.is_some();
    p.sorry_quorum = s.sorry_quorum.unwrap_or(false);
    if p.sorry_quorum && !(p.sorry && p.quorum.is_some()) {
        return Err(bad("sorry_quorum", true, "needs a sorry server and a quorum"));
    }
    Ok(p)
}
