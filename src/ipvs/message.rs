//! The IPVS generic netlink message: a command and its top-level attributes.

use netlink_packet_core::ParseableParametrized;
use netlink_packet_core::{DecodeError, DefaultNla, Emitable, NLA_F_NESTED, Nla, NlaBuffer, Parseable};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use super::consts::*;
use super::nla::{DaemonNla, DestNla, ServiceNla, attributes, emit_nlas, nlas_len, parse_nlas, parse_u32};

/// Top-level attributes. GET_INFO's reply reuses the numbers 1 and 2 for its own attributes,
/// so parsing depends on the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpvsNla {
    Service(Vec<ServiceNla>),
    Dest(Vec<DestNla>),
    Daemon(Vec<DaemonNla>),
    TimeoutTcp(u32),
    TimeoutTcpFin(u32),
    TimeoutUdp(u32),
    InfoVersion(u32),
    InfoConnTabSize(u32),
    Other(DefaultNla),
}

impl Nla for IpvsNla {
    fn value_len(&self) -> usize {
        use IpvsNla::*;
        match self {
            Service(n) => nlas_len(n),
            Dest(n) => nlas_len(n),
            Daemon(n) => nlas_len(n),
            TimeoutTcp(_) | TimeoutTcpFin(_) | TimeoutUdp(_) | InfoVersion(_) | InfoConnTabSize(_) => 4,
            Other(nla) => nla.value_len(),
        }
    }

    /// Nests carry NLA_F_NESTED as ipvsadm (libnl) sends them; the kernel's replies do not.
    fn kind(&self) -> u16 {
        use IpvsNla::*;
        match self {
            Service(_) => CMD_ATTR_SERVICE | NLA_F_NESTED,
            Dest(_) => CMD_ATTR_DEST | NLA_F_NESTED,
            Daemon(_) => CMD_ATTR_DAEMON | NLA_F_NESTED,
            TimeoutTcp(_) => CMD_ATTR_TIMEOUT_TCP,
            TimeoutTcpFin(_) => CMD_ATTR_TIMEOUT_TCP_FIN,
            TimeoutUdp(_) => CMD_ATTR_TIMEOUT_UDP,
            InfoVersion(_) => INFO_ATTR_VERSION,
            InfoConnTabSize(_) => INFO_ATTR_CONN_TAB_SIZE,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        use IpvsNla::*;
        match self {
            Service(n) => emit_nlas(n, buffer),
            Dest(n) => emit_nlas(n, buffer),
            Daemon(n) => emit_nlas(n, buffer),
            TimeoutTcp(v) | TimeoutTcpFin(v) | TimeoutUdp(v) | InfoVersion(v) | InfoConnTabSize(v) => {
                buffer[..4].copy_from_slice(&v.to_ne_bytes())
            }
            Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl IpvsNla {
    fn parse_for(cmd: u8, buf: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        let (kind, p) = super::nla::kind_value(buf);
        use IpvsNla::*;
        if cmd == CMD_SET_INFO || cmd == CMD_GET_INFO {
            return Ok(match kind {
                INFO_ATTR_VERSION => InfoVersion(parse_u32(p)?),
                INFO_ATTR_CONN_TAB_SIZE => InfoConnTabSize(parse_u32(p)?),
                _ => Other(DefaultNla::parse(buf)?),
            });
        }
        Ok(match kind {
            CMD_ATTR_SERVICE => Service(parse_nlas(p)?),
            CMD_ATTR_DEST => Dest(parse_nlas(p)?),
            CMD_ATTR_DAEMON => Daemon(parse_nlas(p)?),
            CMD_ATTR_TIMEOUT_TCP => TimeoutTcp(parse_u32(p)?),
            CMD_ATTR_TIMEOUT_TCP_FIN => TimeoutTcpFin(parse_u32(p)?),
            CMD_ATTR_TIMEOUT_UDP => TimeoutUdp(parse_u32(p)?),
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    pub cmd: u8,
    pub nlas: Vec<IpvsNla>,
}

impl IpvsMessage {
    pub fn new(cmd: u8, nlas: Vec<IpvsNla>) -> Self {
        IpvsMessage { cmd, nlas }
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd
    }

    fn version(&self) -> u8 {
        GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        nlas_len(&self.nlas)
    }

    fn emit(&self, buffer: &mut [u8]) {
        emit_nlas(&self.nlas, buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let mut nlas = Vec::with_capacity(attributes(buf).count());
        for nla in attributes(buf) {
            nlas.push(IpvsNla::parse_for(header.cmd, &nla?)?);
        }
        Ok(IpvsMessage {
            cmd: header.cmd,
            nlas,
        })
    }
}
