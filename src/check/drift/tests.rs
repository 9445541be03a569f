use std::net::IpAddr;
use std::time::Duration;

use super::watch::{Action, Settings, Step, Tracker, Verdict, Watch, settings};
use super::*;
use crate::ipvs::{Protocol, Service};
use crate::model::plan::{PlanOpts, plan};

fn key(i: u8) -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: IpAddr::from([192, 0, 2, i]),
        port: 80,
    }
}

fn dest(h: u8, weight: u32) -> Dest {
    Dest {
        weight,
        ..Dest::new(IpAddr::from([198, 51, 100, h]), 80)
    }
}

fn addr(h: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::from([198, 51, 100, h]), 80)
}

fn svc(i: u8, dests: Vec<Dest>) -> (Service, Vec<Dest>) {
    let mut s = Service::new(key(i));
    s.scheduler = "wrr".into();
    (s, dests)
}

fn desired(services: ServiceTable) -> Desired {
    Desired {
        services,
        timeouts: None,
    }
}

fn no_override(_: &ServiceKey, _: SocketAddr) -> Option<u32> {
    None
}

const T: Timeouts = Timeouts {
    tcp: 900,
    tcpfin: 120,
    udp: 300,
};

fn run(want: &Desired, kernel: &ServiceTable, ex: &Excuses) -> Comparison {
    compare(want, kernel, T, ex, &no_override)
}

/// The operations that undo the drift: what a revert runs.
fn undo(c: &Comparison, kernel: &ServiceTable) -> Vec<crate::ipvs::Op> {
    plan(kernel, T, c.effective.clone(), PlanOpts::default()).ops
}

#[test]
fn the_same_table_is_no_drift() {
    let want = desired(vec![svc(1, vec![dest(1, 1), dest(2, 3)])]);
    let c = run(&want, &want.services, &Excuses::default());
    assert!(c.changes.is_empty());
    assert!(undo(&c, &want.services).is_empty());
}

#[test]
fn a_deleted_server_is_one_change_and_one_operation() {
    let want = desired(vec![svc(1, vec![dest(1, 1), dest(2, 1)])]);
    let kernel = vec![svc(1, vec![dest(1, 1)])];
    let c = run(&want, &kernel, &Excuses::default());
    assert_eq!(c.changes.len(), 1);
    let ch = &c.changes[0];
    assert_eq!(ch.service, "TCP 192.0.2.1:80");
    assert_eq!(ch.server.as_deref(), Some("198.51.100.2:80"));
    assert_eq!(
        (ch.field, ch.want.as_str(), ch.have.as_str()),
        (None, Some("present"), Some("absent"))
    );
    let ops = undo(&c, &kernel);
    assert_eq!(ops, vec![crate::ipvs::Op::AddDest(key(1), dest(2, 1))]);
}

#[test]
fn fields_extra_servers_and_services_are_named() {
    let want = desired(vec![svc(1, vec![dest(1, 1)]), svc(2, vec![])]);
    let mut s1 = svc(1, vec![dest(1, 5), dest(3, 1)]);
    s1.0.scheduler = "rr".into();
    let kernel = vec![s1, svc(3, vec![])];
    let c = run(&want, &kernel, &Excuses::default());
    let words: Vec<String> = c.changes.iter().map(Change::describe).collect();
    assert_eq!(
        words,
        [
            "TCP 192.0.2.1:80 scheduler: want \"wrr\", have \"rr\"",
            "TCP 192.0.2.1:80 198.51.100.1:80 weight: want 1, have 5",
            "TCP 192.0.2.1:80 198.51.100.3:80: not desired",
            "TCP 192.0.2.2:80: missing",
            "TCP 192.0.2.3:80: not desired",
        ]
    );
    // edit service, edit server, delete server, add service, delete service
    assert_eq!(undo(&c, &kernel).len(), 5);
}

