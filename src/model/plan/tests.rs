use proptest::prelude::*;

use super::*;
use crate::ipvs::{Forward, Protocol, TunType};
use crate::ipvsadm::rules::Rules;
use crate::model::table::Table;

fn key(i: u8) -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: IpAddr::from([192, 0, 2, i]),
        port: 80,
    }
}

fn arb_dest() -> impl Strategy<Value = Dest> {
    (
        1u8..6,
        prop_oneof![Just(Forward::Route), Just(Forward::Masq), Just(Forward::Tunnel)],
        0u32..4,
        0u32..3,
    )
        .prop_map(|(h, fwd, weight, upper)| Dest {
            fwd,
            weight,
            upper: upper * 10,
            tun_type: TunType::Ipip,
            ..Dest::new(IpAddr::from([198, 51, 100, h]), 80)
        })
}

fn arb_service() -> impl Strategy<Value = (Service, Vec<Dest>)> {
    (
        1u8..6,
        prop_oneof![Just("rr"), Just("wrr"), Just("sh"), Just("mh")],
        any::<bool>(),
        proptest::collection::vec(arb_dest(), 0..4),
    )
        .prop_map(|(k, sched, persist, dests)| {
            let mut s = Service::new(key(k));
            s.scheduler = sched.into();
            if persist {
                s.flags = crate::ipvs::consts::SVC_F_PERSISTENT;
                s.timeout = 300;
            }
            let mut seen = std::collections::HashSet::new();
            let dests = dests
                .into_iter()
                .filter(|d| seen.insert((d.addr, d.port)))
                .collect();
            (s, dests)
        })
}

fn arb_table() -> impl Strategy<Value = ServiceTable> {
    proptest::collection::vec(arb_service(), 0..5).prop_map(|v| {
        let mut seen = std::collections::HashSet::new();
        v.into_iter()
            .filter(|(s, _)| seen.insert(s.key.clone()))
            .collect()
    })
}

fn sorted(mut t: ServiceTable) -> ServiceTable {
    crate::model::order::sort_table(&mut t);
    t
}

proptest! {
    #[test]
    fn apply_reaches_desired_minimally_and_then_does_nothing(current in arb_table(), desired in arb_table()) {
        let mut model = Table::new(current.clone(), Timeouts::default(), vec![]);
        let d = Desired { services: desired.clone(), timeouts: None };
        let p = plan(&current, Timeouts::default(), d.clone(), PlanOpts { prune: true, drain: false });
        for op in &p.ops {
            model.apply(op).unwrap();
        }
        prop_assert_eq!(sorted(model.services().to_vec()), sorted(desired.clone()));
        // never delete and re-add the same key
        for op in &p.ops {
            if let Op::DelService(k) = op {
                prop_assert!(!p.ops.iter().any(|o| matches!(o, Op::AddService(s) if &s.key == k)));
            }
            // (an mh service's servers may go out and back to keep their order: see mh_order)
            let mh = |k: &ServiceKey| desired.iter().any(|(s, _)| &s.key == k && s.scheduler == "mh");
            if let Op::DelDest(k, a, port) = op && !mh(k) {
                prop_assert!(!p.ops.iter().any(|o| matches!(o, Op::AddDest(k2, d) if k2 == k && d.addr == *a && d.port == *port)));
            }
        }
        let again = plan(model.services(), Timeouts::default(), d.clone(), PlanOpts { prune: true, drain: false });
        prop_assert!(again.ops.is_empty(), "{:?}", again.ops);
    }
}

#[test]
fn no_prune_only_adds_and_edits() {
    let mut s = Service::new(key(1));
    s.scheduler = "rr".into();
    let current = vec![
        (s.clone(), vec![Dest::new(IpAddr::from([198, 51, 100, 1]), 80)]),
        (Service::new(key(2)), vec![]),
    ];
    let desired = Desired {
        services: vec![(
            Service {
                scheduler: "wrr".into(),
                ..s
            },
            vec![],
        )],
        timeouts: None,
    };
    let p = plan(
        &current,
        Timeouts::default(),
        desired.clone(),
        PlanOpts {
            prune: false,
            drain: false,
        },
    );
    assert_eq!(p.ops.len(), 1);
    assert!(matches!(&p.ops[0], Op::EditService(x) if x.scheduler == "wrr"));
}

