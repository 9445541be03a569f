//! /proc/net/ip_vs: every service of the namespace with its real servers' method, weight and
//! connection counts, in one read. A listing that needs no more than that (ipvsadm -L -n's
//! default format) is one service dump and this file, instead of one dump per service.

use std::collections::HashMap;
use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::types::{Dest, Forward, Protocol, Service, ServiceKey};

/// Every service with its real servers as /proc/net/ip_vs shows them.
pub type BriefTable = Vec<(Service, Vec<BriefDest>)>;

/// A real server as the file shows it: what ipvsadm -L -n's default format prints, in under
/// half the room of a `Dest` (a listing holds 20,000 of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BriefDest {
    pub addr: IpAddr,
    pub port: u16,
    pub fwd: Forward,
    pub weight: u32,
    pub active: u32,
    pub inactive: u32,
}

impl BriefDest {
    pub fn dest(&self) -> Dest {
        Dest {
            fwd: self.fwd,
            weight: self.weight,
            active: self.active,
            inactive: self.inactive,
            ..Dest::new(self.addr, self.port)
        }
    }

    pub fn of(d: &Dest) -> BriefDest {
        BriefDest {
            addr: d.addr,
            port: d.port,
            fwd: d.fwd,
            weight: d.weight,
            active: d.active,
            inactive: d.inactive,
        }
    }
}

/// How the file names a service. Fwmark services carry no family there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProcKey {
    Addr(Protocol, IpAddr, u16),
    Fwmark(u32),
}

impl From<&ServiceKey> for ProcKey {
    fn from(k: &ServiceKey) -> ProcKey {
        match k {
            ServiceKey::Addr { proto, addr, port } => ProcKey::Addr(*proto, *addr, *port),
            ServiceKey::Fwmark { mark, .. } => ProcKey::Fwmark(*mark),
        }
    }
}

pub const PROC_IP_VS: &str = "/proc/thread-self/net/ip_vs";

fn hex_v4(s: &str) -> Option<IpAddr> {
    u32::from_str_radix(s, 16)
        .ok()
        .map(|v| IpAddr::V4(Ipv4Addr::from(v)))
}

/// `0A000001:0050` or `[2001:0db8:...]:0050`.
fn endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.rsplit_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let addr = match a.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        Some(v6) => IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?),
        None => hex_v4(a)?,
    };
    Some((addr, port))
}

fn forward(name: &str) -> Forward {
    match name {
        "Masq" => Forward::Masq,
        "Local" => Forward::Local,
        "Tunnel" => Forward::Tunnel,
        "Route" => Forward::Route,
        _ => Forward::Other(0xff),
    }
}

/// A line of the file: a service, or a real server of the last service.
enum Line {
    Service(ProcKey),
    Dest(BriefDest),
}

/// Hands each service and real server line to `f` as it is read; `None` if a line is not
/// understood (the caller then dumps). Read through a buffer rather than whole: with 20,000
/// real servers the file is over 1 MB.
fn scan(mut input: impl BufRead, mut f: impl FnMut(Line)) -> Option<()> {
    let mut line = String::new();
    let mut number = 0;
    let mut in_service = false;
    loop {
        line.clear();
        if input.read_line(&mut line).ok()? == 0 {
            return Some(());
        }
        number += 1;
        if number <= 3 {
            continue; // the version line and the two title lines
        }
        let mut w = line.split_ascii_whitespace();
        let key = match w.next() {
            Some("->") => {
                in_service.then_some(())?;
                let (addr, port) = endpoint(w.next()?)?;
                f(Line::Dest(BriefDest {
                    addr,
                    port,
                    fwd: forward(w.next()?),
                    weight: w.next()?.parse::<i64>().ok()? as u32,
                    active: w.next()?.parse().ok()?,
                    inactive: w.next()?.parse().ok()?,
                }));
                continue;
            }
            Some("FWM") => ProcKey::Fwmark(u32::from_str_radix(w.next()?, 16).ok()?),
            Some(proto) => {
                let proto = match proto {
                    "TCP" => Protocol::Tcp,
                    "UDP" => Protocol::Udp,
                    "SCTP" => Protocol::Sctp,
                    _ => return None,
                };
                let (addr, port) = endpoint(w.next()?)?;
                ProcKey::Addr(proto, addr, port)
            }
            None => continue,
        };
        in_service = true;
        f(Line::Service(key));
    }
}

/// Parses the file as it is read; `None` if a line is not understood.
pub fn parse(input: impl BufRead) -> Option<HashMap<ProcKey, Vec<BriefDest>>> {
    let mut out: HashMap<ProcKey, Vec<BriefDest>> = HashMap::new();
    // a service's real servers gather in one reused list and are stored at their exact size
    let mut current: Option<ProcKey> = None;
    let mut dests: Vec<BriefDest> = Vec::new();
    scan(input, |line| match line {
        Line::Dest(d) => dests.push(d),
        Line::Service(key) => {
            if let Some(k) = current.replace(key) {
                out.insert(k, dests.to_vec());
                dests.clear();
            }
        }
    })?;
    if let Some(k) = current {
        out.insert(k, dests);
    }
    Some(out)
}

