//! One writer at a time per network namespace, and what is left when a writer is cut short:
//! every change to the kernel's table is made holding the namespace's lock, and every
//! transaction of more than one operation is recorded before its first write, so that
//! `lvsh recover` can roll back or finish one that never ended.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::record::Record;
use super::{Director, Error, TxnFailure, TxnKind};
use crate::host::lock::{self, Lock, LockError, NetnsId};
use crate::ipvs::Op;
use crate::log;
use crate::model::table::Table;
use crate::model::txn::{self, Journal};

/// A transaction that did not end, as `lvsh recover` reports it.
#[derive(Debug, Clone)]
pub struct Interrupted {
    pub what: String,
    pub pid: u32,
    pub started: u64,
    /// The services it touches; of them, those as it would leave them and those as they were.
    pub services: usize,
    pub done: usize,
    pub as_before: usize,
    pub sets_timeouts: bool,
    pub path: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let when = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(self.started));
        write!(
            f,
            "an interrupted {} (lvsh pid {}, started {when}) touching {} services{}: {} are as it \
             would leave them, {} as they were before it ({})",
            self.what,
            self.pid,
            self.services,
            if self.sets_timeouts {
                " and the timeouts"
            } else {
                ""
            },
            self.done,
            self.as_before,
            self.path
        )
    }
}

/// What `recover` is asked to do with an interrupted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    Rollback,
    Finish,
}

