//! IPVS_DEST_ATTR_*: the real-server (destination) nest.

use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable};

use super::service::wide;
use super::{StatsNla, emit_nlas, nlas_len, parse_nlas, parse_u8, parse_u16, parse_u16_be, parse_u32};
use crate::ipvs::consts::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestNla {
    Addr(Vec<u8>),
    Port(u16),
    FwdMethod(u32),
    Weight(u32),
    UpperThreshold(u32),
    LowerThreshold(u32),
    ActiveConns(u32),
    InactiveConns(u32),
    PersistConns(u32),
    Stats(Vec<StatsNla>),
    AddrFamily(u16),
    Stats64(Vec<StatsNla>),
    TunType(u8),
    /// Host value; travels in network order.
    TunPort(u16),
    TunFlags(u16),
    Other(DefaultNla),
}

impl Nla for DestNla {
    fn value_len(&self) -> usize {
        use DestNla::*;
        match self {
            Addr(a) => a.len(),
            Port(_) | AddrFamily(_) | TunPort(_) | TunFlags(_) => 2,
            TunType(_) => 1,
            FwdMethod(_) | Weight(_) | UpperThreshold(_) | LowerThreshold(_) | ActiveConns(_)
            | InactiveConns(_) | PersistConns(_) => 4,
            Stats(s) => nlas_len(s),
            Stats64(s) => s.iter().map(|n| 4 + wide(n).value_len()).sum(),
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DestNla::*;
        match self {
            Addr(_) => DEST_ATTR_ADDR,
            Port(_) => DEST_ATTR_PORT,
            FwdMethod(_) => DEST_ATTR_FWD_METHOD,
            Weight(_) => DEST_ATTR_WEIGHT,
            UpperThreshold(_) => DEST_ATTR_U_THRESH,
            LowerThreshold(_) => DEST_ATTR_L_THRESH,
            ActiveConns(_) => DEST_ATTR_ACTIVE_CONNS,
            InactiveConns(_) => DEST_ATTR_INACT_CONNS,
            PersistConns(_) => DEST_ATTR_PERSIST_CONNS,
            Stats(_) => DEST_ATTR_STATS,
            AddrFamily(_) => DEST_ATTR_ADDR_FAMILY,
            Stats64(_) => DEST_ATTR_STATS64,
            TunType(_) => DEST_ATTR_TUN_TYPE,
            TunPort(_) => DEST_ATTR_TUN_PORT,
            TunFlags(_) => DEST_ATTR_TUN_FLAGS,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        use DestNla::*;
        match self {
            Addr(a) => buffer[..a.len()].copy_from_slice(a),
            Port(p) | TunPort(p) => buffer[..2].copy_from_slice(&p.to_be_bytes()),
            AddrFamily(v) | TunFlags(v) => buffer[..2].copy_from_slice(&v.to_ne_bytes()),
            TunType(v) => buffer[0] = *v,
            FwdMethod(v) | Weight(v) | UpperThreshold(v) | LowerThreshold(v) | ActiveConns(v)
            | InactiveConns(v) | PersistConns(v) => buffer[..4].copy_from_slice(&v.to_ne_bytes()),
            Stats(s) => emit_nlas(s, buffer),
            Stats64(s) => emit_nlas(&s.iter().map(wide).collect::<Vec<_>>(), buffer),
            Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DestNla {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let (kind, p) = super::kind_value(buf);
        use DestNla::*;
        Ok(match kind {
            DEST_ATTR_ADDR => Addr(p.to_vec()),
            DEST_ATTR_PORT => Port(parse_u16_be(p)?),
            DEST_ATTR_FWD_METHOD => FwdMethod(parse_u32(p)?),
            DEST_ATTR_WEIGHT => Weight(parse_u32(p)?),
            DEST_ATTR_U_THRESH => UpperThreshold(parse_u32(p)?),
            DEST_ATTR_L_THRESH => LowerThreshold(parse_u32(p)?),
            DEST_ATTR_ACTIVE_CONNS => ActiveConns(parse_u32(p)?),
            DEST_ATTR_INACT_CONNS => InactiveConns(parse_u32(p)?),
            DEST_ATTR_PERSIST_CONNS => PersistConns(parse_u32(p)?),
            DEST_ATTR_STATS => Stats(parse_nlas(p)?),
            DEST_ATTR_ADDR_FAMILY => AddrFamily(parse_u16(p)?),
            DEST_ATTR_STATS64 => Stats64(parse_nlas(p)?),
            DEST_ATTR_TUN_TYPE => TunType(parse_u8(p)?),
            DEST_ATTR_TUN_PORT => TunPort(parse_u16_be(p)?),
            DEST_ATTR_TUN_FLAGS => TunFlags(parse_u16(p)?),
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}
