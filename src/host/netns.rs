//! Entering named network namespaces (/run/netns/NAME, as `ip netns` makes them).

use std::fs::File;
use std::os::fd::AsFd;

use nix::sched::{CloneFlags, setns};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetnsError {
    #[error("no such network namespace '{0}' (create it with: ip netns add {0})")]
    Missing(String),
    #[error("cannot enter network namespace '{name}': {why}")]
    Enter { name: String, why: String },
    #[error("bad network namespace name {0:?}")]
    BadName(String),
}

/// The namespace the process started in, kept open so it can be returned to.
pub fn current() -> Result<File, NetnsError> {
    File::open("/proc/thread-self/ns/net").map_err(|e| NetnsError::Enter {
        name: "(current)".into(),
        why: e.to_string(),
    })
}

pub fn enter_file(f: &File, name: &str) -> Result<(), NetnsError> {
    setns(f.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::Enter {
        name: name.into(),
        why: match e {
            nix::errno::Errno::EPERM => "permission denied (run as root)".into(),
            other => other.desc().into(),
        },
    })
}

/// Enters /run/netns/NAME on this thread.
pub fn enter(name: &str) -> Result<(), NetnsError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(NetnsError::BadName(name.into()));
    }
    let f = File::open(format!("/run/netns/{name}")).map_err(|_| NetnsError::Missing(name.into()))?;
    enter_file(&f, name)
}
