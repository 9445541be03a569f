//! The daemon's side of the control socket. Only root and the daemon's own uid may attach
//! (SO_PEERCRED, besides the socket's 0600 in a 0700 directory); a refusal is logged with the
//! peer's pid and uid. Each client gets a reader thread (so Ctrl-C reaches a chunk that keeps
//! the loop from turning), a writer thread behind a bounded queue (a client that stops
//! reading is dropped, never waited for), and a session task on the loop.

use std::cell::Cell;
use std::future::Future;
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream as StdStream;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use serde_json::json;
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use super::wire::{self, MAX_FRAME, Reply, Request, VERSION, WireError};
use crate::runtime::client::{Client, Peer, Stream};
use crate::runtime::{budget, client, netns};
use crate::{events, log};

/// What a chunk means, and the names it may complete to: the Lua state's business.
pub trait Handler {
    /// Runs `chunk`; resolves to whether it ran and the values it returned (as the REPL
    /// prints them) or its error.
    fn run(&self, chunk: String, values: bool) -> Pin<Box<dyn Future<Output = (bool, String)>>>;
    fn complete(&self, word: &str) -> Vec<String>;
}

/// Replies queued for a client before it counts as not reading.
const QUEUE: usize = 1024;
/// How long a client has to say hello, and a reply to be taken by it.
const HANDSHAKE: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CLIENTS: usize = 64;

/// A listening control socket; dropping it stops listening and removes the socket.
pub struct Server {
    path: PathBuf,
    ino: u64,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
        // only if it is still this server's: a newer director may have taken the name
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Server {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Binds `path` and starts accepting on the loop (call it from a task of the loop). A socket
/// left there by a director that died is replaced; one that answers is another director's.
pub fn start(path: &Path, handler: Rc<dyn Handler>) -> Result<Server, String> {
    let at = |e: std::io::Error| format!("control socket {}: {e}", path.display());
    if let Some(dir) = path.parent() {
        crate::host::lock::ensure_private_dir(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_socket() => {
            return Err(format!(
                "control socket {}: something else is there; remove it",
                path.display()
            ));
        }
        Ok(_) => match StdStream::connect(path) {
            Ok(_) => {
                return Err(format!(
                    "control socket {}: another director answers there (give this one --name)",
                    path.display()
                ));
            }
            Err(_) => std::fs::remove_file(path).map_err(at)?,
        },
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(at(e)),
    }
    let std_listener = std::os::unix::net::UnixListener::bind(path).map_err(at)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(at)?;
    std_listener.set_nonblocking(true).map_err(at)?;
    let ino = std::fs::symlink_metadata(path).map_err(at)?.ino();
    let listener = UnixListener::from_std(std_listener).map_err(at)?;
    let accept = tokio::task::spawn_local(netns::kept(accept_loop(listener, handler)));
    log::info(&format!("control: listening on {}", path.display()));
    Ok(Server {
        path: path.to_path_buf(),
        ino,
        accept,
    })
}

async fn accept_loop(listener: UnixListener, handler: Rc<dyn Handler>) {
    let clients = Rc::new(Cell::new(0usize));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                log::error(&format!("control: accept: {e}"));
                // EMFILE and the like: give the others a turn before trying again
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let peer = match stream.peer_cred() {
            Ok(c) => Peer {
                uid: c.uid(),
                pid: c.pid().unwrap_or(0),
            },
            Err(e) => {
                log::warn(&format!(
                    "control: a client whose credentials cannot be read: {e}"
                ));
                continue;
            }
        };
        let euid = nix::unistd::geteuid().as_raw();
        let refusal = if peer.uid != 0 && peer.uid != euid {
            Some(format!("only root or uid {euid} may attach"))
        } else if clients.get() >= MAX_CLIENTS {
            Some(format!("{MAX_CLIENTS} clients are attached already"))
        } else {
            None
        };
        if let Some(why) = refusal {
            log::warn(&format!(
                "control: refused a client (pid {}, uid {}): {why}",
                peer.pid, peer.uid
            ));
            events::emit(
                "client_refused",
                json!({"pid": peer.pid, "uid": peer.uid, "why": why}),
            );
            if let Ok(frame) = wire::encode(&Reply::Refused { why }) {
                let _ = stream.try_write(&frame);
            }
            continue;
        }
        match connect(stream, peer) {
            Ok((conn, incoming)) => {
                clients.set(clients.get() + 1);
                let (h, n) = (handler.clone(), clients.clone());
                tokio::task::spawn_local(netns::kept(async move {
                    session(conn, incoming, h).await;
                    n.set(n.get().saturating_sub(1));
                }));
            }
            Err(e) => log::warn(&format!("control: client pid {}: {e}", peer.pid)),
        }
    }
}

/// What the reader thread hands the session.
enum Incoming {
    Req(Request),
    Bad(String),
}

/// The loop's end of a connection.
struct Conn {
    peer: Peer,
    out: SyncSender<Vec<u8>>,
    socket: StdStream,
    interrupt: Arc<AtomicBool>,
    gone: Cell<bool>,
}

impl Conn {
    /// Queues `reply`; false once the client is gone or was dropped for not reading.
    fn send(&self, reply: &Reply) -> bool {
        if self.gone.get() {
            return false;
        }
        let frame = match wire::encode(reply) {
            Ok(f) => f,
            Err(e) => match wire::encode(&Reply::Err {
                text: format!("lvsh: a reply was not sent: {e}\n"),
            }) {
                Ok(f) => f,
                Err(_) => return true,
            },
        };
        match self.out.try_send(frame) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                log::warn(&format!(
                    "control: client pid {} does not read what it is sent; dropped",
                    self.peer.pid
                ));
                self.close();
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                self.gone.set(true);
                false
            }
        }
    }

