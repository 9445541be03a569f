//! IPVS_DAEMON_ATTR_*: the connection-sync daemon nest.

use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, Parseable};

use super::{cstr_len, emit_cstr, parse_cstr, parse_u8, parse_u16, parse_u32};
use crate::ipvs::consts::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonNla {
    State(u32),
    McastIfn(String),
    SyncId(u32),
    SyncMaxLen(u16),
    /// IPv4 group, network order bytes.
    McastGroup([u8; 4]),
    McastGroup6([u8; 16]),
    /// Host order, unlike every other port of the interface.
    McastPort(u16),
    McastTtl(u8),
    Other(DefaultNla),
}

impl Nla for DaemonNla {
    fn value_len(&self) -> usize {
        use DaemonNla::*;
        match self {
            State(_) | SyncId(_) | McastGroup(_) => 4,
            McastIfn(s) => cstr_len(s),
            SyncMaxLen(_) | McastPort(_) => 2,
            McastGroup6(_) => 16,
            McastTtl(_) => 1,
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DaemonNla::*;
        match self {
            State(_) => DAEMON_ATTR_STATE,
            McastIfn(_) => DAEMON_ATTR_MCAST_IFN,
            SyncId(_) => DAEMON_ATTR_SYNC_ID,
            SyncMaxLen(_) => DAEMON_ATTR_SYNC_MAXLEN,
            McastGroup(_) => DAEMON_ATTR_MCAST_GROUP,
            McastGroup6(_) => DAEMON_ATTR_MCAST_GROUP6,
            McastPort(_) => DAEMON_ATTR_MCAST_PORT,
            McastTtl(_) => DAEMON_ATTR_MCAST_TTL,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        use DaemonNla::*;
        match self {
            State(v) | SyncId(v) => buffer[..4].copy_from_slice(&v.to_ne_bytes()),
            McastIfn(s) => emit_cstr(s, buffer),
            SyncMaxLen(v) | McastPort(v) => buffer[..2].copy_from_slice(&v.to_ne_bytes()),
            McastGroup(a) => buffer[..4].copy_from_slice(a),
            McastGroup6(a) => buffer[..16].copy_from_slice(a),
            McastTtl(v) => buffer[0] = *v,
            Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DaemonNla {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let (kind, p) = super::kind_value(buf);
        use DaemonNla::*;
        Ok(match kind {
            DAEMON_ATTR_STATE => State(parse_u32(p)?),
            DAEMON_ATTR_MCAST_IFN => McastIfn(parse_cstr(p)?),
            DAEMON_ATTR_SYNC_ID => SyncId(parse_u32(p)?),
            DAEMON_ATTR_SYNC_MAXLEN => SyncMaxLen(parse_u16(p)?),
            DAEMON_ATTR_MCAST_GROUP => McastGroup(
                p.get(..4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or("mcast group is too short")?,
            ),
            DAEMON_ATTR_MCAST_GROUP6 => McastGroup6(
                p.get(..16)
                    .and_then(|s| s.try_into().ok())
                    .ok_or("mcast group6 is too short")?,
            ),
            DAEMON_ATTR_MCAST_PORT => McastPort(parse_u16(p)?),
            DAEMON_ATTR_MCAST_TTL => McastTtl(parse_u8(p)?),
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}
