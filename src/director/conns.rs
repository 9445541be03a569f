//! The kernel's connection entries, filtered as an operator asks.

use std::io::BufReader;
use std::net::IpAddr;

use super::Error;
use crate::ipvs::conns::{self, Conn};
use crate::model::input::{Args, Value};
use crate::model::spec::parse_endpoint;

/// Each given field must match: protocol and state by name, addresses as `ip` or `ip:port`.
#[derive(Debug, Clone, Default)]
pub struct ConnFilter {
    pub proto: Option<String>,
    pub state: Option<String>,
    pub vip: Option<(IpAddr, Option<u16>)>,
    pub real: Option<(IpAddr, Option<u16>)>,
    pub client: Option<(IpAddr, Option<u16>)>,
}

impl ConnFilter {
    /// A filter from the words an operator gives; a bad address names its field.
    pub fn new(
        proto: Option<String>,
        state: Option<String>,
        vip: Option<&str>,
        real: Option<&str>,
        client: Option<&str>,
    ) -> Result<ConnFilter, Error> {
        let addr = |field: &str, v: Option<&str>| v.map(|s| parse_endpoint(field, s)).transpose();
        Ok(ConnFilter {
            proto: proto.map(|s| s.to_ascii_uppercase()),
            state: state.map(|s| s.to_ascii_uppercase()),
            vip: addr("vip", vip)?,
            real: addr("real", real)?,
            client: addr("client", client)?,
        })
    }

    /// `{proto=, state=, vip=, real=, client=}` as a script gives them, and the other fields
    /// a listing of connections takes (`format`, `print`).
    pub fn read(v: &Value) -> Result<(ConnFilter, Args), Error> {
        let f = Args::of(
            "connection filter",
            v,
            &["proto", "state", "vip", "real", "client", "format", "print"],
            &[],
            "must be a table such as {vip=\"192.0.2.1:80\"}",
        )?;
        let filter = ConnFilter::new(
            f.string("proto")?,
            f.string("state")?,
            f.string("vip")?.as_deref(),
            f.string("real")?.as_deref(),
            f.string("client")?.as_deref(),
        )?;
        Ok((filter, f))
    }

    pub fn matches(&self, c: &Conn) -> bool {
        let at = |want: &Option<(IpAddr, Option<u16>)>, (addr, port): &(IpAddr, u16)| {
            want.is_none_or(|(a, p)| a == *addr && p.is_none_or(|p| p == *port))
        };
        self.proto.as_ref().is_none_or(|p| *p == c.proto)
            && self.state.as_ref().is_none_or(|s| *s == c.state)
            && at(&self.vip, &c.vip)
            && at(&self.real, &c.real)
            && at(&self.client, &c.client)
    }
}

/// Hands each connection entry that `filter` matches to `each`, read as it comes from
/// /proc/net/ip_vs_conn; `each` may stop the walk with an error of its own (`own` makes
/// one of the walk's).
pub fn connections<E>(
    filter: &ConnFilter,
    mut each: impl FnMut(Conn) -> Result<(), E>,
    own: impl Fn(Error) -> E,
) -> Result<(), E> {
    let file = std::fs::File::open(conns::PROC_CONN).map_err(|e| {
        own(Error::File(format!(
            "cannot open {}: {e} (is ip_vs loaded?)",
            conns::PROC_CONN
        )))
    })?;
    let mut failure = None;
    conns::for_each(BufReader::with_capacity(1 << 16, file), |c| {
        if !filter.matches(&c) {
            return true;
        }
        match each(c) {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    })
    .map_err(|e| own(Error::File(format!("reading {}: {e}", conns::PROC_CONN))))?;
    failure.map_or(Ok(()), Err)
}
