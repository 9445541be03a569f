//! IPVS_STATS_ATTR_*: the counters nest, in its 32-bit (STATS) and 64-bit (STATS64) forms.

use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable};

use super::{parse_u32, parse_u64};
use crate::ipvs::consts::*;

/// One counter. Values are kept as u64; `wide` says whether it travels as 64 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsNla {
    Conns(u64),
    InPkts(u64),
    OutPkts(u64),
    InBytes(u64),
    OutBytes(u64),
    Cps(u64),
    InPps(u64),
    OutPps(u64),
    InBps(u64),
    OutBps(u64),
    /// Padding the kernel puts before a 64-bit counter to align it: known, so that it is not
    /// copied as an unknown attribute (a dozen per real server in a table's dump).
    Pad,
    Other(DefaultNla),
}

impl StatsNla {
    fn value(&self) -> Option<u64> {
        use StatsNla::*;
        match self {
            Conns(v) | InPkts(v) | OutPkts(v) | InBytes(v) | OutBytes(v) | Cps(v) | InPps(v) | OutPps(v)
            | InBps(v) | OutBps(v) => Some(*v),
            Pad | Other(_) => None,
        }
    }
}

/// Counters are u32 in the 32-bit nest except the byte counts; all u64 in STATS64. Which nest
/// an attribute sits in is not known to `Nla`, so the width follows the value's kind and the
/// nest is chosen by `Stats64Nla`/this type's users; here the 32-bit layout is the default.
impl Nla for StatsNla {
    fn value_len(&self) -> usize {
        match self {
            StatsNla::InBytes(_) | StatsNla::OutBytes(_) => 8,
            StatsNla::Other(nla) => nla.value_len(),
            StatsNla::Pad => 0,
            _ => 4,
        }
    }

    fn kind(&self) -> u16 {
        use StatsNla::*;
        match self {
            Conns(_) => STATS_ATTR_CONNS,
            InPkts(_) => STATS_ATTR_INPKTS,
            OutPkts(_) => STATS_ATTR_OUTPKTS,
            InBytes(_) => STATS_ATTR_INBYTES,
            OutBytes(_) => STATS_ATTR_OUTBYTES,
            Cps(_) => STATS_ATTR_CPS,
            InPps(_) => STATS_ATTR_INPPS,
            OutPps(_) => STATS_ATTR_OUTPPS,
            InBps(_) => STATS_ATTR_INBPS,
            OutBps(_) => STATS_ATTR_OUTBPS,
            Pad => STATS_ATTR_PAD,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match (self, self.value()) {
            (StatsNla::Other(nla), _) => nla.emit_value(buffer),
            (_, Some(v)) if self.value_len() == 8 => buffer[..8].copy_from_slice(&v.to_ne_bytes()),
            (_, Some(v)) => buffer[..4].copy_from_slice(&(v as u32).to_ne_bytes()),
            (_, None) => {} // padding: no value
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for StatsNla {
    /// Width is taken from the attribute's length, so one parser serves both nests.
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let (kind, payload) = super::kind_value(buf);
        let v = || -> Result<u64, DecodeError> {
            if payload.len() >= 8 {
                parse_u64(payload)
            } else {
                parse_u32(payload).map(u64::from)
            }
        };
        use StatsNla::*;
        Ok(match kind {
            STATS_ATTR_CONNS => Conns(v()?),
            STATS_ATTR_INPKTS => InPkts(v()?),
            STATS_ATTR_OUTPKTS => OutPkts(v()?),
            STATS_ATTR_INBYTES => InBytes(v()?),
            STATS_ATTR_OUTBYTES => OutBytes(v()?),
            STATS_ATTR_CPS => Cps(v()?),
            STATS_ATTR_INPPS => InPps(v()?),
            STATS_ATTR_OUTPPS => OutPps(v()?),
            STATS_ATTR_INBPS => InBps(v()?),
            STATS_ATTR_OUTBPS => OutBps(v()?),
            STATS_ATTR_PAD => Pad,
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}
