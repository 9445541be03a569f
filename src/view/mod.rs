//! How lvsh shows tables to people: boxed tables of services, connections and plans. Text
//! only; ipvsadm's own formats are in `ipvsadm::listing`.

pub mod list;
pub mod records;

use prettytable::{Cell, Row, format};

use crate::ipvs::conns::Conn;
use crate::ipvs::{Dest, Service, sockaddr};
use crate::ipvsadm::args::Format;
use crate::ipvsadm::listing;
use crate::model::spec::sched_flag_names;

/// A boxed table with `titles`, prettytable's box characters.
fn boxed_table(titles: &[&str]) -> prettytable::Table {
    let mut t = prettytable::Table::new();
    t.set_format(*format::consts::FORMAT_BOX_CHARS);
    t.set_titles(Row::new(titles.iter().map(|h| Cell::new(h)).collect()));
    t
}

/// The services and their real servers, with the columns `f` asks for; `colour` marks the
/// service rows (for a terminal).
pub fn services(table: &[(Service, Vec<Dest>)], f: &Format, colour: bool) -> String {
    let mut head = vec![
        "Service / real server",
        "Scheduler / method",
        "Weight",
        "Active",
        "Inactive",
    ];
    if f.thresholds {
        head.extend(["Upper", "Lower"]);
    }
    if f.persistent_conn {
        head.push("Persist");
    }
    if f.stats {
        head.extend(["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]);
    }
    if f.rate {
        head.extend(["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]);
    }
    let mut t = boxed_table(&head);
    let num = |v: u64| {
        if f.exact {
            v.to_string()
        } else {
            let mut s = String::new();
            listing::largenum(&mut s, v, false);
            s.trim().to_string()
        }
    };
    for (svc, dests) in table {
        let mut sched = svc.scheduler.clone();
        let flags = sched_flag_names(svc.flags, &svc.scheduler);
        if !flags.is_empty() {
            sched.push_str(&format!(" ({})", flags.join(",")));
        }
        if svc.persistent() {
            sched.push_str(&format!(" persistent {}", svc.timeout));
        }
        let name = listing::service_name(
            svc,
            &Format {
                numeric: f.numeric,
                ..Default::default()
            },
        );
        let mut cells = vec![
            Cell::new(&name),
            Cell::new(&sched),
            Cell::new(""),
            Cell::new(""),
            Cell::new(""),
        ];
        let pad = head.len() - 5 - if f.stats { 5 } else { 0 } - if f.rate { 5 } else { 0 };
        cells.extend((0..pad).map(|_| Cell::new("")));
        let s = &svc.stats;
        if f.stats {
            cells.extend(
                [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes]
                    .map(|v| Cell::new(&num(v)).style_spec("r")),
            );
        }
        if f.rate {
            cells.extend(
                [s.cps, s.inpps, s.outpps, s.inbps, s.outbps].map(|v| Cell::new(&num(v)).style_spec("r")),
            );
        }
        if colour {
            cells = cells.into_iter().map(|c| c.style_spec("bFc")).collect();
        }
        t.add_row(Row::new(cells));
        for d in dests {
            let mut cells = vec![
                Cell::new(&format!("  -> {}", sockaddr(&d.addr, d.port))),
                Cell::new(&d.fwd.name()),
                Cell::new(&d.weight.to_string()).style_spec("r"),
                Cell::new(&d.active.to_string()).style_spec("r"),
                Cell::new(&d.inactive.to_string()).style_spec("r"),
            ];
            if f.thresholds {
                cells.push(Cell::new(&d.upper.to_string()).style_spec("r"));
                cells.push(Cell::new(&d.lower.to_string()).style_spec("r"));
            }
            if f.persistent_conn {
                cells.push(Cell::new(&d.persist.to_string()).style_spec("r"));
            }
            let st = &d.stats;
            if f.stats {
                cells.extend(
                    [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes]
                        .map(|v| Cell::new(&num(v)).style_spec("r")),
                );
            }
            if f.rate {
                cells.extend(
                    [st.cps, st.inpps, st.outpps, st.inbps, st.outbps]
                        .map(|v| Cell::new(&num(v)).style_spec("r")),
                );
            }
            t.add_row(Row::new(cells));
        }
    }
    t.to_string()
}

/// Connection entries as a boxed table.
pub struct ConnTable(prettytable::Table);

impl Default for ConnTable {
    fn default() -> ConnTable {
        ConnTable(boxed_table(&[
            "Proto",
            "Expires",
            "State",
            "Client",
            "Virtual",
            "Real server",
        ]))
    }
}

impl ConnTable {
    pub fn add(&mut self, c: &Conn) {
        self.0.add_row(Row::new(vec![
            Cell::new(&c.proto),
            Cell::new(&format!("{:02}:{:02}", c.expires / 60, c.expires % 60)),
            Cell::new(&c.state),
            Cell::new(&sockaddr(&c.client.0, c.client.1)),
            Cell::new(&sockaddr(&c.vip.0, c.vip.1)),
            Cell::new(&sockaddr(&c.real.0, c.real.1)),
        ]));
    }

    pub fn text(&self) -> String {
        self.0.to_string()
    }
}

/// One row of a plan as `lvs.print_plan` shows it.
pub struct PlanRow {
    pub op: String,
    pub object: String,
    pub ipvsadm: String,
}

/// A plan as a boxed table, or "(no changes)".
pub fn plan(rows: &[PlanRow]) -> String {
    if rows.is_empty() {
        return "(no changes)\n".into();
    }
    let mut t = boxed_table(&["#", "operation", "object", "ipvsadm"]);
    for (i, r) in rows.iter().enumerate() {
        t.add_row(Row::new(vec![
            Cell::new(&(i + 1).to_string()),
            Cell::new(&r.op),
            Cell::new(&r.object),
            Cell::new(&r.ipvsadm),
        ]));
    }
    t.to_string()
}
