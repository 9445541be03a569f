//! ldirectord (Debian's) against the script `lvsh import ldirectord` makes of the same
//! ldirectord.cf: a connect check that deletes (quiescent=no), an HTTP negotiate check with a
//! regex that sets weight 0 (quiescent=yes), and a fallback server.

use super::*;

/// ldirectord's timing as keepalived's: a failure counted each checkinterval (plus the
/// check's own time), down at the failurecount-th.
fn timing(failurecount: u32, timeout: f64) -> Timing {
    Timing {
        delay_loop: 1.0,
        connect: timeout,
        retry: failurecount - 1,
        dbr: 1.0,
        // ldirectord runs ipvsadm -L twice before each change it makes (a fallback in and
        // two real servers out: nine runs of ipvsadm), a second each in a busy sandbox
        slack: 15.0,
    }
}

#[test]
fn ldirectord_connect_check_quiescent_no_deletes() {
    let mut p = Pair::new("ldc");
    p.start_ldirectord(
        "checkinterval=1\nchecktimeout=1\nfailurecount=2\nquiescent=no\n\n\
         virtual=192.0.2.30:80\n\treal=198.51.100.1:80 gate 1\n\treal=198.51.100.2:80 gate 2\n\treal=198.51.100.3:80 gate 3\n\
         \tchecktype=connect\n\tscheduler=wrr\n\tprotocol=tcp\n",
    );
    let t = timing(2, 1.0);
    p.same(
        "at the start",
        &["-A -t 192.0.2.30:80 -s wrr", "-r 198.51.100.2:80 -g -w 2"],
    );
    p.serve(1, false);
    p.change(
        "198.51.100.2 down",
        &["-r 198.51.100.3:80 -g -w 3"],
        &["198.51.100.2"],
        t.down(),
    );
    p.serve(1, true);
    p.change("198.51.100.2 back", &["-r 198.51.100.2:80 -g -w 2"], &[], t.up(1));
}

#[test]
fn ldirectord_http_negotiate_with_a_regex_quiescent_yes_sets_weight_0() {
    let mut p = Pair::new("ldn");
    p.start_ldirectord(
        "checkinterval=1\nchecktimeout=1\nnegotiatetimeout=2\nquiescent=yes\n\n\
         virtual=192.0.2.31:80\n\treal=198.51.100.1:80 masq\n\treal=198.51.100.2:80 masq\n\treal=198.51.100.3:80 masq 2\n\
         \tservice=http\n\trequest=\"health\"\n\treceive=\"heal+thy\"\n\tscheduler=wlc\n\tchecktype=negotiate\n",
    );
    let t = timing(1, 2.0);
    p.same(
        "at the start",
        &["-A -t 192.0.2.31:80 -s wlc", "-r 198.51.100.3:80 -m -w 2"],
    );
    p.serve(2, false);
    p.change(
        "198.51.100.3 down",
        &["-r 198.51.100.3:80 -m -w 0"],
        &[],
        t.down(),
    );
    p.serve(2, true);
    p.change("198.51.100.3 back", &["-r 198.51.100.3:80 -m -w 2"], &[], t.up(1));
    // the body no longer matches the regex: every one at weight 0
    std::fs::write(p.dir.path().join("health"), "sick\n").unwrap();
    let zero = [
        "-r 198.51.100.1:80 -m -w 0",
        "-r 198.51.100.2:80 -m -w 0",
        "-r 198.51.100.3:80 -m -w 0",
    ];
    p.change("the body does not match", &zero, &[], t.down());
    std::fs::write(p.dir.path().join("health"), "healthy\n").unwrap();
    p.change(
        "the body matches again",
        &["-r 198.51.100.1:80 -m -w 1"],
        &[" -w 0"],
        t.up(1),
    );
}

#[test]
fn ldirectord_fallback_when_every_real_server_is_down() {
    let mut p = Pair::new("ldf");
    p.start_ldirectord(
        "checkinterval=1\nchecktimeout=1\n\n\
         virtual=192.0.2.32:80\n\treal=198.51.100.1:80 masq\n\treal=198.51.100.2:80 masq\n\
         \tfallback=203.0.113.9:80 masq\n\tchecktype=connect\n\tscheduler=rr\n",
    );
    let t = timing(1, 1.0);
    p.same(
        "at the start",
        &["-r 198.51.100.1:80 -m -w 1", "-r 198.51.100.2:80 -m -w 1"],
    );
    assert!(!p.table(0).contains("203.0.113.9"));
    p.serve(0, false);
    p.serve(1, false);
    p.change(
        "all down: the fallback",
        &["-r 203.0.113.9:80 -m -w 1"],
        &["198.51.100."],
        t.down(),
    );
    p.serve(1, true);
    p.change(
        "one back: the fallback out",
        &["-r 198.51.100.2:80 -m -w 1"],
        &["203.0.113.9"],
        t.up(1),
    );
}
