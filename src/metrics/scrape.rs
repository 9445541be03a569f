//! Scrapes off the event loop: a thread of its own, in the namespace the endpoint was started
//! in, with its own IPVS socket, dumps the kernel's table and encodes the exposition. A dump
//! of 22,000 rules and its encoding take tens of milliseconds (seconds in the sandbox), which
//! the checks on the loop should not wait for; the loop only copies the monitors' statuses
//! (they live there). The exposition is streamed in chunks as it is encoded: 30 MB of text
//! for such a table is never held at once.

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex, mpsc};
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
const QUEUED: usize = 8;
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

/// Chunk buffers, reused: each comes back when the connection has written it out, so a
/// scrape's 17 MB pass through the same few buffers rather than fresh memory (fresh pages
/// are what a small VM, or the sandbox's kernel, charges most for). A buffer coming back
/// also wakes the encoder waiting for room: a sleep-and-retry cost a slow kernel's timer
/// granularity (10 ms) per chunk, seconds per scrape.
#[derive(Clone, Default)]
struct Pool(Arc<(Mutex<Vec<Vec<u8>>>, Condvar)>);

impl Pool {
    fn take(&self) -> Vec<u8> {
        let reused = self.0.0.lock().ok().and_then(|mut free| free.pop());
        reused.unwrap_or_else(|| Vec::with_capacity(CHUNK + 1024))
    }

    fn give(&self, mut buf: Vec<u8>) {
        buf.clear();
        if let Ok(mut free) = self.0.0.lock()
            && free.len() <= QUEUED + 2
        {
            free.push(buf);
        }
        self.0.1.notify_one();
    }

    /// Until a chunk has gone out, or `most` has passed.
    fn wait(&self, most: Duration) {
        if let Ok(free) = self.0.0.lock() {
            let _ = self.0.1.wait_timeout(free, most);
        }
    }
}

/// A chunk on its way out, its buffer owed to the pool.
struct Pooled {
    buf: Vec<u8>,
    pool: Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

/// Where the encoder writes: chunks handed to the connection as they fill.
struct Stream {
    buf: Vec<u8>,
    pool: Pool,
    out: tokio::sync::mpsc::Sender<Bytes>,
}

impl Stream {
    fn flush(&mut self) -> std::fmt::Result {
        let buf = std::mem::replace(&mut self.buf, self.pool.take());
        let mut chunk = Bytes::from_owner(Pooled {
            buf,
            pool: self.pool.clone(),
        });
        let since = Instant::now();
        // waits on this thread, never on the loop; a client gone or stalled ends the scrape
        loop {
            match self.out.try_send(chunk) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(_)) => return Err(std::fmt::Error),
                Err(TrySendError::Full(c)) if since.elapsed() < STALLED => {
                    chunk = c;
                    // off the loop: this is the scrape thread, waiting for the client to
                    // read; the bound covers a wakeup that came before the wait
                    self.pool.wait(Duration::from_millis(5));
                }
                Err(TrySendError::Full(_)) => return Err(std::fmt::Error),
            }
        }
    }
}

impl std::fmt::Write for Stream {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.extend_from_slice(s.as_bytes());
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }
}

// The scrape thread runs at the loop's priority, on purpose. Below it (nice 5 or 10), on a
// director whose cores are all busy, a scrape of 22,000 rules took two to three times as
// long and the checks were no more on time for it: beside 1,000 checks a second on the
// sandbox's one slow core they were within their interval either way, the loop needing a
// fifth of the core (scripts/bench.d/scrape.sh). SCHED_IDLE starved scrapes past any timeout.

fn work(ns: &File, queue: &mpsc::Receiver<Job>) {
    if let Err(e) = setns(ns.as_fd(), CloneFlags::CLONE_NEWNET) {
        crate::log::error(&format!("metrics: cannot enter the namespace to scrape: {e}"));
        return;
    }
    let mut client = None;
    let pool = Pool::default();
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
            buf: pool.take(),
            pool: pool.clone(),
            out: job.out,
        };
        // an error is a client that went away: nothing to tell
        if render_to(snapshot, job.opts, &mut stream).is_ok() && !stream.buf.is_empty() {
            let _ = stream.flush();
        }
        pool.give(stream.buf);
    }
}
