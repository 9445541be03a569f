//! ipvsadm's listing and save formats, byte for byte (printf widths, truncations and all).

use std::borrow::Cow;
use std::fmt::Write;
use std::net::IpAddr;

use super::args::Format;
use super::names;
use crate::ipvs::consts::*;
use crate::ipvs::proc_table::BriefDest;
use crate::ipvs::{Daemon, Dest, Family, Forward, Info, Protocol, Service, ServiceKey, Timeouts, TunType};
use crate::model::spec::sched_flag_names;

/// `addr:port`, or names when not numeric; IPv6 in brackets either way.
pub fn addrport(addr: &IpAddr, port: u16, proto: Protocol, numeric: bool) -> String {
    let (host, service) = if numeric {
        (addr.to_string(), port.to_string())
    } else {
        (
            names::addr_to_host(addr).unwrap_or_else(|| addr.to_string()),
            names::port_to_service(port, proto).unwrap_or_else(|| port.to_string()),
        )
    };
    match addr {
        IpAddr::V4(_) => format!("{host}:{service}"),
        IpAddr::V6(_) => format!("[{host}]:{service}"),
    }
}

fn truncate(mut s: String, n: usize) -> String {
    if s.len() > n {
        s.truncate(n);
    }
    s
}

/// 1.31 prints the mark with %d, so marks above 2^31 come out negative; kept for fidelity.
fn mark(m: u32) -> i32 {
    m as i32
}

fn proto_of(svc: &Service) -> Protocol {
    match svc.key {
        ServiceKey::Addr { proto, .. } => proto,
        ServiceKey::Fwmark { .. } => Protocol::Tcp,
    }
}

/// The service as listings name it (`TCP  192.0.2.1:80`, `FWM  5`) or as rules do (`-t ...`).
pub fn service_name(svc: &Service, f: &Format) -> String {
    match &svc.key {
        ServiceKey::Fwmark { af, mark: m } => match (f.rule, af) {
            (true, Family::Inet6) => format!("-f {} -6", mark(*m)),
            (true, Family::Inet) => format!("-f {}", mark(*m)),
            (false, Family::Inet6) => format!("FWM  {} IPv6", mark(*m)),
            (false, Family::Inet) => format!("FWM  {}", mark(*m)),
        },
        ServiceKey::Addr { proto, addr, port } => {
            let v = addrport(addr, *port, *proto, f.numeric);
            if f.rule {
                let opt = match proto {
                    Protocol::Tcp => "-t",
                    Protocol::Udp => "-u",
                    Protocol::Sctp => "--sctp-service",
                    Protocol::Other(_) => "--xxx-service",
                };
                format!("{opt} {v}")
            } else {
                let s = format!("{:<4} {v}", proto.label());
                if addr.is_ipv4() { truncate(s, 33) } else { s }
            }
        }
    }
}

pub fn largenum(out: &mut String, v: u64, exact: bool) {
    if exact {
        let len = v.to_string().len();
        let w = if len <= 8 { 9 } else { len + 1 };
        let _ = write!(out, "{v:>w$}");
        return;
    }
    let _ = match v {
        v if v < 100_000_000 => write!(out, "{v:>9}"),
        v if v < 1_000_000_000 => write!(out, "{:>8}K", v / 1000),
        v if v < 100_000_000_000 => write!(out, "{:>8}M", v / 1_000_000),
        v if v < 100_000_000_000_000 => write!(out, "{:>8}G", v / 1_000_000_000),
        v => write!(out, "{:>8}T", v / 1_000_000_000_000),
    };
}

pub fn title(f: &Format) -> String {
    if f.stats {
        format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        )
    } else if f.rate {
        format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        )
    } else if f.thresholds {
        format!(
            "{:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else if f.persistent_conn {
        format!(
            "{:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn"
        )
    } else if f.tun_info {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n".into()
    } else if !f.rule {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n".into()
    } else {
        String::new()
    }
}

