//! Attributes of the IPVS family, one enum per nest as the rust-netlink crates model them:
//! each variant is one attribute, with `Nla` for emitting and `Parseable` for parsing.
//! Unknown attributes are kept as `Other` so that newer kernels do not break parsing.

mod daemon;
mod dest;
mod service;
mod stats;

pub use daemon::DaemonNla;
pub use dest::DestNla;
pub use service::{ServiceFlags, ServiceNla};
pub use stats::StatsNla;

use netlink_packet_core::{DecodeError, Emitable, NlaBuffer, NlasIterator, Parseable};

/// Parses every attribute of a nest (or of a message body) with `P`'s parser.
pub fn parse_nlas<P>(payload: &[u8]) -> Result<Vec<P>, DecodeError>
where
    P: for<'a> Parseable<NlaBuffer<&'a [u8]>>,
{
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|buf| P::parse(&buf)))
        .collect()
}

/// Emits a list of attributes as a nest's value.
pub fn emit_nlas<T: Emitable>(nlas: &[T], buffer: &mut [u8]) {
    let mut at = 0;
    for nla in nlas {
        let len = nla.buffer_len();
        nla.emit(&mut buffer[at..at + len]);
        at += len;
    }
}

pub fn nlas_len<T: Emitable>(nlas: &[T]) -> usize {
    nlas.iter().map(Emitable::buffer_len).sum()
}

/// A NUL-terminated string attribute's value length.
pub fn cstr_len(s: &str) -> usize {
    s.len() + 1
}

pub fn emit_cstr(s: &str, buffer: &mut [u8]) {
    buffer[..s.len()].copy_from_slice(s.as_bytes());
    buffer[s.len()] = 0;
}

pub fn parse_cstr(payload: &[u8]) -> Result<String, DecodeError> {
    let end = payload.iter().position(|&b| b == 0).unwrap_or(payload.len());
    String::from_utf8(payload[..end].to_vec()).map_err(|_| DecodeError::from("string attribute is not UTF-8"))
}

pub fn parse_u8(payload: &[u8]) -> Result<u8, DecodeError> {
    payload
        .first()
        .copied()
        .ok_or_else(|| DecodeError::from("u8 attribute is empty"))
}

pub fn parse_u16(payload: &[u8]) -> Result<u16, DecodeError> {
    let b: [u8; 2] = payload
        .get(..2)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| short("u16"))?;
    Ok(u16::from_ne_bytes(b))
}

pub fn parse_u16_be(payload: &[u8]) -> Result<u16, DecodeError> {
    parse_u16(payload).map(u16::from_be)
}

pub fn parse_u32(payload: &[u8]) -> Result<u32, DecodeError> {
    let b: [u8; 4] = payload
        .get(..4)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| short("u32"))?;
    Ok(u32::from_ne_bytes(b))
}

pub fn parse_u64(payload: &[u8]) -> Result<u64, DecodeError> {
    let b: [u8; 8] = payload
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| short("u64"))?;
    Ok(u64::from_ne_bytes(b))
}

fn short(what: &str) -> DecodeError {
    DecodeError::from(format!("{what} attribute is too short"))
}
