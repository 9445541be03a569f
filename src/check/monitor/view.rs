//! What a monitor shows: its status, and the table of all monitors' servers.

use super::effects::unix_now;
use super::host::Field;
use super::watch::Monitor;
use crate::check::latency::Latencies;

/// One row per server: what a monitor's status lists and the monitors' table prints.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub service: String,
    pub server: String,
    pub state: &'static str,
    pub in_table: bool,
    pub weight: u32,
    /// When last probed, in seconds since the Unix epoch.
    pub checked: Option<f64>,
    /// Of the slowest check's last probe, in milliseconds.
    pub latency: Option<f64>,
    pub detail: String,
    /// The override holding it: kind, id, weight and reason.
    pub held: Option<String>,
    /// The weight the override holds it at (the table's, while `weight` is what the checks
    /// would give it).
    pub held_weight: Option<u32>,
    /// Per check: its kind, results taken in, and how many failed.
    pub checks: Vec<CheckCount>,
    /// Times its health changed.
    pub transitions: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CheckCount {
    pub kind: &'static str,
    pub runs: u64,
    pub failed: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub service: String,
    /// Probe results taken in.
    pub checks: u64,
    pub stopped: bool,
    /// The sorry server is in.
    pub sorry: bool,
    /// Whether the quorum is met, when there is one.
    pub quorum: Option<bool>,
    /// Servers are kept in that failed: taking them out would pass max_down.
    pub panic: bool,
    pub live_weight: u64,
    pub servers: Vec<Row>,
    /// How long its checks took, per kind.
    pub latency: Vec<(&'static str, Latencies)>,
}

impl Status {
    /// The fields but the servers, by name.
    pub fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![
            ("service", Field::Text(self.service.clone())),
            ("checks", Field::Count(self.checks)),
            ("stopped", Field::Flag(self.stopped)),
            ("sorry", Field::Flag(self.sorry)),
            ("quorum", self.quorum.map_or(Field::Nil, Field::Flag)),
            ("live_weight", Field::Count(self.live_weight)),
        ]
    }
}

impl Row {
    /// The fields a status lists for the server, latency to the microsecond.
    pub fn fields(&self) -> Vec<(&'static str, Field)> {
        let number = |v: Option<f64>| v.map_or(Field::Nil, Field::Number);
        vec![
            ("server", Field::Text(self.server.clone())),
            ("state", Field::Text(self.state.into())),
            ("in_table", Field::Flag(self.in_table)),
            ("weight", Field::Count(u64::from(self.weight))),
            ("checked", number(self.checked)),
            (
                "latency",
                number(self.latency.map(|l| (l * 1000.0).round() / 1000.0)),
            ),
            ("detail", Field::Text(self.detail.clone())),
            ("override", self.held.clone().map_or(Field::Nil, Field::Text)),
            (
                "held_weight",
                self.held_weight
                    .map_or(Field::Nil, |w| Field::Count(u64::from(w))),
            ),
        ]
    }
}

pub(super) fn rows(m: &Monitor) -> Vec<Row> {
    // the clocks once for all rows: where reading one is a system call (a VM without a
    // vDSO, the sandbox's kernel), two per server made a status of 10,000 cost a second
    let (wall, mono) = (unix_now(), std::time::Instant::now());
    let holds = m.holds.borrow();
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
                server: a.to_string(),
                state: if s.kept { "down (kept)" } else { s.health.name() },
                in_table: !s.out,
                weight: s.weight,
                checked: s
                    .checked
                    .map(|t| wall - mono.saturating_duration_since(t).as_secs_f64()),
                latency: last,
                detail: s.last_detail(),
                held: s
                    .held
                    .and_then(|_| holds.get(&(m.name.clone(), *a)))
                    .map(|h| h.label.clone()),
                held_weight: s.held,
                checks: s
                    .checks
                    .iter()
                    .enumerate()
                    .map(|(i, c)| CheckCount {
                        kind: m.kind_of(a, i),
                        runs: c.runs,
                        failed: c.failed,
                    })
                    .collect(),
                transitions: s.transitions,
            }
        })
        .collect()
}