fn fwd_name(fwd: Forward) -> &'static str {
    match fwd {
        Forward::Masq => "Masq",
        Forward::Local => "Local",
        Forward::Tunnel => "Tunnel",
        Forward::Route => "Route",
        _ => "(null)",
    }
}

fn fwd_switch(fwd: Forward) -> &'static str {
    match fwd {
        Forward::Masq => "-m",
        Forward::Tunnel => "-i",
        _ => "-g",
    }
}

const TUN_FLAG_OPTS: [&str; 3] = ["--tun-nocsum", "--tun-csum", "--tun-remcsum"];
const TUN_FLAG_SHORT: [&str; 3] = ["-c", "+c", "r+c"];

fn tun_info(d: &Dest) -> String {
    let flags = |i: u16| TUN_FLAG_SHORT.get(i as usize).copied().unwrap_or("?");
    match (d.fwd, d.tun_type) {
        (Forward::Tunnel, TunType::Ipip) => "ipip".into(),
        (Forward::Tunnel, TunType::Gue) => format!("gue:{}:{}", d.tun_port, flags(d.tun_flags)),
        (Forward::Tunnel, TunType::Gre) => format!("gre:{}", flags(d.tun_flags)),
        _ => "n/a".into(),
    }
}

/// Options that save omits but restore accepts, for `complete` saves.
fn thresholds_rule(d: &Dest) -> String {
    let mut s = String::new();
    if d.upper != 0 {
        let _ = write!(s, " -x {}", d.upper);
    }
    if d.lower != 0 {
        let _ = write!(s, " -y {}", d.lower);
    }
    s
}

/// ipvsadm reads a real server's STATS64 with 32-bit getters: its counts, packets and rates
/// keep only their low 32 bits (bytes are right). The ipvsadm format shows what it shows.
fn low32(v: u64) -> u64 {
    v & 0xffff_ffff
}

/// What follows the service in a rule: ` -s rr -p 300 -M 255.255.255.0 --pe sip -o -b ...`.
pub fn service_options(svc: &Service) -> String {
    let mut out = format!(" -s {}", svc.scheduler);
    let v4 = svc.key.af() == Family::Inet;
    if svc.flags & SVC_F_PERSISTENT != 0 {
        let _ = write!(out, " -p {}", svc.timeout);
        if v4 && svc.netmask != u32::MAX {
            let _ = write!(out, " -M {}", svc.netmask_v4());
        } else if !v4 && svc.netmask != 128 {
            let _ = write!(out, " -M {}", svc.netmask as i32);
        }
    }
    if let Some(pe) = &svc.pe {
        let _ = write!(out, " --pe {pe}");
    }
    if svc.flags & SVC_F_ONEPACKET != 0 {
        out.push_str(" -o");
    }
    if svc.flags & (SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3) != 0 {
        let _ = write!(
            out,
            " -b {}",
            sched_flag_names(svc.flags, &svc.scheduler).join(",")
        );
    }
    out
}

/// What follows the real server's address in a rule: ` -m -w 3 [-x U -y L] [tunnel options]`.
pub fn server_options(d: &Dest, thresholds: bool) -> String {
    let extra = if thresholds {
        thresholds_rule(d)
    } else {
        String::new()
    };
    let flag = TUN_FLAG_OPTS.get(d.tun_flags as usize).copied().unwrap_or("");
    let tunnel = match (d.fwd, d.tun_type) {
        (Forward::Tunnel, TunType::Gre) => format!(" --tun-type gre {flag}"),
        (Forward::Tunnel, TunType::Gue) => format!(" --tun-type gue --tun-port {} {flag}", d.tun_port),
        (Forward::Tunnel, TunType::Ipip) => " --tun-type ipip".into(),
        _ => String::new(),
    };
    format!(" {} -w {}{extra}{tunnel}", fwd_switch(d.fwd), d.weight as i32)
}

