//! Write operations on the kernel's IPVS tables: each maps to one request, and knows how to
//! word the kernel's refusal of it.

use std::net::IpAddr;

use nix::libc;

use super::codec::*;
use super::consts::*;
use super::error::{Error, strerror};
use super::message::{IpvsMessage, IpvsNla};
use super::types::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    AddService(Service),
    EditService(Service),
    DelService(ServiceKey),
    AddDest(ServiceKey, Dest),
    EditDest(ServiceKey, Dest),
    DelDest(ServiceKey, IpAddr, u16),
    Zero(Option<ServiceKey>),
    Flush,
    SetTimeouts(Timeouts),
    StartDaemon(Daemon),
    StopDaemon(DaemonState),
}

impl Op {
    pub fn message(&self) -> IpvsMessage {
        use IpvsNla as N;
        match self {
            Op::AddService(s) => IpvsMessage::new(CMD_NEW_SERVICE, vec![N::Service(service_nlas(s))]),
            Op::EditService(s) => IpvsMessage::new(CMD_SET_SERVICE, vec![N::Service(service_nlas(s))]),
            Op::DelService(k) => IpvsMessage::new(CMD_DEL_SERVICE, vec![N::Service(key_nlas(k))]),
            Op::AddDest(k, d) => {
                IpvsMessage::new(CMD_NEW_DEST, vec![N::Service(key_nlas(k)), N::Dest(dest_nlas(d))])
            }
            Op::EditDest(k, d) => {
                IpvsMessage::new(CMD_SET_DEST, vec![N::Service(key_nlas(k)), N::Dest(dest_nlas(d))])
            }
            Op::DelDest(k, a, p) => IpvsMessage::new(
                CMD_DEL_DEST,
                vec![N::Service(key_nlas(k)), N::Dest(dest_key_nlas(a, *p))],
            ),
            Op::Zero(Some(k)) => IpvsMessage::new(CMD_ZERO, vec![N::Service(key_nlas(k))]),
            Op::Zero(None) => IpvsMessage::new(CMD_ZERO, vec![]),
            Op::Flush => IpvsMessage::new(CMD_FLUSH, vec![]),
            Op::SetTimeouts(t) => IpvsMessage::new(
                CMD_SET_CONFIG,
                [
                    (t.tcp, N::TimeoutTcp as fn(u32) -> N),
                    (t.tcpfin, N::TimeoutTcpFin),
                    (t.udp, N::TimeoutUdp),
                ]
                .into_iter()
                .filter(|(v, _)| *v != 0)
                .map(|(v, f)| f(v))
                .collect(),
            ),
            Op::StartDaemon(d) => IpvsMessage::new(CMD_NEW_DAEMON, vec![N::Daemon(daemon_nlas(d))]),
            Op::StopDaemon(state) => IpvsMessage::new(
                CMD_DEL_DAEMON,
                vec![N::Daemon(vec![super::nla::DaemonNla::State(state.raw())])],
            ),
        }
    }

    /// What the operation does, for messages: "add service TCP 192.0.2.110:80".
    pub fn describe(&self) -> String {
        match self {
            Op::AddService(s) => format!("add service {}", s.key),
            Op::EditService(s) => format!("edit service {}", s.key),
            Op::DelService(k) => format!("delete service {k}"),
            Op::AddDest(k, d) => format!("add real server {} to {k}", d.name()),
            Op::EditDest(k, d) => format!("edit real server {} in {k}", d.name()),
            Op::DelDest(k, a, p) => format!("delete real server {} from {k}", sockaddr(a, *p)),
            Op::Zero(Some(k)) => format!("zero the counters of {k}"),
            Op::Zero(None) => "zero all counters".into(),
            Op::Flush => "clear the table".into(),
            Op::SetTimeouts(_) => "set timeouts".into(),
            Op::StartDaemon(d) => format!("start the {} sync daemon", d.state.name()),
            Op::StopDaemon(s) => format!("stop the {} sync daemon", s.name()),
        }
    }

