//! The runtime over the in-memory IPVS model, with a host whose custom check fails on demand.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::*;
use crate::check::state::Health;
use crate::check::{Matcher, Outcome};
use crate::ipvs::{Dest, Op, Protocol, Service, ServiceKey};
use crate::model::backend::{Ipvs, Model, SharedModel};
use crate::model::table::Table;

mod shared_read;

const CHECK: FnId = 1;
const ON_CHANGE: FnId = 2;

#[derive(Default)]
struct Fake {
    model: SharedModel,
    /// The server the custom check fails for, while set.
    failing: Cell<Option<SocketAddr>>,
    /// Runs of the custom check against the failing server, and the count when the weight
    /// of that server was last set.
    runs: Cell<u32>,
    runs_at_edit: RefCell<Vec<(u32, u32)>>,
    events: RefCell<Vec<Event>>,
    released: RefCell<Vec<FnId>>,
    /// Overrides are written to their state file (else the table counts as a model's).
    persist: Cell<bool>,
    /// The host has a shared read of the table, as the kernel's /proc/net/ip_vs.
    shared_read: Cell<bool>,
}

impl Matcher for Fake {
    fn matches(&self, pattern: &str, subject: &[u8]) -> Result<bool, String> {
        Ok(subject.starts_with(pattern.as_bytes()))
    }
}

impl Host for Fake {
    fn servers(&self, key: &ServiceKey) -> Result<Option<Vec<Dest>>, String> {
        read_servers(&mut self.model.clone(), key).map_err(|e| e.to_string())
    }

    fn execute(&self, op: &Op) -> Result<(), String> {
        if let Op::EditDest(_, d) = op {
            self.runs_at_edit.borrow_mut().push((d.weight, self.runs.get()));
        }
        self.model.clone().execute(op).map_err(|e| e.to_string())
    }

    fn table(&self) -> Result<Vec<(ServiceKey, Vec<Dest>)>, String> {
        let t = self.model.clone().services().map_err(|e| e.to_string())?;
        Ok(t.into_iter().map(|(s, d)| (s.key, d)).collect())
    }

    fn is_model(&self) -> bool {
        !self.persist.get()
    }

    /// As the kernel's file shows the table: servers' addresses, methods and weights only.
    fn table_digests(&self) -> Option<crate::ipvs::proc_table::Digests> {
        use crate::ipvs::proc_table::{Digests, ProcKey};
        use std::hash::{Hash, Hasher};
        if !self.shared_read.get() {
            return None;
        }
        let mut out = Digests::default();
        for (s, dests) in self.model.clone().services().ok()? {
            let ServiceKey::Addr { proto, addr, port } = s.key else {
                continue;
            };
            let mut h = rustc_hash::FxHasher::default();
            for d in &dests {
                (d.addr, d.port, d.fwd, d.weight).hash(&mut h);
            }
            out.lines += 1 + dests.len();
            out.services.insert(ProcKey::Addr(proto, addr, port), h.finish());
        }
        Some(out)
    }

    fn run_check(&self, check: FnId, call: Call, started: Instant) -> Local<Outcome> {
        assert_eq!(check, CHECK);
        let server = call.server;
        if server == victim() {
            self.runs.set(self.runs.get() + 1);
        }
        let out = if self.failing.get() == Some(server) {
            Outcome::down("refused", started)
        } else {
            Outcome::up("ok", started)
        };
        Box::pin(std::future::ready(out))
    }

    fn notify(&self, callback: FnId, event: Event) {
        assert_eq!(callback, ON_CHANGE);
        self.events.borrow_mut().push(event);
    }

    fn release(&self, f: FnId) {
        self.released.borrow_mut().push(f);
    }

    fn spawn(&self, task: Local<()>) -> Result<tokio::task::AbortHandle, String> {
        Ok(tokio::task::spawn_local(task).abort_handle())
    }
}

fn key() -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: "192.0.2.1".parse().unwrap(),
        port: 80,
    }
}

fn victim() -> SocketAddr {
    "10.0.0.2:80".parse().unwrap()
}

fn dest(a: &str) -> Dest {
    Dest {
        weight: 5,
        ..Dest::new(a.parse().unwrap(), 80)
    }
}

fn model() -> SharedModel {
    let mut table = Table::default();
    table.apply(&Op::AddService(Service::new(key()))).unwrap();
    for a in ["10.0.0.1", "10.0.0.2"] {
        table.apply(&Op::AddDest(key(), dest(a))).unwrap();
    }
    SharedModel(Rc::new(RefCell::new(Model::new(table))))
}

