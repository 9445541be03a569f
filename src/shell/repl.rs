//! The interactive shell: rustyline with history, multi-line chunks, completion and Ctrl-C.
//!
//! The line editor runs on a thread of its own so that the event loop (and with it every
//! monitor and task) keeps running while the prompt waits; log lines and `print` output of
//! background tasks go above the prompt, which rustyline redraws with the line being typed.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};

use mlua::MultiValue;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor, ExternalPrinter};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::complete::{CompletionRequest, LuaHelper};
use crate::lua::engine::INTERRUPT;
use crate::lua::{Failure, State};

extern "C" fn on_sigint(_: nix::libc::c_int) {
    INTERRUPT.store(true, Ordering::SeqCst);
}

fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LVSH_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".lvsh_history"))
}

/// The history file, opened once and kept open; rustyline is given its descriptor's
/// /proc/self/fd path, so every later load and append reaches this very file, whatever is
/// renamed or linked in its place meanwhile.
pub(super) struct History {
    _file: File,
    pub(super) path: PathBuf,
}

/// The history holds what an operator typed as root, perhaps in another user's home (`sudo
/// -E`): it is opened without following a link planted there, refused unless it is a regular
/// file of its own, and created, and kept, 0600 through the open descriptor.
fn open_history(path: &std::path::Path) -> Result<History, String> {
    let why = |e: std::io::Error| format!("history not kept: {}: {e}", path.display());
    let file = crate::host::files::open_private(path, true).map_err(why)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(why)?;
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    if !by_fd.exists() {
        return Err(format!(
            "history not kept: {}: /proc is not mounted",
            path.display()
        ));
    }
    Ok(History {
        _file: file,
        path: by_fd,
    })
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
    if let Ok(f) = state.load(format!("return {input};"), "=stdin") {
        return Parsed::Ready(f);
    }
    match state.load(input, "=stdin") {
        Ok(f) => Parsed::Ready(f),
        Err(Failure::Syntax { incomplete: true, .. }) => Parsed::Incomplete,
        Err(e) => Parsed::Error(e.to_string()),
    }
}

fn eval(state: &State, f: mlua::Function) {
    INTERRUPT.store(false, Ordering::SeqCst);
    let result = state.call_traced_until(f, MultiValue::new(), Some(&INTERRUPT));
    INTERRUPT.store(false, Ordering::SeqCst);
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
    // split as the shell the line was copied from would split it
    let argv = match crate::ipvsadm::words::shell_words(line) {
        Ok(argv) => argv,
        Err(e) => return eprintln!("ipvsadm: {e}"),
    };
    // a stop right after a start gives the daemon its moment on the loop, which turns meanwhile
    if crate::ipvsadm::exec::stops_daemon(&argv)
        && let Ok(Some(wait)) = crate::lua::daemon_settle(state.lua())
    {
        state.engine().block_on(tokio::time::sleep(wait), None);
    }
    match crate::lua::run_ipvsadm(state.lua(), &argv) {
        Ok(out) => {
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            let _ = std::io::Write::flush(&mut std::io::stdout());
        }
        Err(e) => eprintln!("{e}"),
    }
}

/// What the shell asks of the line-editor thread.
enum ToReader {
    Read(String),
    History(String),
}

/// What the line-editor thread tells the shell.
enum FromReader {
    Line(Result<String, ReadlineError>),
    Complete(CompletionRequest),
}

type Printer = Arc<Mutex<Box<dyn ExternalPrinter + Send>>>;

pub(super) type LineEditor = Editor<LuaHelper, FileHistory>;

/// The line editor of lvsh's prompts (its own and `lvsh attach`'s), completing through
/// `helper`, with the history loaded (when it can be kept).
pub(super) fn editor(helper: LuaHelper) -> Result<(LineEditor, Option<History>), String> {
    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .max_history_size(10_000)
        .map(|b| b.build())
        .unwrap_or_default();
    let mut rl: LineEditor = Editor::with_config(config).map_err(|e| e.to_string())?;
    rl.set_helper(Some(helper));
    let history = history_path().and_then(|p| match open_history(&p) {
        Ok(h) => Some(h),
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "lvsh: {e}");
            None
        }
    });
    if let Some(h) = &history {
        let _ = rl.load_history(&h.path);
    }
    Ok((rl, history))
}

