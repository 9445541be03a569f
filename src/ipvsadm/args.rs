//! The ipvsadm 1.31 command line: options in popt's manner (clusters such as `-Ln`, `--opt=value`,
//! `-p` with an optional value), the per-command table of legal options, and ipvsadm's messages.

use std::net::{IpAddr, Ipv4Addr};

use crate::ipvs::consts::*;
use crate::ipvs::{Daemon, DaemonState, Family, Protocol, Timeouts, TunType};

mod options;
mod saved;
mod values;

pub use options::opt;
use options::{Tag, check_legal, check_tunnel, set_option, tokenize};
pub use saved::parse_saved;
use values::{MAX_TIMEOUT, atoi, ranged, sched_flags, timeout};
pub use values::{inet_aton, number, service_addr};

/// A refusal of the command line: ipvsadm's text and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

pub fn fail<T>(message: impl Into<String>) -> Result<T, CliError> {
    Err(CliError {
        message: message.into(),
        code: 2,
    })
}

pub const TRY_HELP: &str = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.";

fn try_help<T>() -> Result<T, CliError> {
    Err(CliError {
        message: TRY_HELP.into(),
        code: 255,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    SetTimeout,
    StartDaemon,
    StopDaemon,
    Restore,
    Save,
    Zero,
    Help,
    Version,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Format {
    pub numeric: bool,
    pub rule: bool,
    pub stats: bool,
    pub rate: bool,
    pub thresholds: bool,
    pub persistent_conn: bool,
    pub nosort: bool,
    pub exact: bool,
    pub tun_info: bool,
}

/// The service as the command line gave it (ipvsadm's `ipvs_service_t`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvcArgs {
    pub af: Family,
    pub proto: Protocol,
    pub addr: IpAddr,
    pub port: u16,
    pub fwmark: u32,
    pub sched: String,
    pub flags: u32,
    pub timeout: u32,
    /// IPv4: host-order mask; IPv6: prefix length.
    pub netmask: u32,
    pub pe: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestArgs {
    pub af: Family,
    pub addr: IpAddr,
    pub port: u16,
    pub fwd: u32,
    pub weight: u32,
    pub upper: u32,
    pub lower: u32,
    pub tun_type: TunType,
    pub tun_port: u16,
    pub tun_flags: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub cmd: Cmd,
    pub options: u64,
    pub format: Format,
    pub svc: SvcArgs,
    pub dest: DestArgs,
    pub timeouts: Timeouts,
    pub daemon: Daemon,
}

impl Parsed {
    pub fn has(&self, o: usize) -> bool {
        self.options & (1 << o) != 0
    }

    /// ipvsadm's checks and defaults once a command's options are read: the legality table,
    /// per-command rules, and the port a direct-routed or tunnelled server must share.
    fn checked(self) -> Result<Parsed, CliError> {
        let (c, mut p) = (self.cmd, self);
        check_legal(c, p.options)?;
        if matches!(c, Cmd::Add | Cmd::Edit) {
            if p.svc.fwmark == 0 && p.svc.port == 0 && p.svc.flags & SVC_F_PERSISTENT == 0 {
                return fail("Zero port specified for non-persistent service");
            }
            if p.svc.flags & SVC_F_ONEPACKET != 0 && p.svc.fwmark == 0 && p.svc.proto != Protocol::Udp {
                return fail("One-Packet Scheduling is only for UDP virtual services");
            }
            if p.svc.sched.is_empty() {
                p.svc.sched = "wlc".into();
            }
        }
        if c == Cmd::StartDaemon && p.daemon.ifname.is_empty() {
            p.daemon.ifname = "eth0".into();
        }
        if matches!(c, Cmd::AddDest | Cmd::EditDest) {
            let fwd = p.dest.fwd;
            if p.svc.fwmark == 0 && (fwd == CONN_F_TUNNEL || fwd == CONN_F_DROUTE) {
                p.dest.port = p.svc.port;
            }
            if p.dest.af != p.svc.af && fwd != CONN_F_TUNNEL {
                return fail("Different address family is allowed only for tunneling servers");
            }
            let tun_opts = [
                opt::TUN_TYPE,
                opt::TUN_PORT,
                opt::TUN_NOCSUM,
                opt::TUN_CSUM,
                opt::TUN_REMCSUM,
            ];
            if tun_opts.iter().any(|&t| p.has(t)) && fwd != CONN_F_TUNNEL {
                return fail("Tunnel options conflict with forward method");
            }
            check_tunnel(p.dest.tun_type, p.options)?;
        }
        Ok(p)
    }

    /// What a command line sets before its options are read: ipvsadm's defaults.
    fn blank() -> Parsed {
        Parsed {
            cmd: Cmd::List,
            options: 0,
            format: Format::default(),
            svc: SvcArgs {
                af: Family::Inet,
                proto: Protocol::Other(0),
                addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port: 0,
                fwmark: 0,
                sched: String::new(),
                flags: 0,
                timeout: 0,
                netmask: u32::MAX,
                pe: String::new(),
            },
            dest: DestArgs {
                af: Family::Inet,
                addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port: 0,
                fwd: CONN_F_DROUTE,
                weight: 1,
                upper: 0,
                lower: 0,
                tun_type: TunType::Ipip,
                tun_port: 0,
                tun_flags: 0,
            },
            timeouts: Timeouts::default(),
            daemon: Daemon::default(),
        }
    }
}

fn set_command(cmd: &mut Option<Cmd>, new: Cmd) -> Result<(), CliError> {
    if cmd.is_some() {
        return fail("multiple commands specified");
    }
    *cmd = Some(new);
    Ok(())
}

/// Parses one ipvsadm command line (without the program name).
pub fn parse<S: AsRef<str>>(argv: &[S]) -> Result<Parsed, CliError> {
    let options::Tokens { items, rest, error } = tokenize(argv);
    let mut p = Parsed::blank();
    let mut cmd = None;
    let mut sched_flags_arg = None;
    let mut items = items.into_iter();
    // the first option names the command; none, or a first that popt cannot read, only
    // gets "try -h"
    let first = match items.next() {
        Some(f) => f,
        None => return try_help(),
    };
    let state = |a: Option<&str>, what: &str| match a {
        Some("master") => Ok(DaemonState::Master),
        Some("backup") => Ok(DaemonState::Backup),
        _ => fail(what.to_string()),
    };
    let c = match first.tag {
        Tag::AddService => Cmd::Add,
        Tag::EditService => Cmd::Edit,
        Tag::DelService => Cmd::Del,
        Tag::AddServer => Cmd::AddDest,
        Tag::EditServer => Cmd::EditDest,
        Tag::DelServer => Cmd::DelDest,
        Tag::Clear => Cmd::Flush,
        Tag::List => Cmd::List,
        Tag::Zero => Cmd::Zero,
        Tag::Set => Cmd::SetTimeout,
        Tag::Restore => Cmd::Restore,
        Tag::Save => Cmd::Save,
        Tag::StartDaemon => {
            p.daemon.state = state(first.arg, "illegal start-daemon parameter specified")?;
            Cmd::StartDaemon
        }
        Tag::StopDaemon => {
            p.daemon.state = state(first.arg, "illegal start_daemon specified")?;
            Cmd::StopDaemon
        }
        Tag::Help => Cmd::Help,
        Tag::Version => Cmd::Version,
        _ => return try_help(),
    };
    set_command(&mut cmd, c)?;
    if matches!(c, Cmd::Help | Cmd::Version) {
        p.cmd = c;
        return Ok(p);
    }
    for item in items {
        let arg = item.arg;
        let o = &mut p.options;
        match item.tag {
            Tag::Tcp | Tag::Udp | Tag::Sctp => {
                set_option(o, opt::SERVICE)?;
                p.svc.proto = match item.tag {
                    Tag::Tcp => Protocol::Tcp,
                    Tag::Udp => Protocol::Udp,
                    _ => Protocol::Sctp,
                };
                let Some((addr, port)) = service_addr(arg.unwrap_or(""), p.svc.proto) else {
                    return fail("illegal virtual server address[:port] specified");
                };
                p.svc.addr = addr;
                p.svc.af = Family::of(&addr);
                if p.svc.af == Family::Inet6 {
                    p.svc.netmask = 128;
                }
                p.svc.port = port.unwrap_or(0);
            }
            Tag::Fwmark => {
                set_option(o, opt::SERVICE)?;
                p.svc.af = Family::Inet;
                p.svc.proto = Protocol::Tcp;
                let s = arg.unwrap_or("");
                match s.trim_start().parse::<i64>() {
                    Ok(v) if v > 0 && v <= u32::MAX as i64 => p.svc.fwmark = v as u32,
                    _ => return fail(format!("invalid fwmark value `{s}' specified")),
                }
            }
            Tag::Scheduler => {
                set_option(o, opt::SCHEDULER)?;
                p.svc.sched = arg.unwrap_or("").chars().take(15).collect();
            }
            Tag::Persistent => {
                set_option(o, opt::PERSISTENT)?;
                p.svc.flags |= SVC_F_PERSISTENT;
                p.svc.timeout = timeout(arg, 1, MAX_TIMEOUT)?;
            }
            Tag::Netmask => {
                set_option(o, opt::NETMASK)?;
                let s = arg.unwrap_or("");
                if p.svc.af != Family::Inet6 {
                    match inet_aton(s).or_else(|| super::names::host_to_v4(s)) {
                        Some(m) => p.svc.netmask = u32::from(m),
                        None => return fail("illegal virtual server persistent mask specified"),
                    }
                } else {
                    let v = atoi(s);
                    if !(1..=128).contains(&v) {
                        return fail("illegal ipv6 netmask specified");
                    }
                    p.svc.netmask = v as u32;
                }
            }
            Tag::RealServer => {
                set_option(o, opt::SERVER)?;
                let Some((addr, port)) = service_addr(arg.unwrap_or(""), p.svc.proto) else {
                    return fail("illegal real server address[:port] specified");
                };
                p.dest.addr = addr;
                p.dest.af = Family::of(&addr);
                p.dest.port = port.unwrap_or(p.svc.port);
            }
            Tag::Ipip | Tag::Gate | Tag::Masq => {
                set_option(o, opt::FORWARD)?;
                p.dest.fwd = match item.tag {
                    Tag::Ipip => CONN_F_TUNNEL,
                    Tag::Gate => CONN_F_DROUTE,
                    _ => CONN_F_MASQ,
                };
            }
            Tag::Weight => {
                set_option(o, opt::WEIGHT)?;
                // Debian's 1.31 build takes weights up to INT_MAX (upstream: 65535)
                p.dest.weight = ranged(arg, 0, i32::MAX as i64, "weight")? as u32;
            }
            Tag::UThreshold => {
                set_option(o, opt::UTHRESHOLD)?;
                p.dest.upper = ranged(arg, 0, i32::MAX as i64, "u_threshold")? as u32;
            }
            Tag::LThreshold => {
                set_option(o, opt::LTHRESHOLD)?;
                p.dest.lower = ranged(arg, 0, i32::MAX as i64, "l_threshold")? as u32;
            }
            Tag::Connection => set_option(o, opt::CONNECTION)?,
            Tag::Numeric => {
                set_option(o, opt::NUMERIC)?;
                p.format.numeric = true;
            }
            Tag::McastInterface => {
                set_option(o, opt::MCAST)?;
                p.daemon.ifname = arg.unwrap_or("").chars().take(15).collect();
            }
            Tag::Syncid => {
                set_option(o, opt::SYNCID)?;
                p.daemon.syncid = ranged(arg, 0, 255, "syncid")? as u32;
            }
            Tag::Timeout => set_option(o, opt::TIMEOUT)?,
            Tag::Daemon => set_option(o, opt::DAEMON)?,
            Tag::Stats => {
                set_option(o, opt::STATS)?;
                p.format.stats = true;
            }
            Tag::Rate => {
                set_option(o, opt::RATE)?;
                p.format.rate = true;
            }
            Tag::Thresholds => {
                set_option(o, opt::THRESHOLDS)?;
                p.format.thresholds = true;
            }
            Tag::PersistentConn => {
                set_option(o, opt::PERSISTENTCONN)?;
                p.format.persistent_conn = true;
            }
            Tag::Nosort => {
                set_option(o, opt::NOSORT)?;
                p.format.nosort = true;
            }
            Tag::Sort => {}
            Tag::Exact => {
                set_option(o, opt::EXACT)?;
                p.format.exact = true;
            }
            Tag::Ipv6 => {
                if p.svc.fwmark != 0 {
                    p.svc.af = Family::Inet6;
                    p.svc.netmask = 128;
                } else {
                    return fail("-6 used before -f\n");
                }
            }
            Tag::Ops => {
                set_option(o, opt::ONEPACKET)?;
                p.svc.flags |= SVC_F_ONEPACKET;
            }
            Tag::Pe => {
                set_option(o, opt::PE)?;
                p.svc.pe = arg.unwrap_or("").chars().take(16).collect();
            }
            Tag::SchedFlags => {
                set_option(o, opt::SCHED_FLAGS)?;
                sched_flags_arg = Some(arg.unwrap_or("").to_string());
            }
            Tag::McastGroup => {
                set_option(o, opt::MCAST_GROUP)?;
                let s = arg.unwrap_or("");
                if s.contains(':') {
                    match s.parse::<std::net::Ipv6Addr>() {
                        Ok(a) if a.is_multicast() => p.daemon.group = Some(IpAddr::V6(a)),
                        _ => return fail(format!("invalid IPv6 mcast-group `{s}'")),
                    }
                } else {
                    match s.parse::<Ipv4Addr>() {
                        Ok(a) if a.is_multicast() => p.daemon.group = Some(IpAddr::V4(a)),
                        _ => return fail(format!("invalid IPv4 mcast-group `{s}'")),
                    }
                }
            }
            Tag::McastPort => {
                set_option(o, opt::MCAST_PORT)?;
                p.daemon.port = ranged(arg, 1, 65535, "mcast-port")? as u16;
            }
            Tag::McastTtl => {
                set_option(o, opt::MCAST_TTL)?;
                p.daemon.ttl = ranged(arg, 1, 255, "mcast-ttl")? as u8;
            }
            Tag::SyncMaxlen => {
                set_option(o, opt::SYNC_MAXLEN)?;
                p.daemon.maxlen = ranged(arg, 1, 65535 - 20 - 8, "sync-maxlen")? as u16;
            }
            Tag::TunInfo => {
                set_option(o, opt::TUN_INFO)?;
                p.format.tun_info = true;
            }
            Tag::TunType => {
                set_option(o, opt::TUN_TYPE)?;
                p.dest.tun_type = match arg.unwrap_or("") {
                    "ipip" => TunType::Ipip,
                    "gue" => TunType::Gue,
                    "gre" => TunType::Gre,
                    _ => return fail("illegal tunnel type specified"),
                };
            }
            Tag::TunPort => {
                set_option(o, opt::TUN_PORT)?;
                p.dest.tun_port = ranged(arg, 1, 65535, "tunnel port")? as u16;
            }
            Tag::TunNocsum => set_option(o, opt::TUN_NOCSUM)?,
            Tag::TunCsum => {
                set_option(o, opt::TUN_CSUM)?;
                p.dest.tun_flags |= 1;
            }
            Tag::TunRemcsum => {
                set_option(o, opt::TUN_REMCSUM)?;
                p.dest.tun_flags |= 2;
            }
            // a second command letter later in the line
            _ => return fail(format!("invalid option `{}'", item.written)),
        }
    }
    // popt's error once the options before it are acted on
    if let Some(e) = error {
        return Err(e);
    }
    let mut rest = rest.into_iter();
    if c == Cmd::SetTimeout {
        let vals: Vec<&str> = rest.by_ref().take(3).collect();
        if vals.len() < 3 {
            return fail("--set option requires 3 timeout values");
        }
        p.timeouts = Timeouts {
            tcp: timeout(Some(vals[0]), 0, MAX_TIMEOUT)?,
            tcpfin: timeout(Some(vals[1]), 0, MAX_TIMEOUT)?,
            udp: timeout(Some(vals[2]), 0, MAX_TIMEOUT)?,
        };
    }
    if let Some(extra) = rest.next() {
        return fail(format!("unexpected argument {extra}"));
    }
    if let Some(f) = sched_flags_arg {
        p.svc.flags &= !(SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3);
        p.svc.flags |= sched_flags(&p.svc.sched, &f)?;
    }
    p.cmd = c;
    p.checked()
}

#[cfg(test)]
mod tests;
