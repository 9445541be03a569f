//! What can go wrong in a director's operation, worded once here.

use std::fmt;

use crate::ipvs::{self, Op};
use crate::model::{RuleError, SpecError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: the field, the value and why.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// IPVS refused or failed.
    #[error(transparent)]
    Ipvs(#[from] ipvs::Error),
    /// A bad rule, with where the rules came from (a file's path, or nothing for text).
    #[error("{}{error}", origin.as_ref().map(|p| format!("{p}: ")).unwrap_or_default())]
    Rules {
        origin: Option<String>,
        error: RuleError,
    },
    /// A file could not be read or written.
    #[error("{0}")]
    File(String),
    /// What a script asked for does not make sense as a whole (a service named twice).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Txn(Box<TxnFailure>),
    /// A drain was given up (a signal), the server left at weight 0.
    #[error("{0}")]
    Interrupted(String),
    /// Another process is changing this namespace's table: it is named, and the wait.
    #[error("{0}")]
    Locked(String),
    /// A transaction cut short (SIGKILL, a crash) waits for `lvsh recover`.
    #[error("{0}")]
    Pending(String),
}

impl Error {
    /// The kernel's error number, where IPVS gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Ipvs(e) => e.errno(),
            Error::Txn(t) => t.error.errno(),
            _ => None,
        }
    }

    pub fn into_ipvs(self) -> ipvs::Error {
        match self {
            Error::Ipvs(e) => e,
            other => ipvs::Error::Io(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnKind {
    Apply,
    Restore,
    Recover,
}

/// An all-or-nothing batch the kernel refused partway: which operation (and rule line), why,
/// and whether what was done before it was undone.
#[derive(Debug, Clone)]
pub struct TxnFailure {
    pub kind: TxnKind,
    pub line: usize,
    pub op: Option<Op>,
    pub error: ipvs::Error,
    pub undone: bool,
    /// How the refused operation reads (its ipvsadm command line), given by the caller.
    pub shown: String,
}

impl fmt::Display for TxnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TxnKind::Apply => write!(
                f,
                "apply: {} refused: {} ({})",
                self.shown,
                self.error,
                if self.undone {
                    "the operations before it were undone"
                } else {
                    "undoing the operations before it failed too; `lvsh recover` shows what is left"
                }
            ),
            TxnKind::Recover => write!(
                f,
                "recover: {} refused: {} ({})",
                self.shown,
                self.error,
                if self.undone {
                    "the operations before it were undone; the interrupted transaction is still recorded"
                } else {
                    "undoing the operations before it failed too; `lvsh recover` shows what is left"
                }
            ),
            TxnKind::Restore => write!(
                f,
                "restore line {}: {} ({})",
                self.line,
                self.error,
                if self.undone {
                    "nothing was changed"
                } else {
                    "undoing the lines before it failed too; `lvsh recover` shows what is left"
                }
            ),
        }
    }
}

impl std::error::Error for TxnFailure {}
