//! UDP request/reply check: send a datagram, wait for an answer and judge it: a Lua pattern
//! (`expect`), a byte prefix with wildcards (`expect_hex`, keepalived's require_reply) and a
//! length range. With `silence_ok`, no answer in time counts as up and only an ICMP error
//! (port unreachable comes back on the connected socket as ECONNREFUSED) as down, which is
//! keepalived's UDP_CHECK without require_reply.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::tcp::io_reason;
use super::{Matcher, Outcome};

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Reply {
    /// A Lua pattern the reply must match.
    pub expect: Option<String>,
    /// Bytes the reply must begin with, and which bits of them count (keepalived compares
    /// the first min(reply, pattern) bytes).
    pub prefix: Option<(Vec<u8>, Vec<u8>)>,
    pub min_len: Option<usize>,
    pub max_len: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Udp {
    pub addr: SocketAddr,
    pub send: Vec<u8>,
    pub reply: Reply,
    pub silence_ok: bool,
    pub timeout: Duration,
}

impl Udp {
    pub async fn run(&self, matcher: &dyn Matcher, started: Instant) -> Outcome {
        let deadline = tokio::time::Instant::from_std(started + self.timeout);
        match tokio::time::timeout_at(deadline, self.exchange()).await {
            Err(_) if self.silence_ok => Outcome::up("no reply, no ICMP error", started),
            Err(_) => Outcome::down(format!("timed out after {}", super::secs(self.timeout)), started),
            Ok(Ok(reply)) => match self.reply.judge(&reply, matcher) {
                Ok(how) => Outcome::up(format!("{} bytes{how}", reply.len()), started),
                Err(why) => Outcome::down(why, started),
            },
            Ok(Err(e)) => Outcome::down(format!("udp {}: {}", self.addr, io_reason(&e)), started),
        }
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

impl Reply {
    /// Why `reply` fails, or what it passed.
    pub fn judge(&self, reply: &[u8], matcher: &dyn Matcher) -> Result<&'static str, String> {
        let n = reply.len();
        if let Some(min) = self.min_len.filter(|&m| n < m) {
            return Err(format!("reply of {n} bytes, want at least {min}"));
        }
        if let Some(max) = self.max_len.filter(|&m| n > m) {
            return Err(format!("reply of {n} bytes, want at most {max}"));
        }
        if let Some((want, mask)) = &self.prefix {
            let differs = reply
                .iter()
                .zip(want.iter().zip(mask))
                .position(|(got, (w, m))| got & m != w & m);
            if let Some(i) = differs {
                return Err(format!(
                    "reply byte {i} is {:02x}, want {:02x}",
                    reply[i], want[i]
                ));
            }
        }
        match &self.expect {
            None => Ok(""),
            Some(p) => match matcher.matches(p, reply) {
                Ok(true) => Ok(", matched"),
                Ok(false) => Err(format!("reply does not match {p:?}")),
                Err(e) => Err(format!("expect pattern {p:?}: {e}")),
            },
        }
    }
}

/// `expect_hex` as a caller gives it: pairs of hex digits, `x` a digit that may be anything,
/// spaces between bytes ignored. The bytes and their masks.
pub fn hex_prefix(s: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let digits: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("an odd number of hex digits".into());
    }
    let nibble = |c: char| -> Result<(u8, u8), String> {
        match c {
            'x' | 'X' => Ok((0, 0)),
            c => c
                .to_digit(16)
                .map(|d| (d as u8, 0xf))
                .ok_or_else(|| format!("{c:?} is not a hex digit or x")),
        }
    };
    let mut bytes = Vec::new();
    let mut mask = Vec::new();
    for pair in digits.chunks(2) {
        let (hi, hm) = nibble(pair[0])?;
        let (lo, lm) = nibble(pair[1])?;
        bytes.push(hi << 4 | lo);
        mask.push(hm << 4 | lm);
    }
    Ok((bytes, mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Prefix;
    impl Matcher for Prefix {
        fn matches(&self, p: &str, s: &[u8]) -> Result<bool, String> {
            Ok(s.starts_with(p.as_bytes()))
        }
    }

    #[test]
    fn hex_prefixes_take_wildcards() {
        assert_eq!(
            hex_prefix("ab 12 x0"),
            Ok((vec![0xab, 0x12, 0x00], vec![0xff, 0xff, 0x0f]))
        );
        assert!(hex_prefix("abc").unwrap_err().contains("odd"));
        assert!(hex_prefix("zz").unwrap_err().contains("'z'"));
        assert_eq!(hex_prefix(""), Ok((vec![], vec![])));
    }

    #[test]
    fn replies_are_judged_by_length_prefix_and_pattern() {
        let r = Reply {
            prefix: Some(hex_prefix("01x2").unwrap()),
            min_len: Some(1),
            max_len: Some(4),
            ..Reply::default()
        };
        assert_eq!(r.judge(&[0x01, 0x52, 9], &Prefix), Ok(""));
        // keepalived compares what both have: a shorter reply that agrees passes
        assert_eq!(r.judge(&[0x01], &Prefix), Ok(""));
        assert_eq!(
            r.judge(&[0x01, 0x53], &Prefix).unwrap_err(),
            "reply byte 1 is 53, want 02"
        );
        assert!(r.judge(&[], &Prefix).unwrap_err().contains("at least 1"));
        assert!(r.judge(&[1; 5], &Prefix).unwrap_err().contains("at most 4"));
        let p = Reply {
            expect: Some("pong".into()),
            ..Reply::default()
        };
        assert_eq!(p.judge(b"pong!", &Prefix), Ok(", matched"));
        assert!(p.judge(b"ping", &Prefix).is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn silence_is_up_only_when_asked_and_a_closed_port_is_down() {
        let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut c = Udp {
            addr: quiet.local_addr().unwrap(),
            send: b"hello".to_vec(),
            reply: Reply::default(),
            silence_ok: true,
            timeout: Duration::from_millis(200),
        };
        let o = c.run(&Prefix, Instant::now()).await;
        assert!(o.ok, "{o:?}");
        c.silence_ok = false;
        assert!(!c.run(&Prefix, Instant::now()).await.ok);
        drop(quiet);
        c.silence_ok = true;
        let o = c.run(&Prefix, Instant::now()).await;
        assert!(!o.ok && o.detail.contains("refused"), "{o:?}");
    }
}
