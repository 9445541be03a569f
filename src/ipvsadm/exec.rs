//! Running an ipvsadm command line against the kernel: what ipvsadm would print on stdout and
//! stderr, and its exit status.

use std::fs::File;
use std::io::BufReader;

use nix::libc;

use super::args::{self, CliError, Cmd, Format, Parsed, opt};
use super::{listing, rules};
use crate::director::{self, Director};
use crate::ipvs::conns;
use crate::ipvs::{Error, Op, strerror};
use crate::model::backend::Ipvs;
use crate::model::order;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Outcome {
    fn out(stdout: String) -> Outcome {
        Outcome {
            stdout,
            ..Default::default()
        }
    }

    /// A message as ipvsadm's fail() and fprintf("%s\n") print it: one more newline, always.
    fn err(stderr: impl Into<String>, code: i32) -> Outcome {
        let mut stderr = stderr.into();
        stderr.push('\n');
        Outcome {
            stderr,
            code,
            ..Default::default()
        }
    }
}

impl From<CliError> for Outcome {
    fn from(e: CliError) -> Self {
        Outcome::err(e.message, e.code)
    }
}

/// libipvs's ipvs_strerror: messages by (operation, errno), else the C library's.
pub fn ipvs_strerror(op: Option<&Op>, errno: i32) -> String {
    let specific = match (op, errno) {
        (Some(Op::AddService(_)), libc::EEXIST) => Some("Service already exists"),
        (Some(Op::AddService(_) | Op::EditService(_)), libc::ENOENT) => {
            Some("Scheduler or persistence engine not found")
        }
        (Some(Op::EditService(_) | Op::DelService(_) | Op::Zero(Some(_))), libc::ESRCH) => {
            Some("No such service")
        }
        (Some(Op::AddDest(..) | Op::EditDest(..) | Op::DelDest(..)), libc::ESRCH) => {
            Some("Service not defined")
        }
        (Some(Op::AddDest(..)), libc::EEXIST) => Some("Destination already exists"),
        (Some(Op::EditDest(..) | Op::DelDest(..)), libc::ENOENT) => Some("No such destination"),
        (Some(Op::StartDaemon(_)), libc::EEXIST) => Some("Daemon has already run"),
        (Some(Op::StopDaemon(_)), libc::ESRCH) => Some("No daemon is running"),
        (None, libc::ESRCH) => Some("No such service"),
        (_, libc::EPERM) => Some("Permission denied (you must be root)"),
        (_, libc::EINVAL) => {
            Some("Invalid operation.  Possibly wrong module version, address not unicast, ...")
        }
        (_, libc::ENOPROTOOPT) => Some("Protocol not available"),
        (_, libc::ENOMEM) => Some("Memory allocation problem"),
        (_, libc::EOPNOTSUPP) => Some("Operation not supported with IPv6"),
        (_, libc::EAFNOSUPPORT) => Some("Operation not supported with specified address family"),
        (_, libc::EMSGSIZE) => Some("Module is wrong version"),
        _ => None,
    };
    specific.map(str::to_string).unwrap_or_else(|| strerror(errno))
}

fn kernel_err(op: Option<&Op>, e: &Error) -> String {
    match e.errno() {
        Some(errno) => ipvs_strerror(op, errno),
        None => e.to_string(),
    }
}

pub const USAGE: &str = "\
ipvsadm (lvsh's built-in, compatible with ipvsadm 1.31)
Usage:
  ipvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe engine] [-b sched-flags]
  ipvsadm -D virtual-service
  ipvsadm -C
  ipvsadm -R
  ipvsadm -S [-n]
  ipvsadm -a|e virtual-service -r server-address [options]
  ipvsadm -d virtual-service -r server-address
  ipvsadm -L|l [virtual-service] [options]
  ipvsadm -Z [virtual-service]
  ipvsadm --set tcp tcpfin udp
  ipvsadm --start-daemon {master|backup} [daemon-options]
  ipvsadm --stop-daemon {master|backup}
  ipvsadm -h

