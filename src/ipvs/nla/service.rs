//! IPVS_SVC_ATTR_*: the service nest.

use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable};

use super::{
    StatsNla, cstr_len, emit_cstr, emit_nlas, nlas_len, parse_cstr, parse_nlas, parse_u16, parse_u32,
};
use crate::ipvs::consts::*;

/// `struct ip_vs_flags`: host-order flags and the mask of the bits to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceFlags {
    pub flags: u32,
    pub mask: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceNla {
    Af(u16),
    Protocol(u16),
    /// Network order, up to 16 bytes (the kernel always sends 16).
    Addr(Vec<u8>),
    /// Host value; travels in network order.
    Port(u16),
    Fwmark(u32),
    SchedName(String),
    Flags(ServiceFlags),
    Timeout(u32),
    /// Raw 4 bytes: an IPv4 mask in network order, or an IPv6 prefix length in host order.
    Netmask([u8; 4]),
    Stats(Vec<StatsNla>),
    PeName(String),
    Stats64(Vec<StatsNla>),
    Other(DefaultNla),
}

impl Nla for ServiceNla {
    fn value_len(&self) -> usize {
        use ServiceNla::*;
        match self {
            Af(_) | Protocol(_) | Port(_) => 2,
            Addr(a) => a.len(),
            Fwmark(_) | Timeout(_) | Netmask(_) => 4,
            SchedName(s) | PeName(s) => cstr_len(s),
            Flags(_) => 8,
            Stats(s) => nlas_len(s),
            Stats64(s) => s.iter().map(|n| 4 + wide(n).value_len()).sum(),
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use ServiceNla::*;
        match self {
            Af(_) => SVC_ATTR_AF,
            Protocol(_) => SVC_ATTR_PROTOCOL,
            Addr(_) => SVC_ATTR_ADDR,
            Port(_) => SVC_ATTR_PORT,
            Fwmark(_) => SVC_ATTR_FWMARK,
            SchedName(_) => SVC_ATTR_SCHED_NAME,
            Flags(_) => SVC_ATTR_FLAGS,
            Timeout(_) => SVC_ATTR_TIMEOUT,
            Netmask(_) => SVC_ATTR_NETMASK,
            Stats(_) => SVC_ATTR_STATS,
            PeName(_) => SVC_ATTR_PE_NAME,
            Stats64(_) => SVC_ATTR_STATS64,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        use ServiceNla::*;
        match self {
            Af(v) | Protocol(v) => buffer[..2].copy_from_slice(&v.to_ne_bytes()),
            Port(p) => buffer[..2].copy_from_slice(&p.to_be_bytes()),
            Addr(a) => buffer[..a.len()].copy_from_slice(a),
            Fwmark(v) | Timeout(v) => buffer[..4].copy_from_slice(&v.to_ne_bytes()),
            Netmask(m) => buffer[..4].copy_from_slice(m),
            SchedName(s) | PeName(s) => emit_cstr(s, buffer),
            Flags(f) => {
                buffer[..4].copy_from_slice(&f.flags.to_ne_bytes());
                buffer[4..8].copy_from_slice(&f.mask.to_ne_bytes());
            }
            Stats(s) => emit_nlas(s, buffer),
            Stats64(s) => emit_nlas(&s.iter().map(wide).collect::<Vec<_>>(), buffer),
            Other(nla) => nla.emit_value(buffer),
        }
    }
}

/// A counter as STATS64 carries it: every value 64 bits wide.
pub(super) fn wide(n: &StatsNla) -> DefaultNla {
    match n {
        StatsNla::Other(nla) => return nla.clone(),
        StatsNla::Pad => return DefaultNla::new(n.kind(), vec![]),
        _ => {}
    }
    let mut value = vec![0u8; 8];
    n.emit_value(&mut value);
    if n.value_len() == 4 {
        let v = u32::from_ne_bytes(value[..4].try_into().unwrap_or_default());
        value = u64::from(v).to_ne_bytes().to_vec();
    }
    DefaultNla::new(n.kind(), value)
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for ServiceNla {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let (kind, p) = super::kind_value(buf);
        use ServiceNla::*;
        Ok(match kind {
            SVC_ATTR_AF => Af(parse_u16(p)?),
            SVC_ATTR_PROTOCOL => Protocol(parse_u16(p)?),
            SVC_ATTR_ADDR => Addr(p.to_vec()),
            SVC_ATTR_PORT => Port(super::parse_u16_be(p)?),
            SVC_ATTR_FWMARK => Fwmark(parse_u32(p)?),
            SVC_ATTR_SCHED_NAME => SchedName(parse_cstr(p)?),
            SVC_ATTR_FLAGS => Flags(ServiceFlags {
                flags: parse_u32(p)?,
                mask: parse_u32(p.get(4..).unwrap_or(&[]))?,
            }),
            SVC_ATTR_TIMEOUT => Timeout(parse_u32(p)?),
            SVC_ATTR_NETMASK => Netmask(
                p.get(..4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or("netmask attribute is too short")?,
            ),
            SVC_ATTR_STATS => Stats(parse_nlas(p)?),
            SVC_ATTR_PE_NAME => PeName(parse_cstr(p)?),
            SVC_ATTR_STATS64 => Stats64(parse_nlas(p)?),
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}
