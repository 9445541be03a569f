//! What the kernel holds: services, real servers (destinations), sync daemons, timeouts.
//! Plain data, independent of the wire format and of Lua.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::consts::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Inet,
    Inet6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        }
    }

    pub fn raw(self) -> u16 {
        match self {
            Family::Inet => AF_INET,
            Family::Inet6 => AF_INET6,
        }
    }

    pub fn from_raw(v: u16) -> Option<Family> {
        match v {
            AF_INET => Some(Family::Inet),
            AF_INET6 => Some(Family::Inet6),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    Other(u16),
}

impl Protocol {
    pub fn raw(self) -> u16 {
        match self {
            Protocol::Tcp => IPPROTO_TCP,
            Protocol::Udp => IPPROTO_UDP,
            Protocol::Sctp => IPPROTO_SCTP,
            Protocol::Other(p) => p,
        }
    }

    pub fn from_raw(v: u16) -> Protocol {
        match v {
            IPPROTO_TCP => Protocol::Tcp,
            IPPROTO_UDP => Protocol::Udp,
            IPPROTO_SCTP => Protocol::Sctp,
            p => Protocol::Other(p),
        }
    }

    /// Lower-case name, as the Lua API spells it.
    pub fn name(self) -> String {
        match self {
            Protocol::Tcp => "tcp".into(),
            Protocol::Udp => "udp".into(),
            Protocol::Sctp => "sctp".into(),
            Protocol::Other(p) => format!("proto-{p}"),
        }
    }

    /// As ipvsadm's listings print it.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
            Protocol::Other(_) => "?",
        }
    }
}

/// What identifies a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    Addr {
        proto: Protocol,
        addr: IpAddr,
        port: u16,
    },
    Fwmark {
        af: Family,
        mark: u32,
    },
}

impl ServiceKey {
    pub fn af(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { af, .. } => *af,
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            ServiceKey::Addr { port, .. } => *port,
            ServiceKey::Fwmark { .. } => 0,
        }
    }
}

