//! Benchmark helper (not part of lvsh): real servers for the checker benchmarks.
//!
//!   listeners FIRST COUNT FILE [ADDR] [http]
//!     TCP listeners on ADDR (127.0.0.1) ports FIRST..FIRST+COUNT that accept and close (or,
//!     with `http`, answer one HTTP/1.x request with 200 and close). Every 250 ms it writes
//!     how many connections it has accepted to FILE.
//!   listeners syns FILE INTERVAL_MS
//!     Counts the TCP SYNs arriving on the namespace's loopback (a connect check that never
//!     completes its handshake is seen by no accept) and, per target, how late each probe
//!     came after the one before it against the interval. Every 250 ms it writes to FILE
//!     "SYNS N P50_MS P99_MS MAX_MS" (lateness of the probes since the last SIGUSR1).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("syns") {
        match (args.get(2), args.get(3).and_then(|s| s.parse::<u64>().ok())) {
            (Some(file), Some(ms)) => return syns(file.clone(), ms),
            _ => usage(),
        }
    }
    let (first, count, file) = match (args.get(1), args.get(2), args.get(3)) {
        (Some(f), Some(c), Some(p)) => (f.parse::<u16>().unwrap(), c.parse::<u16>().unwrap(), p.clone()),
        _ => usage(),
    };
    let addr: std::net::IpAddr = args.get(4).map_or("127.0.0.1", |s| s.as_str()).parse().unwrap();
    let http = args.get(5).map(String::as_str) == Some("http");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    rt.block_on(async move {
        for port in first..first + count {
            let l = tokio::net::TcpListener::bind((addr, port)).await.unwrap();
            let n = accepted.clone();
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    n.fetch_add(1, Ordering::Relaxed);
                    if http {
                        tokio::spawn(answer(s));
                    }
                }
            });
        }
        loop {
            if !write(&file, &accepted.load(Ordering::Relaxed).to_string()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
}

fn usage() -> ! {
    eprintln!("usage: listeners FIRST COUNT FILE [ADDR] [http] | listeners syns FILE INTERVAL_MS");
    std::process::exit(2);
}

/// Writes `text` to `file` atomically; false when the benchmark removed its directory.
fn write(file: &str, text: &str) -> bool {
    let tmp = format!("{file}.tmp");
    std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, file).is_ok()
}

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

/// Reads a request's head (bounded), answers 200 and closes.
async fn answer(mut s: tokio::net::TcpStream) {
    let mut buf = [0u8; 2048];
    let mut have = 0;
    let complete = loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf[have..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break false,
            Ok(Ok(n)) => have += n,
        }
        if buf[..have].windows(4).any(|w| w == b"\r\n\r\n") {
            break true;
        }
        if have == buf.len() {
            break false;
        }
    };
    if complete {
        let _ = s.write_all(RESPONSE).await;
    }
}

/// Classic BPF on an IPv4 packet: TCP, not a fragment, SYN without ACK.
fn syn_filter() -> Vec<nix::libc::sock_filter> {
    let op = |code: u16, jt: u8, jf: u8, k: u32| nix::libc::sock_filter { code, jt, jf, k };
    vec![
        op(0x30, 0, 0, 0),      // ldb [0]
        op(0x54, 0, 0, 0xf0),   // and #0xf0
        op(0x15, 0, 8, 0x40),   // jeq #0x40 (IPv4) else drop
        op(0x30, 0, 0, 9),      // ldb [9]
        op(0x15, 0, 6, 6),      // jeq #6 (TCP) else drop
        op(0x28, 0, 0, 6),      // ldh [6]
        op(0x45, 4, 0, 0x1fff), // jset #0x1fff (a fragment) drop
        op(0xb1, 0, 0, 0),      // ldxb 4*([0]&0xf)
        op(0x50, 0, 0, 13),     // ldb [x+13]: TCP flags
        op(0x54, 0, 0, 0x12),   // and #(SYN|ACK)
        op(0x15, 0, 1, 0x02),   // jeq #SYN
        op(0x06, 0, 0, 64),     // ret #64
        op(0x06, 0, 0, 0),      // ret #0
    ]
}

/// Lateness samples (µs) since the last reset, and the SYNs counted since start.
#[derive(Default)]
struct Seen {
    syns: u64,
    late: Vec<u32>,
}

