//! The director's and real servers' host setup, without Lua: sysctls, addresses and links over
//! rtnetlink, and network namespaces.

pub mod bird;
pub mod files;
pub mod lock;
pub mod netns;
pub mod rtnl;
pub mod setup;
pub mod sysctl;
pub mod tun;
