//! `lvsh attach`: the REPL everyone knows, whose chunks run inside a running director (on
//! its event loop, in its Lua state); or one chunk (`-e`), its log (`--follow`), its events
//! (`--events`), the directors running (`--list`).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use rustyline::error::ReadlineError;

use super::complete::LuaHelper;
use crate::cli::{ATTACH_USAGE, Attach};
use crate::control::client::{self, Connection};
use crate::control::wire::{Reply, Request};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: nix::libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn main(argv: Vec<OsString>) -> i32 {
    let a = match crate::cli::parse_attach(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lvsh attach: {e}\n{ATTACH_USAGE}");
            return 2;
        }
    };
    if a.list {
        return list();
    }
    let path = match target(&a) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("lvsh attach: {e}");
            return 1;
        }
    };
    let conn = match client::connect(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lvsh attach: {e}");
            return 1;
        }
    };
    // Ctrl-C while a chunk runs interrupts it in the director, not this client
    let action = SigAction::new(SigHandler::Handler(on_sigint), SaFlags::empty(), SigSet::empty());
    if !a.follow && !a.events {
        // SAFETY: the handler only stores to an atomic.
        let _ = unsafe { sigaction(Signal::SIGINT, &action) };
    }
    let out = Output::new(conn);
    if !a.chunks.is_empty() {
        for chunk in &a.chunks {
            match out.run(chunk, a.budget, false) {
                Ok(true) => {}
                Ok(false) => return 1,
                Err(e) => {
                    eprintln!("lvsh attach: {e}");
                    return 1;
                }
            }
        }
        if !a.follow && !a.events {
            return 0;
        }
    }
    if a.follow || a.events {
        return out.stream(a.follow, a.events);
    }
    repl(out, a.budget)
}

