//! What lvsh shows scripts of its objects, as records: services and real servers (their
//! settings, and as listings show them), sync daemons, and a plan's operations.

use crate::fields::{Field, Record};
use crate::ipvs::{Daemon, Dest, Family, Forward, Op, Service, ServiceKey, Stats, TunType, sockaddr};
use crate::model::spec::{sched_flag_names, tun_csum_name};

/// The counters (`stats`) and the rates (`rate`).
fn stats(r: &mut Record, s: &Stats) {
    let stats = [
        ("conns", s.conns),
        ("inpkts", s.inpkts),
        ("outpkts", s.outpkts),
        ("inbytes", s.inbytes),
        ("outbytes", s.outbytes),
    ];
    let rate = [
        ("cps", s.cps),
        ("inpps", s.inpps),
        ("outpps", s.outpps),
        ("inbps", s.inbps),
        ("outbps", s.outbps),
    ];
    // as Lua integers: exact below 2^63, which counters do not reach
    let ints = |list: [(&'static str, u64); 5]| list.map(|(k, v)| (k, Field::Int(v as i64))).to_vec();
    r.push(("stats", Field::Record(ints(stats))));
    r.push(("rate", Field::Record(ints(rate))));
}

/// A real server's settings: the fields `lvs.add_server` and `lvs.apply` take.
pub fn server_settings(d: &Dest) -> Record {
    let mut r: Record = vec![
        ("addr", d.name().into()),
        ("method", d.fwd.name().into()),
        ("weight", d.weight.into()),
        ("upper", d.upper.into()),
        ("lower", d.lower.into()),
    ];
    if d.fwd == Forward::Tunnel {
        r.push(("tun_type", d.tun_type.name().into()));
        if d.tun_type == TunType::Gue {
            r.push(("tun_port", d.tun_port.into()));
        }
        if d.tun_type != TunType::Ipip {
            r.push(("tun_csum", tun_csum_name(d.tun_flags).into()));
        }
    }
    r
}

/// A real server as listings show it: its settings, its address apart, connections, counters.
pub fn server(d: &Dest) -> Record {
    let mut r = server_settings(d);
    r.extend([
        ("ip", d.addr.to_string().into()),
        ("port", d.port.into()),
        ("active", d.active.into()),
        ("inactive", d.inactive.into()),
        ("persist", d.persist.into()),
    ]);
    stats(&mut r, &d.stats);
    r
}

/// A service's settings: the fields `lvs.add_service` and `lvs.apply` take.
pub fn service_settings(s: &Service) -> Record {
    let mut r = Record::with_capacity(10);
    match &s.key {
        ServiceKey::Addr { proto, addr, port } => {
            r.push(("proto", proto.name().into()));
            r.push(("addr", sockaddr(addr, *port).into()));
        }
        ServiceKey::Fwmark { mark, .. } => r.push(("fwmark", (*mark).into())),
    }
    r.push(("af", s.key.af().name().into()));
    r.push(("scheduler", s.scheduler.clone().into()));
    r.push((
        "persistent",
        if s.persistent() {
            s.timeout.into()
        } else {
            false.into()
        },
    ));
    r.push((
        "netmask",
        match s.key.af() {
            Family::Inet => s.netmask_v4().to_string().into(),
            Family::Inet6 => s.netmask.into(),
        },
    ));
    r.push((
        "sched_flags",
        Field::Names(sched_flag_names(s.flags, &s.scheduler)),
    ));
    if let Some(pe) = &s.pe {
        r.push(("pe", pe.clone().into()));
    }
    r.push((
        "ops",
        (s.flags & crate::ipvs::consts::SVC_F_ONEPACKET != 0).into(),
    ));
    r
}

/// A service as listings show it (its real servers apart): settings, address, counters.
pub fn service(s: &Service) -> Record {
    let mut r = service_settings(s);
    if let ServiceKey::Addr { addr, port, .. } = &s.key {
        r.push(("ip", addr.to_string().into()));
        r.push(("port", (*port).into()));
    }
    stats(&mut r, &s.stats);
    r
}

pub fn daemon(d: &Daemon) -> Record {
    let mut r: Record = vec![
        ("state", d.state.name().into()),
        ("ifname", d.ifname.clone().into()),
        ("syncid", d.syncid.into()),
        ("maxlen", d.maxlen.into()),
    ];
    if let Some(g) = d.group {
        r.push(("group", g.to_string().into()));
    }
    r.push(("port", d.port.into()));
    r.push(("ttl", d.ttl.into()));
    r
}

/// The name of what an operation does, as `lvs` calls it.
pub fn op_name(op: &Op) -> &'static str {
    match op {
        Op::AddService(_) => "add_service",
        Op::EditService(_) => "edit_service",
        Op::DelService(_) => "del_service",
        Op::AddDest(..) => "add_server",
        Op::EditDest(..) => "edit_server",
        Op::DelDest(..) => "del_server",
        Op::SetTimeouts(_) => "set_timeouts",
        Op::Zero(_) => "zero",
        Op::Flush => "clear",
        Op::StartDaemon(_) => "start_daemon",
        Op::StopDaemon(_) => "stop_daemon",
    }
}

/// One operation of a plan, and (`command`) the ipvsadm command line that does the same.
/// Made field by field, not through whole service and server records: plans can hold
/// 20,000 of these.
pub fn op(op: &Op, command: String) -> Record {
    let mut r: Record = vec![("op", op_name(op).into())];
    match op {
        Op::AddService(s) | Op::EditService(s) => {
            r.push(("service", s.key.to_string().into()));
            r.push(("scheduler", s.scheduler.clone().into()));
            if s.persistent() {
                r.push(("persistent", s.timeout.into()));
            }
            if let Some(pe) = &s.pe {
                r.push(("pe", pe.clone().into()));
            }
        }
        Op::DelService(k) => r.push(("service", k.to_string().into())),
        Op::AddDest(k, d) | Op::EditDest(k, d) => {
            r.push(("service", k.to_string().into()));
            r.push(("addr", d.name().into()));
            r.push(("method", d.fwd.name().into()));
            r.push(("weight", d.weight.into()));
            r.push(("upper", d.upper.into()));
            r.push(("lower", d.lower.into()));
        }
        Op::DelDest(k, a, p) => {
            r.push(("service", k.to_string().into()));
            r.push(("addr", sockaddr(a, *p).into()));
        }
        Op::SetTimeouts(x) => {
            r.push(("tcp", x.tcp.into()));
            r.push(("tcpfin", x.tcpfin.into()));
            r.push(("udp", x.udp.into()));
        }
        _ => {}
    }
    r.push(("ipvsadm", command.into()));
    r
}

pub fn timeouts(t: &crate::ipvs::Timeouts) -> Record {
    vec![
        ("tcp", t.tcp.into()),
        ("tcpfin", t.tcpfin.into()),
        ("udp", t.udp.into()),
    ]
}
