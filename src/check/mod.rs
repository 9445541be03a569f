//! Health checks of real servers, run asynchronously on the event loop: TCP connect, HTTP(S),
//! UDP request/reply, DNS and external programs. No Lua here: a check is a value that says what
//! to probe, and running it gives an [`Outcome`].

pub mod anycast;
pub mod body;
mod dns;
pub mod drift;
mod exec;
mod file;
pub mod http;
pub mod latency;
pub mod monitor;
pub mod net;
pub mod overrides;
mod ping;
pub mod reactor;
pub mod shadow;
mod smtp;
pub mod spec;
pub mod state;
pub mod tcp;
pub mod udp;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use dns::Dns;
pub use exec::Exec;
pub use file::File;
pub use http::Http;
pub use ping::Ping;
pub use smtp::Smtp;
pub use tcp::Tcp;
pub use udp::Udp;

/// What one probe found.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    /// Borrowed when it is always the same ("connected"): a checker makes thousands a second.
    pub detail: std::borrow::Cow<'static, str>,
    pub latency: Duration,
    /// A weight the check asks for (an exec check exiting with 2+N asks for N).
    pub weight: Option<u32>,
}

/// The most of a detail kept: details go into log lines and events, and a check's message
/// (a Lua error, a program's output) can be any size.
pub const MAX_DETAIL: usize = 1024;

/// `detail` cut to `MAX_DETAIL` bytes (on a character boundary), saying how much was cut.
pub fn bounded(detail: impl Into<std::borrow::Cow<'static, str>>) -> std::borrow::Cow<'static, str> {
    let detail = detail.into();
    if detail.len() <= MAX_DETAIL {
        return detail;
    }
    let mut detail = detail.into_owned();
    let mut end = MAX_DETAIL;
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    let cut = detail.len() - end;
    detail.truncate(end);
    detail.push_str(&format!("... ({cut} bytes more)"));
    detail.into()
}

impl Outcome {
    pub fn up(detail: impl Into<std::borrow::Cow<'static, str>>, started: Instant) -> Outcome {
        Outcome {
            ok: true,
            detail: bounded(detail.into()),
            latency: started.elapsed(),
            weight: None,
        }
    }

    pub fn down(detail: impl Into<std::borrow::Cow<'static, str>>, started: Instant) -> Outcome {
        Outcome {
            ok: false,
            detail: bounded(detail.into()),
            latency: started.elapsed(),
            weight: None,
        }
    }

    pub fn latency_ms(&self) -> f64 {
        self.latency.as_secs_f64() * 1000.0
    }
}

/// Matching a response body against a pattern is the caller's business (lvsh uses Lua
/// patterns), so checks take a matcher.
pub trait Matcher {
    fn matches(&self, pattern: &str, subject: &[u8]) -> Result<bool, String>;
}

/// One check, complete with its target. The larger kinds are boxed: a checker holds one
/// per server, most of them TCP checks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Check {
    Tcp(Tcp),
    Http(Box<Http>),
    Udp(Box<Udp>),
    Dns(Box<Dns>),
    Exec(Exec),
    Smtp(Box<Smtp>),
    Ping(Ping),
    File(Box<File>),
}

impl Check {
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Tcp(_) => "tcp",
            Check::Http(_) => "http",
            Check::Udp(_) => "udp",
            Check::Dns(_) => "dns",
            Check::Exec(_) => "exec",
            Check::Smtp(_) => "smtp",
            Check::Ping(_) => "ping",
            Check::File(_) => "file",
        }
    }

    pub fn set_timeout(&mut self, t: Duration) {
        match self {
            Check::Tcp(c) => c.timeout = t,
            Check::Http(c) => c.timeout = t,
            Check::Udp(c) => c.timeout = t,
            Check::Dns(c) => c.timeout = t,
            Check::Exec(c) => c.timeout = t,
            Check::Smtp(c) => c.timeout = t,
            Check::Ping(c) => c.timeout = t,
            Check::File(c) => c.timeout = t,
        }
    }

    /// The same check of another target (an exec check's placeholders take its address).
    pub fn aimed_at(&self, to: SocketAddr) -> Check {
        let mut c = self.clone();
        match &mut c {
            Check::Tcp(x) => x.addr = to,
            Check::Http(x) => x.addr = to,
            Check::Udp(x) => x.addr = to,
            Check::Dns(x) => x.addr = to,
            Check::Smtp(x) => x.addr = to,
            Check::Ping(x) => x.addr = to,
            // a file names no server
            Check::File(_) => {}
            Check::Exec(x) => *x = Exec::for_server(&x.argv, to, x.timeout),
        }
        c
    }

    /// Runs the check; `started` is now, read once by the caller (clock reads are system
    /// calls on some kernels, and a checker makes thousands of probes a second).
    pub async fn run(&self, matcher: &dyn Matcher, started: Instant) -> Outcome {
        match self {
            Check::Tcp(c) => c.run(started).await,
            Check::Http(c) => c.run(matcher, started).await,
            Check::Udp(c) => c.run(matcher, started).await,
            Check::Dns(c) => c.run(started).await,
            Check::Exec(c) => c.run(started).await,
            Check::Smtp(c) => c.run(started).await,
            Check::Ping(c) => c.run(started).await,
            Check::File(c) => c.run(started),
        }
    }
}

/// The address a check of real server `server` probes: the check's own port if it names
/// one (checking a health port beside the service port), else the server's.
pub fn target(server: SocketAddr, port: Option<u16>) -> SocketAddr {
    SocketAddr::new(server.ip(), port.unwrap_or(server.port()))
}

/// Runs `fut` for at most `limit`; past it, the outcome is a failure that says so.
pub async fn within<F: std::future::Future<Output = Outcome>>(
    limit: Duration,
    started: Instant,
    fut: F,
) -> Outcome {
    match tokio::time::timeout_at(tokio::time::Instant::from_std(started + limit), fut).await {
        Ok(o) => o,
        Err(_) => Outcome::down(format!("timed out after {}", secs(limit)), started),
    }
}

pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod detail_tests {
    use super::*;

    #[test]
    fn a_huge_detail_is_cut_on_a_character_boundary() {
        let o = Outcome::down("é".repeat(600_000), Instant::now());
        assert!(o.detail.len() < MAX_DETAIL + 40, "{}", o.detail.len());
        assert!(
            o.detail.ends_with("... (1198976 bytes more)"),
            "{}",
            &o.detail[1000..]
        );
        assert_eq!(Outcome::up("short", Instant::now()).detail, "short");
    }
}