fn weight(m: &SharedModel, server: SocketAddr) -> Option<u32> {
    let dests = m.clone().dests(&key()).unwrap();
    dests
        .iter()
        .find(|d| SocketAddr::new(d.addr, d.port) == server)
        .map(|d| d.weight)
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let limit = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn spec(fall: i64, rise: i64) -> MonitorSpec {
    let mut s = MonitorSpec::new(key());
    s.checks = Some(vec![Probe::Custom(CHECK)]);
    s.interval = Some(Duration::from_millis(10));
    s.fall = Some(fall);
    s.rise = Some(rise);
    s.callbacks.on_change = Some(ON_CHANGE);
    s
}

#[test]
fn a_failing_server_goes_to_weight_0_after_fall_failures_and_back_after_rise() {
    let (fall, rise) = (3, 2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let host = Rc::new(Fake {
            model: model(),
            ..Fake::default()
        });
        host.failing.set(Some(victim()));
        let monitors = Monitors::new(host.clone());
        let m = monitors.start(validate(spec(fall, rise)).unwrap()).unwrap();

        until("the weight to go to 0", || {
            weight(&host.model, victim()) == Some(0)
        })
        .await;
        assert_eq!(*host.runs_at_edit.borrow(), vec![(0, fall as u32)]);
        assert_eq!(weight(&host.model, "10.0.0.1:80".parse().unwrap()), Some(5));
        let st = m.status();
        let row = st.servers.iter().find(|r| r.server == "10.0.0.2:80").unwrap();
        assert_eq!((row.state, row.detail.as_str()), ("down", "refused"));

        let before = host.runs.get();
        host.failing.set(None);
        until("the weight to come back", || {
            weight(&host.model, victim()) == Some(5)
        })
        .await;
        assert_eq!(host.runs_at_edit.borrow()[1], (5, before + rise as u32));

        let changes: Vec<(Health, Health)> = host
            .events
            .borrow()
            .iter()
            .map(|e| match e {
                Event::Change {
                    server,
                    from,
                    to,
                    service,
                    ..
                } => {
                    assert_eq!((*server, service.as_str()), (victim(), "TCP 192.0.2.1:80"));
                    (*from, *to)
                }
                other => panic!("unexpected event {other:?}"),
            })
            .collect();
        assert_eq!(
            changes,
            vec![(Health::Up, Health::Down), (Health::Down, Health::Up)]
        );

        // A second monitor of the same functions keeps them past the first one's stop.
        let other = monitors.start(validate(spec(fall, rise)).unwrap()).unwrap();
        assert!(monitors.stop(&m));
        assert!(!monitors.stop(&m));
        assert!(host.released.borrow().is_empty());
        assert!(monitors.stop(&other));
        assert_eq!(*host.released.borrow(), vec![CHECK, ON_CHANGE]);
        assert!(monitors.list().is_empty());
        assert!(m.to_string().ends_with(", stopped)"), "{m}");
    });
}

/// keepalived's delay_before_retry: a failing check of an up server runs again after the
/// retry interval, not the interval, until the server is down; a down one at the interval.
#[test]
fn a_failing_up_server_is_retried_at_the_retry_interval() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&rt, async {
        let host = Rc::new(Fake {
            model: model(),
            ..Fake::default()
        });
        let monitors = Monitors::new(host.clone());
        let mut s = spec(3, 1);
        s.interval = Some(Duration::from_secs(1));
        s.retry_interval = Some(Duration::from_millis(50));
        let _m = monitors.start(validate(s).unwrap()).unwrap();
        until("a first run", || host.runs.get() >= 1).await;
        let failed_at = Instant::now();
        host.failing.set(Some(victim()));
        let limit = Instant::now() + Duration::from_secs(5);
        while weight(&host.model, victim()) != Some(0) {
            assert!(Instant::now() < limit, "never went down");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // the next run comes within the interval, the two retries 50 ms apart; three runs
        // at the interval would take two seconds more than that
        let took = failed_at.elapsed();
        assert!(took < Duration::from_millis(1600), "down after {took:?}");
        let runs = host.runs.get();
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let more = host.runs.get() - runs;
        assert!((1..=3).contains(&more), "{more} runs in 2.1 s once down");
        // back on its first success (rise 1), and then at the interval again
        host.failing.set(None);
        until("back", || weight(&host.model, victim()) == Some(5)).await;
        let runs = host.runs.get();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(host.runs.get() - runs <= 2, "retries go on once it passes");
    });
}

#[test]
fn a_monitor_of_a_missing_service_is_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let host = Rc::new(Fake::default());
        let monitors = Monitors::new(host.clone());
        let err = monitors.start(validate(spec(1, 1)).unwrap()).err();
        assert_eq!(err.as_deref(), Some("monitor: no such service: TCP 192.0.2.1:80"));
        assert_eq!(*host.released.borrow(), vec![CHECK, ON_CHANGE]);
    });
}

fn refused(s: MonitorSpec) -> String {
    validate(s).map(|_| ()).unwrap_err().to_string()
}