fn syns(file: String, interval_ms: u64) {
    use nix::libc;
    let seen = Arc::new(Mutex::new(Seen::default()));
    // SAFETY: plain socket calls on a descriptor this function owns; the filter outlives the
    // setsockopt that copies it.
    let fd = unsafe {
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM,
            (libc::ETH_P_IP as u16).to_be() as i32,
        );
        assert!(fd >= 0, "packet socket: {}", std::io::Error::last_os_error());
        let prog = syn_filter();
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut _,
        };
        let r = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &fprog as *const _ as *const libc::c_void,
            std::mem::size_of_val(&fprog) as u32,
        );
        assert!(r == 0, "filter: {}", std::io::Error::last_os_error());
        let one: libc::c_int = 1;
        // a looped-back packet passes the tap twice: going out and coming in
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            23, /* PACKET_IGNORE_OUTGOING */
            &one as *const _ as *const _,
            4,
        );
        let lo = libc::if_nametoindex(c"lo".as_ptr());
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_IP as u16).to_be();
        sll.sll_ifindex = lo as i32;
        let r = libc::bind(
            fd,
            &sll as *const _ as *const libc::sockaddr,
            std::mem::size_of_val(&sll) as u32,
        );
        assert!(r == 0, "bind: {}", std::io::Error::last_os_error());
        let mut size: libc::c_int = 8 << 20;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &mut size as *mut _ as *const _,
            4,
        );
        fd
    };
    let reset = Arc::new(std::sync::atomic::AtomicBool::new(false));
    on_usr1(reset.clone());
    {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut last: HashMap<u64, u64> = HashMap::new();
            let interval_us = interval_ms * 1000;
            let mut pkt = [0u8; 64];
            loop {
                let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
                let mut len = std::mem::size_of_val(&from) as u32;
                // SAFETY: the buffers are this frame's and sized as told.
                let n = unsafe {
                    libc::recvfrom(
                        fd,
                        pkt.as_mut_ptr() as *mut _,
                        pkt.len(),
                        0,
                        &mut from as *mut _ as *mut libc::sockaddr,
                        &mut len,
                    )
                };
                if n < 24 || from.sll_pkttype == libc::PACKET_OUTGOING {
                    continue;
                }
                // when the packet arrived, not when this thread got to it
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: SIOCGSTAMPNS fills a timespec.
                let now = if unsafe { libc::ioctl(fd, 0x8907, &mut ts) } == 0 {
                    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
                } else {
                    now_us()
                };
                let ihl = ((pkt[0] & 0xf) as usize) * 4;
                if (n as usize) < ihl + 4 {
                    continue;
                }
                let dst = u32::from_be_bytes([pkt[16], pkt[17], pkt[18], pkt[19]]) as u64;
                let port = u16::from_be_bytes([pkt[ihl + 2], pkt[ihl + 3]]) as u64;
                let key = dst << 16 | port;
                let prev = last.insert(key, now);
                let mut s = seen.lock().unwrap();
                s.syns += 1;
                if let Some(p) = prev {
                    let late = now.saturating_sub(p).saturating_sub(interval_us);
                    s.late.push(late.min(u32::MAX as u64) as u32);
                }
            }
        });
    }
    loop {
        if reset.swap(false, Ordering::Relaxed) {
            seen.lock().unwrap().late.clear();
        }
        let line = {
            let s = seen.lock().unwrap();
            let mut l = s.late.clone();
            l.sort_unstable();
            let q = |f: f64| {
                if l.is_empty() {
                    0.0
                } else {
                    l[((l.len() - 1) as f64 * f) as usize] as f64 / 1000.0
                }
            };
            format!(
                "{} {} {:.1} {:.1} {:.1}",
                s.syns,
                l.len(),
                q(0.5),
                q(0.99),
                q(1.0)
            )
        };
        if !write(&file, &line) {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn now_us() -> u64 {
    let mut ts = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { nix::libc::clock_gettime(nix::libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// SIGUSR1 sets `flag`: the benchmark's measuring window starts.
fn on_usr1(flag: Arc<std::sync::atomic::AtomicBool>) {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        signal_hook_registry::register(nix::libc::SIGUSR1, move || flag.store(true, Ordering::Relaxed))
            .unwrap();
    }
}
