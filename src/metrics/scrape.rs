//! Scrapes off the event loop: a thread of its own, in the namespace the endpoint was started
//! in, with its own IPVS socket, dumps the kernel's table and encodes the exposition. A dump
//! of 22,000 rules and its encoding take tens of milliseconds (seconds in the sandbox), which
//! the checks on the loop should not wait for; the loop only copies the monitors' statuses
//! (they live there). The exposition is streamed in chunks as it is encoded: 30 MB of text
//! for such a table is never held at once.

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use nix::sched::{CloneFlags, setns};
use tokio::sync::mpsc::error::TrySendError;

use super::http::Chunks;
use super::{Options, Process, Snapshot, procfs, render_to};
use crate::check::monitor::Status;
use crate::ipvs::Client;
use crate::model::backend::Ipvs;

struct Job {
    monitors: Vec<Status>,
    process: Process,
    opts: Options,
    out: tokio::sync::mpsc::Sender<Bytes>,
}

/// How much text goes out at a time, and how many chunks may wait for the client.
const CHUNK: usize = 64 * 1024;
const QUEUED: usize = 4;
/// A client that reads nothing for this long loses its scrape (the thread serves the next).
const STALLED: Duration = Duration::from_secs(10);

pub struct Scraper {
    jobs: mpsc::Sender<Job>,
}

impl Scraper {
    /// Starts the thread in the network namespace the calling thread is in now.
    pub fn start() -> Result<Scraper, String> {
        let ns = File::open("/proc/thread-self/ns/net")
            .map_err(|e| format!("metrics: /proc/thread-self/ns/net: {e}"))?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("lvsh-scrape".into())
            .spawn(move || work(&ns, &queue))
            .map_err(|e| format!("metrics: cannot start the scrape thread: {e}"))?;
        Ok(Scraper { jobs })
    }

    /// The exposition of the kernel's table now, with `monitors` and `process`, as it is
    /// encoded.
    pub fn scrape(&self, monitors: Vec<Status>, process: Process, opts: Options) -> Result<Chunks, String> {
        let (out, chunks) = tokio::sync::mpsc::channel(QUEUED);
        let job = Job {
            monitors,
            process,
            opts,
            out,
        };
        self.jobs
            .send(job)
            .map_err(|_| "metrics: the scrape thread is gone".to_string())?;
        Ok(Chunks::new(chunks))
    }
}

/// Where the encoder writes: chunks handed to the connection as they fill.
struct Stream {
    buf: String,
    out: tokio::sync::mpsc::Sender<Bytes>,
}

impl Stream {
    fn flush(&mut self) -> std::fmt::Result {
        let text = std::mem::replace(&mut self.buf, String::with_capacity(CHUNK + 1024));
        let mut chunk = Bytes::from(text);
        let since = Instant::now();
        // waits on this thread, never on the loop; a client gone or stalled ends the scrape
        loop {
            match self.out.try_send(chunk) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(_)) => return Err(std::fmt::Error),
                Err(TrySendError::Full(c)) if since.elapsed() < STALLED => {
                    chunk = c;
                    // off the loop: this is the scrape thread, waiting for the client to read
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(TrySendError::Full(_)) => return Err(std::fmt::Error),
            }
        }
    }
}

impl std::fmt::Write for Stream {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.push_str(s);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }
}

/// The scrapes run at a lower priority than the loop (nice 10, this thread alone): on a
/// director whose cores are busy, the checks get the CPU first and a scrape takes longer.
/// Not SCHED_IDLE: on a core that is never idle that starved scrapes past any timeout.
fn idle() {
    // SAFETY: gettid has no arguments; setpriority on this thread's id.
    let r = unsafe {
        let tid = nix::libc::syscall(nix::libc::SYS_gettid) as nix::libc::id_t;
        nix::libc::setpriority(nix::libc::PRIO_PROCESS, tid, 10)
    };
    if r != 0 {
        crate::log::warn(&format!(
            "metrics: scrapes run at the loop's priority: {}",
            std::io::Error::last_os_error()
        ));
    }
}

fn work(ns: &File, queue: &mpsc::Receiver<Job>) {
    if let Err(e) = setns(ns.as_fd(), CloneFlags::CLONE_NEWNET) {
        crate::log::error(&format!("metrics: cannot enter the namespace to scrape: {e}"));
        return;
    }
    idle();
    let mut client = None;
    for job in queue {
        if client.is_none() {
            client = match Client::new() {
                Ok(c) => Some(c),
                Err(e) => {
                    crate::log::warn(&format!("metrics: cannot read the table: {e}"));
                    None
                }
            };
        }
        let table = match client.as_mut().map(|c| c.services()) {
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                crate::log::warn(&format!("metrics: cannot read the table: {e}"));
                // a socket that failed may be in a bad state: a new one next time
                client = None;
                Vec::new()
            }
            None => Vec::new(),
        };
        let snapshot = Snapshot {
            table: table.into(),
            monitors: job.monitors,
            totals: procfs::read(),
            process: job.process,
        };
        let mut stream = Stream {
            buf: String::with_capacity(CHUNK + 1024),
            out: job.out,
        };
        // an error is a client that went away: nothing to tell
        if render_to(snapshot, job.opts, &mut stream).is_ok() && !stream.buf.is_empty() {
            let _ = stream.flush();
        }
    }
}
