//! Links and addresses over rtnetlink: what `ip link` and `ip addr` do, for the VIP aliases
//! and tunnel devices that LVS setups need.

use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkBuffer, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoData, InfoIpTunnel, InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::libc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub up: bool,
    pub kind: Option<String>,
    pub mtu: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub dev: String,
    pub addr: IpAddr,
    pub prefix: u8,
    pub label: Option<String>,
    pub scope: String,
}

type Msg = NetlinkMessage<RouteNetlinkMessage>;

pub struct Rtnl {
    sock: Socket,
    seq: u32,
}

fn errno_text(errno: i32) -> String {
    nix::errno::Errno::from_raw(errno).desc().to_string()
}

impl Rtnl {
    pub fn new() -> Result<Rtnl, HostError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| HostError(format!("rtnetlink: {e}")))?;
        sock.bind_auto()
            .map_err(|e| HostError(format!("rtnetlink: {e}")))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| HostError(format!("rtnetlink: {e}")))?;
        Ok(Rtnl { sock, seq: 0 })
    }

    /// Sends a request and collects replies until the ack or the end of the dump. A refusal
    /// comes back as its errno, for the caller to word.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Result<Vec<RouteNetlinkMessage>, i32>, HostError> {
        self.seq += 1;
        let mut nl = NetlinkMessage::from(msg);
        nl.header.flags = NLM_F_REQUEST | flags;
        nl.header.sequence_number = self.seq;
        nl.finalize();
        let mut buf = vec![0; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock
            .send(&buf, 0)
            .map_err(|e| HostError(format!("rtnetlink: {e}")))?;
        let mut out = Vec::new();
        let mut rx = Vec::with_capacity(64 * 1024);
        loop {
            rx.clear();
            self.sock
                .recv(&mut rx, 0)
                .map_err(|e| HostError(format!("rtnetlink: {e}")))?;
            let mut data = &rx[..];
            while data.len() >= 16 {
                let len = NetlinkBuffer::new_checked(data)
                    .map_err(|e| HostError(e.to_string()))?
                    .length() as usize;
                let m =
                    Msg::deserialize(&data[..len]).map_err(|e| HostError(format!("rtnetlink reply: {e}")))?;
                data = data.get((len + 3) & !3..).unwrap_or(&[]);
                if m.header.sequence_number != self.seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::InnerMessage(inner) => out.push(inner),
                    NetlinkPayload::Done(_) => return Ok(Ok(out)),
                    NetlinkPayload::Error(e) => {
                        return Ok(match e.code {
                            None => Ok(out),
                            Some(c) => Err(-c.get()),
                        });
                    }
                    _ => {}
                }
            }
        }
    }

    pub fn links(&mut self) -> Result<Vec<Link>, HostError> {
        let replies = self
            .request(RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP)?
            .map_err(|e| HostError(format!("cannot list links: {}", errno_text(e))))?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(&l)),
                _ => None,
            })
            .collect())
    }

    pub fn index(&mut self, dev: &str) -> Result<u32, HostError> {
        self.links()?
            .into_iter()
            .find(|l| l.name == dev)
            .map(|l| l.index)
            .ok_or_else(|| HostError(format!("no such device '{dev}'")))
    }

    /// Brings a link up (or down); false if it was so already.
    pub fn set_up(&mut self, dev: &str, up: bool) -> Result<bool, HostError> {
        let link = self
            .links()?
            .into_iter()
            .find(|l| l.name == dev)
            .ok_or_else(|| HostError(format!("no such device '{dev}'")))?;
        if link.up == up {
            return Ok(false);
        }
        let mut m = LinkMessage::default();
        m.header.index = link.index;
        m.header.flags = if up { LinkFlags::Up } else { LinkFlags::empty() };
        m.header.change_mask = LinkFlags::Up;
        let state = if up { "up" } else { "down" };
        self.request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK)?
            .map_err(|e| HostError(format!("cannot bring {dev} {state}: {}", errno_text(e))))?;
        Ok(true)
    }

    pub fn addrs(&mut self, dev: Option<&str>) -> Result<Vec<Addr>, HostError> {
        let links = self.links()?;
        let name = |i: u32| {
            links
                .iter()
                .find(|l| l.index == i)
                .map(|l| l.name.clone())
                .unwrap_or_default()
        };
        if let Some(d) = dev
            && !links.iter().any(|l| l.name == d)
        {
            return Err(HostError(format!("no such device '{d}'")));
        }
        let replies = self
            .request(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                NLM_F_DUMP,
            )?
            .map_err(|e| HostError(format!("cannot list addresses: {}", errno_text(e))))?;
        let mut out = Vec::new();
        for m in replies {
            let RouteNetlinkMessage::NewAddress(a) = m else {
                continue;
            };
            let dev_name = name(a.header.index);
            if dev.is_some_and(|d| d != dev_name) {
                continue;
            }
            let mut addr = None;
            let mut label = None;
            for attr in &a.attributes {
                match attr {
                    AddressAttribute::Local(ip) => addr = Some(*ip),
                    AddressAttribute::Address(ip) if addr.is_none() => addr = Some(*ip),
                    AddressAttribute::Label(l) => label = Some(l.clone()),
                    _ => {}
                }
            }
            if let Some(addr) = addr {
                let scope = match a.header.scope {
                    AddressScope::Universe => "global".to_string(),
                    AddressScope::Site => "site".into(),
                    AddressScope::Link => "link".into(),
                    AddressScope::Host => "host".into(),
                    AddressScope::Nowhere => "nowhere".into(),
                    other => u8::from(other).to_string(),
                };
                out.push(Addr {
                    dev: dev_name,
                    addr,
                    prefix: a.header.prefix_len,
                    label,
                    scope,
                });
            }
        }
        Ok(out)
    }

    fn addr_message(
        &mut self,
        dev: &str,
        addr: IpAddr,
        prefix: u8,
        label: Option<&str>,
    ) -> Result<AddressMessage, HostError> {
        let index = self.index(dev)?;
        let mut m = AddressMessage::default();
        m.header.family = if addr.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.header.scope = if addr.is_loopback() {
            AddressScope::Host
        } else {
            AddressScope::Universe
        };
        m.attributes.push(AddressAttribute::Local(addr));
        if addr.is_ipv4() {
            m.attributes.push(AddressAttribute::Address(addr));
        }
        if let Some(l) = label {
            m.attributes.push(AddressAttribute::Label(l.to_string()));
        }
        Ok(m)
    }

    /// Adds an address; false if the device has it already.
    pub fn add_addr(
        &mut self,
        dev: &str,
        addr: IpAddr,
        prefix: u8,
        label: Option<&str>,
    ) -> Result<bool, HostError> {
        if let Some(l) = label {
            check_label(dev, l)?;
        }
        let m = self.addr_message(dev, addr, prefix, label)?;
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )? {
            Ok(_) => Ok(true),
            Err(libc::EEXIST) => Ok(false),
            Err(libc::EPERM) => Err(HostError(format!(
                "cannot add {addr}/{prefix} to {dev}: permission denied (run as root)"
            ))),
            Err(e) => Err(HostError(format!(
                "cannot add {addr}/{prefix} to {dev}: {}",
                errno_text(e)
            ))),
        }
    }

    /// Deletes an address; false if the device did not have it.
    pub fn del_addr(&mut self, dev: &str, addr: IpAddr, prefix: u8) -> Result<bool, HostError> {
        let m = self.addr_message(dev, addr, prefix, None)?;
        match self.request(RouteNetlinkMessage::DelAddress(m), NLM_F_ACK)? {
            Ok(_) => Ok(true),
            Err(libc::EADDRNOTAVAIL) | Err(libc::ENOENT) => Ok(false),
            Err(libc::EPERM) => Err(HostError(format!(
                "cannot delete {addr}/{prefix} from {dev}: permission denied (run as root)"
            ))),
            Err(e) => Err(HostError(format!(
                "cannot delete {addr}/{prefix} from {dev}: {}",
                errno_text(e)
            ))),
        }
    }

    /// Creates an ipip tunnel device (for LVS-TUN real servers); false if it exists.
    pub fn add_ipip(
        &mut self,
        name: &str,
        local: Option<IpAddr>,
        remote: Option<IpAddr>,
    ) -> Result<bool, HostError> {
        check_ifname(name)?;
        if self.links()?.iter().any(|l| l.name == name) {
            return Ok(false);
        }
        let mut data = Vec::new();
        if let Some(l) = local {
            data.push(InfoIpTunnel::Local(l));
        }
        if let Some(r) = remote {
            data.push(InfoIpTunnel::Remote(r));
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        let mut info = vec![LinkInfo::Kind(InfoKind::IpIp)];
        if !data.is_empty() {
            info.push(LinkInfo::Data(InfoData::IpTunnel(data)));
        }
        m.attributes.push(LinkAttribute::LinkInfo(info));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )?
        .map_err(|e| HostError(format!("cannot create ipip device {name}: {}", errno_text(e))))?;
        Ok(true)
    }

    /// Deletes a link; false if there is none by that name.
    pub fn del_link(&mut self, name: &str) -> Result<bool, HostError> {
        let Some(link) = self.links()?.into_iter().find(|l| l.name == name) else {
            return Ok(false);
        };
        let mut m = LinkMessage::default();
        m.header.index = link.index;
        self.request(RouteNetlinkMessage::DelLink(m), NLM_F_ACK)?
            .map_err(|e| HostError(format!("cannot delete {name}: {}", errno_text(e))))?;
        Ok(true)
    }
}

