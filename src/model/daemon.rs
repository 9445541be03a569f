//! Sync daemon and timeout settings, checked as ipvsadm checks them.

use std::net::IpAddr;

use super::input::{self, Args, Value};
use super::spec::{SpecError, bad};
use crate::ipvs::{Daemon, DaemonState, Timeouts};

pub fn parse_state(s: &str) -> Result<DaemonState, SpecError> {
    match s.to_ascii_lowercase().as_str() {
        "master" => Ok(DaemonState::Master),
        "backup" => Ok(DaemonState::Backup),
        _ => Err(bad("state", s, "expected \"master\" or \"backup\"")),
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaemonSpec {
    pub state: Option<String>,
    pub ifname: Option<String>,
    pub syncid: Option<i64>,
    pub maxlen: Option<i64>,
    pub group: Option<String>,
    pub port: Option<i64>,
    pub ttl: Option<i64>,
}

fn ranged(field: &str, v: Option<i64>, lo: i64, hi: i64) -> Result<i64, SpecError> {
    match v {
        None => Ok(0),
        Some(v) if (lo..=hi).contains(&v) => Ok(v),
        Some(v) => Err(bad(field, v, format!("must be {lo} to {hi}"))),
    }
}

impl DaemonSpec {
    pub fn to_daemon(&self) -> Result<Daemon, SpecError> {
        let state = parse_state(self.state.as_deref().ok_or_else(|| SpecError {
            field: "state".into(),
            value: String::new(),
            reason: "is required: \"master\" or \"backup\"".into(),
        })?)?;
        // ipvsadm's default interface
        let ifname = self.ifname.clone().unwrap_or_else(|| "eth0".into());
        if ifname.is_empty() || ifname.len() > 15 || ifname.contains(['/', ' ']) {
            return Err(bad("ifname", &ifname, "not an interface name"));
        }
        let group = match &self.group {
            None => None,
            Some(g) => {
                let a: IpAddr = g.parse().map_err(|_| bad("group", g, "not an IP address"))?;
                if !a.is_multicast() {
                    return Err(bad("group", g, "not a multicast address"));
                }
                Some(a)
            }
        };
        Ok(Daemon {
            state,
            ifname,
            syncid: ranged("syncid", self.syncid, 0, 255)? as u32,
            maxlen: ranged("maxlen", self.maxlen, 1, 65507)? as u16,
            group,
            port: ranged("port", self.port, 1, 65535)? as u16,
            ttl: ranged("ttl", self.ttl, 1, 255)? as u8,
        })
    }
}

/// The kernel rejects timeouts above INT_MAX/HZ; with HZ up to 1000 this bound is safe.
pub const MAX_TIMEOUT: i64 = (i32::MAX / 1000) as i64;

pub fn timeouts(tcp: Option<i64>, tcpfin: Option<i64>, udp: Option<i64>) -> Result<Timeouts, SpecError> {
    let one = |field: &str, v: Option<i64>| match v {
        None => Ok(0),
        Some(v) if (0..=MAX_TIMEOUT).contains(&v) => Ok(v as u32),
        Some(v) => Err(bad(
            field,
            v,
            format!("seconds from 0 (unchanged) to {MAX_TIMEOUT}"),
        )),
    };
    Ok(Timeouts {
        tcp: one("tcp", tcp)?,
        tcpfin: one("tcpfin", tcpfin)?,
        udp: one("udp", udp)?,
    })
}

const DAEMON_FIELDS: &[&str] = &["state", "ifname", "syncid", "maxlen", "group", "port", "ttl"];

impl DaemonSpec {
    /// `{state=, ifname=, syncid=, maxlen=, group=, port=, ttl=}` as a script gives them.
    pub fn read(v: &Value) -> Result<DaemonSpec, SpecError> {
        let f = Args::of(
            "daemon",
            v,
            DAEMON_FIELDS,
            &[],
            "must be a table such as {state=\"master\"}",
        )?;
        Ok(DaemonSpec {
            state: f.string("state")?,
            ifname: f.string("ifname")?,
            syncid: f.int("syncid")?,
            maxlen: f.int("maxlen")?,
            group: f.string("group")?,
            port: f.int("port")?,
            ttl: f.int("ttl")?,
        })
    }
}

/// A daemon's state: "master" or "backup", or a daemon's table naming it.
pub fn read_state(v: &Value) -> Result<DaemonState, SpecError> {
    let name = match v {
        Value::Map(_) => DaemonSpec::read(v)?.state.unwrap_or_default(),
        v => v
            .text()
            .ok_or_else(|| input::bad("state", v, "expected \"master\" or \"backup\""))?,
    };
    parse_state(&name)
}

/// `{tcp=, tcpfin=, udp=}` as a script gives them (0 or missing: unchanged).
pub fn read_timeouts(v: &Value) -> Result<Timeouts, SpecError> {
    let f = Args::of(
        "timeouts",
        v,
        &["tcp", "tcpfin", "udp"],
        &[],
        "must be {tcp=, tcpfin=, udp=}",
    )?;
    timeouts(f.int("tcp")?, f.int("tcpfin")?, f.int("udp")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_checks() {
        let ok = DaemonSpec {
            state: Some("backup".into()),
            syncid: Some(7),
            group: Some("239.1.2.3".into()),
            ..Default::default()
        };
        let d = ok.to_daemon().unwrap();
        assert_eq!(
            (d.state, d.ifname.as_str(), d.syncid),
            (DaemonState::Backup, "eth0", 7)
        );
        let field = |s: DaemonSpec| s.to_daemon().unwrap_err().field;
        assert_eq!(field(DaemonSpec::default()), "state");
        assert_eq!(
            field(DaemonSpec {
                syncid: Some(256),
                ..ok.clone()
            }),
            "syncid"
        );
        assert_eq!(
            field(DaemonSpec {
                group: Some("192.0.2.1".into()),
                ..ok.clone()
            }),
            "group"
        );
        assert_eq!(
            field(DaemonSpec {
                state: Some("primary".into()),
                ..ok.clone()
            }),
            "state"
        );
    }

    #[test]
    fn timeout_checks() {
        assert_eq!(
            timeouts(Some(900), None, Some(300)).unwrap(),
            Timeouts {
                tcp: 900,
                tcpfin: 0,
                udp: 300
            }
        );
        assert_eq!(timeouts(Some(-1), None, None).unwrap_err().field, "tcp");
    }
}
