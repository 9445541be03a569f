//! Timestamped log lines for long-running work (monitors, checks, hooks): stderr by default,
//! syslog (and so the journal) with `--syslog`, and above the prompt while the REPL waits.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    fn syslog_priority(self) -> nix::libc::c_int {
        match self {
            Level::Info => nix::libc::LOG_INFO,
            Level::Warn => nix::libc::LOG_WARNING,
            Level::Error => nix::libc::LOG_ERR,
        }
    }
}

type Printer = Box<dyn FnMut(String) + Send>;

static SYSLOG: AtomicBool = AtomicBool::new(false);
/// Set by the REPL while it waits at the prompt: lines then go above the prompt so that the
/// line being typed is redrawn, not broken.
static PRINTER: Mutex<Option<Printer>> = Mutex::new(None);
/// A file every line is appended to as well (`lvs.log.file`): hooks run by keepalived have
/// no terminal, and their stderr goes nowhere.
static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// Lines stderr did not take (a pipe whose reader went away: `lvsh x.lua 2>&1 | head`, a
/// log shipper restarting). They are dropped, never waited for, never a panic: a probe that
/// logs must go on probing.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Queues of the lines logged from now on (`lvsh attach --follow`); one a whole queue
/// behind is dropped, never waited for.
static FOLLOWERS: Mutex<Vec<tokio::sync::mpsc::Sender<std::sync::Arc<str>>>> = Mutex::new(Vec::new());

/// A queue of the log lines from now on, `capacity` deep.
pub fn follow(capacity: usize) -> tokio::sync::mpsc::Receiver<std::sync::Arc<str>> {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
    if let Ok(mut f) = FOLLOWERS.lock() {
        f.push(tx);
    }
    rx
}

fn to_followers(text: &str) {
    if let Ok(mut f) = FOLLOWERS.lock()
        && !f.is_empty()
    {
        let line: std::sync::Arc<str> = text.into();
        f.retain(|tx| tx.try_send(line.clone()).is_ok());
    }
}

/// Appends log lines to `f` too (`lvs.log.file`; the binding opens it, refusing links).
pub fn to_file(f: std::fs::File) {
    if let Ok(mut slot) = FILE.lock() {
        *slot = Some(f);
    }
}

/// How many lines could not be written to stderr.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::SeqCst)
}

/// Sends log lines to syslog as well (the journal reads /dev/log on systemd hosts).
pub fn enable_syslog() {
    if !SYSLOG.swap(true, Ordering::SeqCst) {
        // SAFETY: the ident is a 'static C string; openlog keeps the pointer.
        unsafe { nix::libc::openlog(c"lvsh".as_ptr(), nix::libc::LOG_PID, nix::libc::LOG_DAEMON) };
    }
}

pub fn set_printer(p: Option<Printer>) {
    if let Ok(mut slot) = PRINTER.lock() {
        *slot = p;
    }
}

/// Prints `text` above the REPL's prompt if it is waiting; false when it is not.
pub fn above_prompt(text: &str) -> bool {
    match PRINTER.lock() {
        Ok(mut slot) => match slot.as_mut() {
            Some(p) => {
                p(text.to_string());
                true
            }
            None => false,
        },
        Err(_) => false,
    }
}

pub fn line(level: Level, msg: &str) -> String {
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now());
    format!("{now} {:<5} {msg}", level.name())
}

/// Writes one line in one write where it can (lines from several processes sharing a pipe
/// stay whole); false when the writer refused it.
fn put(w: &mut dyn Write, text: &str) -> bool {
    let mut buf = Vec::with_capacity(text.len() + 1);
    buf.extend_from_slice(text.as_bytes());
    buf.push(b'\n');
    w.write_all(&buf).and_then(|_| w.flush()).is_ok()
}

/// The line to stderr (`err`), then to the file: a failing sink costs only its own copy.
fn deliver(text: &str, err: &mut dyn Write) {
    if !put(err, text) {
        let first = DROPPED.fetch_add(1, Ordering::SeqCst) == 0;
        if first {
            let note = "stderr no longer takes log lines; they are dropped there (lvs.log.dropped())";
            to_log_file(&line(Level::Warn, note));
        }
    }
    to_log_file(text);
}

fn to_log_file(text: &str) {
    if let Ok(mut slot) = FILE.lock()
        && let Some(f) = slot.as_mut()
    {
        let _ = put(f, text);
    }
}

pub fn log(level: Level, msg: &str) {
    let text = line(level, msg);
    to_followers(&text);
    if above_prompt(&text) {
        to_log_file(&text);
    } else {
        deliver(&text, &mut std::io::stderr().lock());
    }
    if SYSLOG.load(Ordering::SeqCst) {
        let msg = std::ffi::CString::new(msg.replace('\0', " ")).unwrap_or_default();
        // SAFETY: a "%s" format with one NUL-terminated string argument.
        unsafe { nix::libc::syslog(level.syslog_priority(), c"%s".as_ptr(), msg.as_ptr()) };
    }
}

pub fn info(msg: &str) {
    log(Level::Info, msg)
}
pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}
pub fn error(msg: &str) {
    log(Level::Error, msg)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    #[test]
    fn a_closed_stderr_drops_lines_and_the_file_still_gets_them() {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut err = writer;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        super::to_file(std::fs::File::create(&path).unwrap());
        let before = super::dropped();
        // the first write after the reader left fails with EPIPE (SIGPIPE is ignored)
        super::deliver("one", &mut err);
        super::deliver("two", &mut err);
        assert_eq!(super::dropped() - before, 2);
        let mut text = String::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.ends_with("one\ntwo\n"), "{text:?}");
        if let Ok(mut slot) = super::FILE.lock() {
            *slot = None;
        }
    }

    #[test]
    fn lines_carry_a_timestamp_and_level() {
        let l = super::line(super::Level::Warn, "x");
        assert!(l.ends_with("Z warn  x"), "{l}");
        assert!(l.starts_with("20"), "{l}");
    }
}
