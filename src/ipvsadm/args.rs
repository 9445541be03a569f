//! The ipvsadm 1.31 command line: options in popt's manner (clusters such as `-Ln`, `--opt=value`,
//! `-p` with an optional value), the per-command table of legal options, and ipvsadm's messages.

use std::net::{IpAddr, Ipv4Addr};

use crate::ipvs::consts::*;
use crate::ipvs::{Daemon, DaemonState, Family, Protocol, Timeouts, TunType};

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

const CMD_NAMES: [&str; 14] = [
    "add-service",
    "edit-service",
    "delete-service",
    "flush",
    "list",
    "add-server",
    "delete-server",
    "edit-server",
    "set",
    "start-daemon",
    "stop-daemon",
    "restore",
    "save",
    "zero",
];

/// Option bits, in ipvsadm's order (which its messages and legality table follow).
pub mod opt {
    pub const NUMERIC: usize = 0;
    pub const CONNECTION: usize = 1;
    pub const SERVICE: usize = 2;
    pub const SCHEDULER: usize = 3;
    pub const PERSISTENT: usize = 4;
    pub const NETMASK: usize = 5;
    pub const SERVER: usize = 6;
    pub const FORWARD: usize = 7;
    pub const WEIGHT: usize = 8;
    pub const UTHRESHOLD: usize = 9;
    pub const LTHRESHOLD: usize = 10;
    pub const MCAST: usize = 11;
    pub const TIMEOUT: usize = 12;
    pub const DAEMON: usize = 13;
    pub const STATS: usize = 14;
    pub const RATE: usize = 15;
    pub const THRESHOLDS: usize = 16;
    pub const PERSISTENTCONN: usize = 17;
    pub const NOSORT: usize = 18;
    pub const SYNCID: usize = 19;
    pub const EXACT: usize = 20;
    pub const ONEPACKET: usize = 21;
    pub const PE: usize = 22;
    pub const SCHED_FLAGS: usize = 23;
    pub const MCAST_GROUP: usize = 24;
    pub const MCAST_PORT: usize = 25;
    pub const MCAST_TTL: usize = 26;
    pub const SYNC_MAXLEN: usize = 27;
    pub const TUN_INFO: usize = 28;
    pub const TUN_TYPE: usize = 29;
    pub const TUN_PORT: usize = 30;
    pub const TUN_NOCSUM: usize = 31;
    pub const TUN_CSUM: usize = 32;
    pub const TUN_REMCSUM: usize = 33;
}

const OPT_NAMES: [&str; 34] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

/// Which options each command takes: '+' required, 'x' illegal, '1' at most one of these,
/// ' ' optional. Rows in the order of `CMD_NAMES`, columns in the order of `OPT_NAMES`.
const LEGAL: [&str; 14] = [
    "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
    "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
    "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    " 11xxxxxxxxx11       xxxxxxx xxxxx",
    "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
    "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
    "xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

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
}

#[derive(Clone, Copy, PartialEq)]
enum Arg {
    None,
    Required,
    Optional,
}