/// `addr:port`, with IPv6 in brackets.
pub fn sockaddr(addr: &IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

impl fmt::Display for ServiceKey {
    /// As errors and listings name a service: `TCP 192.0.2.110:80`, `FWM 5`, `FWM 5 IPv6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { proto, addr, port } => {
                write!(f, "{} {}", proto.label(), sockaddr(addr, *port))
            }
            ServiceKey::Fwmark {
                af: Family::Inet,
                mark,
            } => write!(f, "FWM {mark}"),
            ServiceKey::Fwmark {
                af: Family::Inet6,
                mark,
            } => write!(f, "FWM {mark} IPv6"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

const NO_TRAFFIC: Stats = Stats {
    conns: 0,
    inpkts: 0,
    outpkts: 0,
    inbytes: 0,
    outbytes: 0,
    cps: 0,
    inpps: 0,
    outpps: 0,
    inbps: 0,
    outbps: 0,
};

/// A service's or real server's counters, read as `Stats`. All-zero counters (every rule
/// that is being configured rather than listed, and every idle one) take no space: tables
/// and plans hold tens of thousands of these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters(Option<Box<Stats>>);

impl From<Stats> for Counters {
    fn from(s: Stats) -> Counters {
        Counters((s != NO_TRAFFIC).then(|| Box::new(s)))
    }
}

impl std::ops::Deref for Counters {
    type Target = Stats;
    fn deref(&self) -> &Stats {
        self.0.as_deref().unwrap_or(&NO_TRAFFIC)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub key: ServiceKey,
    pub scheduler: String,
    /// IP_VS_SVC_F_* without the kernel-internal HASHED bit.
    pub flags: u32,
    /// Persistence timeout in seconds (meaningful with the PERSISTENT flag).
    pub timeout: u32,
    /// IPv4: the mask as a host integer (0xffffffff for /32). IPv6: the prefix length.
    pub netmask: u32,
    pub pe: Option<String>,
    pub stats: Counters,
}

impl Service {
    /// A service as ipvsadm -A creates it by default: wlc, no persistence, full mask.
    pub fn new(key: ServiceKey) -> Service {
        let netmask = if key.af() == Family::Inet { u32::MAX } else { 128 };
        Service {
            key,
            scheduler: "wlc".into(),
            flags: 0,
            timeout: 0,
            netmask,
            pe: None,
            stats: Counters::default(),
        }
    }

    pub fn persistent(&self) -> bool {
        self.flags & SVC_F_PERSISTENT != 0
    }

    pub fn netmask_v4(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.netmask)
    }
}

/// The forwarding method of a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forward {
    Masq,
    Local,
    Tunnel,
    Route,
    Bypass,
    Other(u32),
}

impl Forward {
    pub fn raw(self) -> u32 {
        match self {
            Forward::Masq => CONN_F_MASQ,
            Forward::Local => CONN_F_LOCALNODE,
            Forward::Tunnel => CONN_F_TUNNEL,
            Forward::Route => CONN_F_DROUTE,
            Forward::Bypass => CONN_F_BYPASS,
            Forward::Other(v) => v,
        }
    }

    pub fn from_raw(v: u32) -> Forward {
        match v & CONN_F_FWD_MASK {
            CONN_F_MASQ => Forward::Masq,
            CONN_F_LOCALNODE => Forward::Local,
            CONN_F_TUNNEL => Forward::Tunnel,
            CONN_F_DROUTE => Forward::Route,
            CONN_F_BYPASS => Forward::Bypass,
            other => Forward::Other(other),
        }
    }

    /// The Lua API's name: "nat", "dr", "tun", "local", "bypass".
    pub fn name(self) -> String {
        match self {
            Forward::Masq => "nat".into(),
            Forward::Local => "local".into(),
            Forward::Tunnel => "tun".into(),
            Forward::Route => "dr".into(),
            Forward::Bypass => "bypass".into(),
            Forward::Other(v) => format!("fwd-{v}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunType {
    Ipip,
    Gue,
    Gre,
    Other(u8),
}

impl TunType {
    pub fn raw(self) -> u8 {
        match self {
            TunType::Ipip => 0,
            TunType::Gue => 1,
            TunType::Gre => 2,
            TunType::Other(v) => v,
        }
    }

    pub fn from_raw(v: u8) -> TunType {
        match v {
            0 => TunType::Ipip,
            1 => TunType::Gue,
            2 => TunType::Gre,
            v => TunType::Other(v),
        }
    }

    pub fn name(self) -> String {
        match self {
            TunType::Ipip => "ipip".into(),
            TunType::Gue => "gue".into(),
            TunType::Gre => "gre".into(),
            TunType::Other(v) => format!("tun-{v}"),
        }
    }
}

/// Tunnel checksum flags: 0 nocsum, 1 csum, 2 remcsum.
pub const TUN_NOCSUM: u16 = 0;
pub const TUN_CSUM: u16 = 1;
pub const TUN_REMCSUM: u16 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    pub addr: IpAddr,
    pub port: u16,
    pub fwd: Forward,
    /// The kernel treats it as a signed int; lvsh keeps it in 0..=i32::MAX.
    pub weight: u32,
    pub upper: u32,
    pub lower: u32,
    pub active: u32,
    pub inactive: u32,
    pub persist: u32,
    pub stats: Counters,
    pub tun_type: TunType,
    pub tun_port: u16,
    pub tun_flags: u16,
}

impl Dest {
    pub fn new(addr: IpAddr, port: u16) -> Dest {
        Dest {
            addr,
            port,
            fwd: Forward::Route,
            weight: 1,
            upper: 0,
            lower: 0,
            active: 0,
            inactive: 0,
            persist: 0,
            stats: Counters::default(),
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_flags: 0,
        }
    }

    pub fn name(&self) -> String {
        sockaddr(&self.addr, self.port)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DaemonState {
    Master,
    Backup,
}

impl DaemonState {
    pub fn raw(self) -> u32 {
        match self {
            DaemonState::Master => STATE_MASTER,
            DaemonState::Backup => STATE_BACKUP,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DaemonState::Master => "master",
            DaemonState::Backup => "backup",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    pub state: DaemonState,
    pub ifname: String,
    pub syncid: u32,
    /// 0 leaves the choice to the kernel (MTU based).
    pub maxlen: u16,
    pub group: Option<IpAddr>,
    pub port: u16,
    pub ttl: u8,
}

impl Default for Daemon {
    /// No settings: the kernel's defaults (group 224.0.0.81, port 8848, ttl 1, maxlen by MTU).
    fn default() -> Daemon {
        Daemon {
            state: DaemonState::Master,
            ifname: String::new(),
            syncid: 0,
            maxlen: 0,
            group: None,
            port: 0,
            ttl: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcpfin: u32,
    pub udp: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    pub version: u32,
    pub conn_tab_size: u32,
}

impl Info {
    pub fn version_string(&self) -> String {
        format!(
            "{}.{}.{}",
            self.version >> 16,
            (self.version >> 8) & 0xff,
            self.version & 0xff
        )
    }
}

/// IPv6 addresses travel as 16 bytes; IPv4 in the first 4 of them.
pub fn addr_bytes(addr: &IpAddr) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    match addr {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b.copy_from_slice(&a.octets()),
    }
    b
}

pub fn addr_from_bytes(af: Family, b: &[u8]) -> Option<IpAddr> {
    match af {
        Family::Inet => b
            .get(..4)
            .map(|s| IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], s[3]))),
        Family::Inet6 => {
            let a: [u8; 16] = b.get(..16)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
    }
}

/// Every service with its real servers: what a full listing reads.
pub type ServiceTable = Vec<(Service, Vec<Dest>)>;