/// One service and its real servers, as ipvsadm prints them. `complete` adds -x/-y to rules.
pub fn service_entry(out: &mut String, svc: &Service, dests: &[Dest], f: &Format, complete: bool) {
    let name = service_name(svc, f);
    let s = &svc.stats;
    let flag_names = sched_flag_names(svc.flags, &svc.scheduler).join(",");
    let has_flags = svc.flags & (SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3) != 0;
    let persistent = svc.flags & SVC_F_PERSISTENT != 0;
    let v4 = svc.key.af() == Family::Inet;
    if f.rule {
        let _ = write!(out, "-A {name}{}", service_options(svc));
    } else if f.stats {
        let _ = write!(out, "{name:<33}");
        for v in [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes] {
            largenum(out, v, f.exact);
        }
    } else if f.rate {
        let _ = write!(out, "{name:<33}");
        for v in [s.cps, s.inpps, s.outpps, s.inbps, s.outbps] {
            largenum(out, v, f.exact);
        }
    } else {
        let _ = write!(out, "{name} {}", svc.scheduler);
        if has_flags {
            let _ = write!(out, " ({flag_names})");
        }
        if persistent {
            let _ = write!(out, " persistent {}", svc.timeout);
            if v4 && svc.netmask != u32::MAX {
                let _ = write!(out, " mask {}", svc.netmask_v4());
            } else if !v4 && svc.netmask != 128 {
                let _ = write!(out, " mask {}", svc.netmask as i32);
            }
            if let Some(pe) = &svc.pe {
                let _ = write!(out, " pe {pe}");
            }
        }
        if svc.flags & SVC_F_ONEPACKET != 0 {
            out.push_str(" ops");
        }
    }
    out.push('\n');
    let proto = proto_of(svc);
    for d in dests {
        let mut dname = addrport(&d.addr, d.port, proto, f.numeric);
        if !f.rule && d.addr.is_ipv4() {
            dname = truncate(dname, 28);
        }
        let st = &d.stats;
        if f.rule {
            let _ = writeln!(out, "-a {name} -r {dname}{}", server_options(d, complete));
        } else if f.stats {
            let _ = write!(out, "  -> {dname:<28}");
            for v in [
                low32(st.conns),
                low32(st.inpkts),
                low32(st.outpkts),
                st.inbytes,
                st.outbytes,
            ] {
                largenum(out, v, f.exact);
            }
            out.push('\n');
        } else if f.rate {
            let _ = write!(
                out,
                "  -> {dname:<28} {:>8} {:>8} {:>8}",
                low32(st.cps),
                low32(st.inpps),
                low32(st.outpps)
            );
            largenum(out, low32(st.inbps), f.exact);
            largenum(out, low32(st.outbps), f.exact);
            out.push('\n');
        } else if f.thresholds {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                d.upper, d.lower, d.active, d.inactive
            );
        } else if f.persistent_conn {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
                d.weight, d.persist, d.active, d.inactive
            );
        } else if f.tun_info {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
                fwd_name(d.fwd),
                tun_info(d),
                d.weight as i32,
                d.active,
                d.inactive
            );
        } else {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                fwd_name(d.fwd),
                d.weight as i32,
                d.active,
                d.inactive
            );
        }
    }
}

/// `ipvsadm -L` (with options) of a whole table; `-S` when `f.rule` is set.
pub fn list_all(info: &Info, table: &[(Service, Vec<Dest>)], f: &Format, complete: bool) -> String {
    let entries = table.iter().map(|(s, d)| (s, Cow::Borrowed(&d[..])));
    text(info, entries, lines(table), f, complete)
}

/// `write_all`'s text in one string, sized once for `lines` lines, generously: capacity never
/// written costs nothing, regrowing a megabyte does.
pub fn text<'a>(
    info: &Info,
    entries: impl Iterator<Item = (&'a Service, Cow<'a, [Dest]>)>,
    lines: usize,
    f: &Format,
    complete: bool,
) -> String {
    let mut out = String::with_capacity(256 + lines * if f.stats || f.rate { 160 } else { 96 });
    let _ = write_all(info, entries, f, complete, &mut |piece| {
        out.push_str(piece);
        Ok(())
    });
    out
}

/// How many lines a listing of `table` has, titles aside.
pub fn lines<D>(table: &[(Service, Vec<D>)]) -> usize {
    table.len() + table.iter().map(|(_, d)| d.len()).sum::<usize>()
}

