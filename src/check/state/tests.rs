use std::time::{Duration, Instant};

use super::*;

fn ok() -> Outcome {
    Outcome::up("ok", Instant::now())
}
fn fail() -> Outcome {
    Outcome::down("connection refused", Instant::now())
}
fn weighted(w: u32) -> Outcome {
    let mut o = ok();
    o.weight = Some(w);
    o
}

fn board(policy: Policy, servers: &[(&'static str, u32)]) -> Board<&'static str> {
    let mut b = Board::new(policy);
    for (k, w) in servers {
        b.add(*k, *w, None, 1);
    }
    b
}

fn weights(fx: &[Effect<&'static str>]) -> Vec<Effect<&'static str>> {
    fx.iter()
        .filter(|e| !matches!(e, Effect::Changed { .. }))
        .cloned()
        .collect()
}

#[test]
fn fall_then_rise_inhibits_and_restores_the_weight() {
    let mut b = board(Policy::default(), &[("a", 5), ("b", 1)]);
    assert!(b.observe(&"a", 0, fail()).is_empty());
    assert!(b.observe(&"a", 0, fail()).is_empty());
    let fx = b.observe(&"a", 0, fail());
    assert_eq!(weights(&fx), [Effect::SetWeight("a", 0)]);
    match &fx[0] {
        Effect::Changed {
            from,
            to,
            reason,
            detail,
            ..
        } => {
            assert_eq!((*from, *to), (Health::Up, Health::Down));
            assert_eq!(reason, "3 consecutive failures");
            assert_eq!(detail, "connection refused");
        }
        other => panic!("{other:?}"),
    }
    assert!(b.observe(&"a", 0, fail()).is_empty(), "no repeat while down");
    assert!(b.observe(&"a", 0, ok()).is_empty());
    assert_eq!(weights(&b.observe(&"a", 0, ok())), [Effect::SetWeight("a", 5)]);
}

#[test]
fn results_failures_and_transitions_are_counted() {
    let mut b = board(Policy::default(), &[("a", 5)]);
    for _ in 0..3 {
        b.observe(&"a", 0, fail());
    }
    for _ in 0..2 {
        b.observe(&"a", 0, ok());
    }
    b.observe(&"a", 0, fail());
    let a = &b.servers["a"];
    assert_eq!((a.checks[0].runs, a.checks[0].failed), (6, 4));
    assert_eq!(
        a.transitions, 2,
        "down once and up once; a single failure after is no change"
    );
}

#[test]
fn a_success_resets_the_failure_count() {
    let mut b = board(Policy::default(), &[("a", 1)]);
    for _ in 0..5 {
        b.observe(&"a", 0, fail());
        b.observe(&"a", 0, fail());
        assert!(b.observe(&"a", 0, ok()).is_empty());
    }
    assert_eq!(b.servers["a"].health, Health::Up);
}

#[test]
fn remove_action_deletes_and_restores() {
    let p = Policy {
        action: Action::Remove,
        fall: 1,
        rise: 1,
        ..Policy::default()
    };
    let mut b = board(p, &[("a", 3), ("b", 1)]);
    assert_eq!(weights(&b.observe(&"a", 0, fail())), [Effect::Remove("a")]);
    assert_eq!(weights(&b.observe(&"a", 0, ok())), [Effect::Restore("a", 3)]);
}

#[test]
fn alpha_starts_down_and_comes_up_after_rise() {
    let p = Policy {
        alpha: true,
        ..Policy::default()
    };
    let mut b: Board<&str> = Board::new(p);
    let fx = b.add("a", 4, None, 1);
    assert_eq!(weights(&fx), [Effect::SetWeight("a", 0)]);
    b.observe(&"a", 0, ok());
    assert_eq!(weights(&b.observe(&"a", 0, ok())), [Effect::SetWeight("a", 4)]);
}

#[test]
fn every_check_must_pass() {
    let p = Policy {
        fall: 1,
        rise: 1,
        ..Policy::default()
    };
    let mut b: Board<&str> = Board::new(p);
    b.add("a", 1, None, 2);
    b.add("b", 1, None, 1);
    assert!(b.observe(&"a", 0, ok()).is_empty());
    let fx = b.observe(&"a", 1, fail());
    assert_eq!(weights(&fx), [Effect::SetWeight("a", 0)]);
    assert!(matches!(&fx[0], Effect::Changed { reason, .. } if reason.starts_with("check 2 of 2")));
    assert!(b.observe(&"a", 0, ok()).is_empty(), "still down: check 2 fails");
    assert_eq!(weights(&b.observe(&"a", 1, ok())), [Effect::SetWeight("a", 1)]);
}

#[test]
fn sorry_server_comes_in_when_nothing_serves() {
    let p = Policy {
        fall: 1,
        rise: 1,
        sorry: true,
        ..Policy::default()
    };
    let mut b = board(p, &[("a", 1), ("b", 1)]);
    b.observe(&"a", 0, fail());
    let fx = b.observe(&"b", 0, fail());
    assert_eq!(weights(&fx), [Effect::SetWeight("b", 0), Effect::SorryIn]);
    let fx = b.observe(&"b", 0, ok());
    assert_eq!(weights(&fx), [Effect::SetWeight("b", 1), Effect::SorryOut]);
}

#[test]
fn quorum_fires_once_per_crossing_with_hysteresis() {
    let p = Policy {
        fall: 1,
        rise: 1,
        quorum: Some(3),
        hysteresis: 1,
        ..Policy::default()
    };
    let mut b = board(p, &[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
    fn quorum(fx: Vec<Effect<&'static str>>) -> Vec<Effect<&'static str>> {
        fx.into_iter()
            .filter(|e| matches!(e, Effect::Quorum { .. }))
            .collect()
    }
    assert!(quorum(b.observe(&"a", 0, fail())).is_empty(), "3 >= 3-1");
    assert!(quorum(b.observe(&"b", 0, fail())).is_empty(), "2 >= 2");
    assert_eq!(
        quorum(b.observe(&"c", 0, fail())),
        [Effect::Quorum { up: false, sum: 1 }]
    );
    assert!(quorum(b.observe(&"d", 0, fail())).is_empty(), "already lost");
    assert!(quorum(b.observe(&"a", 0, ok())).is_empty());
    assert!(quorum(b.observe(&"b", 0, ok())).is_empty());
    assert!(quorum(b.observe(&"c", 0, ok())).is_empty(), "3 < 3+1");
    assert_eq!(
        quorum(b.observe(&"d", 0, ok())),
        [Effect::Quorum { up: true, sum: 4 }]
    );
}

/// keepalived's sorry server with a quorum: below it, the servers still up go out and the
/// sorry server comes in; verdicts meanwhile change nothing in the table; at the quorum again
/// the sorry server goes and the servers up come back. Adding servers weighs nothing until
/// all are added.
#[test]
fn losing_the_quorum_swaps_the_servers_still_up_for_the_sorry_server() {
    let p = Policy {
        fall: 1,
        rise: 1,
        quorum: Some(4),
        sorry: true,
        sorry_quorum: true,
        action: Action::Remove,
        ..Policy::default()
    };
    let mut b = Board::new(p);
    for k in ["a", "b", "c"] {
        assert!(
            weights(&b.add(k, 2, None, 1)).is_empty(),
            "{k}: weighed before all are in"
        );
    }
    assert!(weights(&b.settled()).is_empty(), "6 >= 4");
    assert_eq!(weights(&b.observe(&"a", 0, fail())), [Effect::Remove("a")]);
    assert_eq!(
        weights(&b.observe(&"b", 0, fail())),
        [
            Effect::Remove("b"),
            Effect::Remove("c"),
            Effect::SorryIn,
            Effect::Quorum { up: false, sum: 2 }
        ]
    );
    assert!(b.swapped);
    assert!(
        weights(&b.observe(&"c", 0, fail())).is_empty(),
        "swapped out already"
    );
    assert!(weights(&b.observe(&"c", 0, ok())).is_empty(), "2 < 4: still out");
    assert_eq!(
        weights(&b.observe(&"a", 0, ok())),
        [
            Effect::SorryOut,
            Effect::Restore("a", 2),
            Effect::Restore("c", 2),
            Effect::Quorum { up: true, sum: 4 }
        ]
    );
    assert!(!b.swapped && !b.sorry_in);
    // inhibit: weight 0 instead, and the weights come back
    let p = Policy {
        action: Action::Inhibit,
        ..b.policy
    };
    let mut b = board(p, &[("a", 3), ("b", 3)]);
    b.settled();
    assert_eq!(
        weights(&b.observe(&"a", 0, fail())),
        [
            Effect::SetWeight("a", 0),
            Effect::SetWeight("b", 0),
            Effect::SorryIn,
            Effect::Quorum { up: false, sum: 3 }
        ]
    );
    assert_eq!(
        weights(&b.observe(&"a", 0, ok())),
        [
            Effect::SorryOut,
            Effect::SetWeight("a", 3),
            Effect::SetWeight("b", 3),
            Effect::Quorum { up: true, sum: 6 }
        ]
    );
}

#[test]
fn max_down_keeps_servers_in_and_panics_once() {
    let p = Policy {
        fall: 1,
        rise: 1,
        max_down: Some(MaxDown::parse("50%").unwrap()),
        ..Policy::default()
    };
    let mut b = board(p, &[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
    assert_eq!(weights(&b.observe(&"a", 0, fail())), [Effect::SetWeight("a", 0)]);
    assert_eq!(weights(&b.observe(&"b", 0, fail())), [Effect::SetWeight("b", 0)]);
    let fx = weights(&b.observe(&"c", 0, fail()));
    assert_eq!(
        fx,
        [Effect::Panic {
            server: "c",
            out: 2,
            limit: 2
        }]
    );
    assert!(
        weights(&b.observe(&"d", 0, fail())).is_empty(),
        "one panic per episode"
    );
    assert!(b.servers["c"].kept && b.servers["d"].kept);
    // a comes back: room for one of the kept ones to go out
    let fx = weights(&b.observe(&"a", 0, ok()));
    assert_eq!(fx, [Effect::SetWeight("a", 1), Effect::SetWeight("c", 0)]);
    assert!(b.panicking);
    b.observe(&"b", 0, ok());
    assert!(!b.panicking);
}

#[test]
fn dynamic_weight_follows_the_check() {
    let mut b = board(Policy::default(), &[("a", 1)]);
    assert_eq!(b.observe(&"a", 0, weighted(7)), [Effect::SetWeight("a", 7)]);
    assert!(b.observe(&"a", 0, weighted(7)).is_empty());
    for _ in 0..3 {
        b.observe(&"a", 0, fail());
    }
    b.observe(&"a", 0, ok());
    assert_eq!(weights(&b.observe(&"a", 0, ok())), [Effect::SetWeight("a", 7)]);
}

#[test]
fn weight_set_by_an_operator_is_adopted() {
    let p = Policy {
        fall: 1,
        rise: 1,
        ..Policy::default()
    };
    let mut b = board(p, &[("a", 1), ("b", 1)]);
    assert!(b.weight_changed(&"a", 9).is_empty());
    b.observe(&"a", 0, fail());
    assert_eq!(b.weight_changed(&"a", 4), [Effect::SetWeight("a", 0)]);
    assert_eq!(weights(&b.observe(&"a", 0, ok())), [Effect::SetWeight("a", 4)]);
    assert!(b.forget(&"a").is_empty());
    assert!(b.observe(&"a", 0, fail()).is_empty());
}

#[test]
fn max_down_parses_counts_and_shares() {
    assert_eq!(MaxDown::parse("3"), Ok(MaxDown::Count(3)));
    assert_eq!(MaxDown::parse("25%").map(|m| m.limit(8)), Ok(2));
    assert!(MaxDown::parse("150%").is_err());
    assert!(MaxDown::parse("x").unwrap_err().contains("\"x\""));
    let _ = Duration::ZERO;
}

#[test]
fn a_hold_wins_over_verdicts_and_its_end_gives_what_the_checks_say_now() {
    let mut b = board(Policy::default(), &[("a", 5), ("b", 1)]);
    assert_eq!(weights(&b.hold(&"a", Some(0), 5)), [Effect::SetWeight("a", 0)]);
    assert_eq!(b.live_weight(), 1, "a server held at 0 serves nobody");
    // checks go on and are recorded, but the table is the override's
    for _ in 0..3 {
        assert!(weights(&b.observe(&"a", 0, fail())).is_empty());
    }
    assert_eq!(b.servers["a"].health, Health::Down);
    // lifted while failing: stays out (weight 0), not its old weight
    assert_eq!(weights(&b.hold(&"a", None, 5)), [Effect::SetWeight("a", 0)]);
    assert!(b.servers["a"].out);
    // a hold on a passing server: its end gives its weight back
    b.observe(&"a", 0, ok());
    assert_eq!(weights(&b.observe(&"a", 0, ok())), [Effect::SetWeight("a", 5)]);
    assert_eq!(weights(&b.hold(&"a", Some(9), 5)), [Effect::SetWeight("a", 9)]);
    assert_eq!(b.live_weight(), 10);
    assert!(
        b.hold(&"a", Some(9), 5).is_empty(),
        "the same hold again changes nothing"
    );
    assert_eq!(weights(&b.hold(&"a", None, 5)), [Effect::SetWeight("a", 5)]);
    assert!(b.hold(&"a", None, 5).is_empty());
}

#[test]
fn a_held_server_keeps_its_weight_when_its_check_asks_for_another_and_when_edited() {
    let mut b = board(Policy::default(), &[("a", 5)]);
    b.hold(&"a", Some(2), 5);
    assert!(weights(&b.observe(&"a", 0, weighted(7))).is_empty());
    assert!(weights(&b.weight_changed(&"a", 3)).is_empty());
    // the check's weight is what it returns to
    assert_eq!(weights(&b.hold(&"a", None, 5)), [Effect::SetWeight("a", 7)]);
}

#[test]
fn a_removed_server_is_put_back_by_a_hold_and_removed_again_at_its_end() {
    let p = Policy {
        action: Action::Remove,
        fall: 1,
        ..Policy::default()
    };
    let mut b = board(p, &[("a", 5), ("b", 1)]);
    assert_eq!(weights(&b.observe(&"a", 0, fail())), [Effect::Remove("a")]);
    assert_eq!(weights(&b.hold(&"a", Some(3), 5)), [Effect::Restore("a", 3)]);
    assert_eq!(weights(&b.hold(&"a", Some(0), 5)), [Effect::SetWeight("a", 0)]);
    assert_eq!(weights(&b.hold(&"a", None, 5)), [Effect::Remove("a")]);
}

#[test]
fn the_sorry_server_and_quorum_count_a_server_held_at_0_as_not_serving() {
    let p = Policy {
        sorry: true,
        quorum: Some(2),
        ..Policy::default()
    };
    let mut b = board(p, &[("a", 2)]);
    let fx = b.hold(&"a", Some(0), 2);
    assert!(fx.contains(&Effect::SorryIn), "{fx:?}");
    assert!(fx.contains(&Effect::Quorum { up: false, sum: 0 }), "{fx:?}");
    let fx = b.hold(&"a", None, 2);
    assert!(fx.contains(&Effect::SorryOut), "{fx:?}");
    assert!(fx.contains(&Effect::Quorum { up: true, sum: 2 }), "{fx:?}");
}

#[test]
fn a_guessed_weight_gives_way_to_the_weight_from_before_the_override() {
    // watched after a restart: the kernel has the held server at 0
    let mut b = board(Policy::default(), &[("a", 0)]);
    assert!(b.servers["a"].guessed);
    b.hold(&"a", Some(0), 4);
    assert_eq!(weights(&b.hold(&"a", None, 4)), [Effect::SetWeight("a", 4)]);
}
