//! keepalived's notify scripts as monitor callbacks: notify_up/notify_down of a real server
//! (on_change), quorum_up/quorum_down of a virtual server (on_quorum, and quorum_up at the
//! start when the quorum is met, as keepalived runs it), and omega's notify_down and
//! quorum_down when the checker stops. keepalived runs them as given, with no arguments
//! added; so does the script, in the background, through lvs.check.exec (its own process
//! group, killed at the timeout).

use std::fmt::Write;

use super::super::conf::Node;
use super::super::q;
use super::Out;

/// How long a notify script may run before it is killed with its process group.
pub const TIMEOUT: u32 = 60;

#[derive(Default)]
pub struct Scripts {
    /// Per real server ("ip:port" as on_change names it): notify_up, notify_down.
    servers: Vec<(String, Option<String>, Option<String>)>,
    quorum_up: Option<String>,
    quorum_down: Option<String>,
    omega: bool,
}

/// A script line as a Lua argv list: keepalived splits an unquoted line's first word off as
/// the script (what follows is the user and group), a quoted one on its spaces.
fn argv(n: &Node, out: &mut Out) -> Option<String> {
    let first = n.args.first()?;
    if n.args.len() > 1 {
        out.leave(
            &n.at,
            format!(
                "{} {}: lvsh runs it as its own user",
                n.key,
                n.args[1..].join(" ")
            ),
        );
    }
    let words: Vec<String> = first.split_whitespace().map(q).collect();
    (!words.is_empty()).then(|| format!("{{{}}}", words.join(", ")))
}

impl Scripts {
    /// Takes a virtual server's own lines: quorum_up, quorum_down, omega.
    pub fn virtual_server(&mut self, c: &Node, out: &mut Out) -> bool {
        match c.key.as_str() {
            "quorum_up" => self.quorum_up = argv(c, out),
            "quorum_down" => self.quorum_down = argv(c, out),
            "omega" => self.omega = true,
            _ => return false,
        }
        true
    }

    /// Takes a real server's notify_up or notify_down.
    pub fn real_server(&mut self, addr: &str, c: &Node, out: &mut Out) -> bool {
        let up = match c.key.as_str() {
            "notify_up" => true,
            "notify_down" => false,
            _ => return false,
        };
        // on_change names a fwmark service's servers with port 0
        let addr = if addr.contains(':') && !addr.ends_with(']') {
            addr.to_string()
        } else {
            format!("{addr}:0")
        };
        let cmd = argv(c, out);
        match self.servers.iter_mut().find(|s| s.0 == addr) {
            Some(s) if up => s.1 = cmd,
            Some(s) => s.2 = cmd,
            None if up => self.servers.push((addr, cmd, None)),
            None => self.servers.push((addr, None, cmd)),
        }
        true
    }

    pub fn omega(&self) -> bool {
        self.omega
    }

    /// The monitor's callbacks, as fields.
    pub fn callbacks(&self) -> Vec<String> {
        let mut f = Vec::new();
        if !self.servers.is_empty() {
            let mut t = String::from("on_change = notify{\n");
            for (addr, up, down) in &self.servers {
                let mut e = Vec::new();
                if let Some(u) = up {
                    e.push(format!("up = {u}"));
                }
                if let Some(d) = down {
                    e.push(format!("down = {d}"));
                }
                let _ = writeln!(t, "    [{}] = {{{}}},", q(addr), e.join(", "));
            }
            t += "  }";
            f.push(t);
        }
        if self.quorum_up.is_some() || self.quorum_down.is_some() {
            let or_nil = |c: &Option<String>| c.clone().unwrap_or_else(|| "nil".into());
            f.push(format!(
                "on_quorum = function(up) run(up and {} or {}) end",
                or_nil(&self.quorum_up),
                or_nil(&self.quorum_down)
            ));
        }
        f
    }

    /// What runs at the start: quorum_up when the quorum is met then.
    pub fn at_start(&self, met: bool) -> String {
        match (&self.quorum_up, met) {
            (Some(u), true) => {
                format!("-- keepalived runs quorum_up at its start when the quorum is met\nrun({u})\n")
            }
            _ => String::new(),
        }
    }

    /// What runs once lvs.run() returns (SIGTERM), for the monitor in `var`, with omega:
    /// notify_down of each real server still up, then quorum_down; waited for.
    pub fn at_stop(&self, var: &str) -> String {
        if !self.omega {
            return String::new();
        }
        let mut s = format!(
            "-- omega: keepalived runs these when it stops\nfor _, row in ipairs({var}:status().servers) do\n"
        );
        s += "  local down = ({\n";
        for (addr, _, down) in &self.servers {
            if let Some(d) = down {
                let _ = writeln!(s, "    [{}] = {d},", q(addr));
            }
        }
        s += "  })[row.server]\n";
        let _ = writeln!(
            s,
            "  if down and row.state == \"up\" then lvs.check.exec{{cmd = down, timeout = {TIMEOUT}}} end\nend"
        );
        if let Some(d) = &self.quorum_down {
            let _ = writeln!(s, "lvs.check.exec{{cmd = {d}, timeout = {TIMEOUT}}}");
        }
        s
    }
}

/// The helpers the callbacks use, for the script's head.
pub const HELPERS: &str = "\n-- keepalived's notify scripts: run as given (no arguments added), in the background\n\
local function run(cmd)\n  if cmd then lvs.spawn(lvs.check.exec, {cmd = cmd, timeout = 60}) end\nend\n\
local function notify(by_server)\n  return function(ev)\n    local s = by_server[ev.server]\n    if s then run(s[ev.to]) end\n  end\nend\n";
