//! Timestamped log lines for long-running work (monitors, checks, hooks): stderr by default,
//! syslog (and so the journal) with `--syslog`, and above the prompt while the REPL waits.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Appends log lines to `path` too (created 0600).
pub fn to_file(path: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    if let Ok(mut slot) = FILE.lock() {
        *slot = Some(f);
    }
    Ok(())
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

pub fn log(level: Level, msg: &str) {
    let text = line(level, msg);
    if !above_prompt(&text) {
        eprintln!("{text}");
    }
    if let Ok(mut slot) = FILE.lock()
        && let Some(f) = slot.as_mut()
    {
        use std::io::Write;
        let _ = writeln!(f, "{text}");
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
    #[test]
    fn lines_carry_a_timestamp_and_level() {
        let l = super::line(super::Level::Warn, "x");
        assert!(l.ends_with("Z warn  x"), "{l}");
        assert!(l.starts_with("20"), "{l}");
    }
}
