//! Network primitives for checks written in Lua: a TCP connection with bounded, timed reads
//! and writes, and an HTTP GET. Every wait has a timeout and no read is unbounded.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::http::{builder, reason};
use super::tcp::io_reason;
use crate::model::SpecError;
use crate::model::input::{Args, Value, bad};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most one receive returns (and the most a line may be).
pub const MAX_READ: usize = 1024 * 1024;

async fn timed<T>(
    t: Duration,
    what: &str,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(t, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {}", io_reason(&e))),
        Err(_) => Err(format!("{what}: timed out")),
    }
}

/// What one receive reads.
#[derive(Debug, Clone, Copy)]
pub enum Read {
    /// A line, without its end (LF or CRLF).
    Line,
    /// Everything until the peer closes.
    All,
    /// Up to this many bytes (at least 1), as they come.
    Some(usize),
}

pub struct Conn {
    stream: Option<BufReader<TcpStream>>,
    timeout: Duration,
}

impl Conn {
    pub async fn connect(to: SocketAddr, timeout: Duration) -> Result<Conn, String> {
        let stream = timed(timeout, &format!("connect {to}"), TcpStream::connect(to)).await?;
        Ok(Conn {
            stream: Some(BufReader::new(stream)),
            timeout,
        })
    }

    fn open(&mut self) -> Result<&mut BufReader<TcpStream>, String> {
        self.stream
            .as_mut()
            .ok_or_else(|| "connection is closed".to_string())
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<usize, String> {
        let t = self.timeout;
        timed(t, "send", self.open()?.get_mut().write_all(bytes)).await?;
        Ok(bytes.len())
    }

    pub async fn receive(&mut self, what: Read) -> Result<Vec<u8>, String> {
        let t = self.timeout;
        let s = self.open()?;
        let mut buf = Vec::new();
        match what {
            Read::Line => {
                timed(
                    t,
                    "receive",
                    (&mut *s).take(MAX_READ as u64).read_until(b'\n', &mut buf),
                )
                .await?;
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                }
            }
            Read::All => {
                timed(t, "receive", s.take(MAX_READ as u64).read_to_end(&mut buf)).await?;
            }
            Read::Some(n) => {
                buf.resize(n.clamp(1, MAX_READ), 0);
                let got = timed(t, "receive", s.read(&mut buf)).await?;
                buf.truncate(got);
            }
        }
        Ok(buf)
    }

    pub fn close(&mut self) {
        self.stream = None;
    }
}

/// An HTTP GET as a check script asks for it.
#[derive(Debug, Clone)]
pub struct Get {
    pub url: String,
    pub host: Option<String>,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// The most of the body that is read.
    pub max_body: usize,
}

impl Get {
    pub fn new(url: String) -> Get {
        Get {
            url,
            host: None,
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_body: MAX_READ,
        }
    }
}

impl Get {
    /// `url` or `{url=, host=, headers=, timeout=, max_body=}` as a script gives them.
    pub fn read(v: &Value) -> Result<Get, SpecError> {
        if let Some(url) = v.text() {
            return Ok(Get::new(url));
        }
        let fields = ["url", "host", "headers", "timeout", "max_body"];
        let f = Args::of("http.get", v, &fields, &[], "takes a URL or {url=...}")?;
        let url = f
            .string("url")?
            .ok_or_else(|| bad("url", &Value::Nil, "the URL to get"))?;
        let mut g = Get::new(url);
        g.headers = crate::model::input::read_headers(f.raw("headers"))?;
        g.max_body = f
            .int("max_body")?
            .map_or(MAX_READ, |n| n.clamp(0, MAX_READ as i64 * 64) as usize);
        g.host = f.string("host")?;
        g.timeout = f.seconds("timeout")?.unwrap_or(DEFAULT_TIMEOUT);
        Ok(g)
    }
}

pub struct Reply {
    pub status: u16,
    /// Names lower-cased, as HTTP/2 and the header map have them.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub async fn get(g: &Get) -> Result<Reply, String> {
    let client = builder().build().map_err(|e| format!("http client: {e}"))?;
    let mut req = client.get(&g.url).timeout(g.timeout);
    if let Some(h) = &g.host {
        req = req.header(reqwest::header::HOST, h);
    }
    for (k, v) in &g.headers {
        req = req.header(k, v);
    }
    let url = &g.url;
    let mut resp = req
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", reason(&e)))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    while body.len() < g.max_body {
        match resp.chunk().await {
            Ok(Some(c)) => body.extend_from_slice(&c[..c.len().min(g.max_body - body.len())]),
            Ok(None) => break,
            Err(e) => return Err(format!("GET {url}: reading body: {}", reason(&e))),
        }
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}
