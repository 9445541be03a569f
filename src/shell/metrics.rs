//! `lvsh metrics [--openmetrics] [--node-compat] [--server-rates]`: the exposition of this namespace's table, once, on
//! stdout (for node_exporter's textfile collector, or to look at what a scrape would show).
//! No monitors run here, so only the kernel's side and its totals are in it.

use std::io::Write;

use crate::director::Director;
use crate::metrics::{Options, Process, Snapshot, procfs, render_to};

pub const USAGE: &str = "\
usage: lvsh metrics [--openmetrics] [--node-compat] [--server-rates]
  prints the Prometheus exposition of this network namespace's IPVS table once
  --openmetrics   in the OpenMetrics format (as lvs.metrics serves when asked)
  --node-compat   node_exporter's node_ipvs_* series as well
  --server-rates  the kernel's rate estimates per real server too";

pub fn main(argv: &[std::ffi::OsString]) -> i32 {
    let args: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut opts = Options::default();
    for a in &args {
        match a.as_str() {
            "--openmetrics" => opts.openmetrics = true,
            "--node-compat" => opts.node_compat = true,
            "--server-rates" => opts.server_rates = true,
            "--help" | "-h" => {
                let _ = writeln!(std::io::stdout(), "{USAGE}");
                return 0;
            }
            other => {
                eprintln!("lvsh metrics: unexpected argument {other:?}\n{USAGE}");
                return 2;
            }
        }
    }
    let table = match Director::open()
        .map_err(|e| e.to_string())
        .and_then(|mut d| d.services().map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("lvsh metrics: {e}");
            return 1;
        }
    };
    let snapshot = Snapshot {
        table: table.into(),
        monitors: Vec::new(),
        totals: procfs::read(),
        process: Process::default(),
    };
    // written as it is encoded: 17 MB for 22,000 rules is never held at once
    let mut out = Out {
        to: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()),
        error: None,
    };
    let written = render_to(snapshot, opts, &mut out).map_err(|_| out.error.take());
    match written.and_then(|()| out.to.flush().map_err(Some)) {
        Ok(()) => 0,
        Err(None) => {
            eprintln!("lvsh metrics: the exposition could not be encoded");
            1
        }
        Err(Some(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(Some(e)) => {
            eprintln!("lvsh metrics: {e}");
            1
        }
    }
}

/// The encoder's text to stdout; fmt::Write has no room for the io::Error, so it waits here.
struct Out<W: Write> {
    to: W,
    error: Option<std::io::Error>,
}

impl<W: Write> std::fmt::Write for Out<W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.to.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            std::fmt::Error
        })
    }
}