#[test]
fn settings_out_of_range_name_the_field_and_the_value() {
    let with = |f: &dyn Fn(&mut MonitorSpec)| {
        let mut s = spec(1, 1);
        f(&mut s);
        refused(s)
    };
    assert_eq!(
        with(&|s| s.checks = None),
        "bad check 'nil': a monitor needs a check"
    );
    assert_eq!(
        with(&|s| s.interval = Some(Duration::from_millis(5))),
        "bad interval '0.005s': must be at least 0.01 seconds"
    );
    assert_eq!(
        with(&|s| s.timeout = Some(Duration::ZERO)),
        "bad timeout '0': must be more than 0 seconds"
    );
    assert_eq!(
        with(&|s| s.rise = Some(0)),
        "bad rise '0': must be an integer from 1"
    );
    assert_eq!(
        with(&|s| s.fall = Some(-2)),
        "bad fall '-2': must be an integer from 1"
    );
    assert_eq!(
        with(&|s| s.action = Some("drain".into())),
        "bad action 'drain': must be \"inhibit\" or \"remove\""
    );
    assert_eq!(
        with(&|s| s.quorum = Some(-1)),
        "bad quorum '-1': must be an integer from 0"
    );
    assert_eq!(
        with(&|s| s.max_down = Some(MaxDownSpec::Text("150%".into()))),
        "bad max_down '150%': \"150%\" is not a share from 0% to 100%"
    );
    assert_eq!(
        with(&|s| s.max_down = Some(MaxDownSpec::Count(-1))),
        "bad max_down '-1': must be an integer from 0"
    );
    assert_eq!(
        with(&|s| s.servers = vec![override_("10.0.0.1:80", Some(-3))]),
        "bad weight '-3': must be from 0 to 2147483647"
    );
    assert!(
        with(&|s| s.servers = vec![override_("10.0.0.x", None)]).starts_with("bad addr '10.0.0.x'"),
        "{}",
        with(&|s| s.servers = vec![override_("10.0.0.x", None)])
    );
}

fn override_(addr: &str, weight: Option<i64>) -> ServerOverride {
    ServerOverride {
        addr: addr.into(),
        checks: None,
        weight,
    }
}

#[test]
fn settings_in_range_make_the_policy() {
    let mut s = spec(4, 5);
    s.action = Some("remove".into());
    s.max_down = Some(MaxDownSpec::Text("50%".into()));
    s.servers = vec![override_("10.0.0.1", Some(7))];
    let c = validate(s).unwrap();
    assert_eq!((c.policy.fall, c.policy.rise), (4, 5));
    assert_eq!(c.policy.action, crate::check::state::Action::Remove);
    assert_eq!(c.policy.max_down, Some(crate::check::state::MaxDown::Share(0.5)));
    assert_eq!(
        (c.interval, c.timeout),
        (Duration::from_millis(10), Duration::from_secs(3))
    );
    let ps = &c.per_server[&"10.0.0.1:80".parse().unwrap()];
    assert_eq!(ps.weight, Some(7));
}

mod overrides {
    use super::*;
    use crate::check::monitor::overrides::Overrides;
    use crate::check::overrides::{By, Kind, Request};

    const BY: By = By::Client { uid: 0, pid: 7 };