/// The socket to attach to: a path, a name, or the only director running.
fn target(a: &Attach) -> Result<PathBuf, String> {
    match &a.target {
        Some(t) if t.contains('/') => Ok(PathBuf::from(t)),
        Some(name) => Ok(crate::control::socket_path(name)),
        None => {
            let dir = crate::host::lock::run_dir();
            let live: Vec<_> = client::sockets(&dir)
                .into_iter()
                .filter_map(|p| client::connect(&p).ok())
                .map(|c| c.director)
                .collect();
            match live.as_slice() {
                [one] => Ok(one.path.clone()),
                [] => Err(format!(
                    "no director is running (no control socket answers in {})",
                    dir.display()
                )),
                many => Err(format!(
                    "several directors are running; name one: {}",
                    many.iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
    }
}

fn list() -> i32 {
    let dir = crate::host::lock::run_dir();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{:<20} {:>8} {:>10}  SCRIPT", "NAME", "PID", "UPTIME");
    for p in client::sockets(&dir) {
        if let Ok(c) = client::connect(&p) {
            let d = c.director;
            let up = Duration::from_secs((now - d.started).max(0.0) as u64);
            let up = humantime::format_duration(up).to_string();
            let _ = writeln!(out, "{:<20} {:>8} {:>10}  {}", d.name, d.pid, up, d.script);
        }
    }
    0
}

/// The connection, shared with the completer (which asks the director from rustyline).
#[derive(Clone)]
struct Output {
    conn: Arc<Mutex<Connection>>,
}

impl Output {
    fn new(conn: Connection) -> Output {
        Output {
            conn: Arc::new(Mutex::new(conn)),
        }
    }

    fn send(&self, req: &Request) -> Result<(), String> {
        match self.conn.lock() {
            Ok(mut c) => c.send(req),
            Err(_) => Err("the connection is broken".into()),
        }
    }

    fn next(&self, wait: Duration) -> Result<Option<Reply>, String> {
        let c = self
            .conn
            .lock()
            .map_err(|_| "the connection is broken".to_string())?;
        match c.replies.recv_timeout(wait) {
            Ok(Ok(Reply::Refused { why })) => Err(format!("the director refused: {why}")),
            Ok(Ok(r)) => Ok(Some(r)),
            Ok(Err(e)) => Err(format!("the director closed the connection ({e})")),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err("the director closed the connection".into()),
        }
    }

    /// Runs `chunk` in the director, printing what it prints; whether it ran without error.
    fn run(&self, chunk: &str, budget: Option<f64>, values: bool) -> Result<bool, String> {
        INTERRUPTED.store(false, Ordering::SeqCst);
        self.send(&Request::Run {
            chunk: chunk.to_string(),
            budget,
            values,
        })?;
        loop {
            if INTERRUPTED.swap(false, Ordering::SeqCst) {
                self.send(&Request::Interrupt)?;
            }
            match self.next(Duration::from_millis(50))? {
                Some(Reply::Out { text }) => {
                    let mut o = std::io::stdout().lock();
                    let _ = o.write_all(text.as_bytes());
                    let _ = o.flush();
                }
                Some(Reply::Err { text }) => {
                    let _ = std::io::stderr().write_all(text.as_bytes());
                }
                Some(Reply::Done { ok, text }) => {
                    if ok && !text.is_empty() {
                        println!("{text}");
                    } else if !ok {
                        eprintln!("{text}");
                    }
                    return Ok(ok);
                }
                Some(_) | None => {}
            }
        }
    }

    /// `--follow` and `--events`: prints what comes until the director goes away.
    fn stream(&self, follow: bool, events: bool) -> i32 {
        let asked = [(follow, Request::Follow), (events, Request::Events)];
        for (_, req) in asked.iter().filter(|(want, _)| *want) {
            if let Err(e) = self.send(req) {
                eprintln!("lvsh attach: {e}");
                return 1;
            }
        }
        loop {
            let line = match self.next(Duration::from_secs(3600)) {
                Ok(Some(Reply::Log { line })) => line,
                Ok(Some(Reply::Event { event })) => event.to_string(),
                Ok(_) => continue,
                Err(e) => {
                    eprintln!("lvsh attach: {e}");
                    return 0;
                }
            };
            let mut o = std::io::stdout().lock();
            if writeln!(o, "{line}").and_then(|_| o.flush()).is_err() {
                return 0;
            }
        }
    }

    /// Names that complete `word`, asked of the director.
    fn complete(&self, word: &str) -> Vec<String> {
        if self
            .send(&Request::Complete {
                word: word.to_string(),
            })
            .is_err()
        {
            return Vec::new();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            match self.next(Duration::from_millis(100)) {
                Ok(Some(Reply::Completions { words })) => return words,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Vec::new()
    }
}

/// Whether `input` needs more lines: compiled here, run there.
fn incomplete(lua: &mlua::Lua, input: &str) -> bool {
    let expr = input.strip_prefix('=').map(|r| format!("return {r}"));
    let text = expr.unwrap_or_else(|| input.to_string());
    if lua.load(format!("return {text};")).into_function().is_ok() {
        return false;
    }
    matches!(
        lua.load(text.as_str()).into_function(),
        Err(mlua::Error::SyntaxError {
            incomplete_input: true,
            ..
        })
    )
}

fn repl(out: Output, budget: Option<f64>) -> i32 {
    let asker = out.clone();
    let (mut rl, history) = match super::repl::editor(LuaHelper::new(move |req| {
        let found = asker.complete(&req.word);
        req.answer(found);
        true
    })) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("lvsh attach: cannot start the line editor: {e}");
            return 1;
        }
    };
    let syntax = mlua::Lua::new();
    let d = match out.conn.lock() {
        Ok(c) => c.director.clone(),
        Err(_) => return 1,
    };
    println!(
        "{} -- attached to {} (pid {}, {}); help() for help, Ctrl-D to detach",
        super::version_line(),
        d.name,
        d.pid,
        d.script
    );
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            format!("{}> ", d.name)
        } else {
            ">> ".to_string()
        };
        match rl.readline(&prompt) {
            Ok(line) => {
                if pending.is_empty() && line.trim().is_empty() {
                    continue;
                }
                if !pending.is_empty() {
                    pending.push('\n');
                }
                pending.push_str(&line);
                if incomplete(&syntax, &pending) {
                    continue;
                }
                let chunk = std::mem::take(&mut pending);
                let _ = rl.add_history_entry(chunk.as_str());
                if let Some(h) = &history {
                    let _ = rl.append_history(&h.path);
                }
                if let Err(e) = out.run(&chunk, budget, true) {
                    eprintln!("lvsh attach: {e}");
                    return 1;
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
                eprintln!("lvsh attach: {e}");
                return 1;
            }
        }
    }
}
