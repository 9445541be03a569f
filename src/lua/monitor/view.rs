//! What a monitor shows: `m:status()` and the table `lvs.show_monitors()` prints.

use mlua::{Lua, Table};

use super::effects::{endpoint, unix_now};
use super::{Monitor, monitors};

/// One row per server: what `m:status()` returns and `lvs.show_monitors()` prints.
pub struct Row {
    pub service: String,
    pub server: String,
    pub state: &'static str,
    pub in_table: bool,
    pub weight: u32,
    pub checked: Option<f64>,
    pub latency: Option<f64>,
    pub detail: String,
}

pub fn rows(m: &Monitor) -> Vec<Row> {
    m.board
        .servers
        .iter()
        .map(|(a, s)| {
            let last = s
                .checks
                .iter()
                .filter_map(|c| c.last.as_ref())
                .map(|o| o.latency_ms())
                .reduce(f64::max);
            Row {
                service: m.name.clone(),
                server: endpoint(a),
                state: if s.kept { "down (kept)" } else { s.health.name() },
                in_table: !s.out,
                weight: s.weight,
                checked: m.checked.get(a).map(|t| unix_now() - t.elapsed().as_secs_f64()),
                latency: last,
                detail: s.last_detail.clone(),
            }
        })
        .collect()
}

pub(super) fn status(lua: &Lua, m: &Monitor) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("service", m.name.as_str())?;
    t.set("checks", m.checks_run)?;
    t.set("stopped", m.stopped)?;
    t.set("sorry", m.sorry_dest.is_some())?;
    t.set("quorum", m.board.policy.quorum.map(|_| m.board.quorum_met))?;
    t.set("live_weight", m.board.live_weight())?;
    let servers = lua.create_table()?;
    for r in rows(m) {
        let s = lua.create_table()?;
        s.set("server", r.server)?;
        s.set("state", r.state)?;
        s.set("in_table", r.in_table)?;
        s.set("weight", r.weight)?;
        s.set("checked", r.checked)?;
        s.set("latency", r.latency.map(|l| (l * 1000.0).round() / 1000.0))?;
        s.set("detail", r.detail)?;
        servers.push(s)?;
    }
    t.set("servers", servers)?;
    Ok(t)
}

pub(super) fn all_rows(lua: &Lua) -> Vec<Row> {
    monitors(lua)
        .all
        .borrow()
        .iter()
        .flat_map(|m| rows(&m.borrow()))
        .collect()
}

/// The table `lvs.show_monitors()` prints.
pub fn render(rows: &[Row], now: f64) -> String {
    use prettytable::{Cell, Row as PRow, format};
    let mut t = prettytable::Table::new();
    t.set_format(*format::consts::FORMAT_BOX_CHARS);
    t.set_titles(PRow::new(
        [
            "Service",
            "Real server",
            "State",
            "Weight",
            "Checked",
            "Latency",
            "Detail",
        ]
        .iter()
        .map(|h| Cell::new(h))
        .collect(),
    ));
    for r in rows {
        let weight = if r.in_table {
            r.weight.to_string()
        } else {
            format!("{} (out)", r.weight)
        };
        let checked = r
            .checked
            .map_or("never".to_string(), |c| format!("{:.1}s ago", (now - c).max(0.0)));
        let latency = r.latency.map_or(String::new(), |l| format!("{l:.1} ms"));
        t.add_row(PRow::new(
            [
                r.service.as_str(),
                &r.server,
                r.state,
                &weight,
                &checked,
                &latency,
                &r.detail,
            ]
            .iter()
            .map(|c| Cell::new(c))
            .collect(),
        ));
    }
    if rows.is_empty() {
        "no monitors\n".to_string()
    } else {
        t.to_string()
    }
}
