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

use netlink_packet_core::{DecodeError, Emitable, NLA_TYPE_MASK, NlaBuffer, Parseable};

/// Parses every attribute of a nest (or of a message body) with `P`'s parser, into a list of
/// the exact size (reading a table decodes some 750,000 attributes: growing 40,000 lists from
/// empty was a third of the work).
pub fn parse_nlas<P>(payload: &[u8]) -> Result<Vec<P>, DecodeError>
where
    P: for<'a> Parseable<NlaBuffer<&'a [u8]>>,
{
    let mut out = Vec::with_capacity(attributes(payload).count());
    for nla in attributes(payload) {
        out.push(P::parse(&nla?)?);
    }
    Ok(out)
}

/// The attributes of a nest in netlink's layout (length, type, value, padding to 4 bytes),
/// each as a buffer of exactly its own bytes. A malformed length ends the walk with an error.
pub fn attributes(payload: &[u8]) -> Attributes<'_> {
    Attributes { rest: payload }
}

pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<NlaBuffer<&'a [u8]>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let len = match self.rest {
            [a, b, _, _, ..] => usize::from(u16::from_ne_bytes([*a, *b])),
            _ => 0,
        };
        if len < 4 || len > self.rest.len() {
            let left = self.rest.len();
            self.rest = &[];
            return Some(Err(DecodeError::from(format!(
                "attribute of length {len} in {left} bytes"
            ))));
        }
        let nla = &self.rest[..len];
        self.rest = self.rest.get((len + 3) & !3..).unwrap_or(&[]);
        Some(Ok(NlaBuffer::new(nla)))
    }
}

/// An attribute's type (flags masked off) and value, read from its header once: NlaBuffer's
/// accessors read and check the header again on every call, and may panic on a bad length.
pub fn kind_value<'a, T: AsRef<[u8]> + ?Sized>(buf: &NlaBuffer<&'a T>) -> (u16, &'a [u8]) {
    let b: &'a [u8] = buf.into_inner().as_ref();
    match b {
        [l0, l1, t0, t1, ..] => {
            let len = usize::from(u16::from_ne_bytes([*l0, *l1]));
            let kind = u16::from_ne_bytes([*t0, *t1]) & NLA_TYPE_MASK;
            (kind, b.get(4..len.max(4)).unwrap_or(&[]))
        }
        _ => (0, &[]),
    }
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
