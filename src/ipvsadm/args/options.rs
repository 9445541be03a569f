//! ipvsadm's options: the table popt reads them with, the splitting of argv into options, and
//! the per-command table of which options are legal.

use super::{CliError, Cmd, fail};

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

pub const OPT_NAMES: [&str; 34] = [
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

/// A row of `LEGAL` as bit masks, so that a legal line is checked in a few instructions; the
/// row itself is walked only to word a refusal.
#[derive(Clone, Copy)]
struct Masks {
    required: u64,
    illegal: u64,
    one_of: u64,
}

const MASKS: [Masks; 14] = {
    let mut out = [Masks {
        required: 0,
        illegal: 0,
        one_of: 0,
    }; 14];
    let mut i = 0;
    while i < LEGAL.len() {
        let row = LEGAL[i].as_bytes();
        let mut j = 0;
        while j < OPT_NAMES.len() {
            let rule = if j < row.len() { row[j] } else { b'x' };
            match rule {
                b'+' => out[i].required |= 1 << j,
                b'x' => out[i].illegal |= 1 << j,
                b'1' => out[i].one_of |= 1 << j,
                _ => {}
            }
            j += 1;
        }
        i += 1;
    }
    out
};

/// What an option is, whichever way it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    AddService,
    EditService,
    DelService,
    Clear,
    List,
    Zero,
    AddServer,
    EditServer,
    DelServer,
    Set,
    Help,
    Version,
    Restore,
    Save,
    StartDaemon,
    StopDaemon,
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Scheduler,
    Persistent,
    Netmask,
    RealServer,
    Masq,
    Ipip,
    Gate,
    Weight,
    UThreshold,
    LThreshold,
    Numeric,
    Connection,
    McastInterface,
    Syncid,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    Nosort,
    Sort,
    Exact,
    Ipv6,
    Ops,
    Pe,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
}

#[derive(Clone, Copy, PartialEq)]
enum Arg {
    None,
    Required,
    Optional,
}

/// (long name, short letter or '\0', argument, tag), in popt's table order: where two
/// entries share a name, the first is the one found.
const TABLE: &[(&str, char, Arg, Tag)] = &[
    ("add-service", 'A', Arg::None, Tag::AddService),
    ("edit-service", 'E', Arg::None, Tag::EditService),
    ("delete-service", 'D', Arg::None, Tag::DelService),
    ("clear", 'C', Arg::None, Tag::Clear),
    ("list", 'L', Arg::None, Tag::List),
    ("list", 'l', Arg::None, Tag::List),
    ("zero", 'Z', Arg::None, Tag::Zero),
    ("add-server", 'a', Arg::None, Tag::AddServer),
    ("edit-server", 'e', Arg::None, Tag::EditServer),
    ("delete-server", 'd', Arg::None, Tag::DelServer),
    ("set", '\0', Arg::None, Tag::Set),
    ("help", 'h', Arg::None, Tag::Help),
    ("version", 'v', Arg::None, Tag::Version),
    ("restore", 'R', Arg::None, Tag::Restore),
    ("save", 'S', Arg::None, Tag::Save),
    ("start-daemon", '\0', Arg::Required, Tag::StartDaemon),
    ("stop-daemon", '\0', Arg::Required, Tag::StopDaemon),
    ("tcp-service", 't', Arg::Required, Tag::Tcp),
    ("udp-service", 'u', Arg::Required, Tag::Udp),
    ("sctp-service", '\0', Arg::Required, Tag::Sctp),
    ("fwmark-service", 'f', Arg::Required, Tag::Fwmark),
    ("scheduler", 's', Arg::Required, Tag::Scheduler),
    ("persistent", 'p', Arg::Optional, Tag::Persistent),
    ("netmask", 'M', Arg::Required, Tag::Netmask),
    ("real-server", 'r', Arg::Required, Tag::RealServer),
    ("masquerading", 'm', Arg::None, Tag::Masq),
    ("ipip", 'i', Arg::None, Tag::Ipip),
    ("gatewaying", 'g', Arg::None, Tag::Gate),
    ("weight", 'w', Arg::Required, Tag::Weight),
    ("u-threshold", 'x', Arg::Required, Tag::UThreshold),
    ("l-threshold", 'y', Arg::Required, Tag::LThreshold),
    ("numeric", 'n', Arg::None, Tag::Numeric),
    ("connection", 'c', Arg::None, Tag::Connection),
    ("mcast-interface", '\0', Arg::Required, Tag::McastInterface),
    ("syncid", '\0', Arg::Required, Tag::Syncid),
    ("timeout", '\0', Arg::None, Tag::Timeout),
    ("daemon", '\0', Arg::None, Tag::Daemon),
    ("stats", '\0', Arg::None, Tag::Stats),
    ("rate", '\0', Arg::None, Tag::Rate),
    ("thresholds", '\0', Arg::None, Tag::Thresholds),
    ("persistent-conn", '\0', Arg::None, Tag::PersistentConn),
    ("nosort", '\0', Arg::None, Tag::Nosort),
    ("sort", '\0', Arg::None, Tag::Sort),
    ("exact", 'X', Arg::None, Tag::Exact),
    ("ipv6", '6', Arg::None, Tag::Ipv6),
    ("ops", 'o', Arg::None, Tag::Ops),
    ("pe", '\0', Arg::Required, Tag::Pe),
    ("sched-flags", 'b', Arg::Required, Tag::SchedFlags),
    ("mcast-group", '\0', Arg::Required, Tag::McastGroup),
    ("mcast-port", '\0', Arg::Required, Tag::McastPort),
    ("mcast-ttl", '\0', Arg::Required, Tag::McastTtl),
    ("sync-maxlen", '\0', Arg::Required, Tag::SyncMaxlen),
    ("tun-info", '\0', Arg::None, Tag::TunInfo),
    ("tun-type", '\0', Arg::Required, Tag::TunType),
    ("tun-port", '\0', Arg::Required, Tag::TunPort),
    ("tun-nocsum", '\0', Arg::None, Tag::TunNocsum),
    ("tun-csum", '\0', Arg::None, Tag::TunCsum),
    ("tun-remcsum", '\0', Arg::None, Tag::TunRemcsum),
];

