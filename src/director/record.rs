//! The write-ahead record of a transaction as it is kept on disk: what it was (which command,
//! which process, when) and its journal, as compact JSON. Written once per transaction, so a
//! 22,000-rule restore pays one write: arrays rather than named fields, and no counters.

use std::fmt::Write;
use std::net::IpAddr;

use serde_json::Value;

use crate::host::lock::NetnsId;
use crate::ipvs::{Dest, Family, Forward, Protocol, Service, ServiceKey, ServiceTable, Timeouts, TunType};
use crate::model::txn::Journal;

const VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// What was under way: "restore", "apply", "add_service", "recover".
    pub what: String,
    pub pid: u32,
    /// When it started, in seconds since the epoch.
    pub started: u64,
    /// The namespace's cookie when it started (0: unknown), to tell a namespace that has
    /// since gone, whose inode a new one was given, from the one the record is about.
    pub cookie: u64,
    pub journal: Journal,
}

fn key(out: &mut String, k: &ServiceKey) {
    match k {
        ServiceKey::Addr { proto, addr, port } => {
            let _ = write!(out, "[{},\"{addr}\",{port}]", proto.raw());
        }
        ServiceKey::Fwmark { af, mark } => {
            let _ = write!(out, "[\"fwmark\",{},{mark}]", af.raw());
        }
    }
}

fn service(out: &mut String, (s, dests): &(Service, Vec<Dest>)) {
    out.push('[');
    key(out, &s.key);
    let pe = s.pe.as_deref().map(json_str).unwrap_or_else(|| "null".into());
    let _ = write!(
        out,
        ",{},{},{},{},{pe},[",
        json_str(&s.scheduler),
        s.flags,
        s.timeout,
        s.netmask
    );
    for (i, d) in dests.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "[\"{}\",{},{},{},{},{},{},{},{}]",
            d.addr,
            d.port,
            d.fwd.raw(),
            d.weight,
            d.upper,
            d.lower,
            d.tun_type.raw(),
            d.tun_port,
            d.tun_flags
        );
    }
    out.push_str("]]");
}

fn json_str(s: &str) -> String {
    Value::String(s.into()).to_string()
}

fn table(out: &mut String, name: &str, list: &ServiceTable) {
    let _ = write!(out, ",\"{name}\":[");
    for (i, e) in list.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        service(out, e);
    }
    out.push(']');
}

impl Record {
    pub fn encode(&self, id: &NetnsId) -> String {
        let j = &self.journal;
        let per = j.before.len() + j.after.len();
        let mut out = String::with_capacity(256 + 64 * j.keys.len() + 80 * per);
        let _ = write!(
            out,
            "{{\"version\":{VERSION},\"what\":{},\"pid\":{},\"started\":{},\"netns\":[{},{},{}],\n\"keys\":[",
            json_str(&self.what),
            self.pid,
            self.started,
            id.dev,
            id.ino,
            self.cookie
        );
        for (i, k) in j.keys.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            key(&mut out, k);
        }
        out.push(']');
        table(&mut out, "before", &j.before);
        table(&mut out, "after", &j.after);
        match j.timeouts {
            Some((b, a)) => {
                let _ = write!(
                    out,
                    ",\"timeouts\":[[{},{},{}],[{},{},{}]]",
                    b.tcp, b.tcpfin, b.udp, a.tcp, a.tcpfin, a.udp
                );
            }
            None => out.push_str(",\"timeouts\":null"),
        }
        out.push_str("}\n");
        out
    }

    /// Reads a record back; what is wrong with one is named (it is a file anyone with root
    /// could have edited).
    pub fn decode(text: &str) -> Result<Record, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let version = v.get("version").and_then(Value::as_u64);
        if version != Some(VERSION) {
            return Err(format!("version {version:?}, this lvsh reads version {VERSION}"));
        }
        let num = |name: &str| {
            v.get(name)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("{name}: missing or not a number"))
        };
        let netns = v.get("netns").and_then(Value::as_array);
        let cookie = netns.and_then(|n| n.get(2)).and_then(Value::as_u64).unwrap_or(0);
        let list = |name: &str| -> Result<ServiceTable, String> {
            v.get(name)
                .and_then(Value::as_array)
                .ok_or_else(|| format!("{name}: missing"))?
                .iter()
                .map(|s| read_service(s).map_err(|e| format!("{name}: {e}")))
                .collect()
        };
        let keys = v
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("keys: missing")?
            .iter()
            .map(read_key)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("keys: {e}"))?;
        let timeouts = match v.get("timeouts") {
            None | Some(Value::Null) => None,
            Some(t) => {
                let pair = t
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or("timeouts: not a pair")?;
                Some((read_timeouts(&pair[0])?, read_timeouts(&pair[1])?))
            }
        };
        Ok(Record {
            what: v
                .get("what")
                .and_then(Value::as_str)
                .unwrap_or("transaction")
                .to_string(),
            pid: u32::try_from(num("pid")?).map_err(|_| "pid: out of range")?,
            started: num("started")?,
            cookie,
            journal: Journal {
                keys,
                before: list("before")?,
                after: list("after")?,
                timeouts,
            },
        })
    }
}