/// A brief table's entries for `write_all`: each service's real servers made whole only while
/// it is written.
pub fn brief_entries(
    table: &[(Service, Vec<BriefDest>)],
) -> impl Iterator<Item = (&Service, Cow<'_, [Dest]>)> {
    table
        .iter()
        .map(|(s, d)| (s, Cow::Owned(d.iter().map(BriefDest::dest).collect())))
}

/// As `list_all`, handing the text to `out` a piece at a time: printed or written this way, a
/// listing of 20,000 real servers is never held whole.
pub fn write_all<'a>(
    info: &Info,
    entries: impl Iterator<Item = (&'a Service, Cow<'a, [Dest]>)>,
    f: &Format,
    complete: bool,
    out: &mut dyn FnMut(&str) -> std::io::Result<()>,
) -> std::io::Result<()> {
    const PIECE: usize = 64 * 1024;
    let mut buf = String::with_capacity(PIECE + 8 * 1024);
    if !f.rule {
        let _ = writeln!(
            buf,
            "IP Virtual Server version {} (size={})",
            info.version_string(),
            info.conn_tab_size
        );
    }
    buf.push_str(&title(f));
    for (svc, dests) in entries {
        service_entry(&mut buf, svc, &dests, f, complete);
        if buf.len() >= PIECE {
            out(&buf)?;
            buf.clear();
        }
    }
    out(&buf)
}

pub fn timeout_line(t: &Timeouts) -> String {
    format!("Timeout (tcp tcpfin udp): {} {} {}\n", t.tcp, t.tcpfin, t.udp)
}

pub fn daemon_lines(daemons: &[Daemon]) -> String {
    let mut out = String::new();
    for d in daemons {
        let _ = write!(
            out,
            "{} sync daemon (mcast={}, syncid={}",
            d.state.name(),
            d.ifname,
            d.syncid
        );
        if d.maxlen != 0 {
            let _ = write!(out, ", maxlen={}", d.maxlen);
        }
        if let Some(g) = d.group {
            let _ = write!(out, ", group={g}");
        }
        if d.port != 0 {
            let _ = write!(out, ", port={}", d.port);
        }
        if d.ttl != 0 {
            let _ = write!(out, ", ttl={}", d.ttl);
        }
        out.push_str(")\n");
    }
    out
}

/// The header of `ipvsadm -L -c`.
pub fn conn_header(persistent: bool) -> String {
    if persistent {
        format!(
            "IPVS connection entries\npro expire {:<11} {:<18} {:<18} {:<18} {:<16} {}\n",
            "state", "source", "virtual", "destination", "pe name", "pe_data"
        )
    } else {
        format!(
            "IPVS connection entries\npro expire {:<11} {:<18} {:<18} {}\n",
            "state", "source", "virtual", "destination"
        )
    }
}

