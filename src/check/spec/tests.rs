use super::*;

fn spec(kind: Kind, f: impl FnOnce(&mut CheckSpec)) -> CheckSpec {
    let mut s = CheckSpec::new(kind);
    f(&mut s);
    s
}

fn refused(s: CheckSpec) -> String {
    build(&s).map(|_| ()).unwrap_err().to_string()
}

#[test]
fn each_kind_has_its_default_port() {
    let target = |s: CheckSpec| build(&s).unwrap().1.map(|a| a.to_string());
    let at = |k: Kind, tls: Option<bool>| {
        spec(k, |s| {
            s.addr = Some("192.0.2.1".into());
            s.tls = tls;
            s.name = Some("example.org".into());
        })
    };
    assert_eq!(target(at(Kind::Dns, None)).as_deref(), Some("192.0.2.1:53"));
    assert_eq!(target(at(Kind::Http, None)).as_deref(), Some("192.0.2.1:80"));
    assert_eq!(
        target(at(Kind::Http, Some(true))).as_deref(),
        Some("192.0.2.1:443")
    );
    assert_eq!(
        refused(at(Kind::Tcp, None)),
        "bad addr '192.0.2.1': needs a port (\"ip:port\")"
    );
    let own = spec(Kind::Tcp, |s| {
        s.addr = Some("192.0.2.1".into());
        s.port = Some(8080);
    });
    assert_eq!(target(own).as_deref(), Some("192.0.2.1:8080"));
}

#[test]
fn a_template_takes_the_server_and_its_own_port() {
    let (t, target) = build(&spec(Kind::Http, |s| s.port = Some(8081))).unwrap();
    assert_eq!(target, None);
    assert_eq!(t.kind(), "http");
    let Check::Http(h) = t.aim("10.0.0.1:80".parse().unwrap()) else {
        panic!("not http")
    };
    assert_eq!(h.addr.to_string(), "10.0.0.1:8081");
    assert_eq!(h.timeout, DEFAULT_TIMEOUT);
    let Check::Http(h) = t
        .with_default_timeout(Duration::from_secs(1))
        .aim("10.0.0.1:80".parse().unwrap())
    else {
        panic!("not http")
    };
    assert_eq!(h.timeout, Duration::from_secs(1));
}

#[test]
fn bad_fields_are_named_with_their_values() {
    assert_eq!(
        refused(spec(Kind::Tcp, |s| s.port = Some(70000))),
        "bad port '70000': must be from 1 to 65535"
    );
    assert_eq!(
        refused(spec(Kind::Http, |s| s.status = Some(vec![200, 700]))),
        "bad status '700': must be an HTTP status (100..599) or a list of them"
    );
    assert_eq!(
        refused(spec(Kind::Http, |s| s.max_body = Some(-1))),
        "bad max_body '-1': must be 0 or more"
    );
    assert_eq!(
        refused(CheckSpec::new(Kind::Udp)),
        "bad send 'nil': must be the datagram to send (a string)"
    );
    assert_eq!(
        refused(CheckSpec::new(Kind::Dns)),
        "bad name 'nil': the name to ask for"
    );
    let bogus = spec(Kind::Dns, |s| {
        s.name = Some("x".into());
        s.rtype = Some("BOGUS".into());
    });
    assert_eq!(
        refused(bogus),
        "bad check.dns 'x': type \"BOGUS\": not a DNS record type"
    );
}

#[test]
fn a_program_is_an_argv_list_never_a_shell_string() {
    let never = "must be a list: the program and its arguments ({\"/usr/lib/check\", \"{ip}\"}), never a shell string";
    let shell = spec(Kind::Exec, |s| s.cmd = Some(Cmd::Shell("/bin/true {ip}".into())));
    assert_eq!(refused(shell), format!("bad cmd '\"/bin/true {{ip}}\"': {never}"));
    assert_eq!(
        refused(CheckSpec::new(Kind::Exec)),
        format!("bad cmd 'nil': {never}")
    );
    let empty = spec(Kind::Exec, |s| s.cmd = Some(Cmd::List(vec![])));
    assert_eq!(refused(empty), format!("bad cmd '(table)': {never}"));

    // A program that names no server runs now; one that does waits for one.
    let now = spec(Kind::Exec, |s| s.cmd = Some(Cmd::List(vec!["/bin/true".into()])));
    assert_eq!(build(&now).unwrap().1, Some(PLACEHOLDER));
    let aimed = spec(Kind::Exec, |s| {
        s.cmd = Some(Cmd::List(vec!["/bin/check".into(), "{ip}".into()]))
    });
    let (t, target) = build(&aimed).unwrap();
    assert_eq!((target, t.unaimed()), (None, Some(PLACEHOLDER)));
    let Check::Exec(e) = t.aim("10.0.0.3:25".parse().unwrap()) else {
        panic!("not exec")
    };
    assert_eq!(e.argv, vec!["/bin/check", "10.0.0.3"]);
}

#[test]
fn a_tcp_check_completes_its_handshake_unless_told_half_open() {
    let tcp = |half: Option<bool>| {
        let (t, _) = build(&spec(Kind::Tcp, |s| s.half_open = half)).unwrap();
        match t.aim("192.0.2.1:80".parse().unwrap()) {
            Check::Tcp(c) => c.half_open,
            other => panic!("{other:?}"),
        }
    };
    assert!(!tcp(None));
    assert!(!tcp(Some(false)));
    assert!(tcp(Some(true)));
    assert!(Kind::Tcp.fields().contains(&"half_open"));
}