#[test]
fn what_a_monitor_did_is_no_drift_and_is_not_undone() {
    let want = desired(vec![svc(1, vec![dest(1, 1), dest(2, 1), dest(3, 1)])]);
    // 1 inhibited (weight 0), 2 removed, and the sorry server 9 put in
    let kernel = vec![svc(1, vec![dest(1, 0), dest(3, 1), dest(9, 1)])];
    let mut ex = Excuses::default();
    ex.out.insert((key(1), addr(1)));
    ex.out.insert((key(1), addr(2)));
    ex.sorry.insert((key(1), addr(9)));
    let c = run(&want, &kernel, &ex);
    assert!(c.changes.is_empty(), "{:?}", c.changes);
    assert!(undo(&c, &kernel).is_empty());
}

#[test]
fn an_excused_server_still_drifts_in_what_was_not_done_on_purpose() {
    let want = desired(vec![svc(1, vec![dest(1, 4)])]);
    let mut ex = Excuses::default();
    ex.out.insert((key(1), addr(1)));
    // out, but at weight 2: a monitor puts 0, so someone else set it
    let kernel = vec![svc(1, vec![dest(1, 2)])];
    let c = run(&want, &kernel, &ex);
    assert_eq!(c.changes.len(), 1);
    assert_eq!(c.changes[0].field, Some("weight"));
    // the method changed by hand while inhibited: that is drift, the weight 0 is not
    let mut d = dest(1, 0);
    d.fwd = crate::ipvs::Forward::Masq;
    let kernel = vec![svc(1, vec![d])];
    let c = run(&want, &kernel, &ex);
    assert_eq!(c.changes.len(), 1);
    assert_eq!(c.changes[0].field, Some("method"));
    let ops = undo(&c, &kernel);
    assert_eq!(
        ops,
        vec![crate::ipvs::Op::EditDest(key(1), dest(1, 0))],
        "the weight stays 0"
    );
}

#[test]
fn draining_and_drained_servers_and_overrides_are_no_drift() {
    let want = desired(vec![svc(1, vec![dest(1, 3), dest(2, 3), dest(3, 3)])]);
    // 1 draining (weight 0), 2 drained away, 3 held at 7 by an override; 4 drained by an
    // apply that no longer wants it
    let kernel = vec![svc(1, vec![dest(1, 0), dest(3, 7), dest(4, 0)])];
    let mut ex = Excuses::default();
    ex.draining.insert((key(1), addr(1)));
    ex.draining.insert((key(1), addr(4)));
    ex.drained.insert((key(1), addr(2)));
    let held = |k: &ServiceKey, s: SocketAddr| (*k == key(1) && s == addr(3)).then_some(7);
    let c = compare(&want, &kernel, T, &ex, &held);
    assert!(c.changes.is_empty(), "{:?}", c.changes);
    assert!(undo(&c, &kernel).is_empty());
    // the override holds 7, not 8
    let kernel = vec![svc(1, vec![dest(1, 0), dest(3, 8), dest(4, 0)])];
    assert_eq!(compare(&want, &kernel, T, &ex, &held).changes.len(), 1);
}

#[test]
fn drained_servers_are_remembered_until_they_come_back() {
    let mut memory = HashSet::new();
    let none = HashSet::new();
    let draining: HashSet<Server> = [(key(1), addr(1))].into();
    remember_drained(&mut memory, &draining, &none, &vec![svc(1, vec![dest(1, 0)])]);
    assert!(memory.contains(&(key(1), addr(1))));
    // deleted once drained: remembered though no longer draining
    remember_drained(&mut memory, &none, &none, &vec![svc(1, vec![])]);
    assert!(memory.contains(&(key(1), addr(1))));
    // put back: forgotten, its absence is drift again later
    remember_drained(&mut memory, &none, &none, &vec![svc(1, vec![dest(1, 1)])]);
    assert!(memory.is_empty());
    // drained and deleted between two rounds: never seen draining, still deliberate
    let drained: HashSet<Server> = [(key(1), addr(2))].into();
    remember_drained(&mut memory, &none, &drained, &vec![svc(1, vec![dest(1, 1)])]);
    assert!(memory.contains(&(key(1), addr(2))));
}

