//! All-or-nothing execution of a list of operations on the kernel: checked against a model of
//! the current table first, sent in batches, and undone if the kernel refuses one partway.

use super::backend::Ipvs;
use super::table::{Table, plan_undo};
use crate::ipvs::{Error, Op};

/// Why a batch failed: the index of the refused operation, and whether what had been done
/// before it was undone (false only if the undo itself was refused).
#[derive(Debug, Clone)]
pub struct Failure {
    pub index: usize,
    pub error: Error,
    pub undone: bool,
}

/// The kernel's whole table, as a model to check operations against.
pub fn read_table(c: &mut dyn Ipvs) -> Result<Table, Error> {
    Ok(Table::new(c.services()?, c.timeouts()?, c.daemons()?))
}

/// Runs every operation, going on past refusals; true if all were accepted.
pub fn execute_all(c: &mut dyn Ipvs, ops: &[Op]) -> bool {
    let mut start = 0;
    let mut ok = true;
    while start < ops.len() {
        let results = c.execute_batch(&ops[start..]);
        match results.iter().position(Result::is_err) {
            None => start += results.len(),
            Some(i) => {
                ok = false;
                start += i + 1;
            }
        }
        if results.is_empty() {
            break;
        }
    }
    ok
}

pub fn execute_atomic(c: &mut dyn Ipvs, ops: &[Op]) -> Result<(), Failure> {
    let model = read_table(c).map_err(|e| Failure {
        index: 0,
        error: e,
        undone: true,
    })?;
    execute_atomic_from(c, model, ops)
}

/// As `execute_atomic`, with the current table already read.
pub fn execute_atomic_from(c: &mut dyn Ipvs, mut model: Table, ops: &[Op]) -> Result<(), Failure> {
    let fail = |index, error| Failure {
        index,
        error,
        undone: true,
    };
    let undo = plan_undo(&mut model, ops).map_err(|(i, e)| fail(i, e))?;
    let results = c.execute_batch(ops);
    let Some(failed) = results.iter().position(Result::is_err) else {
        return Ok(());
    };
    let mut undo_ops = Vec::new();
    for (j, r) in results.iter().enumerate().rev() {
        if r.is_ok() {
            undo_ops.extend(undo[j].iter().cloned());
        }
    }
    let undone = execute_all(c, &undo_ops);
    let error = results
        .into_iter()
        .nth(failed)
        .and_then(Result::err)
        .unwrap_or(Error::Io("refused".into()));
    Err(Failure {
        index: failed,
        error,
        undone,
    })
}
