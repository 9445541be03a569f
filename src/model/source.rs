//! Operations as they are read from somewhere (rules text, in practice): the model, the
//! planner and the streaming plan take them one at a time with the line each came from, and
//! know nothing of the text's syntax.

use std::fmt;

use crate::ipvs::Op;

/// A bad rule: its line (from 1), its text, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub line: usize,
    pub text: String,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message.trim_end())?;
        // a line too long to show, or one that could not be read, has no text
        match self.text.trim() {
            "" => Ok(()),
            text => write!(f, " (in: {text})"),
        }
    }
}

impl std::error::Error for RuleError {}

/// What `each` says of an operation it refuses: the reason, worded for the rule's error.
pub type Refused = String;

/// A stream of operations, each with its line number.
pub trait OpSource {
    /// Hands every operation to `each` in order. The first bad line, or the first operation
    /// `each` refuses, ends it with an error naming that line.
    fn each_op(&mut self, each: &mut dyn FnMut(usize, Op) -> Result<(), Refused>) -> Result<(), RuleError>;
}

/// Operations already in memory, numbered from 1 (tests, and callers that built a list).
impl OpSource for Vec<Op> {
    fn each_op(&mut self, each: &mut dyn FnMut(usize, Op) -> Result<(), Refused>) -> Result<(), RuleError> {
        for (i, op) in std::mem::take(self).into_iter().enumerate() {
            let text = format!("{op:?}");
            each(i + 1, op).map_err(|message| RuleError {
                line: i + 1,
                text,
                message,
            })?;
        }
        Ok(())
    }
}