impl From<LockError> for Error {
    fn from(e: LockError) -> Error {
        match e {
            LockError::Busy { .. } => Error::Locked(e.to_string()),
            LockError::Io(m) => Error::File(m),
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The error for a write while an interrupted transaction waits to be dealt with.
fn pending_error(i: &Interrupted) -> Error {
    Error::Pending(format!(
        "{i}; nothing is changed until it is dealt with: `lvsh recover --rollback` undoes it, \
         `lvsh recover --finish` completes it (lvs.apply of the table it was making does too)"
    ))
}

impl Director {
    /// The namespace whose lock this director's writes take; none for a model.
    pub fn lock_target(&self) -> Option<NetnsId> {
        self.netns
    }

    /// How long a write waits for another writer (LVSH_LOCK_WAIT).
    pub fn lock_wait(&self) -> Result<Duration, Error> {
        self.lock_wait.clone().map_err(Error::Invalid)
    }

    /// Runs `f` holding `held`, the namespace's lock taken by the caller (asynchronously, so
    /// the wait held up nothing on the event loop): the writes in `f` do not take it again.
    pub fn holding<R>(&mut self, held: Option<Lock>, f: impl FnOnce(&mut Director) -> R) -> R {
        let outer = self.hold(held);
        let r = f(self);
        self.hold(outer);
        r
    }

    /// Makes `held` the lock the writes use from now on (see `holding`); gives back the one
    /// they used before.
    pub fn hold(&mut self, held: Option<Lock>) -> Option<Lock> {
        // a lock of another namespace (the director was replaced while the caller waited)
        // is no lock for this one: let go of it, and the writes take their own
        let held = held.filter(|l| Some(l.id()) == self.netns);
        std::mem::replace(&mut self.held, held)
    }

    /// The lock for one write: none needed for a model or when the caller holds it already.
    /// `wait` false tries once (a monitor's edit, a drain's look: they come again).
    pub(super) fn lock(&mut self, wait: bool) -> Result<Option<Lock>, Error> {
        let Some(id) = self.netns else {
            return Ok(None);
        };
        if self.held.is_some() {
            return Ok(None);
        }
        // A thread that runs the event loop never waits here: the Lua bindings take the lock
        // on the loop's timer before they call in, and where they cannot (lvs.with_netns,
        // where the loop cannot turn, or a line at the REPL) one try is all there is.
        // One-shot commands wait.
        let wait = if wait && !crate::runtime::is_loop_thread() {
            self.lock_wait()?
        } else {
            Duration::ZERO
        };
        Ok(Some(lock::lock_blocking(&id, wait)?))
    }

    /// The interrupted transaction recorded for this namespace, if any (the caller holds the
    /// lock: a record whose writer still runs is not interrupted). A record about a namespace
    /// that has gone (its inode given to a new one) is removed.
    pub(super) fn pending(&mut self) -> Result<Option<Record>, Error> {
        let Some(id) = self.netns else {
            return Ok(None);
        };
        let Some(text) = lock::read_record(&id)? else {
            return Ok(None);
        };
        let path = lock::record_path(&id).display().to_string();
        let r = Record::decode(&text).map_err(|e| {
            Error::File(format!(
                "{path}: an unreadable transaction record ({e}); look at it, then remove it"
            ))
        })?;
        if r.cookie != 0 && id.cookie != 0 && r.cookie != id.cookie {
            log::info(&format!(
                "{path}: a record about a network namespace that is gone (pid {}); removed",
                r.pid
            ));
            lock::remove_record(&id)?;
            return Ok(None);
        }
        Ok(Some(r))
    }

    fn describe(&mut self, r: &Record) -> Result<Interrupted, Error> {
        let current = txn::read_table(self.ipvs.as_mut())?;
        let (done, as_before) = r.journal.progress(&current);
        Ok(Interrupted {
            what: r.what.clone(),
            pid: r.pid,
            started: r.started,
            services: r.journal.keys.len(),
            done,
            as_before,
            sets_timeouts: r.journal.timeouts.is_some(),
            path: self
                .netns
                .map(|id| lock::record_path(&id).display().to_string())
                .unwrap_or_default(),
        })
    }

    /// Refuses a write while an interrupted transaction is recorded (the caller holds the lock).
    pub(super) fn refuse_pending(&mut self) -> Result<(), Error> {
        match self.pending()? {
            None => Ok(()),
            Some(r) => Err(pending_error(&self.describe(&r)?)),
        }
    }

    /// A single operation, holding the lock (the kernel carries out one operation whole:
    /// nothing to record).
    pub(super) fn write_one(&mut self, op: &Op, wait: bool) -> Result<(), Error> {
        let _lock = self.lock(wait)?;
        self.refuse_pending()?;
        Ok(self.ipvs.execute(op)?)
    }

    /// Carries out `ops`, made for (or checked against) `before`, recorded first; `what`
    /// names it in the record. `pending` is an interrupted transaction it finishes. The
    /// record stays when the kernel refused an operation and the undo failed too: the table
    /// is then neither as it was nor as it was to be.
    pub(super) fn run_recorded(
        &mut self,
        what: &str,
        before: Table,
        ops: &[Op],
        pending: Option<&Record>,
        refused: &dyn Fn(txn::Failure) -> Error,
    ) -> Result<(), Error> {
        let journal = txn::journal(&before, ops, pending.map(|r| &r.journal)).map_err(refused)?;
        if let Some(id) = self.netns {
            let record = Record {
                what: pending.map_or(what, |p| p.what.as_str()).to_string(),
                pid: std::process::id(),
                started: now_secs(),
                cookie: id.cookie,
                journal,
            };
            lock::write_record(&id, record.encode(&id).as_bytes())?;
        }
        let result = txn::execute_atomic_from(self.ipvs.as_mut(), before, ops);
        let Some(id) = self.netns else {
            return result.map_err(refused);
        };
        let kept = match (&result, pending) {
            (Ok(()), _) => lock::remove_record(&id),
            // the undo failed too: the table is neither as it was nor as it was to be
            (Err(f), _) if !f.undone => Ok(()),
            // undone: the interrupted transaction is where it was, and so is its record
            (Err(_), Some(p)) => lock::write_record(&id, p.encode(&id).as_bytes()),
            (Err(_), None) => lock::remove_record(&id),
        };
        kept?;
        result.map_err(refused)
    }

    /// The interrupted transaction of this namespace, if there is one (waiting for a writer
    /// under way to end first: its record is not an interrupted one).
    pub fn interrupted(&mut self) -> Result<Option<Interrupted>, Error> {
        let _lock = self.lock(true)?;
        match self.pending()? {
            None => Ok(None),
            Some(r) => Ok(Some(self.describe(&r)?)),
        }
    }

    /// Rolls an interrupted transaction back or finishes it, all or nothing; returns what it
    /// was and how many operations that took (None: there was nothing to recover).
    pub fn recover(&mut self, how: Recovery) -> Result<Option<(Interrupted, usize)>, Error> {
        let _lock = self.lock(true)?;
        let Some(r) = self.pending()? else {
            return Ok(None);
        };
        let info = self.describe(&r)?;
        let current = txn::read_table(self.ipvs.as_mut())?;
        let ops = r.journal.toward(&current, how == Recovery::Rollback);
        if !ops.is_empty() {
            let refused = |f: txn::Failure| {
                Error::Txn(Box::new(TxnFailure {
                    kind: TxnKind::Recover,
                    line: 0,
                    op: ops.get(f.index).cloned(),
                    error: f.error,
                    undone: f.undone,
                    shown: ops.get(f.index).map(Op::describe).unwrap_or_default(),
                }))
            };
            self.run_recorded("recover", current, &ops, Some(&r), &refused)?;
        }
        if let Some(id) = self.netns {
            lock::remove_record(&id)?;
        }
        Ok(Some((info, ops.len())))
    }

    /// Whether applying `journal` finishes the interrupted transaction `r`: it leaves every
    /// service that one touches as that one was to.
    pub(super) fn finishes(r: &Record, journal: &Journal) -> bool {
        r.journal.ends_as(journal)
    }

    /// What a write refused for `r` says.
    pub(super) fn pending_error(&mut self, r: &Record) -> Error {
        match self.describe(r) {
            Ok(i) => pending_error(&i),
            Err(e) => e,
        }
    }
}

impl Director {
    /// Drops the record of an interrupted transaction found already finished.
    pub(super) fn forget_pending(&mut self) -> Result<(), Error> {
        match self.netns {
            Some(id) => Ok(lock::remove_record(&id)?),
            None => Ok(()),
        }
    }
}
