//! SMTP check, keepalived's SMTP_CHECK: the greeting must be 220, the answer to HELO 250,
//! then QUIT. Replies may span lines ("250-..." until "250 ..."); each is read bounded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tcp::io_reason;
use super::{Outcome, within};

/// More than any server's greeting or HELO answer; a peer that sends more is not SMTP.
const MAX_REPLY: usize = 8 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Smtp {
    pub addr: SocketAddr,
    /// The name sent with HELO.
    pub helo: String,
    pub timeout: Duration,
}

impl Smtp {
    pub async fn run(&self, started: Instant) -> Outcome {
        within(self.timeout, started, async {
            match self.dialogue().await {
                Ok(()) => Outcome::up("smtp 220, helo 250", started),
                Err(e) => Outcome::down(format!("smtp {}: {e}", self.addr), started),
            }
        })
        .await
    }

    async fn dialogue(&self) -> Result<(), String> {
        let mut s = TcpStream::connect(self.addr).await.map_err(|e| io_reason(&e))?;
        let mut buf = Vec::new();
        expect(&mut s, &mut buf, 220, "greeting").await?;
        let helo = format!("HELO {}\r\n", self.helo);
        s.write_all(helo.as_bytes()).await.map_err(|e| io_reason(&e))?;
        expect(&mut s, &mut buf, 250, "HELO").await?;
        // the server's goodbye is not waited for: the check has its answer
        let _ = s.write_all(b"QUIT\r\n").await;
        Ok(())
    }
}

/// Reads one reply and wants its code to be `code`.
async fn expect(s: &mut TcpStream, buf: &mut Vec<u8>, code: u16, after: &str) -> Result<(), String> {
    loop {
        if let Some((got, used)) = reply(buf)? {
            buf.drain(..used);
            return match got == code {
                true => Ok(()),
                false => Err(format!("{after}: {got}, want {code}")),
            };
        }
        if buf.len() >= MAX_REPLY {
            return Err(format!("{after}: a reply of over {MAX_REPLY} bytes"));
        }
        let mut chunk = [0u8; 1024];
        let n = s.read(&mut chunk).await.map_err(|e| io_reason(&e))?;
        if n == 0 {
            return Err(format!("{after}: closed before a reply"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The code of the first complete reply in `buf` and the bytes it takes, once it is all
/// there: lines "NNN-text" go on, "NNN text" (or "NNN") ends it (RFC 5321, 4.2).
pub fn reply(buf: &[u8]) -> Result<Option<(u16, usize)>, String> {
    let mut at = 0;
    while let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') {
        let line = &buf[at..at + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at += nl + 1;
        let code = line
            .get(..3)
            .filter(|c| c.iter().all(u8::is_ascii_digit))
            .and_then(|c| std::str::from_utf8(c).ok()?.parse::<u16>().ok())
            .ok_or_else(|| format!("not an SMTP reply: {:?}", String::from_utf8_lossy(line)))?;
        if line.get(3) != Some(&b'-') {
            return Ok(Some((code, at)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_end_with_a_line_without_a_dash() {
        assert_eq!(reply(b"220 mx ESMTP\r\n"), Ok(Some((220, 14))));
        assert_eq!(
            reply(b"250-mx\r\n250-SIZE\r\n250 OK\r\nrest"),
            Ok(Some((250, 26)))
        );
        assert_eq!(reply(b"250-mx\r\n250 O"), Ok(None));
        assert_eq!(reply(b"220\n"), Ok(Some((220, 4))));
        assert_eq!(reply(b""), Ok(None));
        assert!(
            reply(b"HTTP/1.0 400\r\n")
                .unwrap_err()
                .contains("not an SMTP reply")
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dialogue_with_a_server() {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            for greeting in ["220-mx.example\r\n220 ready\r\n", "554 go away\r\n"] {
                let (s, _) = l.accept().await.unwrap();
                let (r, mut w) = s.into_split();
                w.write_all(greeting.as_bytes()).await.unwrap();
                let mut lines = BufReader::new(r).lines();
                if greeting.starts_with("220") {
                    seen.push(lines.next_line().await.unwrap().unwrap());
                    w.write_all(b"250 hello\r\n").await.unwrap();
                    seen.push(lines.next_line().await.unwrap().unwrap());
                }
            }
            seen
        });
        let c = Smtp {
            addr,
            helo: "lvsh.example".into(),
            timeout: Duration::from_secs(5),
        };
        let ok = c.run(Instant::now()).await;
        assert!(ok.ok, "{ok:?}");
        let bad = c.run(Instant::now()).await;
        assert!(!bad.ok);
        assert!(bad.detail.ends_with("greeting: 554, want 220"), "{}", bad.detail);
        assert_eq!(server.await.unwrap(), ["HELO lvsh.example", "QUIT"]);
    }
}
