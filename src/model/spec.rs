//! Service and real-server specifications: parsing of the operator's strings (addresses,
//! methods, flags) and every check that can be made before talking to the kernel.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::ipvs::consts::*;
use crate::ipvs::{
    Dest, Family, Forward, Protocol, Service, ServiceKey, TUN_CSUM, TUN_NOCSUM, TUN_REMCSUM, TunType,
};

/// A rejected input: which field, what value, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub field: String,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}: {}", self.field, self.reason)
        } else {
            write!(f, "bad {} {}: {}", self.field, self.value, self.reason)
        }
    }
}

impl std::error::Error for SpecError {}

pub fn bad(field: &str, value: impl fmt::Display, reason: impl Into<String>) -> SpecError {
    SpecError {
        field: field.into(),
        value: format!("'{value}'"),
        reason: reason.into(),
    }
}

/// Persistence timeout ipvsadm uses for a bare `-p`.
pub const DEFAULT_PERSISTENCE: u32 = 360;
/// ipvsadm's upper bound for `-p` (31 days).
pub const MAX_PERSISTENCE: u32 = 2_678_400;
pub const MAX_WEIGHT: i64 = i32::MAX as i64;

/// Parses `192.0.2.1:80`, `192.0.2.1`, `[2001:db8::1]:80`, `[2001:db8::1]` or `2001:db8::1`.
pub fn parse_endpoint(field: &str, s: &str) -> Result<(IpAddr, Option<u16>), SpecError> {
    let s = s.trim();
    let fail = |why: &str| bad(field, s, why);
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest
            .split_once(']')
            .ok_or_else(|| fail("missing ']' after the IPv6 address"))?;
        match tail {
            "" => (h, None),
            t => (
                h,
                Some(
                    t.strip_prefix(':')
                        .ok_or_else(|| fail("expected ':port' after ']'"))?,
                ),
            ),
        }
    } else if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':').unwrap_or((s, ""));
        (h, Some(p))
    } else {
        (s, None)
    };
    let addr: IpAddr = host.parse().map_err(|_| fail("not an IPv4 or IPv6 address"))?;
    if matches!(addr, IpAddr::V6(_)) && !s.starts_with('[') && port.is_some() {
        return Err(fail("write an IPv6 address with a port as [addr]:port"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| fail("the port must be a number from 0 to 65535"))?,
        ),
    };
    Ok((addr, port))
}

pub fn parse_protocol(s: &str) -> Result<Protocol, SpecError> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "sctp" => Ok(Protocol::Sctp),
        _ => Err(bad("proto", s, "expected \"tcp\", \"udp\" or \"sctp\"")),
    }
}

pub fn parse_family(s: &str) -> Result<Family, SpecError> {
    match s {
        "inet" | "ipv4" | "4" => Ok(Family::Inet),
        "inet6" | "ipv6" | "6" => Ok(Family::Inet6),
        _ => Err(bad("af", s, "expected \"inet\" or \"inet6\"")),
    }
}

pub fn parse_method(s: &str) -> Result<Forward, SpecError> {
    match s.to_ascii_lowercase().as_str() {
        "dr" | "route" | "gate" | "g" | "droute" => Ok(Forward::Route),
        "tun" | "tunnel" | "ipip" | "i" => Ok(Forward::Tunnel),
        "nat" | "masq" | "m" | "masquerade" => Ok(Forward::Masq),
        "local" => Ok(Forward::Local),
        _ => Err(bad(
            "method",
            s,
            "expected \"dr\", \"tun\" or \"nat\" (or route/gate/g, tunnel/ipip/i, masq/m)",
        )),
    }
}

pub fn parse_tun_type(s: &str) -> Result<TunType, SpecError> {
    match s.to_ascii_lowercase().as_str() {
        "ipip" => Ok(TunType::Ipip),
        "gue" => Ok(TunType::Gue),
        "gre" => Ok(TunType::Gre),
        _ => Err(bad("tun_type", s, "expected \"ipip\", \"gue\" or \"gre\"")),
    }
}

pub fn parse_tun_csum(s: &str) -> Result<u16, SpecError> {
    match s.to_ascii_lowercase().as_str() {
        "nocsum" => Ok(TUN_NOCSUM),
        "csum" => Ok(TUN_CSUM),
        "remcsum" => Ok(TUN_REMCSUM),
        _ => Err(bad("tun_csum", s, "expected \"nocsum\", \"csum\" or \"remcsum\"")),
    }
}

pub fn tun_csum_name(flags: u16) -> &'static str {
    match flags {
        TUN_CSUM => "csum",
        TUN_REMCSUM => "remcsum",
        _ => "nocsum",
    }
}