fn link_of(l: &LinkMessage) -> Link {
    let mut out = Link {
        index: l.header.index,
        name: String::new(),
        up: l.header.flags.contains(LinkFlags::Up),
        kind: None,
        mtu: 0,
    };
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => out.name = n.clone(),
            LinkAttribute::Mtu(m) => out.mtu = *m,
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        out.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The kernel's rule for an interface name (IFNAMSIZ is 16 with the NUL), checked before a
/// message is built: the netlink encoder does not expect longer ones.
pub fn check_ifname(name: &str) -> Result<(), HostError> {
    let ok = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    if ok {
        return Ok(());
    }
    let shown: String = name.chars().take(20).collect();
    let more = if shown.len() < name.len() { "..." } else { "" };
    Err(HostError(format!(
        "name: {shown:?}{more} ({} bytes) is not an interface name (1 to 15 bytes, no '/', ':' or spaces)",
        name.len()
    )))
}

/// An address label is the device's name or an alias of it (eth0:1), as the kernel wants.
pub fn check_label(dev: &str, l: &str) -> Result<(), HostError> {
    let ok = l == dev || l.strip_prefix(dev).is_some_and(|r| r.starts_with(':'));
    if !ok || l.len() > 15 {
        return Err(HostError(format!(
            "label '{l}' must be the device name or start with '{dev}:' (at most 15 characters)"
        )));
    }
    Ok(())
}

/// "192.0.2.110/24" or "2001:db8::1/64"; a bare address is /32 or /128.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some((addr, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked_before_any_message_is_built() {
        for good in ["tunl1", "eth0", "a", "x23456789012345"] {
            assert!(check_ifname(good).is_ok(), "{good}");
        }
        let long = "x".repeat(70000);
        let e = check_ifname(&long).unwrap_err().0;
        assert!(
            e.starts_with("name: \"xxxxxxxxxxxxxxxxxxxx\"... (70000 bytes) is not an interface name"),
            "{e}"
        );
        for bad in ["", "x234567890123456", "a/b", "eth0:1", "a b", ".."] {
            assert!(check_ifname(bad).is_err(), "{bad:?}");
        }
    }
}
