//! Running scripts and `-e` chunks non-interactively.

use std::io::Read;

use mlua::{MultiValue, Value};

use crate::cli::Script;
use crate::lua::{Failure, State};

/// Sets the global `arg` as the standalone lua does: arg[0] is the script, arg[1..] its
/// arguments and arg[-1] the interpreter.
pub fn set_arg(state: &State, script: Option<&Script>, args: &[String]) -> mlua::Result<()> {
    let lua = state.lua();
    let arg = lua.create_table()?;
    arg.set(-1, "lvsh")?;
    match script {
        Some(Script::File(path)) => arg.set(0, path.as_str())?,
        Some(Script::Stdin) => arg.set(0, "-")?,
        None => {}
    }
    for (i, a) in args.iter().enumerate() {
        arg.set(i + 1, a.as_str())?;
    }
    lua.globals().set("arg", arg)
}

pub fn run_chunk(state: &State, src: &str, name: &str) -> Result<(), i32> {
    let f = state.load(src, name).map_err(report)?;
    state.call_traced(f, MultiValue::new()).map(drop).map_err(report)
}

pub fn run_script(state: &State, script: &Script, args: &[String]) -> Result<(), i32> {
    let (src, name) = match script {
        Script::File(path) => match std::fs::read(path) {
            Ok(bytes) => (bytes, format!("@{path}")),
            Err(e) => {
                eprintln!("lvsh: cannot open {path}: {e}");
                return Err(1);
            }
        },
        Script::Stdin => {
            let mut bytes = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
                eprintln!("lvsh: cannot read stdin: {e}");
                return Err(1);
            }
            (bytes, "=stdin".to_string())
        }
    };
    let f = state.load(skip_shebang(&src), &name).map_err(report)?;
    let argv: MultiValue = args
        .iter()
        .map(|a| state.lua().create_string(a).map(Value::String))
        .collect::<mlua::Result<_>>()
        .map_err(|e| report(Failure::Runtime(e.to_string())))?;
    state.call_traced(f, argv).map(drop).map_err(report)
}

/// `#!/usr/bin/env lvsh` scripts: the first line is blanked, keeping line numbers right.
fn skip_shebang(src: &[u8]) -> &[u8] {
    if src.starts_with(b"#") {
        src.iter().position(|&b| b == b'\n').map_or(&[], |i| &src[i..])
    } else {
        src
    }
}

fn report(f: Failure) -> i32 {
    eprintln!("lvsh: {f}");
    1
}

#[cfg(test)]
mod tests {
    use super::skip_shebang;

    #[test]
    fn shebang_is_blanked_keeping_lines() {
        assert_eq!(skip_shebang(b"#!/usr/bin/env lvsh\nprint(1)"), b"\nprint(1)");
        assert_eq!(skip_shebang(b"print(1)"), b"print(1)");
        assert_eq!(skip_shebang(b"#!x"), b"");
        assert_eq!(skip_shebang(b"x = '\xff\xfe'"), b"x = '\xff\xfe'");
    }
}
