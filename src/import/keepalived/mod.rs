//! keepalived.conf's virtual servers as an lvsh director script: the table for `lvs.apply`
//! and one `lvs.monitor` per virtual server, deciding as keepalived's checker does. What has
//! no equivalent is listed with its file and line and the reason, never approximated.

use std::fmt::Write;
use std::net::IpAddr;

use super::Imported;
use super::conf::{Aside, At, Node};

/// Blocks that are keepalived's VRRP side: left to keepalived, said in the script's header.
const VRRP: &[&str] = &[
    "vrrp_instance",
    "vrrp_sync_group",
    "vrrp_script",
    "vrrp_track_process",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "linkbeat_use_polling",
];

/// global_defs settings that only concern mail, SNMP, DBus or VRRP.
const NOT_THE_CHECKER: &[&str] = &[
    "notification_email",
    "notification_email_from",
    "smtp_server",
    "smtp_connect_timeout",
    "router_id",
];

struct Vs {
    /// ("tcp", "192.0.2.1:80") or ("fwmark", "1").
    services: Vec<String>,
    name: String,
}

struct Out<'a> {
    left: &'a mut Vec<Aside>,
    /// Names the script's variables.
    seq: usize,
    /// The track_file blocks: name, file, weight, reverse.
    tracks: Vec<(String, String, i64, bool)>,
}

impl Out<'_> {
    fn leave(&mut self, at: &At, why: impl Into<String>) {
        self.left.push(Aside {
            at: at.clone(),
            why: why.into(),
        });
    }
}

/// A track_file block: the file FILE_CHECKs read, with its weight (1 unless set).
fn track_file(n: &Node, out: &mut Out) {
    let (Some(name), Some(file)) = (n.args.first(), n.value("file")) else {
        return out.leave(&n.at, format!("{} without a name or a file", n.key));
    };
    let w = n.child("weight");
    let weight = match w.and_then(|w| w.args.first()) {
        None => 1,
        Some(x) => match x.parse::<i64>() {
            Ok(x) => x,
            Err(_) => return out.leave(&n.at, format!("track_file weight {x}: not a number")),
        },
    };
    let reverse = w.is_some_and(|w| w.args.get(1).map(String::as_str) == Some("reverse"));
    if let Some(i) = n.child("init_file") {
        out.leave(
            &i.at,
            "track_file init_file: lvsh does not write the file; a missing one is 0",
        );
    }
    out.tracks.push((name.clone(), file.to_string(), weight, reverse));
}

/// Reads `path` (and what it includes) and translates it.
pub fn import(path: &std::path::Path) -> Result<Imported, super::conf::ParseError> {
    let (nodes, aside) = super::conf::parse_file(path)?;
    Ok(translate(&nodes, aside, &path.display().to_string()))
}

pub fn translate(nodes: &[Node], aside: Vec<Aside>, origin: &str) -> Imported {
    let mut left = aside;
    let mut out = Out {
        left: &mut left,
        seq: 0,
        tracks: Vec::new(),
    };
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let mut vrrp = Vec::new();
    let mut apply = String::new();
    let mut monitors = String::new();
    let mut stops = String::new();
    let mut translated = Vec::new();
    for n in nodes {
        match n.key.as_str() {
            "virtual_server_group" => match n.args.first() {
                Some(name) => groups.push((name.clone(), group(n, &mut out))),
                None => out.leave(&n.at, "virtual_server_group without a name"),
            },
            k if VRRP.contains(&k) => vrrp.push(format!("{k} {}", n.args.join(" ")).trim().to_string()),
            "global_defs" => {
                for c in &n.children {
                    if !NOT_THE_CHECKER.contains(&c.key.as_str()) && !c.key.starts_with("vrrp") {
                        out.leave(&c.at, format!("global_defs {}: no lvsh equivalent", c.key));
                    }
                }
            }
            "track_file" | "vrrp_track_file" => track_file(n, &mut out),
            "virtual_server" | "real_server" => {}
            k => out.leave(&n.at, format!("{k}: not part of keepalived's checker")),
        }
    }
    for n in nodes.iter().filter(|n| n.key == "virtual_server") {
        let Some(vs) = virtual_server_key(n, &groups, &mut out) else {
            continue;
        };
        let (svc, mon, stop) = virtual_server(n, &vs, &mut out);
        apply += &svc;
        monitors += &mon;
        stops += &stop;
        translated.push(format!(
            "{}: virtual_server {} ({} service(s))",
            n.at,
            vs.name,
            vs.services.len()
        ));
    }
    let mut s = String::new();
    s += "#!/usr/bin/env lvsh\n";
    let _ = writeln!(
        s,
        "-- Imported from {origin} by `lvsh import keepalived`: the virtual servers as"
    );
    s += "-- one lvs.apply table and a monitor per virtual server (keepalived's checker semantics).\n";
    if !vrrp.is_empty() {
        s += "-- VRRP is left to keepalived (run it for VRRP only; its notify lines can run\n";
        s += "-- examples/failover.lua): ";
        s += &vrrp.join(", ");
        s += "\n";
    }
    if !out.left.is_empty() {
        let _ = writeln!(s, "-- Not translated ({}):", out.left.len());
        for a in out.left.iter() {
            let _ = writeln!(s, "--   {}: {}", a.at, a.why);
        }
    }
    if monitors.contains("codes(") {
        s += "\n-- keepalived's status_code ranges as lists of codes\n";
        s += "local function codes(...)\n  local t = {}\n  for _, r in ipairs{...} do\n    for c = r[1], r[2] do t[#t + 1] = c end\n  end\n  return t\nend\n";
    }
    if monitors.contains("notify{") || monitors.contains("run(") {
        s += scripts::HELPERS;
    }
    s += "\nlvs.apply({\n";
    s += &apply;
    s += "})\n";
    s += &monitors;
    s += "\nlvs.run()\n";
    if !stops.is_empty() {
        s += "\n";
        s += &stops;
    }
    Imported {
        script: s,
        translated,
        left,
    }
}