/// (long name, short letter, argument, tag). Tags are the short letter or a name.
const TABLE: &[(&str, char, Arg, &str)] = &[
    ("add-service", 'A', Arg::None, "A"),
    ("edit-service", 'E', Arg::None, "E"),
    ("delete-service", 'D', Arg::None, "D"),
    ("clear", 'C', Arg::None, "C"),
    ("list", 'L', Arg::None, "L"),
    ("list", 'l', Arg::None, "L"),
    ("zero", 'Z', Arg::None, "Z"),
    ("add-server", 'a', Arg::None, "a"),
    ("edit-server", 'e', Arg::None, "e"),
    ("delete-server", 'd', Arg::None, "d"),
    ("set", '\0', Arg::None, "set"),
    ("help", 'h', Arg::None, "h"),
    ("version", 'v', Arg::None, "v"),
    ("restore", 'R', Arg::None, "R"),
    ("save", 'S', Arg::None, "S"),
    ("start-daemon", '\0', Arg::Required, "start-daemon"),
    ("stop-daemon", '\0', Arg::Required, "stop-daemon"),
    ("tcp-service", 't', Arg::Required, "t"),
    ("udp-service", 'u', Arg::Required, "u"),
    ("sctp-service", '\0', Arg::Required, "sctp"),
    ("fwmark-service", 'f', Arg::Required, "f"),
    ("scheduler", 's', Arg::Required, "s"),
    ("persistent", 'p', Arg::Optional, "p"),
    ("netmask", 'M', Arg::Required, "M"),
    ("real-server", 'r', Arg::Required, "r"),
    ("masquerading", 'm', Arg::None, "m"),
    ("ipip", 'i', Arg::None, "i"),
    ("gatewaying", 'g', Arg::None, "g"),
    ("weight", 'w', Arg::Required, "w"),
    ("u-threshold", 'x', Arg::Required, "x"),
    ("l-threshold", 'y', Arg::Required, "y"),
    ("numeric", 'n', Arg::None, "n"),
    ("connection", 'c', Arg::None, "c"),
    ("mcast-interface", '\0', Arg::Required, "mcast-interface"),
    ("syncid", '\0', Arg::Required, "syncid"),
    ("timeout", '\0', Arg::None, "timeout"),
    ("daemon", '\0', Arg::None, "daemon"),
    ("stats", '\0', Arg::None, "stats"),
    ("rate", '\0', Arg::None, "rate"),
    ("thresholds", '\0', Arg::None, "thresholds"),
    ("persistent-conn", '\0', Arg::None, "persistent-conn"),
    ("nosort", '\0', Arg::None, "nosort"),
    ("sort", '\0', Arg::None, "sort"),
    ("exact", 'X', Arg::None, "X"),
    ("ipv6", '6', Arg::None, "6"),
    ("ops", 'o', Arg::None, "o"),
    ("pe", '\0', Arg::Required, "pe"),
    ("sched-flags", 'b', Arg::Required, "b"),
    ("mcast-group", '\0', Arg::Required, "mcast-group"),
    ("mcast-port", '\0', Arg::Required, "mcast-port"),
    ("mcast-ttl", '\0', Arg::Required, "mcast-ttl"),
    ("sync-maxlen", '\0', Arg::Required, "sync-maxlen"),
    ("tun-info", '\0', Arg::None, "tun-info"),
    ("tun-type", '\0', Arg::Required, "tun-type"),
    ("tun-port", '\0', Arg::Required, "tun-port"),
    ("tun-nocsum", '\0', Arg::None, "tun-nocsum"),
    ("tun-csum", '\0', Arg::None, "tun-csum"),
    ("tun-remcsum", '\0', Arg::None, "tun-remcsum"),
];

/// One option as popt hands it out: its tag, its argument, and how it was written.
struct Item<'a> {
    tag: &'static str,
    arg: Option<&'a str>,
    written: Written,
}

/// How an option was written, for the one message that quotes it (kept as data: 20,000
/// rules would otherwise format 80,000 strings nobody reads).
#[derive(Clone, Copy)]
enum Written {
    Long(&'static str),
    Short(char),
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Written::Long(name) => write!(f, "--{name}"),
            Written::Short(c) => write!(f, "-{c}"),
        }
    }
}

