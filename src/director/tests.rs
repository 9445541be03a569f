use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::drain::{DrainOpts, Drains, Verdict, Wait, verdict};
use super::*;
use crate::ipvs::Protocol;
use crate::model::backend::{Model, SharedModel};
use crate::model::plan::Desired;

fn director() -> (Director, SharedModel) {
    let m = SharedModel(Rc::new(RefCell::new(Model::new(Table::default()))));
    (Director::new(Box::new(m.clone())), m)
}

fn svc_spec(addr: &str) -> ServiceSpec {
    ServiceSpec {
        addr: Some(addr.into()),
        scheduler: Some("rr".into()),
        ..Default::default()
    }
}

fn server(addr: &str) -> ServerSpec {
    ServerSpec {
        addr: addr.into(),
        ..Default::default()
    }
}

fn key() -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: IpAddr::from([192, 0, 2, 1]),
        port: 80,
    }
}

/// A kernel that refuses one real server (as it refuses what no model foresees: a full
/// table, a module that fails).
struct Refusing(SharedModel, IpAddr);

impl Ipvs for Refusing {
    fn info(&mut self) -> Result<Info, ipvs::Error> {
        self.0.info()
    }
    fn timeouts(&mut self) -> Result<Timeouts, ipvs::Error> {
        self.0.timeouts()
    }
    fn service_list(&mut self) -> Result<Vec<Service>, ipvs::Error> {
        self.0.service_list()
    }
    fn service(&mut self, key: &ServiceKey) -> Result<Option<Service>, ipvs::Error> {
        self.0.service(key)
    }
    fn dests(&mut self, key: &ServiceKey) -> Result<Vec<Dest>, ipvs::Error> {
        self.0.dests(key)
    }
    fn daemons(&mut self) -> Result<Vec<Daemon>, ipvs::Error> {
        self.0.daemons()
    }
    fn execute_batch(&mut self, ops: &[Op]) -> Vec<Result<(), ipvs::Error>> {
        let cut = ops
            .iter()
            .position(|o| matches!(o, Op::AddDest(_, d) if d.addr == self.1))
            .unwrap_or(ops.len());
        let mut out = self.0.execute_batch(&ops[..cut]);
        if cut < ops.len() && out.iter().all(Result::is_ok) {
            out.push(Err(ops[cut].explain(nix::libc::ENOMEM)));
        }
        out
    }
}

#[test]
fn add_service_refused_halfway_leaves_nothing() {
    let m = SharedModel(Rc::new(RefCell::new(Model::new(Table::default()))));
    let mut d = Director::new(Box::new(Refusing(m.clone(), IpAddr::from([198, 51, 100, 3]))));
    // the kernel refuses the third server after the service and the first two went in
    let servers = [
        server("198.51.100.1"),
        server("198.51.100.2"),
        server("198.51.100.3"),
    ];
    let err = d.add_service(&svc_spec("192.0.2.1:80"), &servers).unwrap_err();
    assert_eq!(err.errno(), Some(nix::libc::ENOMEM), "{err}");
    assert!(m.0.borrow().table.services().is_empty());
    // what was sent: the service and two servers, then their undo
    let log: Vec<String> = m.0.borrow().log.iter().map(|o| format!("{o:?}")).collect();
    assert!(log.last().unwrap().starts_with("DelService"), "{log:?}");

    // and a good one goes in whole, read back from the table
    let (s, dests) = d.add_service(&svc_spec("192.0.2.1:80"), &servers[..2]).unwrap();
    assert_eq!(s.scheduler, "rr");
    assert_eq!(dests.len(), 2);
    // a repeated server is refused before anything is sent
    let sent = m.0.borrow().log.len();
    let again = [server("198.51.100.1"), server("198.51.100.1")];
    assert!(d.add_service(&svc_spec("192.0.2.2:80"), &again).is_err());
    assert_eq!(m.0.borrow().log.len(), sent);
    assert_eq!(d.services().unwrap().len(), 1);
}

#[test]
fn edit_server_says_which_is_missing() {
    let (mut d, _) = director();
    let e = d.edit_server(&key(), &server("198.51.100.1")).unwrap_err();
    assert_eq!(e.errno(), Some(nix::libc::ESRCH));
    d.add_service(&svc_spec("192.0.2.1:80"), &[]).unwrap();
    let e = d.edit_server(&key(), &server("198.51.100.1")).unwrap_err();
    assert_eq!(e.errno(), Some(nix::libc::ENOENT));
    d.add_server(&key(), &server("198.51.100.1")).unwrap();
    let w = ServerSpec {
        weight: Some(5),
        ..server("198.51.100.1")
    };
    assert_eq!(d.edit_server(&key(), &w).unwrap().weight, 5);
}

fn wanted(servers: &[&str]) -> Wanted<'static> {
    let svc = svc_spec("192.0.2.1:80").to_service(None).unwrap();
    let dests = servers
        .iter()
        .map(|a| server(a).to_dest(&svc.key, None).unwrap())
        .collect();
    Wanted::Table(Desired {
        services: vec![(svc, dests)],
        timeouts: None,
    })
}

