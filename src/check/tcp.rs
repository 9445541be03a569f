//! TCP connect check: the server is up when it completes the handshake in time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Outcome, within};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tcp {
    pub addr: SocketAddr,
    pub timeout: Duration,
}

impl Tcp {
    pub async fn run(&self, started: Instant) -> Outcome {
        within(self.timeout, started, async {
            match tokio::net::TcpStream::connect(self.addr).await {
                Ok(stream) => {
                    // No lingering FIN_WAIT state on the server for a probe: reset at close.
                    let off = nix::libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    };
                    let _ = nix::sys::socket::setsockopt(&stream, nix::sys::socket::sockopt::Linger, &off);
                    Outcome::up("connected", started)
                }
                Err(e) => Outcome::down(format!("connect {}: {}", self.addr, io_reason(&e)), started),
            }
        })
        .await
    }
}

/// The OS error without Rust's "(os error N)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    }
}
