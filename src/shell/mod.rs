//! The shell: batch execution of scripts and chunks, and the interactive REPL.

mod attach;
mod batch;
mod complete;
mod dry;
mod import;
mod metrics;
mod recover;
mod repl;

use std::ffi::OsString;
use std::path::Path;

use crate::cli::{Invocation, Script};
use crate::lua;

/// Runs lvsh and returns the process exit code.
pub fn main(argv: Vec<OsString>) -> i32 {
    if argv.first().is_some_and(|a| a == "ipvsadm") {
        return ipvsadm_main(&argv[1..]);
    }
    if argv.first().is_some_and(|a| a == "recover") {
        return recover::main(&argv[1..]);
    }
    if argv.first().is_some_and(|a| a == "metrics") {
        return metrics::main(&argv[1..]);
    }
    if argv.first().is_some_and(|a| a == "import") {
        let args: Vec<String> = argv[1..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return import::main(&args);
    }
    if argv.first().is_some_and(|a| a == "attach") {
        return attach::main(argv[1..].to_vec());
    }
    let inv = match crate::cli::parse(argv) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("lvsh: {e}\n{}", crate::cli::USAGE);
            return 2;
        }
    };
    use std::io::Write;
    if inv.show_help {
        let _ = writeln!(std::io::stdout(), "{}", crate::cli::USAGE);
        return 0;
    }
    if inv.show_version {
        let _ = writeln!(std::io::stdout(), "{}", version_line());
        return 0;
    }
    run(inv)
}

pub fn version_line() -> String {
    format!(
        "lvsh {} (Lua 5.4, IPVS over generic netlink)",
        env!("CARGO_PKG_VERSION")
    )
}

/// Runs what the command line asked for and returns the exit code.
pub fn run(inv: Invocation) -> i32 {
    raise_fd_limit();
    if inv.syslog {
        crate::log::enable_syslog();
    }
    name_director(&inv);
    let script_dir = match &inv.script {
        Some(Script::File(path)) => Path::new(path).parent().map(Path::to_path_buf),
        _ => None,
    };
    let state = match lua::State::new(script_dir.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lvsh: cannot start Lua: {e}");
            return 1;
        }
    };
    if let Err(e) = batch::set_arg(&state, inv.script.as_ref(), &inv.args) {
        eprintln!("lvsh: {e}");
        return 1;
    }
    let model = match dry::prepare(&state, &inv) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("lvsh: {e}");
            return 1;
        }
    };
    let code = run_chunks(&state, &inv);
    if let Some(m) = model
        && let Err(e) = dry::report(&m, &inv)
    {
        eprintln!("lvsh: cannot write the report of the run: {e}");
        return if code == 0 { 1 } else { code };
    }
    code
}

fn run_chunks(state: &lua::State, inv: &Invocation) -> i32 {
    let interactive_stdin = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    for chunk in &inv.chunks {
        if let Err(code) = batch::run_chunk(state, chunk, "=(command line)") {
            return code;
        }
    }
    match &inv.script {
        Some(script) => {
            if let Err(code) = batch::run_script(state, script, &inv.args) {
                return code;
            }
        }
        None if inv.chunks.is_empty() && !inv.interactive => {
            return if interactive_stdin {
                repl::run(state)
            } else {
                batch::run_script(state, &Script::Stdin, &[]).err().unwrap_or(0)
            };
        }
        None => {}
    }
    if inv.interactive { repl::run(state) } else { 0 }
}

/// `lvsh ipvsadm ARGS...`: lvsh standing in for ipvsadm, with its output and exit codes.
pub fn ipvsadm_main(argv: &[std::ffi::OsString]) -> i32 {
    use std::io::Write;
    let argv: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut client = None;
    let mut stdin = || Box::new(std::io::stdin().lock()) as Box<dyn std::io::BufRead>;
    let out = crate::ipvsadm::exec::run(&mut client, &argv, &mut stdin);
    if out.code == 0 && argv.iter().any(|a| a == "--start-daemon") {
        // the next command (another process) may stop it: let its threads start first. A
        // blocking sleep is right here: this process runs one command and has no event loop.
        std::thread::sleep(crate::director::DAEMON_SETTLE);
    }
    // ipvsadm dies of SIGPIPE when its reader has gone (`| head`), and scripts see 141: the
    // default disposition back (Rust ignores the signal) does the same for lvsh's one write
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler code
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    out.code & 0xff
}

/// The director's name (its control socket's) and what it runs, for `lvsh attach`.
fn name_director(inv: &Invocation) {
    let script = match &inv.script {
        Some(Script::File(path)) => std::fs::canonicalize(path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.clone()),
        Some(Script::Stdin) => "(stdin)".to_string(),
        None => "(command line)".to_string(),
    };
    crate::runtime::set_script(&script);
    let from_script = match &inv.script {
        Some(Script::File(path)) => Path::new(path).file_stem().map(|s| {
            s.to_string_lossy()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        }),
        _ => None,
    };
    if let Some(n) = inv
        .name
        .clone()
        .or(from_script)
        .filter(|n| crate::cli::valid_name(n))
    {
        crate::runtime::set_name(&n);
    }
}

/// A checker holds a socket per probe in flight (thousands with thousands of servers): take
/// the whole of the hard limit on open files, as network daemons do.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
