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

/// Checks every operation against the current table first (nothing is sent if one would be
/// refused), then runs them; a kernel refusal partway undoes what was done.
pub fn execute_atomic(c: &mut dyn Ipvs, ops: &[Op]) -> Result<(), Failure> {
    let before = read_table(c).map_err(|e| Failure {
        index: 0,
        error: e,
        undone: true,
    })?;
    execute_checked(c, before, ops)
}

/// As `execute_atomic`, with `before` the part of the kernel's table the operations touch
/// (all of it, or, for a new service and its servers, what the kernel has of that service).
pub fn execute_checked(c: &mut dyn Ipvs, before: Table, ops: &[Op]) -> Result<(), Failure> {
    let mut check = before.clone();
    for (index, op) in ops.iter().enumerate() {
        if let Err(error) = check.apply(op) {
            return Err(Failure {
                index,
                error,
                undone: true,
            });
        }
    }
    drop(check);
    execute_atomic_from(c, before, ops)
}

/// Runs operations made for `before` (the current table, already read): a plan, or
/// operations already checked against it. The undo is worked out only if the kernel refuses
/// one, by replaying on `before` what was sent.
pub fn execute_atomic_from(c: &mut dyn Ipvs, before: Table, ops: &[Op]) -> Result<(), Failure> {
    let results = c.execute_batch(ops);
    let Some(failed) = results.iter().position(Result::is_err) else {
        return Ok(());
    };
    let mut model = before;
    let undone = match plan_undo(&mut model, &ops[..results.len()]) {
        Ok(undo) => {
            let mut undo_ops = Vec::new();
            for (j, r) in results.iter().enumerate().rev() {
                if r.is_ok() {
                    undo_ops.extend(undo[j].iter().cloned());
                }
            }
            execute_all(c, &undo_ops)
        }
        // the operations did not fit the table they were made for: nothing safe to undo
        Err(_) => false,
    };
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