/// A scheduler flag as ipvsadm spells it: the bit it sets, and the scheduler it needs.
pub fn sched_flag_bit(name: &str) -> Option<(u32, Option<&'static str>)> {
    Some(match name {
        "flag-1" => (SVC_F_SCHED1, None),
        "flag-2" => (SVC_F_SCHED2, None),
        "flag-3" => (SVC_F_SCHED3, None),
        "sh-fallback" => (SVC_F_SCHED1, Some("sh")),
        "sh-port" => (SVC_F_SCHED2, Some("sh")),
        "mh-fallback" => (SVC_F_SCHED1, Some("mh")),
        "mh-port" => (SVC_F_SCHED2, Some("mh")),
        _ => return None,
    })
}

/// Scheduler flag names as ipvsadm spells them, with the bits they set.
pub fn parse_sched_flag(s: &str, scheduler: &str) -> Result<u32, SpecError> {
    let Some((bit, needs)) = sched_flag_bit(s) else {
        return Err(bad(
            "sched_flags",
            s,
            "expected sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2 or flag-3",
        ));
    };
    match needs {
        Some(sched) if sched != scheduler => Err(bad(
            "sched_flags",
            s,
            format!("needs scheduler '{sched}', not '{scheduler}'"),
        )),
        _ => Ok(bit),
    }
}

/// The names of the scheduler flags set in `flags`, as ipvsadm prints them for `scheduler`.
pub fn sched_flag_names(flags: u32, scheduler: &str) -> Vec<&'static str> {
    let names: [&'static str; 3] = match scheduler {
        "sh" => ["sh-fallback", "sh-port", "flag-3"],
        "mh" => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    [SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3]
        .iter()
        .zip(names)
        .filter(|(bit, _)| flags & **bit != 0)
        .map(|(_, n)| n)
        .collect()
}

/// A netmask: IPv4 dotted (`255.255.255.0`) or a prefix length (v4 or v6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Netmask {
    Dotted(String),
    Prefix(i64),
}

fn netmask_value(mask: &Netmask, af: Family) -> Result<u32, SpecError> {
    match (mask, af) {
        (Netmask::Prefix(p), Family::Inet) if (1..=32).contains(p) => Ok(u32::MAX << (32 - *p)),
        (Netmask::Prefix(p), Family::Inet6) if (1..=128).contains(p) => Ok(*p as u32),
        (Netmask::Prefix(p), Family::Inet) => Err(bad("netmask", p, "an IPv4 prefix length is 1 to 32")),
        (Netmask::Prefix(p), Family::Inet6) => Err(bad("netmask", p, "an IPv6 prefix length is 1 to 128")),
        (Netmask::Dotted(s), Family::Inet) => {
            let m: Ipv4Addr = s
                .parse()
                .map_err(|_| bad("netmask", s, "not a dotted IPv4 mask"))?;
            let v = u32::from(m);
            if v == 0 || v.leading_ones() + v.trailing_zeros() != 32 {
                return Err(bad("netmask", s, "not a contiguous mask such as 255.255.255.0"));
            }
            Ok(v)
        }
        (Netmask::Dotted(s), Family::Inet6) => Err(bad(
            "netmask",
            s,
            "an IPv6 service takes a prefix length (1 to 128), not a dotted mask",
        )),
    }
}

/// The fields of a service spec as lvsh reads them (`servers` is the list of real servers that
/// comes with it); the Lua side reads exactly these, and lua/lvs.meta.lua documents them.
pub const SERVICE_FIELDS: &[&str] = &[
    "proto",
    "addr",
    "fwmark",
    "af",
    "scheduler",
    "persistent",
    "netmask",
    "sched_flags",
    "pe",
    "ops",
    "servers",
];
/// Fields of the service objects lvsh returns that are not part of a spec.
pub const SERVICE_OUTPUT: &[&str] = &["ip", "port", "stats", "rate"];
pub const SERVER_FIELDS: &[&str] = &[
    "addr", "method", "weight", "upper", "lower", "tun_type", "tun_port", "tun_csum",
];
pub const SERVER_OUTPUT: &[&str] = &["ip", "port", "active", "inactive", "persist", "stats", "rate"];

/// A service as an operator describes it. `None` means "the default" (for add) or
/// "unchanged" (for edit of an existing service).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceSpec {
    pub proto: Option<String>,
    pub addr: Option<String>,
    pub fwmark: Option<i64>,
    pub af: Option<String>,
    pub scheduler: Option<String>,
    /// Some(None): persistence off; Some(Some(t)): on with timeout t (0 = default 360).
    pub persistent: Option<Option<i64>>,
    pub netmask: Option<Netmask>,
    pub sched_flags: Option<Vec<String>>,
    /// Some(None) clears the persistence engine.
    pub pe: Option<Option<String>>,
    pub ops: Option<bool>,
}