/// Splits argv into options (in order) and leftover arguments, as popt does.
fn tokenize<S: AsRef<str>>(argv: &[S]) -> Result<(Vec<Item<'_>>, Vec<&str>), CliError> {
    let mut items = Vec::with_capacity(argv.len());
    let mut rest = Vec::new();
    let mut i = 0;
    let popt_err = |opt: &str, why: &str| CliError {
        message: format!("{opt}: {why}"),
        code: 255,
    };
    while i < argv.len() {
        let a = argv[i].as_ref();
        i += 1;
        if a == "--" {
            rest.extend(argv[i..].iter().map(AsRef::as_ref));
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let Some(&(lname, _, kind, tag)) = TABLE.iter().find(|e| e.0 == name) else {
                return Err(popt_err(a, "unknown option"));
            };
            let arg = match kind {
                Arg::None if inline.is_some() => return Err(popt_err(a, "option does not take an argument")),
                Arg::None => None,
                Arg::Required => match inline {
                    Some(v) => Some(v),
                    None if i < argv.len() => {
                        i += 1;
                        Some(argv[i - 1].as_ref())
                    }
                    None => return Err(popt_err(a, "missing argument")),
                },
                Arg::Optional => match inline {
                    Some(v) => Some(v),
                    None if i < argv.len() && !argv[i].as_ref().starts_with('-') => {
                        i += 1;
                        Some(argv[i - 1].as_ref())
                    }
                    None => None,
                },
            };
            items.push(Item {
                tag,
                arg,
                written: Written::Long(lname),
            });
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let cluster = &a[1..];
            let mut k = 0;
            while let Some(c) = cluster[k..].chars().next() {
                k += c.len_utf8();
                let Some(&(_, _, kind, tag)) = TABLE.iter().find(|e| e.1 == c && c != '\0') else {
                    return Err(popt_err(&format!("-{c}"), "unknown option"));
                };
                let tail = &cluster[k..];
                let arg = match kind {
                    Arg::None => None,
                    Arg::Required | Arg::Optional if !tail.is_empty() => {
                        k = cluster.len();
                        Some(tail)
                    }
                    Arg::Required if i < argv.len() => {
                        i += 1;
                        Some(argv[i - 1].as_ref())
                    }
                    Arg::Required => return Err(popt_err(&format!("-{c}"), "missing argument")),
                    Arg::Optional if i < argv.len() && !argv[i].as_ref().starts_with('-') => {
                        i += 1;
                        Some(argv[i - 1].as_ref())
                    }
                    Arg::Optional => None,
                };
                items.push(Item {
                    tag,
                    arg,
                    written: Written::Short(c),
                });
            }
            continue;
        }
        rest.push(a);
    }
    Ok((items, rest))
}

/// Whether popt's very first option would fail (unknown, or missing its argument).
fn first_is_bad<S: AsRef<str>>(argv: &[S]) -> bool {
    match argv
        .iter()
        .position(|a| a.as_ref().starts_with('-') && a.as_ref().len() > 1)
    {
        Some(i) => {
            tokenize(&argv[i..i + 1]).is_err()
                || tokenize(&argv[i..]).is_err() && tokenize(&argv[..=i]).is_err()
        }
        None => true,
    }
}

/// strtol in base 10 within [min, max], as ipvsadm's string_to_number.
pub fn number(s: &str, min: i64, max: i64) -> Option<i64> {
    let t = s.trim_start();
    let v: i64 = t
        .parse()
        .ok()
        .or_else(|| t.strip_prefix('+').and_then(|x| x.parse().ok()))?;
    (min..=max).contains(&v).then_some(v)
}

const MAX_TIMEOUT: i64 = 86400 * 31;

/// A number option within [min, max], or ipvsadm's "illegal <what> specified".
fn ranged(arg: Option<&str>, min: i64, max: i64, what: &str) -> Result<i64, CliError> {
    number(arg.unwrap_or(""), min, max).ok_or_else(|| CliError {
        message: format!("illegal {what} specified"),
        code: 2,
    })
}

fn timeout(s: Option<&str>, min: i64, max: i64) -> Result<u32, CliError> {
    match s {
        None => Ok(360),
        Some(s) => number(s, min, max).map(|v| v as u32).ok_or_else(|| CliError {
            message: format!("invalid timeout value `{s}' specified"),
            code: 2,
        }),
    }
}

