//! Specs as scripts write them: a service or real server read from the plain data the
//! bindings hand down (a table, or a service or server object lvsh returned earlier).

use super::{
    Netmask, SERVER_FIELDS, SERVER_OUTPUT, SERVICE_FIELDS, SERVICE_OUTPUT, ServerSpec, ServiceSpec, SpecError,
};
use crate::ipvs::ServiceKey;
use crate::model::input::{Args, Value, bad, to_int};

/// A list given as a table: a sequence, or an empty table.
pub fn list<'a>(field: &str, v: &'a Value, expected: &str) -> Result<&'a [Value], SpecError> {
    match v {
        Value::Nil => Ok(&[]),
        Value::List(l) => Ok(l),
        Value::Map(m) if m.is_empty() => Ok(&[]),
        other => Err(bad(field, other, expected)),
    }
}

impl ServiceSpec {
    /// A service spec and the real servers that come with it (`servers`).
    pub fn read(v: &Value) -> Result<(ServiceSpec, Vec<ServerSpec>), SpecError> {
        let f = Args::of(
            "service",
            v,
            SERVICE_FIELDS,
            SERVICE_OUTPUT,
            "must be a table such as {addr=\"192.0.2.110:80\"}",
        )?;
        let persistent = match f.raw("persistent") {
            Value::Nil => None,
            Value::Bool(true) => Some(Some(0)),
            Value::Bool(false) => Some(None),
            v @ (Value::Int(_) | Value::Num(_)) => match to_int("persistent", v)? {
                Some(n) if n > 0 => Some(Some(n)),
                _ => {
                    return Err(bad(
                        "persistent",
                        v,
                        "seconds from 1 to 2678400, true (360 s) or false",
                    ));
                }
            },
            other => return Err(bad("persistent", other, "seconds, true (360 s) or false")),
        };
        let netmask = match f.raw("netmask") {
            Value::Nil => None,
            v @ (Value::Str(_) | Value::Bytes(_)) => Some(Netmask::Dotted(v.text().unwrap_or_default())),
            v @ (Value::Int(_) | Value::Num(_)) => to_int("netmask", v)?.map(Netmask::Prefix),
            other => return Err(bad("netmask", other, "a dotted IPv4 mask or a prefix length")),
        };
        let pe = match f.raw("pe") {
            Value::Nil => None,
            Value::Bool(false) => Some(None),
            v @ (Value::Str(_) | Value::Bytes(_)) => Some(v.text()),
            other => return Err(bad("pe", other, "a persistence engine name (\"sip\") or false")),
        };
        let servers = list("servers", f.raw("servers"), "must be a list of real servers")?
            .iter()
            .map(ServerSpec::read)
            .collect::<Result<_, _>>()?;
        let spec = ServiceSpec {
            proto: f.string("proto")?,
            addr: f.string("addr")?,
            fwmark: f.int("fwmark")?,
            af: f.string("af")?,
            scheduler: f.string("scheduler")?,
            persistent,
            netmask,
            sched_flags: f.strings("sched_flags")?,
            pe,
            ops: f.bool("ops")?,
        };
        Ok((spec, servers))
    }

    /// Only the key a service spec names.
    pub fn read_key(v: &Value) -> Result<ServiceKey, SpecError> {
        ServiceSpec::read(v)?.0.key()
    }
}

impl ServerSpec {
    /// A real-server spec from a table, a server object, or just an address.
    pub fn read(v: &Value) -> Result<ServerSpec, SpecError> {
        if let Some(addr) = v.text() {
            return Ok(ServerSpec {
                addr,
                ..Default::default()
            });
        }
        let f = Args::of(
            "server",
            v,
            SERVER_FIELDS,
            SERVER_OUTPUT,
            "must be a table such as {addr=\"192.0.2.101\"} or an address",
        )?;
        let addr = f.string("addr")?.ok_or_else(|| SpecError {
            field: "server".into(),
            value: String::new(),
            reason: "needs addr".into(),
        })?;
        Ok(ServerSpec {
            addr,
            method: f.string("method")?,
            weight: f.int("weight")?,
            upper: f.int("upper")?,
            lower: f.int("lower")?,
            tun_type: f.string("tun_type")?,
            tun_port: f.int("tun_port")?,
            tun_csum: f.string("tun_csum")?,
        })
    }
}
