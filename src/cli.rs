//! Command-line parsing for the `lvsh` binary, in the manner of the standalone `lua`.

use std::ffi::OsString;

pub const USAGE: &str = "\
usage: lvsh [options] [script [args]]
Available options are:
  -e chunk   execute string 'chunk' (may be given several times)
  -i         enter interactive mode after running the script or chunks
  -          execute stdin and stop handling options
  --         stop handling options
  --plan     run against a model of the kernel's table; print the changes, make none
  --dry-run  run against an in-memory IPVS (no root, no kernel); print the ipvsadm commands
  --state F  with --dry-run: start from the rules in F (ipvsadm -S format)
  --shadow   beside another checker: read the kernel's table, write nothing, and log
             where the script's monitors disagree with it (a summary at SIGUSR1 and exit)
  --syslog   send lvs.log lines (monitors, checks, hooks) to syslog as well
  --name N   name this director: its control socket is /run/lvsh/N.sock
             (default: the script's base name)
  --version  show version information
  --help     show this help
  lvsh ipvsadm ARGS...  run an ipvsadm command line natively (same output and exit codes)
  lvsh recover [--rollback|--finish]  report, undo or complete an interrupted transaction
  lvsh attach [NAME|PATH] [-e CHUNK]... [--follow] [--events] [--budget S]
             steer a running director: a REPL inside it, chunks, its log, its events
  lvsh attach --list  the running directors
  lvsh metrics [--openmetrics] [--node-compat]  the Prometheus exposition, once
  lvsh import keepalived|ldirectord FILE [-o SCRIPT] [--partial]
             keepalived.conf's or ldirectord.cf's virtual servers as an lvsh script
With no script and no -e, lvsh starts the interactive shell when stdin is a
terminal, and runs stdin as a script otherwise.";

/// What the command line asks for.
#[derive(Debug, Default, PartialEq)]
pub struct Invocation {
    pub chunks: Vec<String>,
    pub interactive: bool,
    pub script: Option<Script>,
    pub args: Vec<String>,
    pub show_version: bool,
    pub show_help: bool,
    /// Run against a model of the current kernel table and print the changes, making none.
    pub plan: bool,
    /// Read the kernel's table, write nothing, and report where the script's monitors
    /// disagree with the checker that keeps it.
    pub shadow: bool,
    /// Run against an in-memory IPVS (empty, or `state`) and print the ipvsadm commands.
    pub dry_run: bool,
    pub state: Option<String>,
    /// Log lines go to syslog (and so the journal) too.
    pub syslog: bool,
    /// What the director is called (its control socket's name).
    pub name: Option<String>,
}

#[derive(Debug, PartialEq)]
pub enum Script {
    File(String),
    Stdin,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UsageError {
    #[error("'-e' needs an argument")]
    MissingChunk,
    #[error("unrecognized option '{0}'")]
    UnknownOption(String),
    #[error("argument is not valid UTF-8: {0:?}")]
    NotUtf8(OsString),
    #[error("'--state' needs a rules file (ipvsadm -S format)")]
    MissingState,
    #[error("'--state' goes with '--dry-run'")]
    StateWithoutDryRun,
    #[error("'--budget' needs a number of seconds from 0.01 to 3600, not {0:?}")]
    BadBudget(String),
    #[error("'--name' needs a name (letters, digits, '-', '_' and '.', not starting with '.')")]
    BadName,
    #[error(
        "'--dry-run' and '--plan' do not go together: one starts from an empty table, the other from the kernel's"
    )]
    DryRunAndPlan,
    #[error("'--shadow' reads the kernel's table: it goes with neither '--dry-run' nor '--plan'")]
    ShadowAndModel,
}

pub fn parse(argv: Vec<OsString>) -> Result<Invocation, UsageError> {
    let mut inv = Invocation::default();
    let mut args = argv
        .into_iter()
        .map(|a| a.into_string().map_err(UsageError::NotUtf8));
    while let Some(arg) = args.next() {
        let arg = arg?;
        match arg.as_str() {
            "-e" => inv.chunks.push(args.next().ok_or(UsageError::MissingChunk)??),
            "-i" => inv.interactive = true,
            "--version" | "-v" => inv.show_version = true,
            "--help" | "-h" => inv.show_help = true,
            "--plan" => inv.plan = true,
            "--shadow" => inv.shadow = true,
            "--syslog" => inv.syslog = true,
            "--name" => {
                let n = args.next().ok_or(UsageError::BadName)??;
                if !valid_name(&n) {
                    return Err(UsageError::BadName);
                }
                inv.name = Some(n);
            }
            "--dry-run" => inv.dry_run = true,
            "--state" => inv.state = Some(args.next().ok_or(UsageError::MissingState)??),
            "-" => {
                inv.script = Some(Script::Stdin);
                break;
            }
            "--" => {
                if let Some(next) = args.next() {
                    inv.script = Some(Script::File(next?));
                }
                break;
            }
            s if s.starts_with("-e") && s.len() > 2 => inv.chunks.push(s[2..].to_string()),
            s if s.starts_with('-') => return Err(UsageError::UnknownOption(s.to_string())),
            _ => {
                inv.script = Some(Script::File(arg));
                break;
            }
        }
    }
    inv.args = args.collect::<Result<_, _>>()?;
    if inv.state.is_some() && !inv.dry_run {
        return Err(UsageError::StateWithoutDryRun);
    }
    if inv.dry_run && inv.plan {
        return Err(UsageError::DryRunAndPlan);
    }
    if inv.shadow && (inv.dry_run || inv.plan) {
        return Err(UsageError::ShadowAndModel);
    }
    Ok(inv)
}