    /// Words the kernel's errno for this operation, naming the object.
    pub fn explain(&self, errno: i32) -> Error {
        if errno == libc::EPERM {
            return Error::Permission(self.describe());
        }
        let message = match (self, errno) {
            (Op::AddService(s), libc::EEXIST) => format!("service already exists: {}", s.key),
            (Op::AddService(s) | Op::EditService(s), libc::ENOENT) => missing_module(s),
            (Op::EditService(s), libc::ESRCH) => format!("no such service: {}", s.key),
            (Op::DelService(k) | Op::Zero(Some(k)), libc::ESRCH) => format!("no such service: {k}"),
            (Op::AddDest(k, _) | Op::EditDest(k, _) | Op::DelDest(k, ..), libc::ESRCH) => {
                format!("no such service: {k}")
            }
            (Op::AddDest(k, d), libc::EEXIST) => format!("real server already exists: {} in {k}", d.name()),
            (Op::EditDest(k, d), libc::ENOENT) => format!("no such real server {} in {k}", d.name()),
            (Op::DelDest(k, a, p), libc::ENOENT) => format!("no such real server {} in {k}", sockaddr(a, *p)),
            (Op::AddDest(k, d) | Op::EditDest(k, d), libc::EINVAL) => invalid_dest(k, d),
            (Op::AddDest(k, d) | Op::EditDest(k, d), libc::ERANGE) => format!(
                "real server {} in {k}: weight {} or thresholds (upper {}, lower {}) out of range",
                d.name(),
                d.weight,
                d.upper,
                d.lower
            ),
            (Op::StartDaemon(d), libc::EEXIST) => {
                format!("the {} sync daemon is already running", d.state.name())
            }
            (Op::StartDaemon(d), libc::ENODEV) => {
                format!(
                    "cannot start the {} sync daemon: no such interface '{}'",
                    d.state.name(),
                    d.ifname
                )
            }
            (Op::StartDaemon(d), libc::EINVAL) => format!(
                "cannot start the {} sync daemon: invalid settings (multicast group, or real servers of \
                 another address family than their service, which the sync protocol cannot carry)",
                d.state.name()
            ),
            (Op::StopDaemon(s), libc::ESRCH) => format!("no {} sync daemon is running", s.name()),
            _ => format!("cannot {}: {}", self.describe(), strerror(errno)),
        };
        Error::Kernel { errno, message }
    }
}

/// ENOENT on NEW/SET_SERVICE: the scheduler or the persistence engine is unknown.
fn missing_module(s: &Service) -> String {
    let loaded = |m: &str| std::path::Path::new(&format!("/sys/module/{m}")).exists();
    match &s.pe {
        Some(pe) if loaded(&format!("ip_vs_{}", s.scheduler)) => format!(
            "persistence engine '{pe}' not found (is the ip_vs_pe_{pe} module loaded?) for service {}",
            s.key
        ),
        _ => format!(
            "scheduler '{}' not found (is the ip_vs_{} module loaded?) for service {}",
            s.scheduler, s.scheduler, s.key
        ),
    }
}

/// EINVAL on NEW/SET_DEST has a common cause that the kernel does not tell: in a network
/// namespace whose loopback is down there is no local routing table yet.
fn invalid_dest(k: &ServiceKey, d: &Dest) -> String {
    if d.addr.is_ipv4() && !loopback_is_up() {
        return format!(
            "the kernel rejected real server {} in {k} (invalid argument): the loopback device of \
             this network namespace is down, so the kernel has no local routing table to check the \
             address against; bring it up first (ip link set lo up)",
            d.name()
        );
    }
    let why = if Family::of(&d.addr) != k.af() && d.fwd != Forward::Tunnel {
        "a real server of another address family than its service needs the tunnel method"
    } else {
        "the address must be unicast, and of the service's family unless tunnelled"
    };
    format!("invalid real server {} in {k}: {why}", d.name())
}

fn loopback_is_up() -> bool {
    // SIOCGIFFLAGS on a socket of the caller's network namespace.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return true;
    }
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: req is a valid ifreq for SIOCGIFFLAGS; fd is a socket we own.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) };
    unsafe { libc::close(fd) };
    rc < 0 || unsafe { req.ifr_ifru.ifru_flags } as i32 & libc::IFF_UP != 0
}