    fn key2() -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "192.0.2.1".parse().unwrap(),
            port: 81,
        }
    }

    /// The monitored service of `model()`, and a second one with the victim at weight 4
    /// that no monitor watches.
    fn two_services() -> SharedModel {
        let m = model();
        let mut c = m.clone();
        c.execute(&Op::AddService(Service::new(key2()))).unwrap();
        let mut d = dest("10.0.0.2");
        d.weight = 4;
        c.execute(&Op::AddDest(key2(), d)).unwrap();
        m
    }

    fn weight_in(m: &SharedModel, k: &ServiceKey) -> Option<u32> {
        let dests = m.clone().dests(k).unwrap();
        dests
            .iter()
            .find(|d| SocketAddr::new(d.addr, d.port) == victim())
            .map(|d| d.weight)
    }

    fn req(kind: Kind, server: &str, weight: Option<i64>, ttl: Option<f64>) -> Request {
        Request {
            kind,
            server: server.into(),
            service: None,
            weight,
            reason: Some("test".into()),
            ttl: ttl.map(Duration::from_secs_f64),
        }
    }

    fn run(body: impl AsyncFnOnce()) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, body());
    }

    #[test]
    fn an_expired_maintenance_gives_a_failing_server_nothing_and_an_unmonitored_one_its_weight() {
        run(async || {
            let dir = tempfile::tempdir().unwrap();
            let host = Rc::new(Fake {
                model: two_services(),
                ..Fake::default()
            });
            let monitors = Rc::new(Monitors::new(host.clone()));
            let _m = monitors.start(validate(spec(1, 1)).unwrap()).unwrap();
            let ov = Overrides::new(monitors.clone(), host.clone(), dir.path().join("x.json"));
            let o = ov
                .set(req(Kind::Maintenance, "10.0.0.2", None, Some(0.3)), BY)
                .unwrap();
            assert_eq!((o.id.as_str(), o.targets.len()), ("o1", 2));
            assert_eq!(weight_in(&host.model, &key()), Some(0));
            assert_eq!(weight_in(&host.model, &key2()), Some(0));
            let row = monitors
                .rows()
                .into_iter()
                .find(|r| r.server == "10.0.0.2:80")
                .unwrap();
            assert_eq!(row.held.as_deref(), Some("maintenance o1 at weight 0: test"));
            host.failing.set(Some(victim()));
            until("the check to fail", || {
                monitors
                    .rows()
                    .iter()
                    .any(|r| r.server == "10.0.0.2:80" && r.state == "down")
            })
            .await;
            until("the override to expire", || ov.list().is_empty()).await;
            assert_eq!(weight_in(&host.model, &key()), Some(0), "down: stays out");
            assert_eq!(
                weight_in(&host.model, &key2()),
                Some(4),
                "unmonitored: its weight before"
            );
            host.failing.set(None);
            until("the server to come back", || {
                weight_in(&host.model, &key()) == Some(5)
            })
            .await;
            assert!(
                !dir.path().join("x.json").exists(),
                "a model's overrides stay in memory"
            );
        });
    }

    #[test]
    fn a_held_weight_outlasts_failures_and_its_lift_gives_what_the_checks_say() {
        run(async || {
            let host = Rc::new(Fake {
                model: two_services(),
                ..Fake::default()
            });
            let monitors = Rc::new(Monitors::new(host.clone()));
            let _m = monitors.start(validate(spec(1, 1)).unwrap()).unwrap();
            let ov = Overrides::new(monitors.clone(), host.clone(), "/nonexistent/x.json".into());
            let mut r = req(Kind::Weight, "10.0.0.2:80", Some(9), None);
            r.service = Some(key());
            ov.set(r, BY).unwrap();
            assert_eq!(weight_in(&host.model, &key()), Some(9));
            assert_eq!(weight_in(&host.model, &key2()), Some(4), "not in that service");
            host.failing.set(Some(victim()));
            until("the check to fail", || {
                monitors
                    .rows()
                    .iter()
                    .any(|r| r.server == "10.0.0.2:80" && r.state == "down")
            })
            .await;
            assert_eq!(weight_in(&host.model, &key()), Some(9));
            assert_eq!(
                ov.set(req(Kind::Drain, "10.0.0.9", None, None), BY).unwrap_err(),
                "drain: server: 10.0.0.9 is not a real server of any service"
            );
            assert_eq!(
                ov.lift("o5", BY).unwrap_err(),
                "lift: no override with id \"o5\" (lvs.overrides() lists them)"
            );
            ov.lift("o1", BY).unwrap();
            assert_eq!(weight_in(&host.model, &key()), Some(0), "lifted while down: out");
            assert!(ov.list().is_empty());
        });
    }

    #[test]
    fn the_state_file_is_private_put_back_by_the_next_director_and_never_a_link() {
        run(async || {
            use std::os::unix::fs::PermissionsExt;
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state/d.overrides.json");
            let host = Rc::new(Fake {
                model: two_services(),
                persist: Cell::new(true),
                ..Fake::default()
            });
            let first = Overrides::new(Rc::new(Monitors::new(host.clone())), host.clone(), path.clone());
            first
                .set(req(Kind::Maintenance, "10.0.0.2", None, None), BY)
                .unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            drop(first);
            let next = Overrides::new(Rc::new(Monitors::new(host.clone())), host.clone(), path.clone());
            let list = next.list();
            assert_eq!((list.len(), list[0].by), (1, BY));
            next.lift("o1", By::Script { pid: 1 }).unwrap();
            assert_eq!(weight_in(&host.model, &key()), Some(5));
            assert_eq!(weight_in(&host.model, &key2()), Some(4));
            assert_eq!(
                next.set(req(Kind::Drain, "10.0.0.2", None, None), BY).unwrap().id,
                "o2"
            );
            next.lift("o2", BY).unwrap();

            std::fs::remove_file(&path).unwrap();
            std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).unwrap();
            let e = next
                .set(req(Kind::Drain, "10.0.0.2", None, None), BY)
                .unwrap_err();
            assert!(e.contains("symbolic link"), "{e}");
            assert_eq!(weight_in(&host.model, &key()), Some(5), "nothing half-applied");
            assert!(next.list().is_empty());
            assert!(!dir.path().join("elsewhere").exists());
        });
    }
}
