//! The control socket of a running director (`/run/lvsh/NAME.sock`): `lvsh attach` connects
//! to it to run chunks in the daemon's Lua state, complete names from it, follow its log and
//! its events. The daemon's side (`server`) runs on the event loop and never waits on a
//! client: each connection has a reader and a writer thread of its own and bounded queues
//! between them and the loop. What a chunk means is the host's business (`server::Handler`):
//! no Lua here.

pub mod client;
pub mod server;
pub mod wire;

use std::path::PathBuf;

/// Where the director named `name` listens.
pub fn socket_path(name: &str) -> PathBuf {
    crate::host::lock::run_dir().join(format!("{name}.sock"))
}