/// One row of `ipvsadm -L -c`.
pub fn conn_row(out: &mut String, c: &crate::ipvs::conns::Conn, numeric: bool, persistent: bool) {
    let proto = match c.proto.as_str() {
        "TCP" => Protocol::Tcp,
        "UDP" => Protocol::Udp,
        "SCTP" => Protocol::Sctp,
        _ => Protocol::Other(0),
    };
    let name = |(a, p): &(IpAddr, u16)| addrport(a, *p, proto, numeric);
    let expire = format!("{:02}:{:02}", c.expires / 60, c.expires % 60);
    match (&c.pe_name, &c.pe_data) {
        (Some(pe), Some(data)) if persistent => {
            let _ = writeln!(
                out,
                "{:<3} {:<6} {:<11} {:<18} {:<18} {:<16} {:<18} {}",
                c.proto,
                expire,
                c.state,
                name(&c.client),
                name(&c.vip),
                name(&c.real),
                pe,
                data
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
                c.proto,
                expire,
                c.state,
                name(&c.client),
                name(&c.vip),
                name(&c.real)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largenum_scales_like_ipvsadm() {
        let cases: [(u64, &str, &str); 6] = [
            (99, "       99", "       99"),
            (99_999_999, " 99999999", " 99999999"),
            (123_456_789, "  123456K", " 123456789"),
            (15_241_000_000_000, "   15241G", " 15241000000000"),
            (99_999_999_999, "   99999M", " 99999999999"),
            (123_000_000_000_000_000, "  123000T", " 123000000000000000"),
        ];
        for (v, scaled, exact) in cases {
            let (mut a, mut b) = (String::new(), String::new());
            largenum(&mut a, v, false);
            largenum(&mut b, v, true);
            assert_eq!((a.as_str(), b.as_str()), (scaled, exact), "{v}");
        }
    }

    #[test]
    fn reference_listing() {
        // the verified sample of ipvsadm -Ln in the IPVS reference
        let svc = |k: &str| -> Service {
            let (p, a) = k.split_once(' ').unwrap();
            let (addr, port) = a.rsplit_once(':').unwrap();
            Service::new(ServiceKey::Addr {
                proto: if p == "tcp" { Protocol::Tcp } else { Protocol::Udp },
                addr: addr.parse().unwrap(),
                port: port.parse().unwrap(),
            })
        };
        let dest = |a: &str, fwd, w, act, inact| {
            let (addr, port) = a.rsplit_once(':').unwrap();
            Dest {
                fwd,
                weight: w,
                active: act,
                inactive: inact,
                ..Dest::new(addr.parse().unwrap(), port.parse().unwrap())
            }
        };
        let mut s3 = svc("tcp 10.0.0.3:443");
        s3.scheduler = "mh".into();
        s3.flags = SVC_F_SCHED1;
        let mut s2 = svc("udp 10.0.0.2:53");
        s2.scheduler = "rr".into();
        s2.flags = SVC_F_PERSISTENT | SVC_F_ONEPACKET;
        s2.timeout = 360;
        s2.netmask = 0xffffff00;
        let mut fw = Service::new(ServiceKey::Fwmark {
            af: Family::Inet,
            mark: 100,
        });
        fw.scheduler = "sh".into();
        fw.flags = SVC_F_PERSISTENT | SVC_F_SCHED1 | SVC_F_SCHED2;
        fw.timeout = 300;
        let table = vec![
            (
                svc("tcp 10.0.0.1:80"),
                vec![
                    dest("192.168.1.1:8080", Forward::Masq, 65535, 123, 4567),
                    dest("192.168.1.2:80", Forward::Masq, 1, 5, 10),
                ],
            ),
            (s3, vec![dest("172.16.0.1:443", Forward::Tunnel, 10, 1, 2)]),
            (s2, vec![dest("192.168.3.1:53", Forward::Local, 2, 0, 1)]),
            (fw, vec![dest("192.168.2.1:0", Forward::Route, 0, 0, 0)]),
        ];
        let info = Info {
            version: 0x010201,
            conn_tab_size: 4096,
        };
        let f = Format {
            numeric: true,
            ..Default::default()
        };
        assert_eq!(
            list_all(&info, &table, &f, false),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  10.0.0.1:80 wlc\n\
             \x20 -> 192.168.1.1:8080             Masq    65535  123        4567      \n\
             \x20 -> 192.168.1.2:80               Masq    1      5          10        \n\
             TCP  10.0.0.3:443 mh (mh-fallback)\n\
             \x20 -> 172.16.0.1:443               Tunnel  10     1          2         \n\
             UDP  10.0.0.2:53 rr persistent 360 mask 255.255.255.0 ops\n\
             \x20 -> 192.168.3.1:53               Local   2      0          1         \n\
             FWM  100 sh (sh-fallback,sh-port) persistent 300\n\
             \x20 -> 192.168.2.1:0                Route   0      0          0         \n"
        );
        let rules = Format {
            numeric: true,
            rule: true,
            ..Default::default()
        };
        assert_eq!(
            list_all(&info, &table[..1], &rules, false),
            "-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 192.168.1.1:8080 -m -w 65535\n-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 1\n"
        );
    }
}