/// Each service's real servers, as far as the file shows them (address, port, method and
/// weight, in the kernel's order; not the connection counts, which move all the time),
/// hashed: what tells a reader which services changed since its last look.
#[derive(Debug, Default)]
pub struct Digests {
    pub services: HashMap<ProcKey, u64>,
    /// The lines read: what one read of the whole table costs.
    pub lines: usize,
}

/// Reads the file into [`Digests`]; `None` if a line is not understood. A fwmark shared by
/// an IPv4 and an IPv6 service is one key here (the file gives no family): its digest covers
/// both, so a change to either is a change to it.
pub fn digests(input: impl BufRead) -> Option<Digests> {
    use std::hash::{Hash, Hasher};
    let mut out = Digests::default();
    let mut current: Option<(ProcKey, rustc_hash::FxHasher)> = None;
    let store = |out: &mut Digests, done: Option<(ProcKey, rustc_hash::FxHasher)>| {
        if let Some((k, h)) = done {
            let d = out.services.entry(k).or_insert(0);
            *d = d.wrapping_add(h.finish());
        }
    };
    let mut lines = 0;
    scan(input, |line| {
        lines += 1;
        match line {
            Line::Dest(d) => {
                if let Some((_, h)) = current.as_mut() {
                    (d.addr, d.port, d.fwd, d.weight).hash(h);
                }
            }
            Line::Service(key) => {
                let done = current.replace((key, rustc_hash::FxHasher::default()));
                store(&mut out, done);
            }
        }
    })?;
    store(&mut out, current.take());
    out.lines = lines;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_table() {
        let text = "IP Virtual Server version 1.2.1 (size=4096)\n\
Prot LocalAddress:Port Scheduler Flags\n\
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
TCP  C000026E:0050 rr \n\
  -> C0000266:0050      Route   1      0          3         \n\
  -> C0000265:0050      Masq    3      2          0         \n\
UDP  [2001:0db8:0000:0000:0000:0000:0000:0035]:0035 sh \n\
  -> [2001:0db8:0000:0000:0000:0000:0000:0005]:0035      Masq    1      0          0         \n\
FWM  00000064 wlc persistent 300 FFFFFFFF\n";
        let t = parse(text.as_bytes()).unwrap();
        let d = &t[&ProcKey::Addr(Protocol::Tcp, "192.0.2.110".parse().unwrap(), 80)];
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[1].addr.to_string().as_str(), d[1].fwd, d[1].weight, d[1].active),
            ("192.0.2.101", Forward::Masq, 3, 2)
        );
        let v6 = &t[&ProcKey::Addr(Protocol::Udp, "2001:db8::35".parse().unwrap(), 53)];
        assert_eq!(v6[0].addr, "2001:db8::5".parse::<IpAddr>().unwrap());
        assert!(t[&ProcKey::Fwmark(100)].is_empty());
        assert!(parse(&b"a\nb\nc\nICMP 00000000:0000 rr\n"[..]).is_none());
    }

    const HEAD: &str = "IP Virtual Server version 1.2.1 (size=4096)\n\
Prot LocalAddress:Port Scheduler Flags\n\
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n";

    fn digest_of(body: &str) -> Digests {
        digests(format!("{HEAD}{body}").as_bytes()).unwrap()
    }

    #[test]
    fn digests_change_with_servers_and_weights_not_with_connections() {
        let tcp = ProcKey::Addr(Protocol::Tcp, "192.0.2.110".parse().unwrap(), 80);
        let base = "TCP  C000026E:0050 rr \n  -> C0000266:0050      Route   1      0          3         \n\
UDP  C000026E:0035 rr \n";
        let a = digest_of(base);
        assert_eq!((a.services.len(), a.lines), (2, 3));
        let busier = digest_of(&base.replace("0          3", "7          9"));
        assert_eq!(a.services, busier.services);
        for changed in [
            base.replace("Route   1", "Route   2"),
            base.replace("Route", "Masq"),
            base.replace("C0000266:0050", "C0000267:0050"),
            base.replace("UDP", "  -> C0000267:0050 Route 1 0 0\nUDP"),
        ] {
            let b = digest_of(&changed);
            assert_ne!(a.services[&tcp], b.services[&tcp], "{changed}");
        }
        let empty = digest_of("TCP  C000026E:0050 rr \n");
        assert_ne!(a.services[&tcp], empty.services[&tcp]);
    }

    #[test]
    fn a_fwmark_of_two_families_is_one_digest_that_covers_both() {
        let v4 = "FWM  00000064 wlc \n  -> C0000266:0050      Route   1      0          0         \n";
        let v6 = "FWM  00000064 wlc \n  -> [2001:0db8:0000:0000:0000:0000:0000:0005]:0050      Route   1      0          0         \n";
        let both = digest_of(&format!("{v4}{v6}"));
        assert_eq!(both.services.len(), 1);
        let changed = digest_of(&format!("{v4}{}", v6.replace("Route   1", "Route   4")));
        assert_ne!(
            both.services[&ProcKey::Fwmark(100)],
            changed.services[&ProcKey::Fwmark(100)]
        );
        assert!(digests(format!("{HEAD}  -> C0000266:0050 Route 1 0 0\n").as_bytes()).is_none());
    }
}