#[test]
fn drain_sets_weight_zero_first() {
    let d = Dest {
        weight: 5,
        ..Dest::new(IpAddr::from([198, 51, 100, 1]), 80)
    };
    let current = vec![(Service::new(key(1)), vec![d.clone()])];
    let desired = Desired {
        services: vec![(Service::new(key(1)), vec![])],
        timeouts: None,
    };
    let p = plan(
        &current,
        Timeouts::default(),
        desired.clone(),
        PlanOpts {
            prune: true,
            drain: true,
        },
    );
    assert_eq!(
        p.ops,
        vec![Op::EditDest(
            key(1),
            Dest {
                weight: 0,
                ..d.clone()
            }
        )]
    );
    assert_eq!(p.draining, vec![(key(1), d.addr, 80)]);
}

/// Rules text for `table`: every service's -A with its -a lines, or (split) every -A first
/// and the -a lines after them, as a hand-written file might have them.
fn rules_text(table: &ServiceTable, split: bool) -> String {
    use crate::ipvsadm::rules::command_line;
    let adds = table
        .iter()
        .map(|(s, _)| command_line(&Op::AddService(s.clone())));
    let dests = |(s, ds): &(Service, Vec<Dest>)| {
        ds.iter()
            .map(|d| command_line(&Op::AddDest(s.key.clone(), d.clone())))
            .collect::<Vec<_>>()
    };
    let lines: Vec<String> = if split {
        adds.chain(table.iter().flat_map(dests)).collect()
    } else {
        table
            .iter()
            .flat_map(|e| std::iter::once(command_line(&Op::AddService(e.0.clone()))).chain(dests(e)))
            .collect()
    };
    lines.join("\n") + "\n"
}

proptest! {
    /// Rules compared as they are read give the plan the general path gives, op for op, and
    /// the same error for a repeated rule; a rule the streaming path does not take (-C here)
    /// falls back to the general path.
    #[test]
    fn streamed_rules_plan_as_the_general_path_does(
        current in arb_table(),
        desired in arb_table(),
        split in any::<bool>(),
        prune in any::<bool>(),
        drain in any::<bool>(),
        repeat in any::<bool>(),
        flush in any::<bool>(),
        timeouts in any::<bool>(),
    ) {
        let mut text = rules_text(&desired, split);
        if repeat && !text.trim().is_empty() {
            let last = text.lines().last().unwrap().to_string();
            text = format!("{text}{last}\n");
        }
        if timeouts {
            text += "--set 0 60 0\n";
        }
        if flush {
            text = format!("-C\n{text}");
        }
        let now = Timeouts { tcp: 900, tcpfin: 120, udp: 300 };
        let streamed = plan_rules(|| Ok(Box::new(Rules(text.as_bytes()))), &current, now, PlanOpts { prune, drain });
        let general = Desired::from_rules(&mut Rules(text.as_bytes())).map(|d| plan(&current, now, d, PlanOpts { prune, drain }));
        match (streamed, general) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            (a, b) => prop_assert!(false, "streamed {:?}, general {:?}", a, b),
        }
    }
}

#[test]
fn a_large_service_is_diffed_through_its_map() {
    let dest = |i: u8, weight| Dest {
        weight,
        ..Dest::new(IpAddr::from([198, 51, 100, i]), 80)
    };
    let current = vec![(
        Service::new(key(1)),
        (1..=60).map(|i| dest(i, 1)).collect::<Vec<_>>(),
    )];
    // 40 kept (one reweighted), 20 dropped, 10 added
    let desired: Vec<Dest> = (1..=40)
        .map(|i| dest(i, if i == 7 { 5 } else { 1 }))
        .chain((100..110).map(|i| dest(i, 1)))
        .collect();
    let text = rules_text(&vec![(Service::new(key(1)), desired)], false);
    let now = Timeouts::default();
    let streamed = plan_rules(
        || Ok(Box::new(Rules(text.as_bytes()))),
        &current,
        now,
        PlanOpts::default(),
    )
    .unwrap();
    let general = plan(
        &current,
        now,
        Desired::from_rules(&mut Rules(text.as_bytes())).unwrap(),
        PlanOpts::default(),
    );
    assert_eq!(streamed, general);
    assert_eq!(streamed.ops.len(), 20 + 1 + 10);
}

