//! ICMP echo check, keepalived's PING_CHECK: one echo request, up when its reply comes back.
//!
//! The socket is an ICMP datagram socket where the host allows one (net.ipv4.ping_group_range
//! includes lvsh's group): the kernel then picks the identifier and hands this socket only
//! its own replies. Otherwise (Debian's default range allows no group) a raw socket, which
//! root may open and which sees every ICMP packet, so replies are told apart by identifier,
//! sequence and source.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrStorage};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::{Outcome, within};

/// What the request carries after its header, as ping sends 56 bytes.
const PAYLOAD: usize = 56;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ping {
    pub addr: SocketAddr,
    pub timeout: Duration,
}

impl Ping {
    pub async fn run(&self, started: Instant) -> Outcome {
        within(self.timeout, started, async {
            match echo(self.addr.ip()).await {
                Ok(()) => Outcome::up("echo reply", started),
                Err(e) => Outcome::down(
                    format!("ping {}: {}", self.addr.ip(), e.desc().to_lowercase()),
                    started,
                ),
            }
        })
        .await
    }
}

/// The ICMP types of an echo request and reply in `ip`'s family.
fn types(ip: IpAddr) -> (u8, u8) {
    match ip {
        IpAddr::V4(_) => (8, 0),
        IpAddr::V6(_) => (128, 129),
    }
}

/// An echo request: type, code 0, checksum, identifier, sequence, payload. The checksum is
/// the kernel's for ICMPv6 (it covers a pseudo-header) and for datagram sockets, which
/// rewrite the identifier; a raw IPv4 socket sends what it is given.
pub fn request(ip: IpAddr, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![types(ip).0, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend((0..PAYLOAD).map(|i| i as u8));
    if ip.is_ipv4() {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether `packet` from `from` is the reply to our request. A raw IPv4 socket gives the IP
/// header too; a datagram socket's identifier is the kernel's, and only ours arrive there.
pub fn is_reply(ip: IpAddr, packet: &[u8], raw: bool, id: u16, seq: u16) -> bool {
    let icmp = match (ip, raw) {
        (IpAddr::V4(_), true) => {
            let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
            packet.get(ihl..).unwrap_or_default()
        }
        _ => packet,
    };
    if icmp.len() < 8 || icmp[0] != types(ip).1 || icmp[1] != 0 {
        return false;
    }
    let same_seq = icmp[6..8] == seq.to_be_bytes();
    same_seq && (!raw || icmp[4..6] == id.to_be_bytes())
}

fn open(ip: IpAddr) -> Result<(OwnedFd, bool), Errno> {
    let (family, proto) = match ip {
        IpAddr::V4(_) => (AddressFamily::Inet, SockProtocol::Icmp),
        IpAddr::V6(_) => (AddressFamily::Inet6, SockProtocol::IcmpV6),
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    match socket::socket(family, SockType::Datagram, flags, proto) {
        Ok(fd) => Ok((fd, false)),
        Err(Errno::EACCES | Errno::EPERM) => Ok((socket::socket(family, SockType::Raw, flags, proto)?, true)),
        Err(e) => Err(e),
    }
}

async fn echo(ip: IpAddr) -> Result<(), Errno> {
    static SEQ: AtomicU16 = AtomicU16::new(1);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let id = (std::process::id() as u16) ^ 0x4c56;
    let (fd, raw) = open(ip)?;
    let to = SockaddrStorage::from(SocketAddr::new(ip, 0));
    // SAFETY: the AsyncFd owns the OwnedFd, which stays open and the same descriptor until
    // the AsyncFd is dropped.
    let afd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
        .map_err(|e| io_errno(&e.into()))?;
    socket::sendto(
        afd.get_ref().as_raw_fd(),
        &request(ip, id, seq),
        &to,
        MsgFlags::empty(),
    )?;
    let mut buf = [0u8; 1500];
    loop {
        let mut guard = afd.readable().await.map_err(|e| io_errno(&e))?;
        match socket::recvfrom::<SockaddrStorage>(guard.get_inner().as_raw_fd(), &mut buf) {
            Ok((n, from)) => {
                let from_ip = from.and_then(|f| {
                    f.as_sockaddr_in()
                        .map(|a| IpAddr::V4(a.ip()))
                        .or_else(|| f.as_sockaddr_in6().map(|a| IpAddr::V6(a.ip())))
                });
                if from_ip == Some(ip) && is_reply(ip, &buf[..n], raw, id, seq) {
                    return Ok(());
                }
            }
            Err(Errno::EAGAIN) => guard.clear_ready(),
            Err(e) => return Err(e),
        }
    }
}

fn io_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_a_valid_checksum() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let p = request(ip, 0x1234, 7);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(p.len(), 8 + PAYLOAD);
        // summing a packet with its checksum in gives zero
        assert_eq!(checksum(&p), 0);
        // RFC 1071's example words
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        let v6 = request("2001:db8::1".parse().unwrap(), 1, 2);
        assert_eq!(&v6[..4], &[128, 0, 0, 0]);
    }

    #[test]
    fn replies_are_told_apart() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut reply = request(ip, 9, 3);
        reply[0] = 0;
        assert!(
            is_reply(ip, &reply, false, 0, 3),
            "a datagram socket's identifier is the kernel's"
        );
        assert!(!is_reply(ip, &reply, false, 0, 4));
        let mut with_header = vec![0x45; 1];
        with_header.extend([0u8; 19]);
        with_header.extend(&reply);
        assert!(is_reply(ip, &with_header, true, 9, 3));
        assert!(!is_reply(ip, &with_header, true, 8, 3), "someone else's ping");
        assert!(
            !is_reply(ip, &request(ip, 9, 3), false, 9, 3),
            "a request is not a reply"
        );
        assert!(!is_reply(ip, &[0, 0], false, 9, 3));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let mut r6 = request(v6, 9, 3);
        r6[0] = 129;
        assert!(is_reply(v6, &r6, true, 9, 3));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn loopback_answers_or_the_socket_is_refused_clearly() {
        let c = Ping {
            addr: "127.0.0.1:0".parse().unwrap(),
            timeout: Duration::from_secs(2),
        };
        let o = c.run(Instant::now()).await;
        // an unprivileged test run may be allowed neither kind of socket
        assert!(
            o.ok || o.detail.contains("not permitted") || o.detail.contains("permission"),
            "{o:?}"
        );
    }
}