    fn close(&self) {
        self.gone.set(true);
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

/// Starts the reader and writer threads of a new client.
fn connect(
    stream: tokio::net::UnixStream,
    peer: Peer,
) -> std::io::Result<(Rc<Conn>, mpsc::Receiver<Incoming>)> {
    let socket = stream.into_std()?;
    socket.set_nonblocking(false)?;
    socket.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut reading = socket.try_clone()?;
    let mut writing = socket.try_clone()?;
    let interrupt = Arc::new(AtomicBool::new(false));
    let (in_tx, in_rx) = mpsc::channel(64);
    let (out_tx, out_rx) = sync_channel::<Vec<u8>>(QUEUE);
    let flag = interrupt.clone();
    std::thread::Builder::new()
        .name("lvsh-control-in".into())
        .spawn(move || read_requests(&mut reading, &in_tx, &flag))?;
    std::thread::Builder::new()
        .name("lvsh-control-out".into())
        .spawn(move || {
            use std::io::Write;
            for frame in out_rx {
                if writing.write_all(&frame).is_err() {
                    let _ = writing.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
        })?;
    let conn = Rc::new(Conn {
        peer,
        out: out_tx,
        socket,
        interrupt,
        gone: Cell::new(false),
    });
    Ok((conn, in_rx))
}

/// The reader thread: the hello first (within HANDSHAKE), then requests until the client
/// leaves. Ctrl-C is told to the running chunk here, not through the loop it may be holding.
fn read_requests(socket: &mut StdStream, to_loop: &mpsc::Sender<Incoming>, interrupt: &AtomicBool) {
    let _ = socket.set_read_timeout(Some(HANDSHAKE));
    let first = match wire::read::<Request>(socket) {
        Ok(Request::Hello { version }) if version == VERSION => Incoming::Req(Request::Hello { version }),
        Ok(Request::Hello { version }) => Incoming::Bad(format!(
            "protocol version {version} is not spoken here (this director speaks {VERSION})"
        )),
        Ok(_) => Incoming::Bad("a client must say hello first".into()),
        Err(e) => Incoming::Bad(e.to_string()),
    };
    let ok = matches!(first, Incoming::Req(_));
    if to_loop.blocking_send(first).is_err() || !ok {
        return;
    }
    let _ = socket.set_read_timeout(None);
    loop {
        let msg = match wire::read::<Request>(socket) {
            Ok(r) => r,
            Err(WireError::Closed) => return,
            Err(WireError::Io(_)) => return,
            Err(e) => {
                let _ = to_loop.blocking_send(Incoming::Bad(e.to_string()));
                return;
            }
        };
        if msg == Request::Interrupt {
            interrupt.store(true, Ordering::SeqCst);
        }
        if to_loop.blocking_send(Incoming::Req(msg)).is_err() {
            return;
        }
    }
}

fn hello() -> Reply {
    let started = crate::runtime::started()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Reply::Hello {
        version: VERSION,
        name: crate::runtime::name().to_string(),
        script: crate::runtime::script().to_string(),
        pid: std::process::id() as i32,
        started,
    }
}

async fn session(conn: Rc<Conn>, mut incoming: mpsc::Receiver<Incoming>, handler: Rc<dyn Handler>) {
    let peer = conn.peer;
    let mut feeds: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let mut attached = false;
    while let Some(msg) = incoming.recv().await {
        let req = match msg {
            Incoming::Bad(why) => {
                conn.send(&Reply::Refused { why });
                break;
            }
            Incoming::Req(r) => r,
        };
        match req {
            Request::Hello { .. } => {
                conn.send(&hello());
                if !attached {
                    attached = true;
                    events::emit("client_attached", json!({"pid": peer.pid, "uid": peer.uid}));
                }
            }
            Request::Run {
                chunk,
                budget,
                values,
            } => {
                if !run(&conn, &mut incoming, &handler, (chunk, values), budget).await {
                    break;
                }
            }
            Request::Interrupt => {}
            Request::Complete { word } => {
                conn.send(&Reply::Completions {
                    words: handler.complete(&word),
                });
            }
            Request::Follow => feeds.push(feed(&conn, log::follow(QUEUE), |line| Reply::Log {
                line: line.to_string(),
            })),
            Request::Events => {
                let name = format!("attached client pid {}", peer.pid);
                feeds.push(feed(&conn, events::subscribe(&name, QUEUE), |ev| Reply::Event {
                    event: (*ev).clone(),
                }));
            }
        }
        if conn.gone.get() {
            break;
        }
    }
    for f in feeds {
        f.abort();
    }
    conn.close();
    if attached {
        events::emit("client_detached", json!({"pid": peer.pid, "uid": peer.uid}));
    }
}

/// Forwards what `rx` gives to the client until it is gone.
fn feed<T: 'static>(
    conn: &Rc<Conn>,
    mut rx: mpsc::Receiver<T>,
    reply: impl Fn(T) -> Reply + 'static,
) -> tokio::task::JoinHandle<()> {
    let conn = conn.clone();
    tokio::task::spawn_local(async move {
        while let Some(item) = rx.recv().await {
            if !conn.send(&reply(item)) {
                return;
            }
        }
    })
}

fn budget_of(secs: Option<f64>) -> Result<Duration, String> {
    match secs {
        None => Ok(budget::default_budget()),
        Some(s) if s.is_finite() && (0.01..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(format!(
            "budget: {s} is not a number of seconds from 0.01 to 3600"
        )),
    }
}

/// Runs one chunk as the client's; false when the client left meanwhile.
async fn run(
    conn: &Rc<Conn>,
    incoming: &mut mpsc::Receiver<Incoming>,
    handler: &Rc<dyn Handler>,
    (chunk, values): (String, bool),
    secs: Option<f64>,
) -> bool {
    let limit = match budget_of(secs) {
        Ok(b) => b,
        Err(text) => return conn.send(&Reply::Done { ok: false, text }),
    };
    conn.interrupt.store(false, Ordering::SeqCst);
    let sink_conn = conn.clone();
    let me = Rc::new(Client {
        peer: conn.peer,
        sink: Box::new(move |stream, text| {
            wire::pieces(text).all(|p| {
                let text = p.to_string();
                sink_conn.send(&match stream {
                    Stream::Out => Reply::Out { text },
                    Stream::Err => Reply::Err { text },
                })
            })
        }),
        interrupt: conn.interrupt.clone(),
    });
    let what = format!("the chunk of attached client pid {}", conn.peer.pid);
    let work = client::inside(me, budget::budgeted(what, limit, handler.run(chunk, values)));
    tokio::pin!(work);
    let (ok, mut text) = loop {
        tokio::select! {
            out = &mut work => break out,
            msg = incoming.recv() => match msg {
                // gone: the chunk is dropped with the connection
                None => return false,
                Some(Incoming::Req(Request::Interrupt)) => break (false, "interrupted".to_string()),
                Some(Incoming::Req(Request::Complete { .. })) => {
                    conn.send(&Reply::Completions { words: Vec::new() });
                }
                Some(Incoming::Bad(why)) => {
                    conn.send(&Reply::Refused { why });
                    return false;
                }
                Some(Incoming::Req(other)) => {
                    conn.send(&Reply::Err {
                        text: format!("lvsh: {other:?} ignored: a chunk is running\n"),
                    });
                }
            },
        }
    };
    if text.len() > MAX_FRAME / 2 {
        let cut = (0..=MAX_FRAME / 2)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        let more = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!("\n... ({more} bytes more not sent)"));
    }
    conn.send(&Reply::Done { ok, text })
}
