//! UDP request/reply check: send a datagram, wait for an answer (matching a pattern if given).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::tcp::io_reason;
use super::{Matcher, Outcome, within};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Udp {
    pub addr: SocketAddr,
    pub send: Vec<u8>,
    pub expect: Option<String>,
    pub timeout: Duration,
}

impl Udp {
    pub async fn run(&self, matcher: &dyn Matcher, started: Instant) -> Outcome {
        within(self.timeout, started, async {
            match self.exchange().await {
                Ok(reply) => match &self.expect {
                    None => Outcome::up(format!("{} bytes", reply.len()), started),
                    Some(p) => match matcher.matches(p, &reply) {
                        Ok(true) => Outcome::up(format!("{} bytes, matched", reply.len()), started),
                        Ok(false) => Outcome::down(format!("reply does not match {p:?}"), started),
                        Err(e) => Outcome::down(format!("expect pattern {p:?}: {e}"), started),
                    },
                },
                Err(e) => Outcome::down(format!("udp {}: {}", self.addr, io_reason(&e)), started),
            }
        })
        .await
    }

    async fn exchange(&self) -> std::io::Result<Vec<u8>> {
        let bind: SocketAddr = if self.addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .map_err(std::io::Error::other)?;
        let sock = tokio::net::UdpSocket::bind(bind).await?;
        // connected: an ICMP port unreachable comes back as ECONNREFUSED on recv
        sock.connect(self.addr).await?;
        sock.send(&self.send).await?;
        let mut buf = vec![0u8; 65536];
        let n = sock.recv(&mut buf).await?;
        buf.truncate(n);
        Ok(buf)
    }
}
