//! One writer at a time per network namespace, and the write-ahead record of what that writer
//! is doing: both live under /run/lvsh (LVSH_RUN_DIR), which a reboot empties together with
//! the IPVS tables they are about.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::libc;

/// How long a writer waits for another to finish when LVSH_LOCK_WAIT does not say.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// A network namespace, by its nsfs inode (what a lock and a record are keyed by) and its
/// cookie: inodes of namespaces that are gone are given out again, cookies never (0 where
/// the kernel has none, before 5.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetnsId {
    pub dev: u64,
    pub ino: u64,
    pub cookie: u64,
}

impl NetnsId {
    /// The namespace of the calling thread (the one an IPVS socket opened now belongs to).
    pub fn current() -> std::io::Result<NetnsId> {
        let m = std::fs::metadata("/proc/thread-self/ns/net")?;
        Ok(NetnsId {
            dev: m.dev(),
            ino: m.ino(),
            cookie: netns_cookie().unwrap_or(0),
        })
    }

    fn file_name(&self, ext: &str) -> String {
        format!("netns-{}-{}.{ext}", self.dev, self.ino)
    }
}

// asm-generic's number; mips and sparc number their socket options differently
#[cfg(not(any(target_arch = "mips", target_arch = "mips64", target_arch = "sparc64")))]
fn netns_cookie() -> Option<u64> {
    const SO_NETNS_COOKIE: libc::c_int = 71;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: a plain socket(2); the descriptor is owned (and closed) by `sock` at once
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is a fresh descriptor nothing else owns
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut cookie = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `cookie`, which is that large
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    (r == 0 && len as usize == std::mem::size_of::<u64>()).then_some(cookie)
}

#[cfg(any(target_arch = "mips", target_arch = "mips64", target_arch = "sparc64"))]
fn netns_cookie() -> Option<u64> {
    None
}

/// The directory everything lives under.
pub fn run_dir() -> PathBuf {
    match std::env::var_os("LVSH_RUN_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from("/run/lvsh"),
    }
}

/// How long a writer waits for the lock: LVSH_LOCK_WAIT seconds, else DEFAULT_WAIT.
pub fn wait_from_env() -> Result<Duration, String> {
    let Ok(v) = std::env::var("LVSH_LOCK_WAIT") else {
        return Ok(DEFAULT_WAIT);
    };
    match v.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "LVSH_LOCK_WAIT: {v:?} is not a number of seconds from 0 to 3600"
        )),
    }
}

fn io_at(path: &Path, e: std::io::Error) -> LockError {
    LockError::Io(format!("{}: {e}", path.display()))
}

/// As `private_dir`, for others that keep things under the run directory (the control
/// sockets); the error is worded.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    private_dir(dir).map_err(|e| e.to_string())
}

/// Makes `dir` (and its parents) if need be and checks that it is a real directory of this
/// user's that nobody else may write to: a link or a foreign directory planted there could
/// redirect the lock or the record.
fn private_dir(dir: &Path) -> Result<(), LockError> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        std::fs::create_dir_all(parent).map_err(|e| io_at(parent, e))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_at(dir, e)),
    }
    let m = std::fs::symlink_metadata(dir).map_err(|e| io_at(dir, e))?;
    let euid = nix::unistd::geteuid().as_raw();
    if !m.file_type().is_dir() || m.uid() != euid || m.permissions().mode() & 0o022 != 0 {
        return Err(LockError::Io(format!(
            "{}: not a directory of uid {euid} that only it may write to; remove it",
            dir.display()
        )));
    }
    Ok(())
}

/// Opens (creating, 0600) a file in a private directory, never through a link.
fn open_private(path: &Path, create: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock (its pid, when it wrote one).
    #[error(
        "the IPVS table of this network namespace is being changed by {} (waited {:.1}s for it; \
         LVSH_LOCK_WAIT=SECONDS sets the wait; lock {path})",
        holder.map(|p| format!("lvsh pid {p}")).unwrap_or_else(|| "another process".into()),
        waited.as_secs_f64()
    )]
    Busy {
        holder: Option<u32>,
        waited: Duration,
        path: String,
    },
    #[error("cannot lock the IPVS table: {0}")]
    Io(String),
}