/// The table's index of each ASCII short letter (NONE where there is none): a rule has four
/// or five short options, each otherwise a walk through the table.
const NONE: u8 = u8::MAX;
const SHORT: [u8; 128] = {
    let mut out = [NONE; 128];
    let mut i = TABLE.len();
    // backwards, so that the first entry of a letter is the one kept
    while i > 0 {
        i -= 1;
        let c = TABLE[i].1 as usize;
        if c != 0 && c < 128 {
            out[c] = i as u8;
        }
    }
    out
};

fn short(c: char) -> Option<&'static (&'static str, char, Arg, Tag)> {
    let i = *SHORT.get(c as usize)?;
    TABLE.get(i as usize)
}

/// One option as popt hands it out: its tag, its argument, and the argv element popt read
/// last for it (the argument's, when it was the next element), which is what popt names.
pub struct Item<'a> {
    pub tag: Tag,
    pub arg: Option<&'a str>,
    pub written: &'a str,
}

/// argv as popt hands it out: the options up to the first it cannot read, the leftover
/// arguments, and that error if there is one. popt reads options one at a time, while
/// ipvsadm acts on each: the options before a bad one are acted on (and may fail) first.
pub struct Tokens<'a> {
    pub items: Vec<Item<'a>>,
    pub rest: Vec<&'a str>,
    pub error: Option<CliError>,
}

/// Splits argv into options (in order) and leftover arguments, as popt does.
pub fn tokenize<S: AsRef<str>>(argv: &[S]) -> Tokens<'_> {
    let mut t = Tokens {
        items: Vec::with_capacity(argv.len()),
        rest: Vec::new(),
        error: None,
    };
    let mut i = 0;
    // popt names the element it read last: the option's, or its argument's
    let popt_err = |a: &str, why: &str| {
        Some(CliError {
            message: format!("{a}: {why}"),
            code: 255,
        })
    };
    while i < argv.len() {
        let a = argv[i].as_ref();
        i += 1;
        if a == "--" {
            t.rest.extend(argv[i..].iter().map(AsRef::as_ref));
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let Some(&(_, _, kind, tag)) = TABLE.iter().find(|e| e.0 == name) else {
                t.error = popt_err(a, "unknown option");
                return t;
            };
            let arg = match kind {
                Arg::None if inline.is_some() => {
                    t.error = popt_err(a, "option does not take an argument");
                    return t;
                }
                Arg::None => None,
                Arg::Required => match inline {
                    Some(v) => Some(v),
                    None if i < argv.len() => {
                        i += 1;
                        Some(argv[i - 1].as_ref())
                    }
                    None => {
                        t.error = popt_err(a, "missing argument");
                        return t;
                    }
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
            t.items.push(Item {
                tag,
                arg,
                written: argv[i - 1].as_ref(),
            });
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let cluster = &a[1..];
            let mut k = 0;
            while let Some(c) = cluster[k..].chars().next() {
                k += c.len_utf8();
                let Some(&(_, _, kind, tag)) = short(c) else {
                    t.error = popt_err(a, "unknown option");
                    return t;
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
                    Arg::Required => {
                        t.error = popt_err(a, "missing argument");
                        return t;
                    }
                    Arg::Optional if i < argv.len() && !argv[i].as_ref().starts_with('-') => {
                        i += 1;
                        Some(argv[i - 1].as_ref())
                    }
                    Arg::Optional => None,
                };
                t.items.push(Item {
                    tag,
                    arg,
                    written: argv[i - 1].as_ref(),
                });
            }
            continue;
        }
        t.rest.push(a);
    }
    t
}

pub fn set_option(options: &mut u64, o: usize) -> Result<(), CliError> {
    if *options & (1 << o) != 0 {
        return fail(format!("multiple '{}' options specified", OPT_NAMES[o]));
    }
    *options |= 1 << o;
    Ok(())
}

/// ipvsadm's legality check of a command's options; a refusal names the first option, in
/// ipvsadm's order, that breaks a rule.
pub fn check_legal(cmd: Cmd, options: u64) -> Result<(), CliError> {
    let i = cmd as usize;
    let Some(m) = MASKS.get(i) else {
        return Ok(());
    };
    if options & m.illegal == 0 && m.required & !options == 0 && (options & m.one_of).count_ones() <= 1 {
        return Ok(());
    }
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
pub fn check_tunnel(t: crate::ipvs::TunType, options: u64) -> Result<(), CliError> {
    use crate::ipvs::TunType;
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