impl ServiceSpec {
    /// The key: protocol + address + port, or fwmark + family.
    pub fn key(&self) -> Result<ServiceKey, SpecError> {
        match (&self.addr, self.fwmark) {
            (Some(a), Some(m)) => Err(SpecError {
                field: "fwmark".into(),
                value: String::new(),
                reason: format!("a service has either addr ('{a}') or fwmark ({m}), not both"),
            }),
            (None, None) => Err(SpecError {
                field: "service".into(),
                value: String::new(),
                reason: "needs addr (e.g. \"192.0.2.110:80\") or fwmark".into(),
            }),
            (None, Some(m)) => {
                if !(1..=u32::MAX as i64).contains(&m) {
                    return Err(bad("fwmark", m, "must be 1 to 4294967295"));
                }
                if self.proto.is_some() {
                    // the kernel ignores the protocol of fwmark services; saying one is a mistake
                    let p = self.proto.clone().unwrap_or_default();
                    if parse_protocol(&p)? != Protocol::Tcp {
                        return Err(bad(
                            "proto",
                            p,
                            "a fwmark service matches packets of any protocol",
                        ));
                    }
                }
                let af = self
                    .af
                    .as_deref()
                    .map(parse_family)
                    .transpose()?
                    .unwrap_or(Family::Inet);
                Ok(ServiceKey::Fwmark { af, mark: m as u32 })
            }
            (Some(a), None) => {
                let (addr, port) = parse_endpoint("addr", a)?;
                if let Some(af) = &self.af
                    && parse_family(af)? != Family::of(&addr)
                {
                    return Err(bad("af", af, format!("does not match the address {a}")));
                }
                let proto = self
                    .proto
                    .as_deref()
                    .map(parse_protocol)
                    .transpose()?
                    .unwrap_or(Protocol::Tcp);
                Ok(ServiceKey::Addr {
                    proto,
                    addr,
                    port: port.unwrap_or(0),
                })
            }
        }
    }

    /// The service to create (defaults as ipvsadm -A), or the edited `base` for an edit.
    pub fn to_service(&self, base: Option<&Service>) -> Result<Service, SpecError> {
        let key = self.key()?;
        let mut svc = match base {
            Some(b) => Service {
                key: key.clone(),
                stats: Default::default(),
                ..b.clone()
            },
            None => Service::new(key.clone()),
        };
        if let Some(s) = &self.scheduler {
            if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(bad(
                    "scheduler",
                    s,
                    "not a scheduler name (rr, wrr, lc, wlc, sh, mh, ...)",
                ));
            }
            svc.scheduler = s.clone();
        }
        if let Some(p) = self.persistent {
            match p {
                None => {
                    svc.flags &= !SVC_F_PERSISTENT;
                    svc.timeout = 0;
                }
                Some(t) => {
                    let t = if t == 0 { DEFAULT_PERSISTENCE as i64 } else { t };
                    if !(1..=MAX_PERSISTENCE as i64).contains(&t) {
                        return Err(bad("persistent", t, "seconds from 1 to 2678400, or true for 360"));
                    }
                    svc.flags |= SVC_F_PERSISTENT;
                    svc.timeout = t as u32;
                }
            }
        }
        if let Some(m) = &self.netmask {
            svc.netmask = netmask_value(m, key.af())?;
        }
        if let Some(flags) = &self.sched_flags {
            svc.flags &= !(SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3);
            for f in flags {
                svc.flags |= parse_sched_flag(f, &svc.scheduler)?;
            }
        } else if base.is_some() && self.scheduler.is_some() {
            // flags named for another scheduler do not carry over to a new one
            for f in sched_flag_names(svc.flags, &base.map(|b| b.scheduler.clone()).unwrap_or_default()) {
                parse_sched_flag(f, &svc.scheduler)?;
            }
        }
        if let Some(pe) = &self.pe {
            match pe {
                Some(name) if name.is_empty() || name.len() > 15 => {
                    return Err(bad("pe", name, "not a persistence engine name (\"sip\")"));
                }
                Some(name) => svc.pe = Some(name.clone()),
                None => svc.pe = None,
            }
        }
        if let Some(ops) = self.ops {
            if ops {
                svc.flags |= SVC_F_ONEPACKET;
            } else {
                svc.flags &= !SVC_F_ONEPACKET;
            }
        }
        if svc.flags & SVC_F_ONEPACKET != 0
            && let ServiceKey::Addr { proto, .. } = &key
            && *proto != Protocol::Udp
        {
            return Err(bad(
                "ops",
                "true",
                "one-packet scheduling is only for UDP and fwmark services",
            ));
        }
        if let ServiceKey::Addr { port: 0, .. } = &key
            && !svc.persistent()
        {
            return Err(bad(
                "addr",
                self.addr.clone().unwrap_or_default(),
                "port 0 (all ports) is only for persistent services",
            ));
        }
        if svc.pe.is_some() && !svc.persistent() {
            return Err(bad(
                "pe",
                svc.pe.clone().unwrap_or_default(),
                "a persistence engine needs persistent",
            ));
        }
        Ok(svc)
    }
}

