//! `lvsh import keepalived|ldirectord FILE [-o SCRIPT] [--partial]`: the other checker's
//! virtual servers as a director script. What was translated and what was left goes to stderr; exit 1 when
//! anything was left out (unless --partial) or the file does not parse.

use std::path::PathBuf;

const USAGE: &str = "usage: lvsh import keepalived|ldirectord FILE [-o SCRIPT.lua] [--partial]";

pub fn main(argv: &[String]) -> i32 {
    let mut file = None;
    let mut output: Option<PathBuf> = None;
    let mut partial = false;
    let mut kind = None;
    let mut args = argv.iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-o" => match args.next() {
                Some(p) => output = Some(p.into()),
                None => return usage("'-o' needs a file"),
            },
            "--partial" => partial = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return 0;
            }
            s if s.starts_with('-') => return usage(&format!("unrecognized option '{s}'")),
            s if kind.is_none() => kind = Some(s.to_string()),
            s if file.is_none() => file = Some(PathBuf::from(s)),
            s => return usage(&format!("one file at a time ('{s}')")),
        }
    }
    let read = match kind.as_deref() {
        Some("keepalived") => crate::import::keepalived::import,
        Some("ldirectord") => crate::import::ldirectord::import,
        Some(k) => {
            return usage(&format!(
                "cannot import '{k}' (keepalived and ldirectord are what lvsh reads)"
            ));
        }
        None => return usage("import what?"),
    };
    let Some(file) = file else {
        return usage("which file?");
    };
    let imported = match read(&file) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("lvsh import: {e}");
            return 1;
        }
    };
    for t in &imported.translated {
        eprintln!("translated: {t}");
    }
    for l in &imported.left {
        eprintln!("left out: {}: {}", l.at, l.why);
    }
    let written = match &output {
        Some(p) => crate::host::files::write_atomic(p, imported.script.as_bytes())
            .map_err(|e| format!("{}: {e}", p.display())),
        None => {
            print!("{}", imported.script);
            Ok(())
        }
    };
    if let Err(e) = written {
        eprintln!("lvsh import: cannot write {e}");
        return 1;
    }
    if !imported.left.is_empty() && !partial {
        eprintln!(
            "lvsh import: {} item(s) left out (listed above and in the script's header); --partial accepts that",
            imported.left.len()
        );
        return 1;
    }
    0
}

fn usage(why: &str) -> i32 {
    eprintln!("lvsh import: {why}\n{USAGE}");
    2
}
