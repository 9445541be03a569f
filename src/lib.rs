//! lvsh: a Lua shell for Linux Virtual Server.
//!
//! Layers, from the bottom up, each calling only down (scripts/layers checks it):
//! - `ipvs` (generic netlink codec and kernel client), `log`, `events`, `fields` (records of what
//!   objects show), `runtime` (the event loop);
//! - `model`: specs and what scripts hand in (`model::input`), the in-memory table, plans,
//!   transactions; it takes operations, not ipvsadm text;
//! - `host`: rtnetlink, sysctls, namespaces, files, and host setup as scripts ask for it;
//! - `director`: every operation an operator performs, through one transaction engine;
//! - `check`: health checks and the monitor runtime (no Lua, behind `check::monitor::Host`);
//! - `ipvsadm` (compatibility: command lines, rules text, listings) and `view` (boxed tables,
//!   JSON, records);
//! - `control`: the control socket of a running director (wire, daemon side, client side);
//! - `lua`: the bindings (convert arguments, call the layers below, convert results);
//! - `shell` (REPL, batch, dry runs) and `cli` (the command line, parsed only).

pub mod check;
pub mod cli;
pub mod control;
pub mod director;
pub mod events;
pub mod fields;
pub mod host;
pub mod import;
pub mod ipvs;
pub mod ipvsadm;
pub mod log;
pub mod lua;
pub mod metrics;
pub mod model;
pub mod runtime;
pub mod shell;
pub mod view;
