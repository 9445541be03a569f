//! The scrape endpoint: hyper's HTTP/1 server on the director's event loop, on a TCP
//! address (loopback unless told otherwise) or a Unix socket. A scrape takes one snapshot
//! (one kernel dump) and encodes it; requests are bounded in size, in time to send their
//! head, and in number at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::Snapshot;
use crate::log;

/// Where to listen.
#[derive(Debug, Clone, PartialEq)]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Listen {
    /// `"127.0.0.1:9917"`, `"[::1]:9917"`, or an absolute path for a Unix socket.
    pub fn parse(s: &str) -> Result<Listen, String> {
        if s.starts_with('/') {
            return Ok(Listen::Unix(PathBuf::from(s)));
        }
        s.parse::<SocketAddr>().map(Listen::Tcp).map_err(|_| {
            format!("listen: {s:?} is not an address:port (127.0.0.1:9917) or an absolute socket path")
        })
    }
}

const MAX_CLIENTS: usize = 16;
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_HEAD: usize = 16 * 1024;

/// What a scrape shows: the snapshot, read when asked.
pub type Source = Rc<dyn Fn() -> Snapshot>;

/// Binds now (inside the loop's runtime); the returned future serves, on the loop's LocalSet,
/// until dropped.
pub fn serve(listen: &Listen, path: String, node_compat: bool, source: Source) -> Result<Served, String> {
    let at = |e: std::io::Error| format!("metrics: cannot listen on {listen:?}: {e}");
    let path = Rc::new(path);
    match listen {
        Listen::Tcp(addr) => {
            let std = std::net::TcpListener::bind(addr).map_err(at)?;
            std.set_nonblocking(true).map_err(at)?;
            let l = tokio::net::TcpListener::from_std(std).map_err(at)?;
            let scope = if addr.ip().is_loopback() {
                "loopback only; listen= to change"
            } else {
                "NOT loopback: anyone who reaches this address can read the table"
            };
            let shown = l.local_addr().map_or(*addr, |a| a);
            log::info(&format!("metrics: serving http://{shown}{path} ({scope})"));
            Ok(serving(l, path, node_compat, source))
        }
        Listen::Unix(p) => {
            if std::fs::symlink_metadata(p).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.file_type().is_socket()
            }) {
                let _ = std::fs::remove_file(p);
            }
            let std = std::os::unix::net::UnixListener::bind(p).map_err(at)?;
            std.set_nonblocking(true).map_err(at)?;
            let l = tokio::net::UnixListener::from_std(std).map_err(at)?;
            log::info(&format!("metrics: serving {path} on {}", p.display()));
            Ok(serving(l, path, node_compat, source))
        }
    }
}

pub type Served = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// A listener of either kind.
trait Acceptor: 'static {
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static;
    async fn next(&self) -> std::io::Result<Self::Stream>;
}

impl Acceptor for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn next(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

impl Acceptor for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn next(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

fn serving(l: impl Acceptor, path: Rc<String>, node_compat: bool, source: Source) -> Served {
    Box::pin(async move {
        let clients = Rc::new(std::cell::Cell::new(0usize));
        loop {
            match l.next().await {
                Ok(s) => connection(s, &path, node_compat, &source, &clients),
                Err(e) => accept_failed(e).await,
            }
        }
    })
}

async fn accept_failed(e: std::io::Error) {
    log::error(&format!("metrics: accept: {e}"));
    // EMFILE and the like: give the others a turn before trying again
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn connection<S>(
    stream: S,
    path: &Rc<String>,
    node_compat: bool,
    source: &Source,
    clients: &Rc<std::cell::Cell<usize>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    if clients.get() >= MAX_CLIENTS {
        // dropped: a scraper retries at its next interval
        return;
    }
    clients.set(clients.get() + 1);
    let (path, source, clients) = (path.clone(), source.clone(), clients.clone());
    tokio::task::spawn_local(crate::runtime::netns::kept(async move {
        let service = hyper::service::service_fn(move |req| {
            let reply = answer(&req, &path, node_compat, &source);
            async move { Ok::<_, Infallible>(reply) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEAD_TIMEOUT)
            .max_buf_size(MAX_HEAD)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service)
            .await;
        clients.set(clients.get().saturating_sub(1));
    }));
}

const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn answer(req: &Request<Incoming>, path: &str, node_compat: bool, source: &Source) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, kind: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = header::HeaderValue::from_str(kind) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    if req.uri().path() != path {
        return reply(StatusCode::NOT_FOUND, "text/plain", format!("try {path}\n"));
    }
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n".into());
    }
    let openmetrics = req.headers().get_all(header::ACCEPT).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.contains("application/openmetrics-text"))
    });
    let opts = super::Options {
        openmetrics,
        node_compat,
    };
    let text = super::render(source(), opts);
    let kind = if openmetrics { OPENMETRICS } else { PROMETHEUS };
    reply(StatusCode::OK, kind, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_takes_an_address_or_a_socket_path_and_names_a_bad_one() {
        assert_eq!(
            Listen::parse("127.0.0.1:9917"),
            Ok(Listen::Tcp("127.0.0.1:9917".parse().unwrap()))
        );
        assert_eq!(
            Listen::parse("/run/lvsh/metrics.sock"),
            Ok(Listen::Unix("/run/lvsh/metrics.sock".into()))
        );
        let e = Listen::parse("localhost").unwrap_err();
        assert!(e.contains("listen: \"localhost\""), "{e}");
    }
}
