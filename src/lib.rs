//! lvsh: a Lua shell for Linux Virtual Server.
//!
//! Layers, from the bottom up: `ipvs` (generic netlink codec and kernel client, no Lua),
//! `model` (domain types and operations), `lua` (thin bindings), `shell` (REPL and batch).

pub mod check;
pub mod cli;
pub mod director;
pub mod fields;
pub mod host;
pub mod ipvs;
pub mod ipvsadm;
pub mod log;
pub mod lua;
pub mod model;
pub mod runtime;
pub mod shell;
pub mod view;
