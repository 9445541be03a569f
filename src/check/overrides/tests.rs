use super::*;
use crate::ipvs::Protocol;

fn svc(port: u16) -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: "192.0.2.110".parse().unwrap(),
        port,
    }
}

fn dest(a: &str, port: u16, w: u32) -> Dest {
    Dest {
        weight: w,
        ..Dest::new(a.parse().unwrap(), port)
    }
}

fn table() -> Vec<(ServiceKey, Vec<Dest>)> {
    vec![
        (
            svc(80),
            vec![dest("192.0.2.101", 80, 3), dest("192.0.2.102", 80, 1)],
        ),
        (
            svc(443),
            vec![dest("192.0.2.101", 443, 2), dest("2001:db8::1", 443, 1)],
        ),
    ]
}

fn req(kind: Kind, server: &str) -> Request {
    Request {
        kind,
        server: server.into(),
        service: None,
        weight: None,
        reason: None,
        ttl: None,
    }
}

fn ov(set: &mut OverrideSet, server: &str, weight: u32, expires: Option<f64>) -> String {
    let p = Pattern::parse(server).unwrap();
    let targets = resolve(&p, None, &table())
        .unwrap()
        .into_iter()
        .map(|(k, a, w)| Target {
            service: k.to_string(),
            server: a,
            before: w,
        })
        .collect();
    let id = set.next_id();
    set.add(Override {
        id: id.clone(),
        kind: Kind::Weight,
        server: p.to_string(),
        targets,
        weight,
        reason: "r".into(),
        by: By::Client { uid: 0, pid: 42 },
        set: 1000.0,
        expires,
    });
    id
}

#[test]
fn a_bare_address_covers_every_port_and_a_port_one_service() {
    let all = resolve(&Pattern::parse("192.0.2.101").unwrap(), None, &table()).unwrap();
    let names: Vec<String> = all.iter().map(|(k, a, w)| format!("{k} {a} {w}")).collect();
    assert_eq!(
        names,
        [
            "TCP 192.0.2.110:80 192.0.2.101:80 3",
            "TCP 192.0.2.110:443 192.0.2.101:443 2"
        ]
    );
    let one = resolve(&Pattern::parse("192.0.2.101:443").unwrap(), None, &table()).unwrap();
    assert_eq!(one.len(), 1);
    let v6 = resolve(&Pattern::parse("[2001:db8::1]:443").unwrap(), None, &table()).unwrap();
    assert_eq!(v6[0].1.to_string(), "[2001:db8::1]:443");
    assert_eq!(
        Pattern::parse("2001:db8::1").unwrap().to_string(),
        "[2001:db8::1]"
    );
    let only80 = resolve(&Pattern::parse("192.0.2.101").unwrap(), Some(&svc(80)), &table()).unwrap();
    assert_eq!(only80.len(), 1);
}

#[test]
fn nothing_matched_is_an_error_naming_the_server_or_the_service() {
    let p = Pattern::parse("192.0.2.109").unwrap();
    assert_eq!(
        resolve(&p, None, &table()).unwrap_err(),
        "server: 192.0.2.109 is not a real server of any service"
    );
    let p = Pattern::parse("192.0.2.102").unwrap();
    assert_eq!(
        resolve(&p, Some(&svc(443)), &table()).unwrap_err(),
        "server: 192.0.2.102 is not a real server of TCP 192.0.2.110:443"
    );
    assert_eq!(
        resolve(&p, Some(&svc(8080)), &table()).unwrap_err(),
        "service: no such service: TCP 192.0.2.110:8080"
    );
}

#[test]
fn bad_requests_name_the_field_and_the_value() {
    let e = |r: Request| check(&r).unwrap_err().to_string();
    assert_eq!(
        e(req(Kind::Weight, "192.0.2.101")),
        "bad weight 'nil': set_weight needs a weight"
    );
    let mut r = req(Kind::Weight, "192.0.2.101");
    r.weight = Some(-1);
    assert_eq!(e(r.clone()), "bad weight '-1': must be from 0 to 2147483647");
    r.weight = Some(1 << 31);
    assert!(e(r).starts_with("bad weight '2147483648'"));
    let mut r = req(Kind::Drain, "192.0.2.101");
    r.ttl = Some(Duration::ZERO);
    assert!(
        e(r.clone()).starts_with("bad ttl '0': must be more than 0 seconds"),
        "{}",
        e(r.clone())
    );
    r.ttl = Some(MAX_TTL + Duration::from_secs(1));
    assert!(e(r).starts_with("bad ttl '31622401'"));
    assert!(e(req(Kind::Maintenance, "192.0.2.x")).starts_with("bad server '192.0.2.x'"));
    let mut r = req(Kind::Maintenance, "192.0.2.101:80");
    r.ttl = Some(Duration::from_secs(2));
    let c = check(&r).unwrap();
    assert_eq!(
        (c.weight, c.ttl, c.pattern.port),
        (0, Some(Duration::from_secs(2)), Some(80))
    );
}

