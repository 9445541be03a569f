//! Files lvsh writes as root: atomically, and never through a link someone else planted.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{Error, ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::libc;

/// What is at a path lvsh is asked to write.
enum Target {
    /// Nothing yet: a new file, 0600 (what lvsh writes as root is nobody else's business).
    New,
    /// A file to replace, whose mode and owner the new one keeps.
    Regular(Metadata),
    /// A character device or a FIFO (`/dev/null`, a pipe): written in place, as a shell's
    /// redirection would; replacing it with a file is never what the operator meant.
    Stream,
    /// The process's own stdout or stderr (`/dev/stdout`), whatever it is.
    Std(i32),
}

fn refuse(what: &str) -> Error {
    Error::new(ErrorKind::InvalidInput, what.to_string())
}

fn kind_of(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else {
        "not a regular file"
    }
}

fn is_stream(m: &Metadata) -> bool {
    m.file_type().is_char_device() || m.file_type().is_fifo()
}

fn target(path: &Path) -> std::io::Result<Target> {
    match path.to_str() {
        Some("/dev/stdout") => return Ok(Target::Std(1)),
        Some("/dev/stderr") => return Ok(Target::Std(2)),
        _ => {}
    }
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Target::New),
        Err(e) => return Err(e),
    };
    if link.file_type().is_file() {
        return Ok(Target::Regular(link));
    }
    if is_stream(&link) {
        return Ok(Target::Stream);
    }
    if !link.file_type().is_symlink() {
        return Err(refuse(&format!("it is {}, not a file", kind_of(&link))));
    }
    // a link is followed only to a device or FIFO, and only if root or lvsh's own user made
    // it (/dev/fd/3): a file someone planted a link to is theirs to overwrite, not lvsh's
    let euid = nix::unistd::geteuid().as_raw();
    let trusted = link.uid() == 0 || link.uid() == euid;
    match std::fs::metadata(path) {
        Ok(m) if trusted && is_stream(&m) => Ok(Target::Stream),
        Ok(m) if m.file_type().is_file() => Err(refuse(
            "it is a symbolic link; lvsh does not write files through links (give the file's own path)",
        )),
        Ok(m) => Err(refuse(&format!(
            "it is a symbolic link to {}; lvsh does not write through it",
            kind_of(&m)
        ))),
        Err(_) => Err(refuse(
            "it is a symbolic link; lvsh does not write files through links",
        )),
    }
}

/// Writes `path` whole or not at all: a temporary file beside it (a fresh random name,
/// created exclusively, so no link can be followed), synced, then renamed over it (a rename
/// replaces, never follows). An existing file's mode and owner are kept. Character devices
/// and FIFOs (`/dev/null`, a named pipe with a reader) are written in place; directories,
/// sockets, block devices and links to files are refused.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match target(path)? {
        Target::New => replace(path, bytes, None),
        Target::Regular(m) => replace(path, bytes, Some(&m)),
        Target::Stream => in_place(path, bytes),
        Target::Std(fd) => to_std(fd, bytes),
    }
}

fn replace(path: &Path, bytes: &[u8], old: Option<&Metadata>) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".lvsh-")
        .rand_bytes(12)
        .tempfile_in(dir)?;
    if let Some(m) = old {
        let f = tmp.as_file();
        let mine = f.metadata()?;
        if (mine.uid(), mine.gid()) != (m.uid(), m.gid()) {
            std::os::unix::fs::fchown(f, Some(m.uid()), Some(m.gid())).map_err(|e| {
                Error::new(
                    e.kind(),
                    format!("cannot keep its owner {}:{}: {e}", m.uid(), m.gid()),
                )
            })?;
        }
        // after the chown, which clears set-id bits
        f.set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // the rename itself is durable once the directory is synced
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Opens a device or FIFO without blocking (a FIFO nobody reads fails at once, ENXIO), makes
/// sure it still is one, then writes in blocking mode.
fn in_place(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => Error::new(e.kind(), "it is a FIFO that nobody reads"),
            _ => e,
        })?;
    let m = f.metadata()?;
    if !is_stream(&m) {
        return Err(refuse(&format!(
            "it changed into {} while being opened",
            kind_of(&m)
        )));
    }
    set_blocking(&f)?;
    f.write_all(bytes)?;
    f.flush()
}

fn to_std(fd: i32, bytes: &[u8]) -> std::io::Result<()> {
    // what Lua's io.write and Rust's print buffered goes first, to keep the order
    // SAFETY: fflush(NULL) flushes every C output stream; no pointer is dereferenced.
    unsafe { libc::fflush(std::ptr::null_mut()) };
    let _ = std::io::stdout().flush();
    if fd == 1 {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()
    } else {
        std::io::stderr().lock().write_all(bytes)
    }
}

/// Clears O_NONBLOCK on a file opened with it to avoid blocking in open().
pub fn set_blocking(f: &File) -> std::io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(f, FcntlArg::F_GETFL).map_err(Error::from)?);
    fcntl(f, FcntlArg::F_SETFL(flags & !OFlag::O_NONBLOCK)).map_err(Error::from)?;
    Ok(())
}

/// Opens a regular file for appending (`lvs.log.file`, the REPL's history), created 0600 if
/// missing: never through a symbolic link at `path` (O_NOFOLLOW), never blocking (a FIFO
/// planted there would hang the open until a reader came: O_NONBLOCK, then a check that it
/// is a regular file), never a file with other hard links (someone else's file linked in).
pub fn open_private(path: &Path, read: bool) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .read(read)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refuse("it is a symbolic link; lvsh does not open files through links"),
            Some(libc::ENXIO) => refuse("it is a FIFO (or a device), not a regular file"),
            _ => e,
        })?;
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Err(refuse(&format!("it is {}, not a regular file", kind_of(&m))));
    }
    if m.nlink() > 1 {
        return Err(refuse(
            "it has other hard links; lvsh keeps such files only alone",
        ));
    }
    set_blocking(&f)?;
    Ok(f)
}

#[cfg(test)]
mod tests;