virtual-service is -t|--tcp-service, -u|--udp-service or --sctp-service host[:port],
or -f|--fwmark-service mark (with -6 for IPv6).
Service options: -s scheduler (default wlc), -p [timeout] (default 360), -M netmask,
  --pe engine, -b flags, -o (one-packet scheduling).
Real-server options: -r host[:port], -g (direct routing, default), -i (tunnel), -m (NAT),
  -w weight, -x upper, -y lower, --tun-type ipip|gue|gre, --tun-port port,
  --tun-nocsum, --tun-csum, --tun-remcsum.
List options: -n, -c, --timeout, --daemon, --stats, --rate, --thresholds,
  --persistent-conn, --tun-info, --exact, --nosort, --sort.
Daemon options: --mcast-interface, --syncid, --sync-maxlen, --mcast-group, --mcast-port,
  --mcast-ttl.
";

fn list(c: &mut dyn Ipvs, p: &Parsed) -> Outcome {
    let f = p.format;
    if (p.has(opt::CONNECTION) || p.has(opt::TIMEOUT) || p.has(opt::DAEMON))
        && (p.has(opt::STATS) || p.has(opt::RATE) || p.has(opt::THRESHOLDS))
        || (p.has(opt::TIMEOUT) || p.has(opt::DAEMON)) && p.has(opt::PERSISTENTCONN)
    {
        return Outcome::err("options conflicts in the list command", 2);
    }
    if p.has(opt::CONNECTION) {
        return list_connections(&f);
    }
    if p.has(opt::SERVICE) {
        let key = rules::service_key(p);
        let svc = match c.service(&key) {
            Ok(Some(s)) => s,
            Ok(None) => return Outcome::err("No such service", 1),
            Err(e) => return Outcome::err(kernel_err(None, &e), 1),
        };
        let mut dests = match c.dests(&key) {
            Ok(d) => d,
            Err(e) => return Outcome::err(kernel_err(None, &e), 1),
        };
        if !f.nosort {
            dests.sort_by(order::dest_cmp);
        }
        let mut out = listing::title(&f);
        listing::service_entry(&mut out, &svc, &dests, &f, false);
        return Outcome::out(out);
    }
    if p.has(opt::TIMEOUT) {
        return match c.timeouts() {
            Ok(t) => Outcome::out(listing::timeout_line(&t)),
            Err(_) => Outcome {
                code: 1,
                ..Default::default()
            },
        };
    }
    if p.has(opt::DAEMON) {
        return match c.daemons() {
            Ok(d) => Outcome::out(listing::daemon_lines(&d)),
            Err(_) => Outcome {
                code: 1,
                ..Default::default()
            },
        };
    }
    list_all(c, &f)
}

pub fn list_all(c: &mut dyn Ipvs, f: &Format) -> Outcome {
    let info = match c.info() {
        Ok(i) => i,
        Err(e) => return Outcome::err(kernel_err(None, &e), 1),
    };
    // the default format needs no counters or thresholds: one dump and /proc/net/ip_vs will do
    let brief = !(f.rule || f.stats || f.rate || f.thresholds || f.persistent_conn || f.tun_info);
    if brief {
        let mut table = match c.services_brief() {
            Ok(t) => t,
            Err(e) => return Outcome::err(kernel_err(None, &e), 1),
        };
        if !f.nosort {
            order::sort_brief(&mut table);
        }
        let lines = listing::lines(&table);
        return Outcome::out(listing::text(
            &info,
            listing::brief_entries(&table),
            lines,
            f,
            false,
        ));
    }
    let mut table = match c.services() {
        Ok(t) => t,
        Err(e) => return Outcome::err(kernel_err(None, &e), 1),
    };
    if !f.nosort {
        order::sort_table(&mut table);
    }
    Outcome::out(listing::list_all(&info, &table, f, false))
}