/// How a monitor's service stands, in a few numbers: what an anycast announcement is
/// decided on many times a second, without building the rows of a status.
#[derive(Clone, Debug, PartialEq)]
pub struct Vitals {
    pub stopped: bool,
    /// Whether the quorum is met, when there is one.
    pub quorum: Option<bool>,
    pub up: usize,
    pub servers: usize,
    /// Every server has been checked at least once.
    pub checked: bool,
}

pub(super) fn vitals(m: &Monitor) -> Vitals {
    let servers = m.board.servers.iter();
    let (mut up, mut n, mut checked) = (0, 0, true);
    for (_, s) in servers {
        n += 1;
        up += usize::from(s.health == crate::check::state::Health::Up && !s.out);
        checked &= s.checked.is_some();
    }
    Vitals {
        stopped: m.stopped,
        quorum: m.board.policy.quorum.map(|_| m.board.quorum_met),
        up,
        servers: n,
        checked,
    }
}

pub(super) fn status(m: &Monitor) -> Status {
    Status {
        service: m.name.clone(),
        checks: m.checks_run,
        stopped: m.stopped,
        sorry: m.sorry_dest.is_some(),
        quorum: m.board.policy.quorum.map(|_| m.board.quorum_met),
        panic: m.board.panicking,
        live_weight: m.board.live_weight(),
        servers: rows(m),
        latency: m.latency.iter().map(|(k, l)| (*k, l.clone())).collect(),
    }
}

/// One line for a service manager's status: how many services are monitored and how many
/// of their servers are up and down.
pub fn summary(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "running, no monitors".into();
    }
    let mut services: Vec<&str> = rows.iter().map(|r| r.service.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    let up = rows.iter().filter(|r| r.state == "up").count();
    let down = rows.iter().filter(|r| r.state == "down").count();
    let s = |n: usize| if n == 1 { "" } else { "s" };
    format!(
        "{} service{} monitored, {} server{}: {up} up, {down} down",
        services.len(),
        s(services.len()),
        rows.len(),
        s(rows.len())
    )
}

/// Every server has been checked at least once.
pub fn first_round_done(rows: &[Row]) -> bool {
    rows.iter().all(|r| r.checked.is_some())
}

/// The table of `rows` as printed at `now` (seconds since the Unix epoch).
pub fn render(rows: &[Row], now: f64) -> String {
    use prettytable::{Cell, Row as PRow, format};
    if rows.is_empty() {
        return "no monitors\n".to_string();
    }
    let mut t = prettytable::Table::new();
    t.set_format(*format::consts::FORMAT_BOX_CHARS);
    // the column is there only while an override holds a server
    let held = rows.iter().any(|r| r.held.is_some());
    let mut titles = vec![
        "Service",
        "Real server",
        "State",
        "Weight",
        "Checked",
        "Latency",
        "Detail",
    ];
    if held {
        titles.push("Override");
    }
    t.set_titles(PRow::new(titles.iter().map(|h| Cell::new(h)).collect()));
    for r in rows {
        let weight = if let Some(h) = r.held_weight {
            format!("{h} (held)")
        } else if r.in_table {
            r.weight.to_string()
        } else {
            format!("{} (out)", r.weight)
        };
        let checked = r
            .checked
            .map_or("never".to_string(), |c| format!("{:.1}s ago", (now - c).max(0.0)));
        let latency = r.latency.map_or(String::new(), |l| format!("{l:.1} ms"));
        let mut cells = vec![
            r.service.as_str(),
            &r.server,
            r.state,
            &weight,
            &checked,
            &latency,
            &r.detail,
        ];
        if held {
            cells.push(r.held.as_deref().unwrap_or(""));
        }
        t.add_row(PRow::new(cells.iter().map(|c| Cell::new(c)).collect()));
    }
    t.to_string()
}

/// Now, as [`render`] takes it.
pub fn now() -> f64 {
    unix_now()
}
