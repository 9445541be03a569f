//! Whether a director announces its VIPs: the monitors of their services say the service
//! can be served from here (every monitor running, checked once, its quorum met or, without
//! a quorum, a server up). Announcing is graded: with fewer servers up than a share, the
//! route goes out with a MED, so that routers prefer the directors with more.

use super::super::monitor::view::Vitals;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grade {
    /// The share of real servers up (0..1) under which the MED is set.
    pub below: f64,
    pub med: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Announce { med: Option<u32> },
    Withdraw(String),
}

impl Verdict {
    pub fn announced(&self) -> bool {
        matches!(self, Verdict::Announce { .. })
    }

    pub fn med(&self) -> Option<u32> {
        match self {
            Verdict::Announce { med } => *med,
            Verdict::Withdraw(_) => None,
        }
    }
}

/// The verdict on `monitors` (each named by its service); none at all: the director's own
/// health (its loop turning) is all there is, and that is the lifeline's to judge.
pub fn verdict(monitors: &[(String, Vitals)], grade: Option<Grade>) -> Verdict {
    let (mut up, mut all) = (0, 0);
    for (name, v) in monitors {
        if v.stopped {
            return Verdict::Withdraw(format!("the monitor of {name} is stopped"));
        }
        if !v.checked {
            return Verdict::Withdraw(format!("the first checks of {name} are not done"));
        }
        match v.quorum {
            Some(false) => return Verdict::Withdraw(format!("{name} lost its quorum")),
            None if v.up == 0 => return Verdict::Withdraw(format!("{name} has no real server up")),
            _ => {}
        }
        up += v.up;
        all += v.servers;
    }
    let med = grade.and_then(|g| (all > 0 && (up as f64) < g.below * all as f64).then_some(g.med));
    Verdict::Announce { med }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(up: usize, servers: usize, quorum: Option<bool>) -> Vitals {
        Vitals {
            stopped: false,
            quorum,
            up,
            servers,
            checked: true,
        }
    }

    fn named(list: &[Vitals]) -> Vec<(String, Vitals)> {
        list.iter()
            .enumerate()
            .map(|(i, v)| (format!("svc{i}"), v.clone()))
            .collect()
    }

    #[test]
    fn every_monitor_must_be_able_to_serve() {
        assert_eq!(
            verdict(&named(&[v(2, 3, None), v(1, 3, Some(true))]), None),
            Verdict::Announce { med: None }
        );
        let lost = verdict(&named(&[v(2, 3, None), v(3, 3, Some(false))]), None);
        assert_eq!(lost, Verdict::Withdraw("svc1 lost its quorum".into()));
        assert!(!verdict(&named(&[v(0, 3, None)]), None).announced());
        // a quorum met with nobody up is the operator's quorum (0): announced
        assert!(verdict(&named(&[v(0, 3, Some(true))]), None).announced());
        let mut stopped = v(3, 3, None);
        stopped.stopped = true;
        assert!(!verdict(&named(&[stopped]), None).announced());
        let mut fresh = v(3, 3, None);
        fresh.checked = false;
        assert_eq!(
            verdict(&named(&[fresh]), None),
            Verdict::Withdraw("the first checks of svc0 are not done".into())
        );
        assert!(verdict(&[], None).announced());
    }

    #[test]
    fn fewer_servers_than_the_share_announce_with_a_med() {
        let g = Some(Grade { below: 0.5, med: 200 });
        assert_eq!(
            verdict(&named(&[v(2, 4, None)]), g),
            Verdict::Announce { med: None }
        );
        assert_eq!(
            verdict(&named(&[v(1, 4, None)]), g),
            Verdict::Announce { med: Some(200) }
        );
        // over all the VIPs' services together
        assert_eq!(verdict(&named(&[v(1, 4, None), v(4, 4, None)]), g).med(), None);
    }
}