fn list_connections(f: &Format) -> Outcome {
    let file = match File::open(conns::PROC_CONN) {
        Ok(file) => file,
        Err(_) => return Outcome::err("cannot open file /proc/net/ip_vs_conn", 1),
    };
    let mut out = listing::conn_header(f.persistent_conn);
    let walked = conns::for_each(BufReader::new(file), |conn| {
        listing::conn_row(&mut out, &conn, f.numeric, f.persistent_conn);
        true
    });
    if walked.is_err() {
        return Outcome::err("unexpected input from /proc/net/ip_vs_conn", 1);
    }
    Outcome::out(out)
}

/// Restores rules atomically: every line is checked first, and a kernel refusal partway
/// undoes what was done. (ipvsadm -R itself goes on past refused lines.)
pub fn restore(d: &mut Director, input: &mut dyn std::io::BufRead) -> Outcome {
    let (lines, list) = match rules::parse_lines(input) {
        Ok(o) => o,
        Err(e) => return Outcome::err(format!("line {}: {}", e.line, e.message), 2),
    };
    match d.restore(&list, &lines) {
        Ok(_) => Outcome::default(),
        // in ipvsadm's words, not lvsh's
        Err(director::Error::Txn(f)) => Outcome::err(
            format!("line {}: {}", f.line, kernel_err(f.op.as_ref(), &f.error)),
            255,
        ),
        Err(e) => Outcome::err(kernel_err(None, &e.into_ipvs()), 255),
    }
}

/// Whether a command line stops a sync daemon (which must wait for one just started).
pub fn stops_daemon(argv: &[String]) -> bool {
    args::parse(argv).is_ok_and(|p| matches!(p.cmd, Cmd::StopDaemon))
}

/// Where -R reads its rules, opened only when it is run.
pub type Stdin<'a> = &'a mut dyn FnMut() -> Box<dyn std::io::BufRead>;

/// ipvsadm -v's line, word for word: scripts that check the version parse it.
pub const VERSION: &str = "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n";

/// Runs one ipvsadm command line. `director` is opened on first use; `stdin` supplies -R's
/// input.
pub fn run(director: &mut Option<Director>, argv: &[String], stdin: Stdin) -> Outcome {
    if director.is_none() {
        match Director::open() {
            Ok(d) => *director = Some(d),
            Err(e) => {
                let why = match e.errno() {
                    Some(n) => strerror(n),
                    None => "Protocol not available".into(),
                };
                // modprobe's own complaint first, as ipvsadm's child prints it
                let mut out = Outcome::err(
                    format!(
                        "Can't initialize ipvs: {why}\nAre you sure that IP Virtual Server is built in the kernel or as module?"
                    ),
                    2,
                );
                let said = crate::ipvs::take_modprobe_stderr();
                out.stderr.insert_str(0, &String::from_utf8_lossy(&said));
                return out;
            }
        }
    }
    let Some(d) = director.as_mut() else {
        return Outcome::err("no IPVS client", 1);
    };
    if argv.is_empty() {
        return list_all(d.ipvs(), &Format::default());
    }
    let p = match args::parse(argv) {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    match p.cmd {
        Cmd::Help => Outcome::out(USAGE.to_string()),
        Cmd::Version => Outcome::out(VERSION.to_string()),
        Cmd::List => list(d.ipvs(), &p),
        Cmd::Save => {
            let f = Format {
                rule: true,
                ..p.format
            };
            list_all(d.ipvs(), &f)
        }
        Cmd::Restore => restore(d, &mut *stdin()),
        _ => {
            let Some(op) = rules::op(&p) else {
                return Outcome::default();
            };
            match d.perform(op.clone()) {
                Ok(()) => Outcome::default(),
                Err(e) => Outcome::err(kernel_err(Some(&op), &e), 255),
            }
        }
    }
}