/// A group's members as service keys ("tcp 192.0.2.1:80" with the protocol filled later).
fn group(n: &Node, out: &mut Out) -> Vec<String> {
    let mut members = Vec::new();
    for c in &n.children {
        if c.key == "fwmark" {
            match c.args.first().and_then(|m| m.parse::<u32>().ok()) {
                Some(m) => members.push(format!("fwmark {m}")),
                None => out.leave(&c.at, "fwmark without a number"),
            }
            continue;
        }
        let port = c.args.first().and_then(|p| p.parse::<u16>().ok());
        match (range(&c.key), port) {
            (Some(addrs), Some(port)) => {
                members.extend(addrs.iter().map(|a| format!("addr {}", sockaddr(*a, port))))
            }
            _ => out.leave(
                &c.at,
                format!(
                    "'{} {}': not an address (or range) and port",
                    c.key,
                    c.args.join(" ")
                ),
            ),
        }
    }
    members
}

/// "192.0.2.3-10" (the last part ranging) or one address.
fn range(s: &str) -> Option<Vec<IpAddr>> {
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(vec![a]);
    }
    let (first, last) = s.rsplit_once('-')?;
    let base: IpAddr = first.parse().ok()?;
    match base {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let end: u8 = last.parse().ok()?;
            (end >= o[3]).then(|| {
                (o[3]..=end)
                    .map(|x| IpAddr::from([o[0], o[1], o[2], x]))
                    .collect()
            })
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let end = u16::from_str_radix(last, 16).ok()?;
            (end >= seg[7]).then(|| {
                (seg[7]..=end)
                    .map(|x| {
                        let mut s = seg;
                        s[7] = x;
                        IpAddr::from(s)
                    })
                    .collect()
            })
        }
    }
}

/// "ip:port" from the configuration's two words (IPv6 in brackets).
fn sockaddr_text(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn sockaddr(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(_) => format!("{a}:{port}"),
        IpAddr::V6(_) => format!("[{a}]:{port}"),
    }
}

fn virtual_server_key(n: &Node, groups: &[(String, Vec<String>)], out: &mut Out) -> Option<Vs> {
    let args: Vec<&str> = n.args.iter().map(String::as_str).collect();
    let services = match args.as_slice() {
        ["fwmark", m] => match m.parse::<u32>() {
            Ok(m) => vec![format!("fwmark {m}")],
            Err(_) => {
                out.leave(&n.at, format!("virtual_server fwmark {m}: not a number"));
                return None;
            }
        },
        ["group", g] => match groups.iter().find(|(name, _)| name == g) {
            Some((_, members)) => members.clone(),
            None => {
                out.leave(
                    &n.at,
                    format!("virtual_server group {g}: no such virtual_server_group"),
                );
                return None;
            }
        },
        [ip, port] => match (ip.parse::<IpAddr>(), port.parse::<u16>()) {
            (Ok(a), Ok(p)) => vec![format!("addr {}", sockaddr(a, p))],
            _ => {
                out.leave(
                    &n.at,
                    format!("virtual_server {ip} {port}: not an address and port"),
                );
                return None;
            }
        },
        _ => {
            out.leave(
                &n.at,
                format!(
                    "virtual_server {}: expected IP PORT, fwmark N or group NAME",
                    args.join(" ")
                ),
            );
            return None;
        }
    };
    Some(Vs {
        services,
        name: args.join(" "),
    })
}

mod checkers;
mod scripts;
mod vs;
use vs::virtual_server;
