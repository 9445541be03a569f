//! The client's side of the control socket: connect, say hello, then requests one way and
//! replies the other, read on a thread of their own so the terminal stays the user's.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use super::wire::{self, Reply, Request, VERSION};

/// What the director said of itself when we attached.
#[derive(Clone, Debug)]
pub struct Director {
    pub path: PathBuf,
    pub name: String,
    pub script: String,
    pub pid: i32,
    pub started: f64,
}

pub struct Connection {
    pub director: Director,
    writer: UnixStream,
    /// Replies as they come; a `Refused` or the end of the connection ends it.
    pub replies: mpsc::Receiver<Result<Reply, String>>,
}

const HANDSHAKE: Duration = Duration::from_secs(5);

/// Connects to the director listening at `path` and says hello.
pub fn connect(path: &Path) -> Result<Connection, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            format!("{}: no director listens there", path.display())
        }
        _ => at(&e),
    })?;
    stream.set_read_timeout(Some(HANDSHAKE)).map_err(|e| at(&e))?;
    stream.set_write_timeout(Some(HANDSHAKE)).map_err(|e| at(&e))?;
    // a director that refuses us says why and closes at once, perhaps before our hello is
    // written: its answer is still there to read, and it says more than the broken pipe
    let said = wire::write(&mut stream, &Request::Hello { version: VERSION });
    let answer = wire::read::<Reply>(&mut stream);
    if let (Err(e), Err(_)) = (&said, &answer) {
        return Err(at(e));
    }
    let director = match answer.map_err(|e| at(&e))? {
        Reply::Hello {
            name,
            script,
            pid,
            started,
            ..
        } => Director {
            path: path.to_path_buf(),
            name,
            script,
            pid,
            started,
        },
        Reply::Refused { why } => return Err(format!("{}: refused: {why}", path.display())),
        other => return Err(at(&format!("an unexpected answer to hello: {other:?}"))),
    };
    stream.set_read_timeout(None).map_err(|e| at(&e))?;
    stream.set_write_timeout(None).map_err(|e| at(&e))?;
    let mut reader = stream.try_clone().map_err(|e| at(&e))?;
    let (tx, replies) = mpsc::channel();
    std::thread::Builder::new()
        .name("lvsh-attach-in".into())
        .spawn(move || {
            loop {
                let r = wire::read::<Reply>(&mut reader);
                let end = r.is_err() || matches!(r, Ok(Reply::Refused { .. }));
                if tx.send(r.map_err(|e| e.to_string())).is_err() || end {
                    return;
                }
            }
        })
        .map_err(|e| at(&e))?;
    Ok(Connection {
        director,
        writer: stream,
        replies,
    })
}

impl Connection {
    pub fn send(&mut self, req: &Request) -> Result<(), String> {
        wire::write(&mut self.writer, req).map_err(|e| e.to_string())
    }
}

/// The control sockets in `dir`, in name order.
pub fn sockets(dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    found.sort();
    found
}
