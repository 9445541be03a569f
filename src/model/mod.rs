//! The domain layer: what an operator asks for (specs), checked before anything reaches the
//! kernel, and turned into the kernel's objects. No Lua and no sockets here.

pub mod backend;
pub mod daemon;
pub mod order;
pub mod plan;
pub mod spec;
pub mod table;
pub mod txn;

pub use spec::{ServerSpec, ServiceSpec, SpecError};