/// host[:port] as ipvsadm reads it: `[v6]:port`, bare v6, v4 or an IPv4 host name, and a
/// port number or service name. Returns the address and, if given, the port.
pub fn service_addr(s: &str, proto: Protocol) -> Option<(IpAddr, Option<u16>)> {
    if s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest.split_once(']')?;
        (h, Some(tail.strip_prefix(':')?))
    } else if s.bytes().filter(|&b| b == b':').count() > 1 && s.parse::<std::net::Ipv6Addr>().is_ok() {
        // (an IPv6 address has two colons at least: IPv4 forms skip this parse)
        (s, None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let addr = if let Some(a6) = host
        .contains(':')
        .then(|| host.parse::<std::net::Ipv6Addr>().ok())
        .flatten()
    {
        IpAddr::V6(a6)
    } else if let Some(a4) = inet_aton(host) {
        IpAddr::V4(a4)
    } else {
        IpAddr::V4(super::names::host_to_v4(host)?)
    };
    let port = match port {
        None => None,
        Some(p) => Some(match number(p, 0, 65535) {
            Some(n) => n as u16,
            None => super::names::service_to_port(p, proto)?,
        }),
    };
    Some((addr, port))
}

/// inet_aton's forms: a.b.c.d, a.b.c, a.b, a (each part decimal, octal or hex).
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    // the form nearly every rule uses, read by the standard parser (plain decimal a.b.c.d,
    // no leading zeros: for those both readings agree)
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Some(a);
    }
    let mut nums = [0u64; 4];
    let mut count = 0;
    for p in s.split('.') {
        if count == 4 {
            return None;
        }
        nums[count] = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            u64::from_str_radix(h, 16).ok()?
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            p.parse().ok()?
        } else {
            return None;
        };
        count += 1;
    }
    let (last, head) = nums[..count].split_last()?;
    if head.iter().any(|&n| n > 255) {
        return None;
    }
    let room = 8 * (4 - head.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let mut v: u64 = 0;
    for (i, n) in head.iter().enumerate() {
        v |= n << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from((v | last) as u32))
}

fn sched_flags(sched: &str, arg: &str) -> Result<u32, CliError> {
    let sched = if sched.is_empty() { "wlc" } else { sched };
    let mut flags = 0;
    for f in arg.split(',').filter(|f| !f.is_empty()) {
        let Some((bit, need)) = crate::model::spec::sched_flag_bit(f) else {
            return fail(format!("invalid scheduler flag `{f}'"));
        };
        flags |= bit;
        if need.is_some_and(|n| n != sched) {
            return fail(format!("incompatible scheduler flag `{f}'"));
        }
    }
    Ok(flags)
}

fn set_command(cmd: &mut Option<Cmd>, new: Cmd) -> Result<(), CliError> {
    if cmd.is_some() {
        return fail("multiple commands specified");
    }
    *cmd = Some(new);
    Ok(())
}

fn set_option(options: &mut u64, o: usize) -> Result<(), CliError> {
    if *options & (1 << o) != 0 {
        return fail(format!("multiple '{}' options specified", OPT_NAMES[o]));
    }
    *options |= 1 << o;
    Ok(())
}

fn check_legal(cmd: Cmd, options: u64) -> Result<(), CliError> {
    let i = cmd as usize;
    let row = LEGAL[i].as_bytes();
    let mut last = None;
    for (j, name) in OPT_NAMES.iter().enumerate() {
        let rule = row.get(j).copied().unwrap_or(b'x');
        if options & (1 << j) == 0 {
            if rule == b'+' {
                return fail(format!(
                    "You need to supply the '{name}' option for the '{}' command",
                    CMD_NAMES[i]
                ));
            }
        } else if rule == b'x' {
            return fail(format!(
                "Illegal '{name}' option with the '{}' command",
                CMD_NAMES[i]
            ));
        } else if rule == b'1' {
            if let Some(l) = last {
                return fail(format!(
                    "The option '{name}' conflicts with the '{}' option in the '{}' command",
                    OPT_NAMES[l], CMD_NAMES[i]
                ));
            }
            last = Some(j);
        }
    }
    Ok(())
}

