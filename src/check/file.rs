//! File check, keepalived's FILE_CHECK (track_file): a number in a file sets the server's
//! weight, or takes it down. The number is read as C's strtol with base 0 reads it (decimal,
//! 0x hex, leading-0 octal, junk after it ignored); a missing or empty file is 0. With a
//! weight W (negated by `reverse`) the server is up at base + value × W (at least 0) and down
//! only when value × W reaches −2³¹; with W = 0 it is up while the value is 0 (with
//! `reverse`, while it is not).
//!
//! keepalived reads the file when inotify says it was written; lvsh reads it at each check.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use super::Outcome;

/// keepalived reads this much of the file.
const MAX_READ: u64 = 127;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct File {
    pub path: String,
    pub weight: i64,
    pub reverse: bool,
    /// The server's weight before the file's value counts.
    pub base: u32,
    pub timeout: Duration,
}

impl File {
    pub fn run(&self, started: Instant) -> Outcome {
        let value = match read(&self.path) {
            Ok(v) => v,
            Err(e) => return Outcome::down(format!("{}: {e}", self.path), started),
        };
        match verdict(value, self.weight, self.reverse, self.base) {
            Some(w) => {
                let mut o = Outcome::up(format!("{} is {value}: weight {w}", self.path), started);
                o.weight = Some(w);
                o
            }
            None => Outcome::down(format!("{} is {value}", self.path), started),
        }
    }
}

/// The weight the value gives, or None: down.
pub fn verdict(value: i64, weight: i64, reverse: bool, base: u32) -> Option<u32> {
    let mult = if reverse { -1 } else { 1 };
    if weight == 0 {
        return ((value == 0) != reverse).then_some(base);
    }
    let status = value.saturating_mul(weight).saturating_mul(mult);
    if status <= i64::from(i32::MIN) {
        return None;
    }
    let status = status.min(i64::from(i32::MAX));
    Some((i64::from(base) + status).clamp(0, i64::from(i32::MAX)) as u32)
}

/// The file's number; a file that is not there is 0. Opened without blocking (a FIFO put
/// there would otherwise wait for a writer) and read at most MAX_READ bytes.
fn read(path: &str) -> Result<i64, String> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path);
    let f = match f {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(super::tcp::io_reason(&e)),
    };
    match f.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err("not a regular file".into()),
        Err(e) => return Err(super::tcp::io_reason(&e)),
    }
    let mut buf = Vec::new();
    f.take(MAX_READ)
        .read_to_end(&mut buf)
        .map_err(|e| super::tcp::io_reason(&e))?;
    Ok(strtol(&String::from_utf8_lossy(&buf)))
}

/// C's strtol(s, NULL, 0): leading space, a sign, then 0x hex, 0 octal or decimal, as far
/// as the digits go; nothing read is 0. Saturates where strtol would give LONG_MIN/MAX.
pub fn strtol(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.starts_with('0') {
        (8, s)
    } else {
        (10, s)
    };
    let mut v: i64 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else { break };
        v = v.saturating_mul(i64::from(radix)).saturating_add(i64::from(d));
    }
    if neg { v.saturating_neg() } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_strtol_reads_them() {
        for (s, v) in [
            ("42\n", 42),
            ("  -7 apples", -7),
            ("0x1f", 31),
            ("010", 8),
            ("", 0),
            ("abc", 0),
            ("+3", 3),
            ("99999999999999999999999", i64::MAX),
        ] {
            assert_eq!(strtol(s), v, "{s:?}");
        }
    }

    #[test]
    fn the_value_sets_the_weight_or_takes_the_server_down() {
        assert_eq!(verdict(3, 2, false, 1), Some(7));
        assert_eq!(verdict(3, 2, true, 10), Some(4));
        assert_eq!(verdict(-5, 1, false, 2), Some(0), "never below 0");
        assert_eq!(verdict(i64::from(i32::MIN), 1, false, 5), None);
        assert_eq!(verdict(0, 0, false, 5), Some(5));
        assert_eq!(verdict(1, 0, false, 5), None);
        assert_eq!(verdict(1, 0, true, 5), Some(5));
        assert_eq!(verdict(0, 0, true, 5), None);
    }

    #[test]
    fn a_file_that_is_not_there_is_0_and_a_fifo_does_not_block() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w");
        let c = File {
            path: p.to_str().unwrap().into(),
            weight: 1,
            reverse: false,
            base: 1,
            timeout: Duration::from_secs(1),
        };
        let o = c.run(Instant::now());
        assert_eq!((o.ok, o.weight), (true, Some(1)));
        std::fs::write(&p, "4\n").unwrap();
        assert_eq!(c.run(Instant::now()).weight, Some(5));
        std::fs::remove_file(&p).unwrap();
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let o = c.run(Instant::now());
        assert!(!o.ok && o.detail.ends_with("not a regular file"), "{o:?}");
    }
}
