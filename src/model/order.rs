//! The order ipvsadm lists in: services by fwmark (address services first), family,
//! protocol, address, port; real servers by address, then port.

use std::cmp::Ordering;
use std::net::IpAddr;

use crate::ipvs::proc_table::BriefDest;
use crate::ipvs::{Dest, Service, ServiceKey};

/// IPv4 before IPv6, then by numeric address.
fn addr_key(a: &IpAddr) -> (u8, u128) {
    match a {
        IpAddr::V4(v) => (0, u32::from(*v) as u128),
        IpAddr::V6(v) => (1, u128::from(*v)),
    }
}

pub fn key_cmp(a: &ServiceKey, b: &ServiceKey) -> Ordering {
    let rank = |k: &ServiceKey| match k {
        ServiceKey::Addr { proto, addr, port } => (0u32, k.af(), proto.raw(), addr_key(addr), *port),
        ServiceKey::Fwmark { af, mark } => (*mark, *af, 0, (0, 0), 0),
    };
    rank(a).cmp(&rank(b))
}

/// A real server's place: by address, then port.
fn name_key(addr: &IpAddr, port: u16) -> ((u8, u128), u16) {
    (addr_key(addr), port)
}

pub fn dest_cmp(a: &Dest, b: &Dest) -> Ordering {
    name_key(&a.addr, a.port).cmp(&name_key(&b.addr, b.port))
}

pub fn sort_table(table: &mut [(Service, Vec<Dest>)]) {
    sort_by(table, |d| (d.addr, d.port));
}

pub fn sort_brief(table: &mut [(Service, Vec<BriefDest>)]) {
    sort_by(table, |d| (d.addr, d.port));
}

fn sort_by<D>(table: &mut [(Service, Vec<D>)], name: impl Fn(&D) -> (IpAddr, u16)) {
    // keys are unique, so an unstable sort gives the same order, without a scratch copy
    table.sort_unstable_by(|a, b| key_cmp(&a.0.key, &b.0.key));
    for (_, dests) in table.iter_mut() {
        dests.sort_unstable_by_key(|d| {
            let (a, p) = name(d);
            name_key(&a, p)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{Family, Protocol};

    #[test]
    fn services_sort_as_ipvsadm_lists_them() {
        let addr = |p, a: &str, port| ServiceKey::Addr {
            proto: p,
            addr: a.parse().unwrap(),
            port,
        };
        let mut keys = [
            ServiceKey::Fwmark {
                af: Family::Inet,
                mark: 2,
            },
            addr(Protocol::Udp, "192.0.2.1", 53),
            ServiceKey::Fwmark {
                af: Family::Inet6,
                mark: 1,
            },
            addr(Protocol::Tcp, "2001:db8::1", 80),
            addr(Protocol::Tcp, "192.0.2.10", 80),
            addr(Protocol::Tcp, "192.0.2.9", 443),
            addr(Protocol::Tcp, "192.0.2.9", 80),
            ServiceKey::Fwmark {
                af: Family::Inet,
                mark: 1,
            },
        ];
        keys.sort_by(key_cmp);
        let names: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "TCP 192.0.2.9:80",
                "TCP 192.0.2.9:443",
                "TCP 192.0.2.10:80",
                "UDP 192.0.2.1:53",
                "TCP [2001:db8::1]:80",
                "FWM 1",
                "FWM 1 IPv6",
                "FWM 2"
            ]
        );
    }
}
