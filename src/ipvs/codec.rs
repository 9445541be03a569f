//! Between the kernel's objects (`types`) and their attribute lists (`nla`).
//! Attribute order follows ipvsadm's, so lvsh's requests match its bytes.

use netlink_packet_core::DecodeError;

use super::consts::*;
use super::nla::{DaemonNla, DestNla, ServiceFlags, ServiceNla, StatsNla};
use super::types::*;

pub fn key_nlas(key: &ServiceKey) -> Vec<ServiceNla> {
    let mut nlas = vec![ServiceNla::Af(key.af().raw())];
    match key {
        ServiceKey::Fwmark { mark, .. } => nlas.push(ServiceNla::Fwmark(*mark)),
        ServiceKey::Addr { proto, addr, port } => {
            nlas.push(ServiceNla::Protocol(proto.raw()));
            nlas.push(ServiceNla::Addr(addr_bytes(addr)));
            nlas.push(ServiceNla::Port(*port));
        }
    }
    nlas
}

/// Everything NEW_SERVICE and SET_SERVICE need.
pub fn service_nlas(svc: &Service) -> Vec<ServiceNla> {
    let mut nlas = key_nlas(&svc.key);
    nlas.push(ServiceNla::SchedName(svc.scheduler.clone()));
    if let Some(pe) = &svc.pe {
        nlas.push(ServiceNla::PeName(pe.clone()));
    }
    nlas.push(ServiceNla::Flags(ServiceFlags {
        flags: svc.flags & !SVC_F_HASHED,
        mask: u32::MAX,
    }));
    nlas.push(ServiceNla::Timeout(svc.timeout));
    let mask = match svc.key.af() {
        Family::Inet => svc.netmask.to_be_bytes(),
        Family::Inet6 => svc.netmask.to_ne_bytes(),
    };
    nlas.push(ServiceNla::Netmask(mask));
    nlas
}

fn missing(what: &str) -> DecodeError {
    DecodeError::from(format!("the kernel's message has no {what}"))
}

pub fn stats_from(nlas: &[StatsNla]) -> Stats {
    let mut s = Stats::default();
    for n in nlas {
        match *n {
            StatsNla::Conns(v) => s.conns = v,
            StatsNla::InPkts(v) => s.inpkts = v,
            StatsNla::OutPkts(v) => s.outpkts = v,
            StatsNla::InBytes(v) => s.inbytes = v,
            StatsNla::OutBytes(v) => s.outbytes = v,
            StatsNla::Cps(v) => s.cps = v,
            StatsNla::InPps(v) => s.inpps = v,
            StatsNla::OutPps(v) => s.outpps = v,
            StatsNla::InBps(v) => s.inbps = v,
            StatsNla::OutBps(v) => s.outbps = v,
            StatsNla::Pad | StatsNla::Other(_) => {}
        }
    }
    s
}

pub fn service_from_nlas(nlas: &[ServiceNla]) -> Result<Service, DecodeError> {
    let (mut af, mut proto, mut addr, mut port, mut fwmark) = (None, IPPROTO_TCP, None, 0, 0);
    let (mut sched, mut flags, mut timeout, mut netmask, mut pe) = (String::new(), 0, 0, [0xff; 4], None);
    let (mut stats32, mut stats64) = (None, None);
    for n in nlas {
        match n {
            ServiceNla::Af(v) => af = Some(*v),
            ServiceNla::Protocol(v) => proto = *v,
            ServiceNla::Addr(a) => addr = Some(a.clone()),
            ServiceNla::Port(p) => port = *p,
            ServiceNla::Fwmark(m) => fwmark = *m,
            ServiceNla::SchedName(s) => sched = s.clone(),
            ServiceNla::Flags(f) => flags = f.flags & f.mask & !SVC_F_HASHED,
            ServiceNla::Timeout(t) => timeout = *t,
            ServiceNla::Netmask(m) => netmask = *m,
            ServiceNla::PeName(p) if !p.is_empty() => pe = Some(p.clone()),
            ServiceNla::Stats(s) => stats32 = Some(stats_from(s)),
            ServiceNla::Stats64(s) => stats64 = Some(stats_from(s)),
            _ => {}
        }
    }
    let af_raw = af.ok_or_else(|| missing("service address family"))?;
    let af = Family::from_raw(af_raw)
        .ok_or_else(|| DecodeError::from(format!("unknown address family {af_raw}")))?;
    let key = if fwmark != 0 {
        ServiceKey::Fwmark { af, mark: fwmark }
    } else {
        let bytes = addr.ok_or_else(|| missing("service address"))?;
        let addr = addr_from_bytes(af, &bytes).ok_or_else(|| missing("complete service address"))?;
        ServiceKey::Addr {
            proto: Protocol::from_raw(proto),
            addr,
            port,
        }
    };
    let netmask = match af {
        Family::Inet => u32::from_be_bytes(netmask),
        Family::Inet6 => u32::from_ne_bytes(netmask),
    };
    Ok(Service {
        key,
        scheduler: sched,
        flags,
        timeout,
        netmask,
        pe,
        stats: stats64.or(stats32).unwrap_or_default().into(),
    })
}

