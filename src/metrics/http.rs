//! The scrape endpoint: hyper's HTTP/1 server on the director's event loop, on a TCP
//! address (loopback unless told otherwise) or a Unix socket. A scrape takes one snapshot
//! (one kernel dump) and encodes it; requests are bounded in size, in time to send their
//! head, and in number at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};

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

/// What a scrape shows, encoded as asked: its text as it comes, or why there is none.
pub type Source = Rc<dyn Fn(super::Options) -> Result<Chunks, String>>;

/// A response body that arrives in pieces (a scrape is encoded while it is sent).
pub struct Chunks(tokio::sync::mpsc::Receiver<Bytes>);

impl Chunks {
    pub fn new(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Chunks {
        Chunks(rx)
    }

    /// A body all there already.
    pub fn whole(text: String) -> Chunks {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        // a fresh channel has room for one
        let _ = tx.try_send(Bytes::from(text));
        Chunks(rx)
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

/// Binds now (inside the loop's runtime); the returned future serves, on the loop's LocalSet,
/// until dropped.
pub fn serve(listen: &Listen, path: String, base: super::Options, source: Source) -> Result<Served, String> {
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
            Ok(serving(l, path, base, source))
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
            Ok(serving(l, path, base, source))
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

fn serving(l: impl Acceptor, path: Rc<String>, base: super::Options, source: Source) -> Served {
    Box::pin(async move {
        let clients = Rc::new(std::cell::Cell::new(0usize));
        loop {
            match l.next().await {
                Ok(s) => connection(s, &path, base, &source, &clients),
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
    base: super::Options,
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
            let reply = answer(&req, &path, base, &source);
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

fn answer(req: &Request<Incoming>, path: &str, base: super::Options, source: &Source) -> Response<Chunks> {
    let reply = |status: StatusCode, kind: &str, body: Chunks| {
        let mut r = Response::new(body);
        *r.status_mut() = status;
        if let Ok(v) = header::HeaderValue::from_str(kind) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    if req.uri().path() != path {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            Chunks::whole(format!("try {path}\n")),
        );
    }
    if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Chunks::whole("GET only\n".into()),
        );
    }
    let openmetrics = req.headers().get_all(header::ACCEPT).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.contains("application/openmetrics-text"))
    });
    let opts = super::Options { openmetrics, ..base };
    match source(opts) {
        Ok(body) => reply(
            StatusCode::OK,
            if openmetrics { OPENMETRICS } else { PROMETHEUS },
            body,
        ),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            Chunks::whole(format!("{e}\n")),
        ),
    }
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
