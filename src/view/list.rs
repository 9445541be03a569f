//! `lvs.list`: what a listing reads from IPVS for the format asked, and the formats that are
//! not ipvsadm's (boxed, JSON).

use crate::director::mh::Summary;
use crate::director::{self, Director};
use crate::fields::{Field, Record};
use crate::ipvs::{BriefTable, Info, ServiceKey, ServiceTable};
use crate::ipvsadm::args::Format;
use crate::model::input::{Args, Value, bad};
use crate::model::{ServiceSpec, SpecError, order};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Table,
    Ipvsadm,
    Json,
}

#[derive(Debug, Clone)]
pub struct ListOpts {
    pub format: Format,
    pub style: Style,
    /// One service only.
    pub service: Option<ServiceKey>,
    /// Printed (the default), or handed back.
    pub print: bool,
}

impl Default for ListOpts {
    fn default() -> ListOpts {
        ListOpts {
            format: Format {
                numeric: true,
                ..Default::default()
            },
            style: Style::Table,
            service: None,
            print: true,
        }
    }
}

const FIELDS: &[&str] = &[
    "stats",
    "rate",
    "thresholds",
    "persistent_conn",
    "tun_info",
    "exact",
    "sort",
    "names",
    "service",
    "format",
    "print",
];

impl ListOpts {
    pub fn read(v: &Value) -> Result<ListOpts, SpecError> {
        let f = Args::of("list options", v, FIELDS, &[], "must be a table of options")?;
        let mut o = ListOpts::default();
        let flag = |name: &str| f.bool(name).map(|b| b.unwrap_or(false));
        o.format.stats = flag("stats")?;
        o.format.rate = flag("rate")?;
        o.format.thresholds = flag("thresholds")?;
        o.format.persistent_conn = flag("persistent_conn")?;
        o.format.tun_info = flag("tun_info")?;
        o.format.exact = flag("exact")?;
        o.format.nosort = f.bool("sort")? == Some(false);
        o.format.numeric = !flag("names")?;
        o.print = f.bool("print")?.unwrap_or(true);
        o.style = match f.string("format")?.as_deref() {
            None | Some("table") => Style::Table,
            Some("ipvsadm") => Style::Ipvsadm,
            Some("json") => Style::Json,
            Some(_) => {
                return Err(bad(
                    "format",
                    f.raw("format"),
                    "expected \"table\", \"ipvsadm\" or \"json\"",
                ));
            }
        };
        o.service = match f.raw("service") {
            Value::Nil => None,
            v => Some(ServiceSpec::read_key(v)?),
        };
        Ok(o)
    }

    /// Whether the listing shows no more than method, weight and connection counts.
    fn brief(&self) -> bool {
        let f = &self.format;
        self.style != Style::Json && !(f.stats || f.rate || f.thresholds || f.persistent_conn || f.tun_info)
    }
}

/// What a listing read: whole real servers, or (ipvsadm's default format) what it shows.
pub enum Listed {
    Full(ServiceTable),
    Brief(BriefTable),
}

/// Reads what the listing `o` shows, as cheaply as its format allows: ipvsadm's default
/// format of the whole table needs one dump and /proc/net/ip_vs, not a dump per service.
pub fn read(d: &mut Director, o: &ListOpts) -> Result<(Info, Listed), director::Error> {
    let c = d.ipvs();
    let info = c.info()?;
    if o.service.is_none() && o.brief() && o.style == Style::Ipvsadm {
        let mut table = c.services_brief()?;
        if !o.format.nosort {
            order::sort_brief(&mut table);
        }
        return Ok((info, Listed::Brief(table)));
    }
    let mut table = match &o.service {
        Some(k) => match c.service(k)? {
            Some(s) => vec![(s, c.dests(k)?)],
            None => return Err(director::no_service(k)),
        },
        None if o.brief() => c
            .services_brief()?
            .into_iter()
            .map(|(s, d)| (s, d.iter().map(|b| b.dest()).collect()))
            .collect(),
        None => c.services()?,
    };
    if !o.format.nosort {
        order::sort_table(&mut table);
    }
    Ok((info, Listed::Full(table)))
}

fn json_of(v: Field) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Field::Text(s) => J::String(s),
        Field::Name(s) => J::String(s.into()),
        Field::Int(n) => J::from(n),
        Field::Count(n) => J::from(n),
        Field::Number(n) => J::from(n),
        Field::Flag(b) => J::Bool(b),
        Field::Names(l) => J::Array(l.into_iter().map(|s| J::String(s.into())).collect()),
        Field::Record(r) => json_record(r),
        Field::Nil => J::Null,
    }
}

fn json_record(r: Record) -> serde_json::Value {
    // serde_json's own map: keys come out sorted
    serde_json::Value::Object(
        r.into_iter()
            .filter(|(_, v)| *v != Field::Nil)
            .map(|(k, v)| (k.to_string(), json_of(v)))
            .collect(),
    )
}

/// The table as JSON: a list of services as `lvs.services()` gives them, with `mh` (the
/// Maglev table's fingerprint and order) for mh services.
pub fn json(
    table: &ServiceTable,
    mh: &std::collections::HashMap<crate::ipvs::ServiceKey, Summary>,
) -> String {
    let list = table
        .iter()
        .map(|(s, dests)| {
            let mut r = super::records::service(s);
            let servers = dests.iter().map(|d| Field::Record(super::records::server(d)));
            let servers: Vec<serde_json::Value> = servers.map(json_of).collect();
            let mut j = json_record(std::mem::take(&mut r));
            if let serde_json::Value::Object(m) = &mut j {
                m.insert("servers".into(), serde_json::Value::Array(servers));
                if let Some(x) = mh.get(&s.key) {
                    m.insert("mh".into(), mh_json(x));
                }
            }
            j
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::Value::Array(list)).unwrap_or_default() + "\n"
}

fn mh_json(s: &Summary) -> serde_json::Value {
    let name = |(a, p): &(std::net::IpAddr, u16)| crate::ipvs::types::sockaddr(a, *p);
    serde_json::json!({
        "fingerprint": s.fingerprint,
        "canonical": s.canonical,
        "exact": s.exact,
        "slots": crate::model::mh::SLOTS,
        "servers": s.shares.iter().map(|(k, n)| serde_json::json!({"server": name(k), "slots": n})).collect::<Vec<_>>(),
        "readd": s.readd.iter().map(name).collect::<Vec<_>>(),
    })
}
