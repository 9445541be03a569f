//! Other checkers' configurations as lvsh scripts: keepalived.conf's virtual servers (more to
//! come: ldirectord.cf). Text in, Lua text out; nothing here runs Lua or touches the kernel.

pub mod conf;
pub mod keepalived;
