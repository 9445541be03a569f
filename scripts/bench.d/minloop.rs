//! Benchmark helper (not part of lvsh): the least a checker can do, as the physical limit of
//! the kernel's TCP work. One thread, one epoll set; every target probed once per interval at
//! a fixed offset; per probe one non-blocking connect and a reset close, and for `http` one
//! GET read to its end. No timeouts, no results kept: nothing but the probes.
//!
//!   minloop MODE INTERVAL_MS ADDR:FIRST:COUNT...
//!     MODE: `half` (TCP_QUICKACK off: the SYN-ACK is never acknowledged, as HAProxy's connect
//!     check does), `full` (the handshake completes), `http` (GET / HTTP/1.0).

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use nix::libc;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Half,
    Full,
    Http,
}

const REQUEST: &[u8] = b"GET / HTTP/1.0\r\nUser-Agent: minloop\r\n\r\n";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = match args.get(1).map(String::as_str) {
        Some("half") => Mode::Half,
        Some("full") => Mode::Full,
        Some("http") => Mode::Http,
        _ => usage(),
    };
    let interval = Duration::from_millis(
        args.get(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| usage()),
    );
    let mut targets: Vec<libc::sockaddr_in> = Vec::new();
    for spec in &args[3..] {
        let p: Vec<&str> = spec.split(':').collect();
        let (Some(a), Some(f), Some(c)) = (p.first(), p.get(1), p.get(2)) else {
            usage()
        };
        let ip: std::net::Ipv4Addr = a.parse().unwrap_or_else(|_| usage());
        let (first, count): (u16, u16) = (f.parse().unwrap(), c.parse().unwrap());
        for port in first..first + count {
            targets.push(libc::sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(ip).to_be(),
                },
                sin_zero: [0; 8],
            });
        }
    }
    if targets.is_empty() {
        usage();
    }
    // SAFETY: plain system calls on descriptors this loop owns.
    unsafe { run(mode, interval, &targets) }
}

fn usage() -> ! {
    eprintln!("usage: minloop half|full|http INTERVAL_MS ADDR:FIRST:COUNT...");
    std::process::exit(2);
}

unsafe fn run(mode: Mode, interval: Duration, targets: &[libc::sockaddr_in]) -> ! {
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        let n = targets.len();
        let step = interval / n as u32;
        let start = Instant::now();
        let mut cursor = 0usize;
        let mut round = 0u32;
        // bytes of the answer read so far, by descriptor (only `http` reads)
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let mut buf = [0u8; 4096];
        loop {
            let now = Instant::now();
            let mut due = start + interval * round + step * cursor as u32;
            while due <= now {
                probe(ep, mode, &targets[cursor]);
                cursor += 1;
                if cursor == n {
                    cursor = 0;
                    round += 1;
                }
                due = start + interval * round + step * cursor as u32;
            }
            let wait = due.saturating_duration_since(Instant::now());
            let ms = (wait.as_micros().div_ceil(1000)) as i32;
            let got = libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, ms);
            for e in events.iter().take(got.max(0) as usize) {
                let fd = e.u64 as RawFd;
                let bad = e.events & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
                if mode != Mode::Http || bad {
                    libc::close(fd);
                    continue;
                }
                if e.events & libc::EPOLLOUT as u32 != 0 {
                    libc::write(fd, REQUEST.as_ptr() as *const _, REQUEST.len());
                    let mut ev = libc::epoll_event {
                        events: libc::EPOLLIN as u32,
                        u64: fd as u64,
                    };
                    libc::epoll_ctl(ep, libc::EPOLL_CTL_MOD, fd, &mut ev);
                    continue;
                }
                // the answer is a few bytes; the listener closes after it
                let r = libc::read(fd, buf.as_mut_ptr() as *mut _, buf.len());
                if r <= 0 || buf[..r as usize].starts_with(b"HTTP/1.1 200") {
                    libc::close(fd);
                }
            }
        }
    }
}

unsafe fn probe(ep: RawFd, mode: Mode, to: &libc::sockaddr_in) {
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return;
        }
        let reset = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &reset as *const _ as *const _,
            8,
        );
        if mode == Mode::Half {
            let zero: libc::c_int = 0;
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                &zero as *const _ as *const _,
                4,
            );
        }
        let r = libc::connect(fd, to as *const _ as *const libc::sockaddr, 16);
        if r < 0 && *libc::__errno_location() != libc::EINPROGRESS {
            libc::close(fd);
            return;
        }
        let mut ev = libc::epoll_event {
            events: libc::EPOLLOUT as u32,
            u64: fd as u64,
        };
        libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev);
    }
}