/// A real server as an operator describes it; `None` means default (add) or unchanged (edit).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerSpec {
    pub addr: String,
    pub method: Option<String>,
    pub weight: Option<i64>,
    pub upper: Option<i64>,
    pub lower: Option<i64>,
    pub tun_type: Option<String>,
    pub tun_port: Option<i64>,
    pub tun_csum: Option<String>,
}

/// A real server address: a missing port takes the service's.
pub fn server_endpoint(svc: &ServiceKey, addr: &str) -> Result<(IpAddr, u16), SpecError> {
    let (ip, port) = parse_endpoint("addr", addr)?;
    Ok((ip, port.unwrap_or(svc.port())))
}

fn threshold(field: &str, v: i64) -> Result<u32, SpecError> {
    if !(0..=MAX_WEIGHT).contains(&v) {
        return Err(bad(
            field,
            v,
            "a connection count from 0 to 2147483647 (0: no limit)",
        ));
    }
    Ok(v as u32)
}

impl ServerSpec {
    pub fn to_dest(&self, svc: &ServiceKey, base: Option<&Dest>) -> Result<Dest, SpecError> {
        let (ip, port) = server_endpoint(svc, &self.addr)?;
        let mut d = match base {
            Some(b) => Dest {
                addr: ip,
                port,
                ..b.clone()
            },
            None => Dest::new(ip, port),
        };
        if let Some(m) = &self.method {
            d.fwd = parse_method(m)?;
        }
        if let Some(w) = self.weight {
            if !(0..=MAX_WEIGHT).contains(&w) {
                return Err(bad(
                    "weight",
                    w,
                    "must be 0 to 2147483647 (0 takes the server out of rotation)",
                ));
            }
            d.weight = w as u32;
        }
        if let Some(u) = self.upper {
            d.upper = threshold("upper", u)?;
        }
        if let Some(l) = self.lower {
            d.lower = threshold("lower", l)?;
        }
        if d.upper != 0 && d.lower > d.upper {
            return Err(bad(
                "lower",
                d.lower,
                format!("must not exceed upper ({})", d.upper),
            ));
        }
        let tunnel_opts = self.tun_type.is_some() || self.tun_port.is_some() || self.tun_csum.is_some();
        if tunnel_opts && d.fwd != Forward::Tunnel {
            return Err(bad(
                "method",
                d.fwd.name(),
                "tun_type, tun_port and tun_csum need method \"tun\"",
            ));
        }
        if let Some(t) = &self.tun_type {
            d.tun_type = parse_tun_type(t)?;
        }
        if let Some(p) = self.tun_port {
            if !(1..=65535).contains(&p) {
                return Err(bad("tun_port", p, "must be 1 to 65535"));
            }
            d.tun_port = p as u16;
        }
        if let Some(c) = &self.tun_csum {
            d.tun_flags = parse_tun_csum(c)?;
        }
        if d.fwd != Forward::Tunnel {
            (d.tun_type, d.tun_port, d.tun_flags) = (TunType::Ipip, 0, 0);
        }
        match d.tun_type {
            TunType::Gue if d.tun_port == 0 => return Err(bad("tun_port", 0, "a gue tunnel needs tun_port")),
            TunType::Ipip | TunType::Gre if d.tun_port != 0 => {
                return Err(bad("tun_port", d.tun_port, "only gue tunnels have a port"));
            }
            TunType::Ipip if d.tun_flags != TUN_NOCSUM => {
                return Err(bad(
                    "tun_csum",
                    tun_csum_name(d.tun_flags),
                    "ipip tunnels have no checksum option",
                ));
            }
            TunType::Gre if d.tun_flags == TUN_REMCSUM => {
                return Err(bad("tun_csum", "remcsum", "gre tunnels take nocsum or csum"));
            }
            _ => {}
        }
        if Family::of(&ip) != svc.af() && d.fwd != Forward::Tunnel {
            return Err(bad(
                "addr",
                &self.addr,
                format!(
                    "an {} real server behind an {} service needs method \"tun\"",
                    Family::of(&ip).name(),
                    svc.af().name()
                ),
            ));
        }
        if let ServiceKey::Addr { port: sport, .. } = svc
            && matches!(d.fwd, Forward::Route | Forward::Tunnel)
            && port != *sport
        {
            return Err(bad(
                "addr",
                &self.addr,
                format!(
                    "{} does not rewrite ports: the real server's port must be the service's ({sport})",
                    d.fwd.name()
                ),
            ));
        }
        Ok(d)
    }
}

mod read;

#[cfg(test)]
mod tests;
