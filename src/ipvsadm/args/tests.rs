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

mod saved_lines {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_lines_ipvsadm_saves_take_the_short_way() {
        for line in [
            "-A -t 198.51.100.1:80 -s wrr",
            "-A -u 198.51.100.1:53 -s rr",
            "-a -t 198.51.100.1:80 -r 203.0.113.1:8080 -m -w 1",
            "-a -t 198.51.100.1:80 -r 203.0.113.1:80 -g -w 0",
            "-a -u 198.51.100.1:53 -r 203.0.113.1:53 -i -w 2147483647",
        ] {
            let toks: Vec<&str> = line.split(' ').collect();
            assert_eq!(
                parse_saved(line.as_bytes()),
                Some(parse(&toks).unwrap()),
                "{line}"
            );
        }
        for other in [
            "-A -t 198.51.100.1:80 -s wrr -p 360",
            "-A -t 198.51.100.1:0 -s wrr",
            "-a -t 198.51.100.1:80 -r 203.0.113.1:8080 -m -w 1 -x 5",
            "-a -t 198.51.100.1:80 -r 203.0.113.01 -g -w 1",
            "-a -t 198.51.100.1:80 -r 203.0.113.1 -g -w -1",
            "-a  -t 198.51.100.1:80 -r 203.0.113.1 -g -w 1",
            "-a -t [2001:db8::1]:80 -r [2001:db8::2]:80 -g -w 1",
            "-a -f 7 -r 203.0.113.1 -g -w 1",
        ] {
            assert_eq!(parse_saved(other.as_bytes()), None, "{other}");
        }
    }

    fn word() -> impl Strategy<Value = String> {
        let fixed = prop::sample::select(vec![
            "-A",
            "-a",
            "-E",
            "-e",
            "-t",
            "-u",
            "-f",
            "-r",
            "-s",
            "-g",
            "-m",
            "-i",
            "-w",
            "-x",
            "-p",
            "rr",
            "wrr",
            "sh",
            "-srr",
            "RR",
            "verylongschedulername",
            "r1",
            "",
            "ipvsadm",
            "-w1",
            "1\r",
        ])
        .prop_map(str::to_string);
        let addr = "[0-9]{1,4}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(:[0-9]{0,6})?";
        let num = prop_oneof![any::<u32>().prop_map(|n| n.to_string()), "[0-9+-]{0,11}"];
        prop_oneof![3 => fixed, 2 => addr, 1 => num]
    }

    fn shaped() -> impl Strategy<Value = Vec<String>> {
        fn words(v: &[&'static str]) -> impl Strategy<Value = String> + use<> {
            prop::sample::select(v.to_vec()).prop_map(str::to_string)
        }
        let addr = "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(:[0-9]{1,5})?";
        prop_oneof![
            (
                words(&["-A"]),
                words(&["-t", "-u"]),
                addr,
                words(&["-s"]),
                words(&["rr", "wrr", "mh", "x"])
            )
                .prop_map(|(a, b, c, d, e)| vec![a, b, c, d, e]),
            (
                words(&["-a"]),
                words(&["-t", "-u"]),
                addr,
                words(&["-r"]),
                addr,
                words(&["-g", "-m", "-i"]),
                words(&["-w"]),
                "[0-9]{1,10}"
            )
                .prop_map(|(a, b, c, d, e, f, g, h)| vec![a, b, c, d, e, f, g, h]),
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        // lines of the two shapes, with a word now and then replaced or added
        (
            shaped(),
            prop::collection::vec((any::<prop::sample::Index>(), word()), 0..3),
            any::<bool>(),
        )
            .prop_map(|(mut words, edits, add)| {
                for (at, w) in edits {
                    if add {
                        let i = at.index(words.len() + 1);
                        words.insert(i, w);
                    } else {
                        let i = at.index(words.len());
                        words[i] = w;
                    }
                }
                words.join(" ")
            })
    }

    proptest! {
        #[test]
        fn the_short_way_reads_as_the_general_parser(line in line()) {
            if let Some(p) = parse_saved(line.as_bytes()) {
                let toks = crate::ipvsadm::rules::tokens(&line);
                prop_assert_eq!(Ok(p), parse(&toks), "{}", line);
            }
        }
    }
}

/// popt hands options out one at a time and ipvsadm acts on each: an option popt cannot read
/// is reported only once the options before it were acted on, naming the argv element popt
/// read last. (The kernel tests hold these to the real ipvsadm.)
#[test]
fn options_are_read_in_popt_order() {
    let err = |line: &str| {
        let e = parse(&line.split(' ').collect::<Vec<_>>()).unwrap_err();
        (e.message, e.code)
    };
    let popt = |m: &str| (m.to_string(), 255);
    let fail = |m: &str| (m.to_string(), 2);
    assert_eq!(err("-S-n"), popt("-S-n: unknown option"));
    assert_eq!(err("-Q -A"), popt(TRY_HELP));
    assert_eq!(err("-A -t"), popt("-t: missing argument"));
    assert_eq!(err("-A -n --bogus"), popt("--bogus: unknown option"));
    assert_eq!(
        err("-L --stats=1"),
        popt("--stats=1: option does not take an argument")
    );
    // an option acted on before the bad one fails first
    assert_eq!(err("-A -f 0 --bogus"), fail("invalid fwmark value `0' specified"));
    // a second command is named by the element popt read last: its argument, if it took one
    assert_eq!(err("-AL"), fail("invalid option `-AL'"));
    assert_eq!(err("-A --start-daemon master"), fail("invalid option `master'"));
}
