//! Benchmark helper (not part of lvsh): TCP listeners on 127.0.0.1, ports FIRST..FIRST+COUNT,
//! that accept and close, standing in for 10,000 real servers. Every 250 ms it writes how
//! many connections it has accepted so far to FILE: the checks per second of whatever checker
//! runs against them.
//!   listeners FIRST COUNT FILE

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (first, count, file) = match (args.get(1), args.get(2), args.get(3)) {
        (Some(f), Some(c), Some(p)) => (f.parse::<u16>().unwrap(), c.parse::<u16>().unwrap(), p.clone()),
        _ => {
            eprintln!("usage: listeners FIRST COUNT FILE");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    rt.block_on(async move {
        for port in first..first + count {
            let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            let n = accepted.clone();
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    n.fetch_add(1, Ordering::Relaxed);
                    drop(s);
                }
            });
        }
        loop {
            let tmp = format!("{file}.tmp");
            // the benchmark removed its directory: it is over
            if std::fs::write(&tmp, accepted.load(Ordering::Relaxed).to_string()).is_err()
                || std::fs::rename(&tmp, &file).is_err()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    });
}
