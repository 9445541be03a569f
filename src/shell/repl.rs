//! The interactive shell: rustyline with history, multi-line chunks, completion and Ctrl-C.

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use mlua::{HookTriggers, MultiValue, VmState};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use super::complete::LuaHelper;
use crate::lua::{Failure, State};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: nix::libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LVSH_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".lvsh_history"))
}

/// The history file holds what an operator typed as root: it is created, and kept, 0600.
fn secure_history(path: &PathBuf) {
    let _ = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path);
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

/// What a complete input line (or lines) compiles to.
enum Parsed {
    Ready(mlua::Function),
    Incomplete,
    Error(String),
}

fn parse(state: &State, input: &str) -> Parsed {
    let body = input.strip_prefix('=').map(|rest| format!("return {rest}"));
    if let Some(expr) = body {
        return match state.load(&expr, "=stdin") {
            Ok(f) => Parsed::Ready(f),
            Err(Failure::Syntax { incomplete: true, .. }) => Parsed::Incomplete,
            Err(e) => Parsed::Error(e.to_string()),
        };
    }
    // As lua.c does: try it as an expression first, so `1+1` prints 2.
    if let Ok(f) = state.load(&format!("return {input};"), "=stdin") {
        return Parsed::Ready(f);
    }
    match state.load(input, "=stdin") {
        Ok(f) => Parsed::Ready(f),
        Err(Failure::Syntax { incomplete: true, .. }) => Parsed::Incomplete,
        Err(e) => Parsed::Error(e.to_string()),
    }
}

fn eval(state: &State, f: mlua::Function) {
    INTERRUPTED.store(false, Ordering::SeqCst);
    let lua = state.lua();
    let hooked = lua.set_hook(HookTriggers::new().every_nth_instruction(1000), |_, _| {
        if INTERRUPTED.swap(false, Ordering::SeqCst) {
            Err(mlua::Error::runtime("interrupted"))
        } else {
            Ok(VmState::Continue)
        }
    });
    let result = state.call_traced(f, MultiValue::new());
    if hooked.is_ok() {
        lua.remove_hook();
    }
    match result {
        Ok(values) if !values.is_empty() => println!("{}", state.pretty(values)),
        Ok(_) => {}
        Err(e) => eprintln!("{e}"),
    }
}

/// Handbook commands pasted as they are: `ipvsadm -A -t ...` runs natively.
fn is_ipvsadm_line(line: &str) -> bool {
    let t = line.trim_start();
    t == "ipvsadm" || t.starts_with("ipvsadm ")
}

fn run_ipvsadm_line(state: &State, line: &str) {
    let argv = crate::ipvsadm::rules::tokens(line);
    match crate::lua::run_ipvsadm(state.lua(), &argv) {
        Ok(out) => {
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            let _ = std::io::Write::flush(&mut std::io::stdout());
        }
        Err(e) => eprintln!("{e}"),
    }
}

pub fn run(state: &State) -> i32 {
    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .max_history_size(10_000)
        .map(|b| b.build())
        .unwrap_or_default();
    let mut rl: Editor<LuaHelper, FileHistory> = match Editor::with_config(config) {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("lvsh: cannot start the line editor: {e}");
            return 1;
        }
    };
    rl.set_helper(Some(LuaHelper { state: state.clone() }));
    let history = history_path();
    if let Some(path) = &history {
        secure_history(path);
        let _ = rl.load_history(path);
    }
    // Ctrl-C while Lua runs interrupts the chunk, not the shell.
    let action = SigAction::new(SigHandler::Handler(on_sigint), SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler only stores to an atomic.
    let _ = unsafe { sigaction(Signal::SIGINT, &action) };

    println!("{} -- help() for help, Ctrl-D to exit", super::version_line());
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() { "> " } else { ">> " };
        match rl.readline(prompt) {
            Ok(line) => {
                if pending.is_empty() && line.trim().is_empty() {
                    continue;
                }
                if pending.is_empty() && is_ipvsadm_line(&line) {
                    let _ = rl.add_history_entry(line.as_str());
                    if let Some(path) = &history {
                        let _ = rl.append_history(path);
                        secure_history(path);
                    }
                    run_ipvsadm_line(state, &line);
                    continue;
                }
                if !pending.is_empty() {
                    pending.push('\n');
                }
                pending.push_str(&line);
                let parsed = parse(state, &pending);
                if matches!(parsed, Parsed::Incomplete) {
                    continue;
                }
                let entry = std::mem::take(&mut pending);
                let _ = rl.add_history_entry(entry.as_str());
                if let Some(path) = &history {
                    let _ = rl.append_history(path);
                    secure_history(path);
                }
                match parsed {
                    Parsed::Ready(f) => eval(state, f),
                    Parsed::Error(msg) => eprintln!("{msg}"),
                    Parsed::Incomplete => {}
                }
            }
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                println!("^C");
            }
            Err(ReadlineError::Eof) => {
                println!();
                return 0;
            }
            Err(e) => {
                eprintln!("lvsh: {e}");
                return 1;
            }
        }
    }
}