#[test]
fn timeouts_are_compared_where_the_desired_table_sets_them() {
    let mut want = desired(vec![]);
    want.timeouts = Some(Timeouts {
        tcp: 900,
        tcpfin: 0,
        udp: 60,
    });
    let kernel_t = Timeouts {
        tcp: 900,
        tcpfin: 5,
        udp: 300,
    };
    let c = compare(&want, &vec![], kernel_t, &Excuses::default(), &no_override);
    assert_eq!(c.changes.len(), 1);
    assert_eq!(
        (c.changes[0].service.as_str(), c.changes[0].field),
        ("timeouts", Some("udp"))
    );
}

#[test]
fn adopting_takes_the_kernels_table_but_not_what_was_done_on_purpose() {
    let want = desired(vec![
        svc(1, vec![dest(1, 1), dest(2, 1), dest(3, 1)]),
        svc(2, vec![]),
    ]);
    // 1 hand-edited to 5, 2 inhibited, 3 removed by a monitor, 8 added by hand, 9 the sorry
    // server; service 2 deleted by hand, 3 added by hand
    let kernel = vec![
        svc(1, vec![dest(1, 5), dest(2, 0), dest(8, 1), dest(9, 1)]),
        svc(3, vec![dest(1, 1)]),
    ];
    let mut ex = Excuses::default();
    ex.out.insert((key(1), addr(2)));
    ex.out.insert((key(1), addr(3)));
    ex.sorry.insert((key(1), addr(9)));
    let new = adopt(&want, &kernel, T, &ex, &no_override);
    let mut servers: Vec<(SocketAddr, u32)> = new.services[0]
        .1
        .iter()
        .map(|d| (SocketAddr::new(d.addr, d.port), d.weight))
        .collect();
    servers.sort();
    assert_eq!(servers, [(addr(1), 5), (addr(2), 1), (addr(3), 1), (addr(8), 1)]);
    let keys: Vec<&ServiceKey> = new.services.iter().map(|(s, _)| &s.key).collect();
    assert_eq!(keys, [&key(1), &key(3)]);
    // compared against what was adopted, the kernel does not drift
    assert!(run(&new, &kernel, &ex).changes.is_empty());
    // and a later change by hand does
    let later = vec![
        svc(1, vec![dest(1, 6), dest(2, 0), dest(8, 1), dest(9, 1)]),
        svc(3, vec![dest(1, 1)]),
    ];
    let c = run(&new, &later, &ex);
    assert_eq!(c.changes.len(), 1);
    assert_eq!(
        (c.changes[0].want.clone(), c.changes[0].have.clone()),
        (J::from(5), J::from(6))
    );
}

fn s(action: Action, max_changes: usize) -> Settings {
    Settings {
        every: Duration::from_secs(1),
        action,
        max_changes,
    }
}

fn change(n: u32) -> Change {
    Change {
        service: "TCP 192.0.2.1:80".into(),
        server: Some("198.51.100.1:80".into()),
        field: Some("weight"),
        want: J::from(1),
        have: J::from(n),
    }
}

#[test]
fn the_same_drift_is_reported_once_and_again_when_it_changes() {
    let mut t = Tracker::default();
    let st = s(Action::Report, 20);
    let d = |report| Verdict::Drift {
        report,
        act: false,
        alert: false,
    };
    assert_eq!(t.round(&[change(5)], 1, &st), d(true));
    assert_eq!(t.round(&[change(5)], 1, &st), d(false));
    assert_eq!(t.round(&[change(5)], 1, &st), d(false));
    assert_eq!(t.round(&[change(6)], 1, &st), d(true));
    assert_eq!(t.round(&[], 0, &st), Verdict::Clean { cleared: true });
    assert_eq!(t.round(&[], 0, &st), Verdict::Clean { cleared: false });
    assert_eq!(t.round(&[change(6)], 1, &st), d(true));
}

