//! `--plan` and `--dry-run`: a script runs against a model of IPVS instead of the kernel, and
//! what it would have changed is printed as ipvsadm commands.

use std::cell::RefCell;
use std::rc::Rc;

use crate::cli::Invocation;
use crate::ipvs::Client;
use crate::ipvs::Op;
use crate::ipvsadm::rules;
use crate::lua::State;
use crate::model::backend::{Model, SharedModel, check_modules, known_schedulers};
use crate::model::source::{OpSource, RuleError};
use crate::model::table::Table;

/// Puts a model in place of the kernel when the command line asks for one.
pub fn prepare(state: &State, inv: &Invocation) -> Result<Option<SharedModel>, String> {
    if inv.shadow {
        let c = Client::new().map_err(|e| e.to_string())?;
        state
            .use_shadow(Box::new(crate::model::shadow::ReadOnly(c)))
            .map_err(|e| e.to_string())?;
        return Ok(None);
    }
    let table = if inv.plan {
        let mut c = Client::new().map_err(|e| e.to_string())?;
        crate::model::txn::read_table(&mut c).map_err(|e| e.to_string())?
    } else if inv.dry_run {
        match &inv.state {
            None => Table::default(),
            Some(path) => {
                let file = std::fs::File::open(path).map_err(|e| format!("cannot read {path}: {e}"))?;
                let mut rules = Known(rules::Rules(std::io::BufReader::new(file)));
                Table::from_rules(&mut rules, |_| {}).map_err(|e| format!("{path}: {e}"))?
            }
        }
    } else {
        return Ok(None);
    };
    let model = SharedModel(Rc::new(RefCell::new(Model::new(table))));
    state
        .use_backend(Box::new(model.clone()))
        .map_err(|e| e.to_string())?;
    Ok(Some(model))
}

/// A table to start from names only schedulers and engines the model knows: what a dry-run
/// restore or apply would refuse is refused here too, in the same words.
struct Known<S>(S);

impl<S: OpSource> OpSource for Known<S> {
    fn each_op(&mut self, each: &mut dyn FnMut(usize, Op) -> Result<(), String>) -> Result<(), RuleError> {
        let schedulers = known_schedulers();
        self.0.each_op(&mut |n, op| {
            if let Op::AddService(s) | Op::EditService(s) = &op {
                check_modules(&schedulers, s).map_err(|e| e.to_string())?;
            }
            each(n, op)
        })
    }
}

/// Prints what the script would have done. The report is the run's result: one that cannot
/// be written (a closed stdout) is an error, not a silent success.
pub fn report(model: &SharedModel, inv: &Invocation) -> std::io::Result<()> {
    use std::io::Write;
    let m = model.0.borrow();
    // written, not println!: a reader that goes away (`| head`) is no reason to panic
    crate::lua::flush_c_stdout();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if inv.plan {
        writeln!(
            out,
            "# lvsh --plan: the script would make {} change(s); none was made",
            m.log.len()
        )?;
    } else {
        writeln!(
            out,
            "# lvsh --dry-run: the script would have run {} ipvsadm command(s)",
            m.log.len()
        )?;
    }
    for op in &m.log {
        writeln!(out, "ipvsadm {}", rules::command_line(op))?;
    }
    out.flush()
}