#[test]
fn the_newest_override_wins_and_the_oldest_knows_the_weight_from_before() {
    let mut set = OverrideSet::default();
    let a = ov(&mut set, "192.0.2.101", 0, None);
    let b = ov(&mut set, "192.0.2.101:80", 7, None);
    let s80 = "TCP 192.0.2.110:80";
    let rs: SocketAddr = "192.0.2.101:80".parse().unwrap();
    assert_eq!(set.holding(s80, rs).unwrap().id, b);
    // b came while a held the server at 0: what it goes back to is still 3
    assert_eq!(set.get(&b).unwrap().targets[0].before, 3);
    let (_, after) = set.remove(&b).unwrap();
    assert_eq!(after[0].1, Release::Held(0));
    let (_, after) = set.remove(&a).unwrap();
    assert_eq!(
        after.iter().map(|x| x.1).collect::<Vec<_>>(),
        [Release::Free(3), Release::Free(2)]
    );
    assert!(set.remove(&a).is_none());
    assert_eq!(set.next_id(), "o3", "ids are not given twice");
}

#[test]
fn expiry_is_due_at_its_time_and_the_timer_waits_for_the_soonest() {
    let mut set = OverrideSet::default();
    assert_eq!(set.next_expiry(0.0), None);
    ov(&mut set, "192.0.2.102", 0, Some(1010.0));
    let soon = ov(&mut set, "192.0.2.101", 0, Some(1005.0));
    ov(&mut set, "[2001:db8::1]", 0, None);
    assert_eq!(set.next_expiry(1000.0), Some(Duration::from_secs(5)));
    assert_eq!(set.next_expiry(2000.0), Some(Duration::ZERO), "overdue: at once");
    assert!(set.expired(1004.9).is_empty());
    assert_eq!(set.expired(1005.0), [soon]);
    assert_eq!(set.expired(1010.0).len(), 2);
}

#[test]
fn the_state_round_trips_through_json() {
    let mut set = OverrideSet::default();
    ov(&mut set, "192.0.2.101", 0, Some(1005.5));
    ov(&mut set, "[2001:db8::1]:443", 4, None);
    let text = set.to_json();
    assert!(text.contains("\"by\": \"client\""), "{text}");
    let back = OverrideSet::from_json(&text).unwrap();
    assert_eq!(back, set);
    // an id past `last` (an edited file) is never given again
    let edited = text.replace("\"last\": 2", "\"last\": 0");
    let mut back = OverrideSet::from_json(&edited).unwrap();
    assert_eq!(back.next_id(), "o3");
    assert!(OverrideSet::from_json("{\"overrides\": 3}").is_err());
    let far = text.replace("1005.5", "1e300");
    assert_eq!(
        OverrideSet::from_json(&far).unwrap_err(),
        "override o1: a time out of range"
    );
    let heavy = text.replace("\"weight\": 4", "\"weight\": 4294967295");
    assert!(
        OverrideSet::from_json(&heavy)
            .unwrap_err()
            .contains("weight 4294967295")
    );
    assert_eq!(rfc3339(f64::NAN), "1970-01-01T00:00:00Z");
}

#[test]
fn views_and_events_name_who_why_and_until() {
    let mut set = OverrideSet::default();
    let id = ov(&mut set, "192.0.2.101", 0, Some(1005.0));
    let o = set.get(&id).unwrap();
    let v = o.view(1001.0);
    assert_eq!(v["by"], serde_json::json!({"uid": 0, "pid": 42}));
    assert_eq!(v["expires"], "1970-01-01T00:16:45Z");
    assert_eq!(v["expires_in"], 4.0);
    assert_eq!(
        v["services"],
        serde_json::json!(["TCP 192.0.2.110:80", "TCP 192.0.2.110:443"])
    );
    let e = o.event();
    assert_eq!(
        (e["id"].as_str(), e["until"].as_str()),
        (Some("o1"), Some("1970-01-01T00:16:45Z"))
    );
    assert_eq!(By::Script { pid: 1 }.json(), "script");
    assert_eq!(winner(Some(7), true, 3), 7);
    assert_eq!(winner(None, true, 3), 0);
    assert_eq!(winner(None, false, 3), 3);
}
