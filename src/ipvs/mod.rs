//! The kernel's IPVS over generic netlink: wire format (`nla`, `message`), the objects it
//! holds (`types`), the conversions between them (`codec`), write operations (`ops`) and the
//! socket client (`client`). No Lua here.

mod client;
pub mod codec;
pub mod conns;
pub mod consts;
mod error;
pub mod message;
pub mod nla;
mod ops;
pub mod proc_table;
pub mod types;

pub use client::{Client, take_modprobe_stderr};
pub use error::{Error, strerror};
pub use ops::Op;
pub use proc_table::BriefTable;
pub use types::*;

#[cfg(test)]
mod tests;
