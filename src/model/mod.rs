//! The domain layer: what an operator asks for (specs), checked before anything reaches the
//! kernel, and turned into the kernel's objects. No Lua and no sockets here.

pub mod backend;
pub mod daemon;
pub mod input;
pub mod mh;
pub mod order;
pub mod plan;
pub mod shadow;
pub mod source;
pub mod spec;
pub mod table;
pub mod txn;

pub use source::{OpSource, RuleError};
pub use spec::{ServerSpec, ServiceSpec, SpecError};

/// From this many real servers on, a service's servers are found through a map rather than a
/// walk through its list (one service of 20,000 servers would otherwise make checking or
/// diffing it quadratic); below it the walk is cheaper than the map's memory.
const LOOKUP_FROM: usize = 32;