/// Everything NEW_DEST and SET_DEST need.
pub fn dest_nlas(d: &Dest) -> Vec<DestNla> {
    vec![
        DestNla::AddrFamily(Family::of(&d.addr).raw()),
        DestNla::Addr(addr_bytes(&d.addr)),
        DestNla::Port(d.port),
        DestNla::FwdMethod(d.fwd.raw() & CONN_F_FWD_MASK),
        DestNla::Weight(d.weight),
        DestNla::TunType(d.tun_type.raw()),
        DestNla::TunPort(d.tun_port),
        DestNla::TunFlags(d.tun_flags),
        DestNla::UpperThreshold(d.upper),
        DestNla::LowerThreshold(d.lower),
    ]
}

/// What DEL_DEST needs to find a real server.
pub fn dest_key_nlas(addr: &std::net::IpAddr, port: u16) -> Vec<DestNla> {
    vec![
        DestNla::AddrFamily(Family::of(addr).raw()),
        DestNla::Addr(addr_bytes(addr)),
        DestNla::Port(port),
    ]
}

/// `svc_af` is used when the kernel predates IPVS_DEST_ATTR_ADDR_FAMILY (3.18).
pub fn dest_from_nlas(nlas: &[DestNla], svc_af: Family) -> Result<Dest, DecodeError> {
    let mut af = svc_af;
    let mut addr = None;
    let mut d = Dest::new(std::net::IpAddr::from([0, 0, 0, 0]), 0);
    let (mut stats32, mut stats64) = (None, None);
    for n in nlas {
        match n {
            DestNla::AddrFamily(v) => af = Family::from_raw(*v).unwrap_or(svc_af),
            DestNla::Addr(a) => addr = Some(a.clone()),
            DestNla::Port(p) => d.port = *p,
            DestNla::FwdMethod(v) => d.fwd = Forward::from_raw(*v),
            DestNla::Weight(v) => d.weight = *v,
            DestNla::UpperThreshold(v) => d.upper = *v,
            DestNla::LowerThreshold(v) => d.lower = *v,
            DestNla::ActiveConns(v) => d.active = *v,
            DestNla::InactiveConns(v) => d.inactive = *v,
            DestNla::PersistConns(v) => d.persist = *v,
            DestNla::Stats(s) => stats32 = Some(stats_from(s)),
            DestNla::Stats64(s) => stats64 = Some(stats_from(s)),
            DestNla::TunType(v) => d.tun_type = TunType::from_raw(*v),
            DestNla::TunPort(v) => d.tun_port = *v,
            DestNla::TunFlags(v) => d.tun_flags = *v,
            DestNla::Other(_) => {}
        }
    }
    let bytes = addr.ok_or_else(|| missing("real server address"))?;
    d.addr = addr_from_bytes(af, &bytes).ok_or_else(|| missing("complete real server address"))?;
    d.stats = stats64.or(stats32).unwrap_or_default().into();
    Ok(d)
}

pub fn daemon_nlas(d: &Daemon) -> Vec<DaemonNla> {
    let mut nlas = vec![
        DaemonNla::State(d.state.raw()),
        DaemonNla::McastIfn(d.ifname.clone()),
        DaemonNla::SyncId(d.syncid),
    ];
    if d.maxlen != 0 {
        nlas.push(DaemonNla::SyncMaxLen(d.maxlen));
    }
    match d.group {
        Some(std::net::IpAddr::V4(a)) => nlas.push(DaemonNla::McastGroup(a.octets())),
        Some(std::net::IpAddr::V6(a)) => nlas.push(DaemonNla::McastGroup6(a.octets())),
        None => {}
    }
    if d.port != 0 {
        nlas.push(DaemonNla::McastPort(d.port));
    }
    if d.ttl != 0 {
        nlas.push(DaemonNla::McastTtl(d.ttl));
    }
    nlas
}

pub fn daemon_from_nlas(nlas: &[DaemonNla]) -> Result<Daemon, DecodeError> {
    let mut d = Daemon::default();
    let mut state = None;
    for n in nlas {
        match n {
            DaemonNla::State(v) => state = Some(*v),
            DaemonNla::McastIfn(s) => d.ifname = s.clone(),
            DaemonNla::SyncId(v) => d.syncid = *v,
            DaemonNla::SyncMaxLen(v) => d.maxlen = *v,
            DaemonNla::McastGroup(a) if *a != [0; 4] => d.group = Some((*a).into()),
            DaemonNla::McastGroup6(a) if *a != [0; 16] => d.group = Some((*a).into()),
            DaemonNla::McastPort(v) => d.port = *v,
            DaemonNla::McastTtl(v) => d.ttl = *v,
            _ => {}
        }
    }
    d.state = match state {
        Some(STATE_MASTER) => DaemonState::Master,
        Some(STATE_BACKUP) => DaemonState::Backup,
        other => return Err(DecodeError::from(format!("unknown sync daemon state {other:?}"))),
    };
    Ok(d)
}