/// The write lock of one namespace, held until dropped (or the process ends, however it ends).
#[derive(Debug)]
pub struct Lock {
    _file: Flock<File>,
    id: NetnsId,
}

impl Lock {
    /// The namespace whose lock this is.
    pub fn id(&self) -> NetnsId {
        self.id
    }
}

/// The lock file of `id`, open.
fn lock_file(id: &NetnsId) -> Result<(File, PathBuf), LockError> {
    let dir = run_dir().join("locks");
    private_dir(&dir)?;
    let path = dir.join(id.file_name("lock"));
    let f = open_private(&path, true).map_err(|e| io_at(&path, e))?;
    Ok((f, path))
}

/// Who holds the lock on `f`: the kernel's list of locks says, race-free; the pid the holder
/// wrote into the file is the fallback (it may be a moment late: written after the flock).
fn holder(f: &File, path: &Path) -> Option<u32> {
    from_proc_locks(f).or_else(|| {
        let mut s = String::new();
        open_private(path, false).ok()?.read_to_string(&mut s).ok()?;
        let pid: u32 = s.trim().parse().ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    })
}

/// The pid of the FLOCK on `f` in /proc/locks ("1: FLOCK ADVISORY WRITE PID MAJ:MIN:INO ...").
fn from_proc_locks(f: &File) -> Option<u32> {
    let m = f.metadata().ok()?;
    let want = format!(
        "{:02x}:{:02x}:{}",
        nix::sys::stat::major(m.dev()),
        nix::sys::stat::minor(m.dev()),
        m.ino()
    );
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    text.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        // entries blocked behind another ("1: -> FLOCK ...") are waiters, not holders
        (w.get(1) == Some(&"FLOCK") && w.get(5) == Some(&want.as_str()))
            .then(|| w.get(4)?.parse().ok())
            .flatten()
    })
}

/// One attempt: the lock, or who holds it.
pub fn try_lock(id: &NetnsId) -> Result<Result<Lock, LockError>, LockError> {
    let (f, path) = lock_file(id)?;
    match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(mut held) => {
            // the pid is for the error of whoever waits for us; the lock is the flock alone
            let mine = format!("{}\n", std::process::id());
            let written = held.set_len(0).and_then(|()| held.write_all(mine.as_bytes()));
            written.map_err(|e| io_at(&path, e))?;
            Ok(Ok(Lock { _file: held, id: *id }))
        }
        Err((f, nix::errno::Errno::EWOULDBLOCK)) => Ok(Err(LockError::Busy {
            holder: holder(&f, &path),
            waited: Duration::ZERO,
            path: path.display().to_string(),
        })),
        Err((_, e)) => Err(io_at(&path, e.into())),
    }
}

/// The next pause between attempts: short at first (most writes take milliseconds), never
/// past the deadline.
fn pause(tries: u32, left: Duration) -> Duration {
    Duration::from_millis(5u64 << tries.min(5)).min(left)
}

fn busy_after(e: LockError, waited: Duration) -> LockError {
    match e {
        LockError::Busy { holder, path, .. } => LockError::Busy { holder, waited, path },
        other => other,
    }
}

/// Waits up to `wait` on this thread: only for callers off the event loop (the one-shot
/// `lvsh ipvsadm` and `lvsh recover`); on the loop's thread the director asks for no wait,
/// and then nothing here sleeps.
pub fn lock_blocking(id: &NetnsId, wait: Duration) -> Result<Lock, LockError> {
    let start = Instant::now();
    let mut tries = 0;
    loop {
        match try_lock(id)? {
            Ok(l) => return Ok(l),
            Err(busy) => {
                let left = wait.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(busy_after(busy, start.elapsed()));
                }
                // off the event loop (see above): a blocking pause is right here
                std::thread::sleep(pause(tries, left));
                tries += 1;
            }
        }
    }
}

