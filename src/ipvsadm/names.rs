//! Host and service names, looked up the way ipvsadm looks them up (the C library's resolver,
//! so /etc/hosts, /etc/services and whatever nsswitch says), for listings without -n.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use nix::libc;

use crate::ipvs::Protocol;

fn proto_name(p: Protocol) -> Option<&'static CStr> {
    match p {
        Protocol::Tcp => Some(c"tcp"),
        Protocol::Udp => Some(c"udp"),
        Protocol::Sctp => Some(c"sctp"),
        Protocol::Other(_) => None,
    }
}

/// An IPv4 address for a host name (the first one), as gethostbyname gives it.
pub fn host_to_v4(name: &str) -> Option<Ipv4Addr> {
    use std::net::ToSocketAddrs;
    // Unit tests feed the parsers random words: none may become a DNS query from the host.
    if cfg!(test) && name != "localhost" {
        return None;
    }
    (name, 0).to_socket_addrs().ok()?.find_map(|a| match a {
        SocketAddr::V4(v4) => Some(*v4.ip()),
        SocketAddr::V6(_) => None,
    })
}

pub fn service_to_port(name: &str, proto: Protocol) -> Option<u16> {
    let p = proto_name(proto)?;
    let n = CString::new(name).ok()?;
    // SAFETY: both arguments are NUL-terminated; the result points to static storage that we
    // read at once. lvsh runs these lookups on one thread at a time.
    unsafe {
        let s = libc::getservbyname(n.as_ptr(), p.as_ptr());
        (!s.is_null()).then(|| u16::from_be((*s).s_port as u16))
    }
}

pub fn port_to_service(port: u16, proto: Protocol) -> Option<String> {
    let p = proto_name(proto)?;
    // SAFETY: as in service_to_port.
    unsafe {
        let s = libc::getservbyport(i32::from(port.to_be()), p.as_ptr());
        (!s.is_null()).then(|| CStr::from_ptr((*s).s_name).to_string_lossy().into_owned())
    }
}

pub fn addr_to_host(addr: &IpAddr) -> Option<String> {
    let sa: SocketAddr = (*addr, 0).into();
    let (storage, len) = match sa {
        SocketAddr::V4(v4) => {
            let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            // SAFETY: sockaddr_storage is large enough for sockaddr_in.
            unsafe { std::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in, s) };
            (st, std::mem::size_of::<libc::sockaddr_in>())
        }
        SocketAddr::V6(v6) => {
            let mut s: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            s.sin6_addr.s6_addr = v6.ip().octets();
            let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            // SAFETY: sockaddr_storage is large enough for sockaddr_in6.
            unsafe { std::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in6, s) };
            (st, std::mem::size_of::<libc::sockaddr_in6>())
        }
    };
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: the buffers are valid for the lengths given.
    let rc = unsafe {
        libc::getnameinfo(
            &storage as *const _ as *const libc::sockaddr,
            len as libc::socklen_t,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    (rc == 0).then(|| {
        unsafe { CStr::from_ptr(host.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    })
}
