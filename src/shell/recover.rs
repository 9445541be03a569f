//! `lvsh recover [--rollback|--finish]`: what a transaction cut short (SIGKILL, a crash, a
//! power cut of the process) left in this network namespace's table, and putting it right.

use std::io::Write;

use crate::director::{Director, Recovery};

pub const USAGE: &str = "\
usage: lvsh recover [--rollback|--finish]
  (no option)  report the interrupted transaction of this network namespace, if any
               (exit status 0: none; 3: one is recorded)
  --rollback   undo it: the services it touched go back to how they were before it
  --finish     complete it: the services it touched become what it was making of them
Run it in the namespace the transaction was in (ip netns exec NAME lvsh recover).";

/// Exit status of a report that found an interrupted transaction.
pub const FOUND: i32 = 3;

pub fn main(argv: &[std::ffi::OsString]) -> i32 {
    let args: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let how = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => None,
        ["--rollback"] => Some(Recovery::Rollback),
        ["--finish"] => Some(Recovery::Finish),
        ["--help"] | ["-h"] => {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return 0;
        }
        other => {
            eprintln!("lvsh recover: unexpected arguments {other:?}\n{USAGE}");
            return 2;
        }
    };
    let mut d = match Director::open() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("lvsh recover: cannot open IPVS: {e}");
            return 1;
        }
    };
    let mut out = std::io::stdout();
    match how {
        None => match d.interrupted() {
            Ok(None) => {
                let _ = writeln!(
                    out,
                    "nothing to recover: no interrupted transaction is recorded for this network namespace"
                );
                0
            }
            Ok(Some(i)) => {
                let _ = writeln!(
                    out,
                    "{i}\n`lvsh recover --rollback` undoes it; `lvsh recover --finish` completes it"
                );
                FOUND
            }
            Err(e) => {
                eprintln!("lvsh recover: {e}");
                1
            }
        },
        Some(how) => match d.recover(how) {
            Ok(None) => {
                let _ = writeln!(
                    out,
                    "nothing to recover: no interrupted transaction is recorded for this network namespace"
                );
                0
            }
            Ok(Some((i, ops))) => {
                let done = match how {
                    Recovery::Rollback => "rolled back",
                    Recovery::Finish => "finished",
                };
                let _ = writeln!(
                    out,
                    "{done} the interrupted {} of lvsh pid {} ({ops} operations)",
                    i.what, i.pid
                );
                0
            }
            Err(e) => {
                eprintln!("lvsh recover: {e}");
                1
            }
        },
    }
}