#[test]
fn apply_rolls_back_what_it_did_when_refused() {
    let (mut d, m) = director();
    d.apply(wanted(&["198.51.100.1"]), &ApplyOpts::default(), &|_| {
        String::new()
    })
    .unwrap();
    let before = m.0.borrow().table.clone();
    // the plan's last operation is refused by the kernel (an unknown scheduler); the
    // operations before it are undone
    let mut want = wanted(&["198.51.100.2", "198.51.100.3"]);
    if let Wanted::Table(t) = &mut want {
        let mut s = svc_spec("192.0.2.9:80").to_service(None).unwrap();
        s.scheduler = "nosuchsched".into();
        t.services.push((s, Vec::new()));
    }
    let e = d
        .apply(want, &ApplyOpts::default(), &|op| format!("<{op:?}>"))
        .unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("apply: <AddService"), "{text}");
    assert!(text.ends_with("(the operations before it were undone)"), "{text}");
    assert_eq!(m.0.borrow().table, before);

    // a dry run plans and changes nothing
    let o = ApplyOpts {
        dry_run: true,
        ..Default::default()
    };
    let a = d.apply(wanted(&[]), &o, &|_| String::new()).unwrap();
    assert_eq!(a.plan.ops.len(), 1);
    assert!(!a.executed && a.plan.draining.is_empty());
    assert_eq!(m.0.borrow().table, before);
}

#[test]
fn the_empty_string_is_neither_rules_nor_a_path() {
    assert!(path_or_rules("rules", String::new()).is_err());
    assert!(path_or_rules("rules", "  \t".into()).is_err());
    assert_eq!(
        path_or_rules("rules", "-A -t 192.0.2.1:80".into()).unwrap(),
        RulesArg::Text("-A -t 192.0.2.1:80".into())
    );
    assert_eq!(
        path_or_rules("rules", "a.rules".into()).unwrap(),
        RulesArg::Path("a.rules".into())
    );
    assert!(matches!(
        path_or_rules("rules", "x\n".into()).unwrap(),
        RulesArg::Text(_)
    ));
}

/// A draining server (weight 0) with these counts.
fn dest(active: u32, inactive: u32, persist: u32) -> Dest {
    Dest {
        weight: 0,
        active,
        inactive,
        persist,
        ..Dest::new(IpAddr::from([198, 51, 100, 1]), 80)
    }
}

#[test]
fn drain_verdicts_follow_the_wait_and_the_clock() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let o = |wait| DrainOpts {
        timeout: Duration::from_secs(60),
        wait,
    };
    use Verdict::*;
    let active = o(Wait::Active);
    assert_eq!(verdict(&active, false, t0, at(1), None), Gone);
    let back = Dest {
        weight: 1,
        ..dest(0, 0, 0)
    };
    assert_eq!(verdict(&active, false, t0, at(1), Some(&back)), Cancelled);
    assert_eq!(verdict(&active, false, t0, at(1), Some(&dest(1, 0, 0))), Waiting);
    assert_eq!(verdict(&active, false, t0, at(1), Some(&dest(0, 3, 0))), Drained);
    // a persistent service's templates are waited for too
    assert_eq!(verdict(&active, true, t0, at(1), Some(&dest(0, 3, 1))), Waiting);
    assert_eq!(verdict(&active, false, t0, at(1), Some(&dest(0, 3, 1))), Drained);
    assert_eq!(
        verdict(&active, false, t0, at(60), Some(&dest(2, 0, 0))),
        TimedOut
    );
    let all = o(Wait::All);
    assert_eq!(verdict(&all, false, t0, at(1), Some(&dest(0, 3, 0))), Waiting);
    assert_eq!(verdict(&all, false, t0, at(1), Some(&dest(0, 0, 0))), Drained);
    let secs = o(Wait::For(Duration::from_secs(5)));
    assert_eq!(verdict(&secs, false, t0, at(4), Some(&dest(2, 0, 0))), Waiting);
    assert_eq!(verdict(&secs, false, t0, at(5), Some(&dest(2, 0, 0))), Drained);
    assert_eq!(verdict(&secs, false, t0, at(1), Some(&dest(0, 0, 0))), Drained);
}