/// Tunnel options per type: port required for gue; at most one checksum option.
fn check_tunnel(t: TunType, options: u64) -> Result<(), CliError> {
    let (name, rules): (&str, &[u8; 4]) = match t {
        TunType::Ipip => ("ipip", b"xxxx"),
        TunType::Gue => ("gue", b"+111"),
        TunType::Gre => ("gre", b"x11x"),
        TunType::Other(_) => return Ok(()),
    };
    let opts = [opt::TUN_PORT, opt::TUN_NOCSUM, opt::TUN_CSUM, opt::TUN_REMCSUM];
    let mut last = None;
    for (j, &k) in opts.iter().enumerate() {
        let on = options & (1 << k) != 0;
        match (on, rules[j]) {
            (false, b'+') => {
                return fail(format!(
                    "You need to supply the '{}' option for the '{name}' tunnel type",
                    OPT_NAMES[k]
                ));
            }
            (true, b'x') => {
                return fail(format!(
                    "Illegal '{}' option with the '{name}' tunnel type",
                    OPT_NAMES[k]
                ));
            }
            (true, b'1') => {
                if let Some(l) = last {
                    return fail(format!(
                        "The option '{}' conflicts with the '{}' option in the '{name}' tunnel type",
                        OPT_NAMES[k], OPT_NAMES[l]
                    ));
                }
                last = Some(k);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses one ipvsadm command line (without the program name).
pub fn parse<S: AsRef<str>>(argv: &[S]) -> Result<Parsed, CliError> {
    let (items, rest) = match tokenize(argv) {
        Ok(t) => t,
        // ipvsadm asks popt for the command first: a bad first option only gets "try -h"
        Err(e) if first_is_bad(argv) => {
            return Err(CliError {
                message: TRY_HELP.into(),
                code: e.code,
            });
        }
        Err(e) => return Err(e),
    };
    let mut p = Parsed {
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
    };
    let mut cmd = None;
    let mut sched_flags_arg = None;
    let mut items = items.into_iter();
    // the first option names the command
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
        "A" => Cmd::Add,
        "E" => Cmd::Edit,
        "D" => Cmd::Del,
        "a" => Cmd::AddDest,
        "e" => Cmd::EditDest,
        "d" => Cmd::DelDest,
        "C" => Cmd::Flush,
        "L" => Cmd::List,
        "Z" => Cmd::Zero,
        "set" => Cmd::SetTimeout,
        "R" => Cmd::Restore,
        "S" => Cmd::Save,
        "start-daemon" => {
            p.daemon.state = state(first.arg, "illegal start-daemon parameter specified")?;
            Cmd::StartDaemon
        }
        "stop-daemon" => {
            p.daemon.state = state(first.arg, "illegal start_daemon specified")?;
            Cmd::StopDaemon
        }
        "h" => Cmd::Help,
        "v" => Cmd::Version,
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
            "t" | "u" | "sctp" => {
                set_option(o, opt::SERVICE)?;
                p.svc.proto = match item.tag {
                    "t" => Protocol::Tcp,
                    "u" => Protocol::Udp,
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
            "f" => {
                set_option(o, opt::SERVICE)?;
                p.svc.af = Family::Inet;
                p.svc.proto = Protocol::Tcp;
                let s = arg.unwrap_or("");
                match s.trim_start().parse::<i64>() {
                    Ok(v) if v > 0 && v <= u32::MAX as i64 => p.svc.fwmark = v as u32,
                    _ => return fail(format!("invalid fwmark value `{s}' specified")),
                }
            }
            "s" => {
                set_option(o, opt::SCHEDULER)?;
                p.svc.sched = arg.unwrap_or("").chars().take(15).collect();
            }
            "p" => {
                set_option(o, opt::PERSISTENT)?;
                p.svc.flags |= SVC_F_PERSISTENT;
                p.svc.timeout = timeout(arg, 1, MAX_TIMEOUT)?;
            }
            "M" => {
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
            "r" => {
                set_option(o, opt::SERVER)?;
                let Some((addr, port)) = service_addr(arg.unwrap_or(""), p.svc.proto) else {
                    return fail("illegal real server address[:port] specified");
                };
                p.dest.addr = addr;
                p.dest.af = Family::of(&addr);
                p.dest.port = port.unwrap_or(p.svc.port);
            }
            "i" | "g" | "m" => {
                set_option(o, opt::FORWARD)?;
                p.dest.fwd = match item.tag {
                    "i" => CONN_F_TUNNEL,
                    "g" => CONN_F_DROUTE,
                    _ => CONN_F_MASQ,
                };
            }
            "w" => {
                set_option(o, opt::WEIGHT)?;
                // Debian's 1.31 build takes weights up to INT_MAX (upstream: 65535)
                p.dest.weight = ranged(arg, 0, i32::MAX as i64, "weight")? as u32;
            }
            "x" => {
                set_option(o, opt::UTHRESHOLD)?;
                p.dest.upper = ranged(arg, 0, i32::MAX as i64, "u_threshold")? as u32;
            }
            "y" => {
                set_option(o, opt::LTHRESHOLD)?;
                p.dest.lower = ranged(arg, 0, i32::MAX as i64, "l_threshold")? as u32;
            }
            "c" => set_option(o, opt::CONNECTION)?,
            "n" => {
                set_option(o, opt::NUMERIC)?;
                p.format.numeric = true;
            }
            "mcast-interface" => {
                set_option(o, opt::MCAST)?;
                p.daemon.ifname = arg.unwrap_or("").chars().take(15).collect();
            }
            "syncid" => {
                set_option(o, opt::SYNCID)?;
                p.daemon.syncid = ranged(arg, 0, 255, "syncid")? as u32;
            }
            "timeout" => set_option(o, opt::TIMEOUT)?,
            "daemon" => set_option(o, opt::DAEMON)?,
            "stats" => {
                set_option(o, opt::STATS)?;
                p.format.stats = true;
            }
            "rate" => {
                set_option(o, opt::RATE)?;
                p.format.rate = true;
            }
            "thresholds" => {
                set_option(o, opt::THRESHOLDS)?;
                p.format.thresholds = true;
            }
            "persistent-conn" => {
                set_option(o, opt::PERSISTENTCONN)?;
                p.format.persistent_conn = true;
            }
            "nosort" => {
                set_option(o, opt::NOSORT)?;
                p.format.nosort = true;
            }
            "sort" => {}
            "X" => {
                set_option(o, opt::EXACT)?;
                p.format.exact = true;
            }
            "6" => {
                if p.svc.fwmark != 0 {
                    p.svc.af = Family::Inet6;
                    p.svc.netmask = 128;
                } else {
                    return fail("-6 used before -f\n");
                }
            }
            "o" => {
                set_option(o, opt::ONEPACKET)?;
                p.svc.flags |= SVC_F_ONEPACKET;
            }
            "pe" => {
                set_option(o, opt::PE)?;
                p.svc.pe = arg.unwrap_or("").chars().take(16).collect();
            }
            "b" => {
                set_option(o, opt::SCHED_FLAGS)?;
                sched_flags_arg = Some(arg.unwrap_or("").to_string());
            }
            "mcast-group" => {
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
            "mcast-port" => {
                set_option(o, opt::MCAST_PORT)?;
                p.daemon.port = ranged(arg, 1, 65535, "mcast-port")? as u16;
            }
            "mcast-ttl" => {
                set_option(o, opt::MCAST_TTL)?;
                p.daemon.ttl = ranged(arg, 1, 255, "mcast-ttl")? as u8;
            }
            "sync-maxlen" => {
                set_option(o, opt::SYNC_MAXLEN)?;
                p.daemon.maxlen = ranged(arg, 1, 65535 - 20 - 8, "sync-maxlen")? as u16;
            }
            "tun-info" => {
                set_option(o, opt::TUN_INFO)?;
                p.format.tun_info = true;
            }
            "tun-type" => {
                set_option(o, opt::TUN_TYPE)?;
                p.dest.tun_type = match arg.unwrap_or("") {
                    "ipip" => TunType::Ipip,
                    "gue" => TunType::Gue,
                    "gre" => TunType::Gre,
                    _ => return fail("illegal tunnel type specified"),
                };
            }
            "tun-port" => {
                set_option(o, opt::TUN_PORT)?;
                p.dest.tun_port = ranged(arg, 1, 65535, "tunnel port")? as u16;
            }
            "tun-nocsum" => set_option(o, opt::TUN_NOCSUM)?,
            "tun-csum" => {
                set_option(o, opt::TUN_CSUM)?;
                p.dest.tun_flags |= 1;
            }
            "tun-remcsum" => {
                set_option(o, opt::TUN_REMCSUM)?;
                p.dest.tun_flags |= 2;
            }
            // a second command letter later in the line
            _ => return fail(format!("invalid option `{}'", item.written)),
        }
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

/// C's atoi: leading digits, 0 if none.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(d) => (-1, d),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let n: String = digits.chars().take_while(char::is_ascii_digit).take(18).collect();
    sign * n.parse::<i64>().unwrap_or(0)
}

#[cfg(test)]
mod tests;