fn items(v: &Value, n: usize, what: &str) -> Result<Vec<Value>, String> {
    match v.as_array() {
        Some(a) if a.len() == n => Ok(a.clone()),
        _ => Err(format!("{what}: {v} is not a list of {n}")),
    }
}

fn uint<T: TryFrom<u64>>(v: &Value, what: &str) -> Result<T, String> {
    v.as_u64()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("{what}: {v} is not a number in range"))
}

fn addr(v: &Value) -> Result<IpAddr, String> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{v} is not an address"))
}

fn read_key(v: &Value) -> Result<ServiceKey, String> {
    let a = items(v, 3, "service key")?;
    if a[0].as_str() == Some("fwmark") {
        let af = Family::from_raw(uint(&a[1], "family")?).ok_or("bad family")?;
        return Ok(ServiceKey::Fwmark {
            af,
            mark: uint(&a[2], "fwmark")?,
        });
    }
    Ok(ServiceKey::Addr {
        proto: Protocol::from_raw(uint(&a[0], "protocol")?),
        addr: addr(&a[1])?,
        port: uint(&a[2], "port")?,
    })
}

fn read_service(v: &Value) -> Result<(Service, Vec<Dest>), String> {
    let a = items(v, 7, "service")?;
    let mut s = Service::new(read_key(&a[0])?);
    s.scheduler = a[1].as_str().ok_or("scheduler: not a string")?.to_string();
    s.flags = uint(&a[2], "flags")?;
    s.timeout = uint(&a[3], "timeout")?;
    s.netmask = uint(&a[4], "netmask")?;
    s.pe = match &a[5] {
        Value::Null => None,
        Value::String(p) => Some(p.clone()),
        other => return Err(format!("pe: {other} is not a string")),
    };
    let dests = a[6]
        .as_array()
        .ok_or("servers: not a list")?
        .iter()
        .map(read_dest)
        .collect::<Result<_, _>>()?;
    Ok((s, dests))
}

fn read_dest(v: &Value) -> Result<Dest, String> {
    let a = items(v, 9, "real server")?;
    let mut d = Dest::new(addr(&a[0])?, uint(&a[1], "port")?);
    d.fwd = Forward::from_raw(uint(&a[2], "method")?);
    d.weight = uint(&a[3], "weight")?;
    d.upper = uint(&a[4], "upper")?;
    d.lower = uint(&a[5], "lower")?;
    d.tun_type = TunType::from_raw(uint(&a[6], "tun_type")?);
    d.tun_port = uint(&a[7], "tun_port")?;
    d.tun_flags = uint(&a[8], "tun_flags")?;
    Ok(d)
}

fn read_timeouts(v: &Value) -> Result<Timeouts, String> {
    let a = items(v, 3, "timeouts")?;
    Ok(Timeouts {
        tcp: uint(&a[0], "tcp")?,
        tcpfin: uint(&a[1], "tcpfin")?,
        udp: uint(&a[2], "udp")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let k = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "2001:db8::1".parse().unwrap(),
            port: 80,
        };
        let mut s = Service::new(k.clone());
        s.scheduler = "w\"rr".into();
        s.pe = Some("sip".into());
        let mut d = Dest::new("2001:db8::2".parse().unwrap(), 8080);
        d.fwd = Forward::Tunnel;
        d.tun_type = TunType::Gue;
        d.tun_port = 6080;
        let fw = ServiceKey::Fwmark {
            af: Family::Inet,
            mark: 7,
        };
        let r = Record {
            what: "restore".into(),
            pid: 42,
            started: 1_700_000_000,
            cookie: 9,
            journal: Journal {
                keys: vec![k, fw.clone()],
                before: vec![(Service::new(fw), vec![])],
                after: vec![(s, vec![d])],
                timeouts: Some((
                    Timeouts {
                        tcp: 900,
                        tcpfin: 120,
                        udp: 300,
                    },
                    Timeouts {
                        tcp: 10,
                        tcpfin: 20,
                        udp: 30,
                    },
                )),
            },
        };
        let id = NetnsId {
            dev: 4,
            ino: 4026531840,
            cookie: 9,
        };
        assert_eq!(Record::decode(&r.encode(&id)).unwrap(), r);
        let e = Record::decode("{\"version\":1,\"pid\":1,\"started\":1,\"keys\":[[6,\"x\",1]]}").unwrap_err();
        assert!(e.contains("not an address"), "{e}");
    }
}