/// Waits up to `wait` on the event loop's timer: everything else on the loop goes on.
pub async fn lock_async(id: NetnsId, wait: Duration) -> Result<Lock, LockError> {
    let start = Instant::now();
    let mut tries = 0;
    loop {
        match try_lock(&id)? {
            Ok(l) => return Ok(l),
            Err(busy) => {
                let left = wait.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(busy_after(busy, start.elapsed()));
                }
                tokio::time::sleep(pause(tries, left)).await;
                tries += 1;
            }
        }
    }
}

/// Where the write-ahead record of a namespace's transaction is kept.
pub fn record_path(id: &NetnsId) -> PathBuf {
    run_dir().join("txn").join(id.file_name("json"))
}

/// The record left by a transaction that did not end, if any.
pub fn read_record(id: &NetnsId) -> Result<Option<String>, LockError> {
    let path = record_path(id);
    let mut s = String::new();
    match open_private(&path, false) {
        Ok(mut f) => f.read_to_string(&mut s).map_err(|e| io_at(&path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_at(&path, e)),
    };
    Ok(Some(s))
}

/// Writes the record whole or not at all (a random temporary name, synced, renamed into
/// place), then syncs the directory so the rename itself survives a crash.
pub fn write_record(id: &NetnsId, bytes: &[u8]) -> Result<(), LockError> {
    let path = record_path(id);
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir)?;
    crate::host::files::write_atomic(&path, bytes).map_err(|e| io_at(&path, e))?;
    sync_dir(dir)
}

pub fn remove_record(id: &NetnsId) -> Result<(), LockError> {
    let path = record_path(id);
    match std::fs::remove_file(&path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(&path, e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), LockError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_at(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    // one test: LVSH_RUN_DIR is the process's, and tests run on threads side by side
    #[test]
    fn a_second_writer_is_told_who_holds_the_lock_and_records_come_and_go() {
        let tmp = tempfile::tempdir().unwrap();
        // SAFETY: no other test of this binary reads LVSH_RUN_DIR
        unsafe { std::env::set_var("LVSH_RUN_DIR", tmp.path().join("run")) };
        let id = NetnsId {
            dev: 1,
            ino: 4026531840,
            cookie: 7,
        };
        let held = lock_blocking(&id, Duration::ZERO).unwrap();
        let start = Instant::now();
        let e = lock_blocking(&id, Duration::from_millis(60)).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(60));
        let text = e.to_string();
        assert!(
            text.contains(&format!("lvsh pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("waited 0.1s"), "{text}");
        drop(held);
        let again = lock_blocking(&id, Duration::ZERO).unwrap();
        drop(again);

        let locks = tmp.path().join("run/locks");
        assert_eq!(
            std::fs::metadata(&locks).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let lock = locks.join(id.file_name("lock"));
        assert_eq!(
            std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777,
            0o600
        );

        assert_eq!(read_record(&id).unwrap(), None);
        write_record(&id, b"{}").unwrap();
        assert_eq!(read_record(&id).unwrap().as_deref(), Some("{}"));
        let rec = record_path(&id);
        assert_eq!(
            std::fs::metadata(&rec).unwrap().permissions().mode() & 0o777,
            0o600
        );
        remove_record(&id).unwrap();
        assert_eq!(read_record(&id).unwrap(), None);

        // a link where the record goes is not followed
        std::os::unix::fs::symlink("/etc/passwd", &rec).unwrap();
        assert!(read_record(&id).is_err());
        std::fs::remove_file(&rec).unwrap();

        // a directory others may write to is refused
        let txn = tmp.path().join("run/txn");
        std::fs::set_permissions(&txn, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = write_record(&id, b"{}").unwrap_err().to_string();
        assert!(e.contains("only it may write"), "{e}");
        unsafe { std::env::remove_var("LVSH_RUN_DIR") };
    }
}
