//! Shadow mode's comparison: what lvsh's checks would make of each real server against what
//! the kernel's table (kept by another checker) has, and since when they disagree.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::monitor::Row;
use crate::ipvs::ServiceTable;

#[derive(Clone, Debug, PartialEq)]
pub struct Disagreement {
    pub service: String,
    pub server: String,
    /// "weight 3", or "absent".
    pub kernel: String,
    /// "down, weight 0 (connect: refused)".
    pub lvsh: String,
    /// Seconds since the Unix epoch.
    pub since: f64,
}

/// Each monitored server whose serving weight differs between lvsh's view and the table.
pub fn compare(rows: &[Row], table: &ServiceTable, now: f64) -> Vec<Disagreement> {
    let mut kernel: HashMap<(String, String), u32> = HashMap::new();
    for (s, dests) in table {
        let name = s.key.to_string();
        for d in dests {
            kernel.insert(
                (name.clone(), SocketAddr::new(d.addr, d.port).to_string()),
                d.weight,
            );
        }
    }
    rows.iter()
        .filter_map(|r| {
            let mine = if r.in_table {
                r.held_weight.unwrap_or(r.weight)
            } else {
                0
            };
            let theirs = kernel.get(&(r.service.clone(), r.server.clone())).copied();
            let differ = match theirs {
                None => mine > 0,
                Some(w) => (w > 0) != (mine > 0) || (w > 0 && w != mine),
            };
            differ.then(|| Disagreement {
                service: r.service.clone(),
                server: r.server.clone(),
                kernel: theirs.map_or("absent".to_string(), |w| format!("weight {w}")),
                lvsh: format!("{}, weight {mine} ({})", r.state, r.detail),
                since: now,
            })
        })
        .collect()
}

/// The disagreements as they come and go.
#[derive(Default)]
pub struct Tracker {
    open: HashMap<(String, String), Disagreement>,
    pub seen: u64,
}

impl Tracker {
    /// Takes this look's disagreements; gives the new ones and the ones that ended.
    pub fn update(&mut self, now: Vec<Disagreement>) -> (Vec<Disagreement>, Vec<Disagreement>) {
        let mut fresh = Vec::new();
        let mut keep = HashMap::new();
        for d in now {
            let k = (d.service.clone(), d.server.clone());
            match self.open.remove(&k) {
                Some(old) => {
                    keep.insert(
                        k,
                        Disagreement {
                            since: old.since,
                            ..d
                        },
                    );
                }
                None => {
                    self.seen += 1;
                    fresh.push(d.clone());
                    keep.insert(k, d);
                }
            }
        }
        let ended = std::mem::replace(&mut self.open, keep).into_values().collect();
        (fresh, ended)
    }

    pub fn open(&self) -> Vec<&Disagreement> {
        let mut v: Vec<&Disagreement> = self.open.values().collect();
        v.sort_by(|a, b| (&a.service, &a.server).cmp(&(&b.service, &b.server)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::{Dest, Protocol, Service, ServiceKey};

    fn row(server: &str, state: &'static str, in_table: bool, weight: u32) -> Row {
        Row {
            service: "TCP 192.0.2.1:80".into(),
            server: server.into(),
            state,
            in_table,
            weight,
            checked: None,
            latency: None,
            detail: "x".into(),
            held: None,
            held_weight: None,
            checks: Vec::new(),
            transitions: 0,
        }
    }

    #[test]
    fn serving_and_weights_are_compared_and_tracked() {
        let key = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "192.0.2.1".parse().unwrap(),
            port: 80,
        };
        assert_eq!(key.to_string(), "TCP 192.0.2.1:80");
        let d = |h: u8, w: u32| Dest {
            weight: w,
            ..Dest::new(std::net::IpAddr::from([198, 51, 100, h]), 80)
        };
        let table = vec![(Service::new(key), vec![d(1, 1), d(2, 1), d(3, 0)])];
        let rows = [
            row("198.51.100.1:80", "up", true, 1),
            row("198.51.100.2:80", "down", false, 1),
            row("198.51.100.3:80", "down", false, 1),
            row("198.51.100.4:80", "down", false, 1),
            row("198.51.100.5:80", "up", true, 2),
        ];
        let found = compare(&rows, &table, 10.0);
        let servers: Vec<&str> = found.iter().map(|d| d.server.as_str()).collect();
        assert_eq!(servers, ["198.51.100.2:80", "198.51.100.5:80"]);
        assert_eq!(
            (found[0].kernel.as_str(), found[0].lvsh.as_str()),
            ("weight 1", "down, weight 0 (x)")
        );
        assert_eq!(found[1].kernel, "absent");
        let mut t = Tracker::default();
        let (fresh, ended) = t.update(found.clone());
        assert_eq!((fresh.len(), ended.len(), t.seen), (2, 0, 2));
        let (fresh, ended) = t.update(compare(&rows[..2], &table, 20.0));
        assert_eq!((fresh.len(), ended.len()), (0, 1));
        assert_eq!(t.open()[0].since, 10.0);
    }
}