/// A director's name becomes a file name under /run/lvsh: no slashes, no dot files.
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && !n.starts_with('.')
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `lvsh attach ...`.
#[derive(Debug, Default, PartialEq)]
pub struct Attach {
    /// A director's name, or a socket's path (with a '/').
    pub target: Option<String>,
    pub chunks: Vec<String>,
    pub follow: bool,
    pub events: bool,
    pub list: bool,
    pub budget: Option<f64>,
}

pub const ATTACH_USAGE: &str = "\
usage: lvsh attach [NAME|PATH] [options]
  (no option)  a REPL whose chunks run inside the director; Ctrl-C interrupts the
               chunk, Ctrl-D detaches and leaves the director running
  -e chunk     run 'chunk' in the director and exit 0 or 1 (may be given several times)
  --follow     print the director's log lines as they come
  --events     print the director's events as JSON lines as they come
  --budget S   what a chunk may run without yielding (default: the director's, 2 s)
  --list       list the running directors: name, pid, uptime, script";

pub fn parse_attach(argv: Vec<OsString>) -> Result<Attach, UsageError> {
    let mut a = Attach::default();
    let mut args = argv
        .into_iter()
        .map(|x| x.into_string().map_err(UsageError::NotUtf8));
    while let Some(arg) = args.next() {
        let arg = arg?;
        match arg.as_str() {
            "-e" => a.chunks.push(args.next().ok_or(UsageError::MissingChunk)??),
            "--follow" | "-f" => a.follow = true,
            "--events" => a.events = true,
            "--list" | "-l" => a.list = true,
            "--budget" => {
                let v = args.next().ok_or(UsageError::BadBudget(String::new()))??;
                match v.parse::<f64>() {
                    Ok(s) if s.is_finite() && (0.01..=3600.0).contains(&s) => a.budget = Some(s),
                    _ => return Err(UsageError::BadBudget(v)),
                }
            }
            s if s.starts_with('-') => return Err(UsageError::UnknownOption(s.to_string())),
            _ if a.target.is_none() => a.target = Some(arg),
            _ => return Err(UsageError::UnknownOption(arg)),
        }
    }
    if a.target
        .as_deref()
        .is_some_and(|t| !t.contains('/') && !valid_name(t))
    {
        return Err(UsageError::BadName);
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_takes_a_target_chunks_and_modes() {
        let a = |args: &[&str]| parse_attach(args.iter().map(OsString::from).collect());
        let got = a(&["web", "-e", "x", "-e", "y", "--budget", "0.5"]).unwrap();
        assert_eq!(got.target.as_deref(), Some("web"));
        assert_eq!(got.chunks, vec!["x", "y"]);
        assert_eq!(got.budget, Some(0.5));
        assert!(a(&["--list"]).unwrap().list);
        assert!(a(&["/tmp/x.sock", "--events"]).unwrap().events);
        assert_eq!(a(&["..etc"]).unwrap_err(), UsageError::BadName);
        assert_eq!(
            a(&["--budget", "0"]).unwrap_err(),
            UsageError::BadBudget("0".into())
        );
        assert_eq!(a(&["a", "b"]).unwrap_err(), UsageError::UnknownOption("b".into()));
        assert!(p(&["--name", "a/b", "x.lua"]).is_err());
        assert_eq!(
            p(&["--name", "web", "x.lua"]).unwrap().name.as_deref(),
            Some("web")
        );
    }

    fn p(args: &[&str]) -> Result<Invocation, UsageError> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn script_takes_the_rest_as_args() {
        let inv = p(&["-e", "x=1", "s.lua", "-e", "a"]).unwrap();
        assert_eq!(inv.chunks, vec!["x=1"]);
        assert_eq!(inv.script, Some(Script::File("s.lua".into())));
        assert_eq!(inv.args, vec!["-e", "a"]);
    }

    #[test]
    fn stdin_and_double_dash() {
        assert_eq!(p(&["-", "a"]).unwrap().script, Some(Script::Stdin));
        assert_eq!(p(&["--", "-x"]).unwrap().script, Some(Script::File("-x".into())));
    }

    #[test]
    fn usage_errors() {
        assert_eq!(p(&["-e"]), Err(UsageError::MissingChunk));
        assert_eq!(p(&["-q"]), Err(UsageError::UnknownOption("-q".into())));
        assert_eq!(
            p(&["--plan", "--dry-run", "-e", "x=1"]),
            Err(UsageError::DryRunAndPlan)
        );
    }
}