/// The kernel's list after `ops`: a new real server goes to the head, an edit stays put.
fn kernel_list(mut list: Vec<Dest>, ops: &[Op]) -> Vec<Dest> {
    for op in ops {
        match op {
            Op::AddDest(_, d) => list.insert(0, d.clone()),
            Op::DelDest(_, a, p) => list.retain(|d| (d.addr, d.port) != (*a, *p)),
            Op::EditDest(_, d) => {
                for x in list.iter_mut().filter(|x| (x.addr, x.port) == (d.addr, d.port)) {
                    *x = d.clone();
                }
            }
            _ => {}
        }
    }
    list
}

fn mh_service(dests: &[u8]) -> (Service, Vec<Dest>) {
    let mut s = Service::new(key(1));
    s.scheduler = "mh".into();
    let dests = dests
        .iter()
        .map(|h| Dest::new(IpAddr::from([198, 51, 100, *h]), 80))
        .collect();
    (s, dests)
}

proptest! {
    /// Whatever order the kernel holds an mh service's servers in, and whatever is added,
    /// removed or re-weighted, the plan leaves them ascending, with the wanted settings.
    #[test]
    fn an_mh_service_ends_in_canonical_order(have in proptest::sample::subsequence((1u8..12).collect::<Vec<_>>(), 0..11).prop_shuffle(),
                                              want in proptest::sample::subsequence((1u8..12).collect::<Vec<_>>(), 0..11),
                                              weight in 1u32..4) {
        let (svc, have_dests) = mh_service(&have);
        let (_, mut want_dests) = mh_service(&want);
        for d in want_dests.iter_mut().filter(|d| d.addr.to_string().ends_with('3')) {
            d.weight = weight;
        }
        let desired = Desired { services: vec![(svc.clone(), want_dests.clone())], timeouts: None };
        let p = plan(&[(svc, have_dests.clone())], Timeouts::default(), desired, PlanOpts::default());
        let after = kernel_list(have_dests, &p.ops);
        prop_assert!(crate::model::mh::is_canonical(&after), "{:?}", after.iter().map(|d| d.addr).collect::<Vec<_>>());
        let mut got = after.clone();
        got.sort_by(crate::model::order::dest_cmp);
        prop_assert_eq!(got, want_dests);
    }
}

#[test]
fn an_mh_list_in_order_is_left_alone_and_a_new_head_costs_nothing() {
    let (svc, have) = mh_service(&[2, 3, 4]);
    // already canonical, one server added before all: just the add
    let (_, want) = mh_service(&[1, 2, 3, 4]);
    let desired = Desired {
        services: vec![(svc.clone(), want)],
        timeouts: None,
    };
    let p = plan(
        &[(svc.clone(), have.clone())],
        Timeouts::default(),
        desired,
        PlanOpts::default(),
    );
    assert_eq!(p.ops.len(), 1, "{:?}", p.ops);
    // one in the middle: the one before it goes out and comes back after it
    let (_, want) = mh_service(&[2, 3, 4, 5]);
    let (_, have) = mh_service(&[2, 4, 5]);
    let desired = Desired {
        services: vec![(svc.clone(), want)],
        timeouts: None,
    };
    let p = plan(&[(svc, have)], Timeouts::default(), desired, PlanOpts::default());
    let words: Vec<String> = p
        .ops
        .iter()
        .map(|o| match o {
            Op::AddDest(_, d) => format!("+{}", d.addr),
            Op::DelDest(_, a, _) => format!("-{a}"),
            o => format!("{o:?}"),
        })
        .collect();
    assert_eq!(words, ["-198.51.100.2", "+198.51.100.3", "+198.51.100.2"]);
}
