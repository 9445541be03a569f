//! `lvsh metrics [--openmetrics] [--node-compat] [--server-rates]`: the exposition of this namespace's table, once, on
//! stdout (for node_exporter's textfile collector, or to look at what a scrape would show).
//! No monitors run here, so only the kernel's side and its totals are in it.

use std::io::Write;

use crate::director::Director;
use crate::metrics::{Options, Process, Snapshot, procfs, render};

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
    let text = render(snapshot, opts);
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("lvsh metrics: {e}");
            1
        }
    }
}
