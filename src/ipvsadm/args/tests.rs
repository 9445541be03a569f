use super::*;

#[test]
fn addresses_read_as_inet_aton_reads_them() {
    let a = |s: &str| inet_aton(s).map(|a| a.to_string());
    assert_eq!(a("192.0.2.1").as_deref(), Some("192.0.2.1"));
    // the shorter forms, octal and hex parts
    assert_eq!(a("10.1").as_deref(), Some("10.0.0.1"));
    assert_eq!(a("192.0.513").as_deref(), Some("192.0.2.1"));
    assert_eq!(a("3221225985").as_deref(), Some("192.0.2.1"));
    assert_eq!(a("010.1.1.1").as_deref(), Some("8.1.1.1"));
    assert_eq!(a("0xc0.0.2.1").as_deref(), Some("192.0.2.1"));
    for bad in [
        "256.1.1.1",
        "1.2.3.4.5",
        "1..2.3",
        "",
        "a.b.c.d",
        "1.2.3.256",
        "09.1.1.1",
    ] {
        assert_eq!(a(bad), None, "{bad}");
    }
}

#[test]
fn borrowed_and_owned_arguments_parse_alike() {
    let line = "-a -t 192.0.2.1:80 -r 192.0.2.2 -m -w 3";
    let borrowed: Vec<&str> = line.split(' ').collect();
    let owned: Vec<String> = borrowed.iter().map(|s| s.to_string()).collect();
    let (a, b) = (parse(&borrowed).unwrap(), parse(&owned).unwrap());
    assert_eq!(a.cmd, Cmd::AddDest);
    assert_eq!(
        (a.dest.addr, a.dest.port, a.dest.weight),
        (b.dest.addr, b.dest.port, b.dest.weight)
    );
    assert_eq!(a.dest.port, 80, "the service's port when the server has none");
    let p = parse(&["--set", "900", "120", "300"]).unwrap();
    assert_eq!(
        (p.timeouts.tcp, p.timeouts.tcpfin, p.timeouts.udp),
        (900, 120, 300)
    );
    let p = parse(&["--start-daemon", "master", "--syncid=3"]).unwrap();
    assert_eq!((p.cmd, p.daemon.state), (Cmd::StartDaemon, DaemonState::Master));
    assert_eq!(
        parse(&["-A", "-t", "192.0.2.1:80", "extra"]).unwrap_err().message,
        "unexpected argument extra"
    );
}