/// The line editor's thread: reads a line when asked, keeps the history file.
fn reader(
    requests: mpsc::Receiver<ToReader>,
    events: UnboundedSender<FromReader>,
    ready: mpsc::Sender<Result<Option<Printer>, String>>,
) {
    let completions = events.clone();
    let (mut rl, history) = match editor(LuaHelper::new(move |req| {
        completions.send(FromReader::Complete(req)).is_ok()
    })) {
        Ok(e) => e,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    // Not on a terminal (input piped in), there is no prompt to print above.
    let printer = rl.create_external_printer().ok().map(|p| {
        let boxed: Box<dyn ExternalPrinter + Send> = Box::new(p);
        Arc::new(Mutex::new(boxed))
    });
    let _ = ready.send(Ok(printer));
    while let Ok(req) = requests.recv() {
        match req {
            ToReader::Read(prompt) => {
                let line = rl.readline(&prompt);
                if events.send(FromReader::Line(line)).is_err() {
                    return;
                }
            }
            ToReader::History(entry) => {
                let _ = rl.add_history_entry(entry.as_str());
                if let Some(h) = &history {
                    let _ = rl.append_history(&h.path);
                }
            }
        }
    }
}

/// Waits for the next line while the event loop runs; answers completion requests meanwhile.
fn next_line(
    state: &State,
    events: &mut UnboundedReceiver<FromReader>,
) -> Option<Result<String, ReadlineError>> {
    let mut line = None;
    state.engine().turn(async {
        while let Some(ev) = events.recv().await {
            match ev {
                FromReader::Complete(req) => {
                    let found = state.complete(&req.word);
                    req.answer(found);
                }
                FromReader::Line(l) => {
                    line = Some(l);
                    return;
                }
            }
        }
    });
    line
}

pub fn run(state: &State) -> i32 {
    let (to_reader, requests) = mpsc::channel();
    let (events_tx, mut events) = unbounded_channel();
    let (ready_tx, ready) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("lvsh-readline".into())
        .spawn(move || reader(requests, events_tx, ready_tx));
    if let Err(e) = thread {
        eprintln!("lvsh: cannot start the line editor: {e}");
        return 1;
    }
    let printer = match ready.recv() {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            eprintln!("lvsh: cannot start the line editor: {e}");
            return 1;
        }
        Err(_) => {
            eprintln!("lvsh: cannot start the line editor");
            return 1;
        }
    };
    // Ctrl-C while Lua runs interrupts the chunk, not the shell.
    let action = SigAction::new(SigHandler::Handler(on_sigint), SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler only stores to an atomic.
    let _ = unsafe { sigaction(Signal::SIGINT, &action) };
    // and when no lvs.run listens for it, it is still the shell's (not the default's)
    crate::runtime::signals::keep(nix::libc::SIGINT);
    if let Err(e) = crate::lua::engine::print_above_prompt(state.lua()) {
        eprintln!("lvsh: {e}");
    }

    println!("{} -- help() for help, Ctrl-D to exit", super::version_line());
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() { "> " } else { ">> " };
        if to_reader.send(ToReader::Read(prompt.to_string())).is_err() {
            return 1;
        }
        if let Some(p) = printer.clone() {
            crate::log::set_printer(Some(Box::new(move |text: String| {
                if let Ok(mut p) = p.lock() {
                    let _ = p.print(text);
                }
            })));
        }
        let line = next_line(state, &mut events);
        crate::log::set_printer(None);
        let add_history = |entry: &str| {
            let _ = to_reader.send(ToReader::History(entry.to_string()));
        };
        match line {
            Some(Ok(line)) => {
                if pending.is_empty() && line.trim().is_empty() {
                    continue;
                }
                if pending.is_empty() && is_ipvsadm_line(&line) {
                    add_history(&line);
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
                add_history(&entry);
                match parsed {
                    Parsed::Ready(f) => eval(state, f),
                    Parsed::Error(msg) => eprintln!("{msg}"),
                    Parsed::Incomplete => {}
                }
            }
            Some(Err(ReadlineError::Interrupted)) => {
                pending.clear();
                println!("^C");
            }
            Some(Err(ReadlineError::Eof)) => {
                println!();
                return 0;
            }
            Some(Err(e)) => {
                eprintln!("lvsh: {e}");
                return 1;
            }
            None => return 1,
        }
    }
}
