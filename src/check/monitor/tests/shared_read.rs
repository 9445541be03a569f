//! The shared read of the table: a monitor dumps its service only when the read shows it
//! changed, follows what others do all the same, and keeps what the read cannot show.

use super::*;

fn run(test: impl AsyncFnOnce()) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&rt, test());
}

fn servers(m: &Handle) -> Vec<String> {
    let mut s: Vec<String> = m.status().servers.iter().map(|r| r.server.clone()).collect();
    s.sort();
    s
}

#[test]
fn monitors_dump_only_what_changed_and_still_follow_the_table() {
    run(async || {
        let host = Rc::new(Fake {
            model: model(),
            ..Fake::default()
        });
        host.shared_read.set(true);
        let monitors = Monitors::new(host.clone());
        let m = monitors.start(validate(spec(1, 1)).unwrap()).unwrap();
        // the first reads follow the monitor's own start; then twenty intervals of nothing
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (dumps, reads) = monitors.table_reads();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (dumps2, reads2) = monitors.table_reads();
        assert_eq!(dumps2, dumps, "a service nobody changed was dumped");
        assert!(reads2 >= reads + 10, "{reads} -> {reads2} shared reads");

        // someone else adds a server and deletes one: followed, with a dump each
        let mut table = host.model.clone();
        table.execute(&Op::AddDest(key(), dest("10.0.0.3"))).unwrap();
        until("the new server to be watched", || servers(&m).len() == 3).await;
        table
            .execute(&Op::DelDest(key(), "10.0.0.1".parse().unwrap(), 80))
            .unwrap();
        until("the deleted server to be forgotten", || {
            servers(&m) == ["10.0.0.2:80", "10.0.0.3:80"]
        })
        .await;
        let (dumps3, _) = monitors.table_reads();
        assert!(
            (dumps2 + 2..=dumps2 + 6).contains(&dumps3),
            "{dumps2} -> {dumps3}"
        );

        // a threshold someone else set is not in the shared read, and the monitor's edit
        // keeps it
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut d = dest("10.0.0.2");
        d.upper = 100;
        table.execute(&Op::EditDest(key(), d)).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        host.failing.set(Some(victim()));
        until("the weight to go to 0", || {
            weight(&host.model, victim()) == Some(0)
        })
        .await;
        let dests = host.model.clone().dests(&key()).unwrap();
        let v = dests.iter().find(|d| d.addr == victim().ip()).unwrap();
        assert_eq!(v.upper, 100, "the monitor's edit lost the threshold");
        monitors.stop(&m);
    });
}

#[test]
fn a_few_services_of_a_big_table_are_dumped_instead() {
    run(async || {
        let host = Rc::new(Fake {
            model: model(),
            ..Fake::default()
        });
        host.shared_read.set(true);
        let other = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "192.0.2.2".parse().unwrap(),
            port: 80,
        };
        let mut table = host.model.clone();
        table
            .execute(&Op::AddService(Service::new(other.clone())))
            .unwrap();
        for i in 0..100u16 {
            let d = Dest::new("10.0.1.1".parse().unwrap(), 1000 + i);
            table.execute(&Op::AddDest(other.clone(), d)).unwrap();
        }
        let monitors = Monitors::new(host.clone());
        let m = monitors.start(validate(spec(1, 1)).unwrap()).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (dumps, reads) = monitors.table_reads();
        // one read to weigh it (105 lines twice a round against one dump of two servers),
        // then a dump every interval until the minute is out
        assert_eq!(reads, 1);
        assert!(dumps >= 10, "{dumps} dumps");
        monitors.stop(&m);
    });
}

#[test]
fn a_read_serves_only_the_scope_it_was_taken_in() {
    let host = Fake {
        model: model(),
        ..Fake::default()
    };
    host.shared_read.set(true);
    let reads = super::super::shared::TableRead::default();
    let (fresh, now) = (Duration::from_secs(1), Instant::now());
    for scope in [1, 2] {
        reads.account(scope, 0, 100);
    }
    let d = reads.digest(&host, 1, &key(), fresh, now);
    assert!(matches!(d, Some(Some(_))), "{d:?}");
    assert_eq!(reads.digest(&host, 1, &key(), fresh, now), d);
    assert_eq!(reads.reads.get(), 1);
    assert_eq!(reads.digest(&host, 2, &key(), fresh, now), d);
    assert_eq!(reads.reads.get(), 2);
    // stale past `fresh`: read again
    reads.digest(&host, 1, &key(), fresh, now + 2 * fresh);
    assert_eq!(reads.reads.get(), 3);
}
