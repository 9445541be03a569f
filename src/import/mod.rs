//! Other checkers' configurations as lvsh scripts: keepalived.conf's virtual servers and
//! ldirectord.cf's virtuals. Text in, Lua text out; nothing here runs Lua or touches the
//! kernel.

pub mod conf;
pub mod keepalived;
pub mod ldirectord;

/// The script, what was translated (one line per virtual server) and what was left out.
pub struct Imported {
    pub script: String,
    pub translated: Vec<String>,
    pub left: Vec<conf::Aside>,
}

/// Lua text of a string.
fn q(s: &str) -> String {
    format!("{s:?}")
}
