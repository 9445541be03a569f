//! HTTP(S) check with reqwest: status in a set, body matching a pattern, read capped.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::body::BodyRule;
use super::{Matcher, Outcome, within};

/// Health endpoints answer in a few bytes; the cap keeps a huge or endless answer from
/// costing more than this.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Http {
    pub addr: SocketAddr,
    pub path: String,
    pub host: Option<String>,
    pub status: Vec<u16>,
    /// What the body must be (nothing: the body is not read).
    pub body: BodyRule,
    pub timeout: Duration,
    pub tls: bool,
    pub headers: Vec<(String, String)>,
    pub max_body: usize,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Http {
        Http {
            addr,
            path: "/".into(),
            host: None,
            status: vec![200],
            body: BodyRule::default(),
            timeout: Duration::from_secs(3),
            tls: false,
            headers: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let path = if self.path.starts_with('/') {
            self.path.clone()
        } else {
            format!("/{}", self.path)
        };
        match (&self.host, self.tls) {
            // TLS needs the name in the URL for SNI; the client is told where that name is.
            (Some(h), true) => format!("{scheme}://{h}:{}{path}", self.addr.port()),
            _ => format!("{scheme}://{}{path}", self.addr),
        }
    }

    pub async fn run(&self, matcher: &dyn Matcher, started: Instant) -> Outcome {
        within(self.timeout, started, self.fetch(matcher, started)).await
    }

    async fn fetch(&self, matcher: &dyn Matcher, started: Instant) -> Outcome {
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => return Outcome::down(format!("http client: {e}"), started),
        };
        let mut req = client.get(self.url()).timeout(self.timeout);
        if let (Some(h), false) = (&self.host, self.tls) {
            req = req.header(reqwest::header::HOST, h.as_str());
        }
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::down(format!("GET {}: {}", self.url(), reason(&e)), started),
        };
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        if self.body.wanted() {
            while body.len() < self.max_body {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        let room = self.max_body - body.len();
                        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    Ok(None) => break,
                    Err(e) => return Outcome::down(format!("reading body: {}", reason(&e)), started),
                }
            }
        }
        drop(resp);
        verdict(status, &self.status, &self.body, &body, matcher, started)
    }

    fn client(&self) -> reqwest::Result<reqwest::Client> {
        match (&self.host, self.tls) {
            (Some(h), true) => builder().resolve(h, self.addr).build(),
            _ => {
                static SHARED: OnceLock<reqwest::Client> = OnceLock::new();
                if let Some(c) = SHARED.get() {
                    return Ok(c.clone());
                }
                let c = builder().build()?;
                Ok(SHARED.get_or_init(|| c).clone())
            }
        }
    }
}

/// What an answer with `status` and `body` says: the status must be one of `want`, and the
/// body pass `rule` (the reactor's plain HTTP check judges the same).
pub fn verdict(
    status: u16,
    want: &[u16],
    rule: &BodyRule,
    body: &[u8],
    matcher: &dyn Matcher,
    started: Instant,
) -> Outcome {
    if !want.contains(&status) {
        let want: Vec<String> = want.iter().map(u16::to_string).collect();
        return Outcome::down(format!("status {status}, want {}", want.join(" or ")), started);
    }
    match rule.judge(body, matcher) {
        Ok(()) => Outcome::up(format!("status {status}"), started),
        Err(why) => Outcome::down(format!("status {status}, {why}"), started),
    }
}

/// A probe opens its own connection each time (a pooled one would hide a dead listener),
/// follows no redirects, uses no proxy, and, like keepalived's SSL_GET, does not verify the
/// certificate: it checks a server by address, which certificates do not name.
pub fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(0)
        .danger_accept_invalid_certs(true)
        .user_agent(concat!("lvsh/", env!("CARGO_PKG_VERSION"), " health check"))
}

/// reqwest's error with its causes, which is where the useful part ("connection refused") is.
pub fn reason(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else {
        String::new()
    };
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = src {
        last = Some(match s.downcast_ref::<std::io::Error>() {
            Some(io) => super::tcp::io_reason(io),
            None => s.to_string(),
        });
        src = s.source();
    }
    if msg.is_empty() {
        msg = last.unwrap_or_else(|| e.to_string());
    }
    msg
}