#[test]
fn drains_step_until_the_connections_are_gone() {
    let (mut d, m) = director();
    d.add_service(
        &svc_spec("192.0.2.1:80"),
        &[server("198.51.100.1"), server("198.51.100.2")],
    )
    .unwrap();
    let a: IpAddr = IpAddr::from([198, 51, 100, 1]);
    m.0.borrow_mut().table.dest_mut(&key(), a, 80).unwrap().active = 2;
    // apply without the first server, draining it: weight 0 now, deleted once drained
    let o = ApplyOpts {
        drain: DrainOpts {
            timeout: Duration::from_secs(30),
            wait: Wait::All,
        },
        plan: crate::model::plan::PlanOpts {
            prune: true,
            drain: true,
        },
        ..Default::default()
    };
    let applied = d
        .apply(wanted(&["198.51.100.2"]), &o, &|_| String::new())
        .unwrap();
    assert_eq!(applied.plan.draining.len(), 1);
    assert_eq!(d.server(&key(), a, 80).unwrap().unwrap().weight, 0);

    let t0 = Instant::now();
    let mut drains = Drains::new(&mut d, &applied.plan.draining, o.drain, t0).unwrap();
    let next = drains.step(&mut d, t0 + Duration::from_secs(1)).unwrap();
    assert_eq!(next, Some(super::drain::LOOK_EVERY));
    // the active connections end, one inactive entry is left: wait="all" waits for it
    {
        let mut mm = m.0.borrow_mut();
        let x = mm.table.dest_mut(&key(), a, 80).unwrap();
        x.active = 0;
        x.inactive = 1;
    }
    assert!(
        drains
            .step(&mut d, t0 + Duration::from_secs(2))
            .unwrap()
            .is_some()
    );
    m.0.borrow_mut().table.dest_mut(&key(), a, 80).unwrap().inactive = 0;
    assert_eq!(drains.step(&mut d, t0 + Duration::from_secs(3)).unwrap(), None);
    assert!(d.server(&key(), a, 80).unwrap().is_none());
    assert_eq!(drains.deleted.len(), 1);

    // past the timeout a server is deleted with what it still has
    let b: IpAddr = IpAddr::from([198, 51, 100, 2]);
    m.0.borrow_mut().table.dest_mut(&key(), b, 80).unwrap().active = 9;
    let mut drains = d.drain(&key(), &server("198.51.100.2"), o.drain, t0).unwrap();
    assert_eq!(d.server(&key(), b, 80).unwrap().unwrap().weight, 0);
    // the look before the deadline waits no longer than the deadline
    let near = drains.step(&mut d, t0 + Duration::from_millis(29_950)).unwrap();
    assert_eq!(near, Some(Duration::from_millis(50)));
    assert_eq!(drains.step(&mut d, t0 + Duration::from_secs(30)).unwrap(), None);
    assert!(d.server(&key(), b, 80).unwrap().is_none());
}

#[test]
fn an_interrupted_drain_leaves_the_server_at_weight_0() {
    let (mut d, m) = director();
    d.add_service(&svc_spec("192.0.2.1:80"), &[server("198.51.100.1")])
        .unwrap();
    let a: IpAddr = IpAddr::from([198, 51, 100, 1]);
    m.0.borrow_mut().table.dest_mut(&key(), a, 80).unwrap().active = 1;
    let o = DrainOpts {
        timeout: Duration::from_secs(60),
        wait: Wait::Active,
    };
    let t0 = Instant::now();
    let mut drains = d.drain(&key(), &server("198.51.100.1"), o, t0).unwrap();
    assert!(drains.step(&mut d, t0).unwrap().is_some());
    let e = drains.give_up("SIGTERM");
    assert!(
        e.to_string()
            .contains("198.51.100.1:80 in TCP 192.0.2.1:80 left in at weight 0"),
        "{e}"
    );
    assert!(drains.is_done());
    assert_eq!(d.server(&key(), a, 80).unwrap().unwrap().weight, 0);
}

#[test]
fn a_drain_leaves_a_server_put_back_and_joins_a_drain_already_waiting() {
    let (mut d, m) = director();
    d.add_service(&svc_spec("192.0.2.1:80"), &[server("198.51.100.1")])
        .unwrap();
    let a: IpAddr = IpAddr::from([198, 51, 100, 1]);
    m.0.borrow_mut().table.dest_mut(&key(), a, 80).unwrap().active = 3;
    let o = DrainOpts {
        timeout: Duration::from_secs(60),
        wait: Wait::Active,
    };
    let t0 = Instant::now();
    let mut first = d.drain(&key(), &server("198.51.100.1"), o, t0).unwrap();
    assert!(first.step(&mut d, t0).unwrap().is_some());
    // a second drain of the same server while the first waits: it leaves it to the first
    let mut second = d.drain(&key(), &server("198.51.100.1"), o, t0).unwrap();
    assert!(second.is_done());
    assert_eq!(second.step(&mut d, t0).unwrap(), None);
    // someone puts it back in rotation; with its connections gone it is still not deleted
    let w = ServerSpec {
        weight: Some(2),
        ..server("198.51.100.1")
    };
    d.edit_server(&key(), &w).unwrap();
    m.0.borrow_mut().table.dest_mut(&key(), a, 80).unwrap().active = 0;
    assert_eq!(first.step(&mut d, t0 + Duration::from_secs(1)).unwrap(), None);
    assert_eq!(d.server(&key(), a, 80).unwrap().unwrap().weight, 2);
    assert!(first.deleted.is_empty());
    // a drain given up (dropped) holds its server no longer: a new one takes it
    let again = d.drain(&key(), &server("198.51.100.1"), o, t0).unwrap();
    assert!(!again.is_done());
    drop(again);
    assert!(!d.drain(&key(), &server("198.51.100.1"), o, t0).unwrap().is_done());
}