#[test]
fn past_max_changes_nothing_is_done_and_the_alert_is_raised_once() {
    let mut t = Tracker::default();
    let st = s(Action::Revert, 2);
    let many: Vec<Change> = (2..6).map(change).collect();
    let first = t.round(&many, 4, &st);
    assert_eq!(
        first,
        Verdict::Drift {
            report: true,
            act: false,
            alert: true
        }
    );
    for _ in 0..5 {
        assert_eq!(
            t.round(&many, 4, &st),
            Verdict::Drift {
                report: false,
                act: false,
                alert: false
            }
        );
    }
    // within the gate again: acted on, and a later mass drift alerts anew
    assert_eq!(
        t.round(&[change(2)], 1, &st),
        Verdict::Drift {
            report: true,
            act: true,
            alert: false
        }
    );
    t.acted();
    assert_eq!(t.round(&[], 0, &st), Verdict::Clean { cleared: false });
    assert!(matches!(
        t.round(&many, 4, &st),
        Verdict::Drift { alert: true, .. }
    ));
}

#[test]
fn a_failing_revert_is_logged_once_per_reason() {
    let mut t = Tracker::default();
    assert!(t.failed("EBUSY"));
    assert!(!t.failed("EBUSY"));
    assert!(t.failed("ENOENT"));
}

#[test]
fn settings_name_the_bad_field_and_value() {
    let err = |r: Result<Settings, crate::model::SpecError>| r.unwrap_err().to_string();
    assert!(err(settings(Some(Duration::ZERO), None, None)).contains("every"));
    let e = err(settings(None, Some("fix"), None));
    assert!(e.contains("action") && e.contains("fix"), "{e}");
    let e = err(settings(None, None, Some(0)));
    assert!(e.contains("max_changes") && e.contains('0'), "{e}");
    let ok = settings(None, None, None).unwrap();
    assert_eq!(
        (ok.every, ok.action, ok.max_changes),
        (Duration::from_secs(5), Action::Report, 20)
    );
}

#[test]
fn a_watch_round_reverts_with_the_excused_kept_and_adopts_for_later_rounds() {
    let want = desired(vec![svc(1, vec![dest(1, 1), dest(2, 1)])]);
    let mut ex = Excuses::default();
    ex.out.insert((key(1), addr(2)));
    let kernel = vec![svc(1, vec![dest(2, 0)])];
    let mut w = Watch::new(s(Action::Revert, 20), want.clone());
    let Step::Revert(eff) = w.round(&kernel, T, ex.clone(), &no_override) else {
        panic!("no revert")
    };
    let ops = plan(&kernel, T, eff, PlanOpts::default()).ops;
    assert_eq!(ops, vec![crate::ipvs::Op::AddDest(key(1), dest(1, 1))]);
    w.reverted(Ok(ops));

    let mut w = Watch::new(s(Action::Adopt, 20), want);
    let edited = vec![svc(1, vec![dest(1, 4), dest(2, 0)])];
    assert!(matches!(
        w.round(&edited, T, ex.clone(), &no_override),
        Step::Done
    ));
    assert_eq!(w.desired().services[0].1[0].weight, 4);
    assert_eq!(
        w.desired().services[0].1[1].weight,
        1,
        "the inhibited weight is not adopted"
    );
}

#[test]
fn weights_a_check_or_an_override_set_are_neither_drift_nor_adopted() {
    let want = desired(vec![svc(1, vec![dest(1, 1), dest(2, 1), dest(3, 1)])]);
    // 1 at 7 by its exec check, 2 held at 4 by an override, 3 edited by hand
    let kernel = vec![svc(1, vec![dest(1, 7), dest(2, 4), dest(3, 9)])];
    let mut ex = Excuses::default();
    ex.weights.insert((key(1), addr(1)), 7);
    let held = |_: &ServiceKey, s: SocketAddr| (s == addr(2)).then_some(4);
    let c = compare(&want, &kernel, T, &ex, &held);
    let words: Vec<String> = c.changes.iter().map(Change::describe).collect();
    assert_eq!(words, ["TCP 192.0.2.1:80 198.51.100.3:80 weight: want 1, have 9"]);
    assert_eq!(
        undo(&c, &kernel),
        vec![crate::ipvs::Op::EditDest(key(1), dest(3, 1))]
    );
    let new = adopt(&want, &kernel, T, &ex, &held);
    let weights: Vec<u32> = new.services[0].1.iter().map(|d| d.weight).collect();
    assert_eq!(weights, [1, 1, 9]);
}
