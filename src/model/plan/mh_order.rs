//! Real servers of an `mh` service kept in one order in the kernel's list, whatever the
//! history: the Maglev table is filled in list order, and directors that share flows must
//! build the same table from the same servers (see `model::mh`).

use std::net::IpAddr;

use crate::ipvs::{Dest, Op, ServiceKey};
use crate::model::mh::is_canonical;
use crate::model::order::dest_cmp;

/// `ops` (this service's real-server operations, as planned) rewritten so that the list
/// they leave is canonical. The kernel puts a new server at the head: the servers that must
/// come before a new one are deleted and added again after it, highest first, so the list
/// ends ascending. The longest run at the list's tail that is already in place is kept.
/// Re-adding takes a server out of the table for an instant; its connections stay (the
/// kernel keeps a deleted server's entry and revives it).
pub fn in_order(key: &ServiceKey, have: &[Dest], ops: Vec<Op>) -> Vec<Op> {
    let name = |d: &Dest| (d.addr, d.port);
    // what the list holds after the planned deletes and edits, in the kernel's order
    let mut kept: Vec<Dest> = have.to_vec();
    let mut added: Vec<Dest> = Vec::new();
    for op in &ops {
        match op {
            Op::DelDest(_, a, p) => kept.retain(|d| (d.addr, d.port) != (*a, *p)),
            Op::EditDest(_, d) => {
                if let Some(k) = kept.iter_mut().find(|k| name(k) == name(d)) {
                    *k = d.clone();
                }
            }
            Op::AddDest(_, d) => added.push(d.clone()),
            _ => {}
        }
    }
    let mut after: Vec<Dest> = added.iter().rev().cloned().collect();
    after.extend(kept.iter().cloned());
    let in_place = is_canonical(&after);
    let mut want = after;
    want.sort_by(dest_cmp);
    // (already in order: the new ones are the head, everything else stays)
    let tail = if in_place {
        kept.len()
    } else {
        kept.iter()
            .rev()
            .zip(want.iter().rev())
            .take_while(|(k, w)| name(k) == name(w))
            .count()
    };
    let placed: Vec<(IpAddr, u16)> = want[want.len() - tail..].iter().map(name).collect();
    // one order of operations whatever order the servers were named in: deletes, edits by
    // address, adds highest first
    let mut out: Vec<Op> = Vec::with_capacity(ops.len());
    let mut edits: Vec<Dest> = Vec::new();
    for op in ops {
        match op {
            Op::DelDest(..) => out.push(op),
            Op::EditDest(_, d) if placed.contains(&name(&d)) => edits.push(d),
            _ => {}
        }
    }
    edits.sort_by(dest_cmp);
    out.extend(edits.into_iter().map(|d| Op::EditDest(key.clone(), d)));
    for d in kept.iter().filter(|d| !placed.contains(&name(d))) {
        out.push(Op::DelDest(key.clone(), d.addr, d.port));
    }
    for d in want[..want.len() - tail].iter().rev() {
        out.push(Op::AddDest(key.clone(), d.clone()));
    }
    out
}
