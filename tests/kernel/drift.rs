//! `lvs.watch` against the real kernel: changes made by hand with the real ipvsadm are
//! found within `every` + 1 s and reported once, reverted (only what drifted), adopted, or
//! held back past `max_changes` with one alert; what a monitor does is no drift.

use std::time::Duration;

use crate::monitor::{Httpd, wait_rule};
use crate::support::*;

/// Prints each drift event as one line: `EV kind action ops change... operation...`.
const EVENTS: &str = r#"
    io.stdout:setvbuf("line")
    lvs.on_event(function(ev)
      if ev.kind:match('^drift') then
        local parts = {'EV', ev.kind, ev.action or '', ev.ops and ('%d'):format(ev.ops) or ''}
        for _, c in ipairs(ev.changes or {}) do
          parts[#parts + 1] = ('%s|%s|%s|%s|%s'):format(c.service, c.server or '', c.field or '',
            tostring(c.want), tostring(c.have))
        end
        for _, o in ipairs(ev.operations or {}) do parts[#parts + 1] = o end
        print(table.concat(parts, ' '))
      end
    end)
"#;

/// every = 1: a hand change is found within every + 1 s.
const FOUND: Duration = Duration::from_secs(2);

fn events<'a>(out: &'a [String], kind: &str) -> Vec<&'a str> {
    let head = format!("EV {kind} ");
    out.iter()
        .filter(|l| l.starts_with(&head))
        .map(String::as_str)
        .collect()
}

fn two_servers(vip: &str) -> String {
    format!(
        "-A -t {vip}:80 -s wrr\n-a -t {vip}:80 -r 127.0.0.1:18181 -m -w 1\n\
         -a -t {vip}:80 -r 127.0.0.1:18182 -m -w 1\n"
    )
}

fn watcher(opts: &str) -> Background {
    Background::start_chunk(&format!(
        "{EVENTS}
        lvs.watch{{desired=lvs.state(), every=1, {opts}}}
        print('READY')
        lvs.run()"
    ))
}

#[test]
fn report_names_a_server_deleted_by_hand_once_and_says_when_it_is_back() {
    in_netns(|| {
        ipvsadm_restore(&two_servers("192.0.2.120"));
        let mut lvsh = watcher("action='report'");
        ipvsadm("-d -t 192.0.2.120:80 -r 127.0.0.1:18182");
        lvsh.wait_line("EV drift_found", FOUND);
        // three more rounds: still missing, not reported again
        std::thread::sleep(Duration::from_millis(3200));
        assert!(
            !ipvsadm("-S -n").contains("127.0.0.1:18182"),
            "report touched the table"
        );
        ipvsadm("-a -t 192.0.2.120:80 -r 127.0.0.1:18182 -m -w 1");
        lvsh.wait_line("EV drift_cleared", FOUND);
        let out = lvsh.stop();
        assert_eq!(
            events(&out, "drift_found"),
            ["EV drift_found report 1 TCP 192.0.2.120:80|127.0.0.1:18182||present|absent"],
            "{out:?}"
        );
        assert_eq!(events(&out, "drift_cleared").len(), 1, "{out:?}");
        assert!(events(&out, "drift_reverted").is_empty(), "{out:?}");
    });
}

#[test]
fn revert_puts_back_only_the_server_deleted_by_hand() {
    in_netns(|| {
        ipvsadm_restore(&two_servers("192.0.2.121"));
        let before = ipvsadm("-S -n");
        let mut lvsh = watcher("action='revert'");
        ipvsadm("-d -t 192.0.2.121:80 -r 127.0.0.1:18182");
        lvsh.wait_line("EV drift_reverted", FOUND + Duration::from_millis(500));
        assert_same_text(&ipvsadm("-S -n"), &before, "the table after the revert");
        // and again for a weight edited by hand
        ipvsadm("-e -t 192.0.2.121:80 -r 127.0.0.1:18181 -m -w 9");
        wait_rule(
            "-a -t 192.0.2.121:80 -r 127.0.0.1:18181 -m -w 1",
            true,
            FOUND + Duration::from_millis(500),
        );
        std::thread::sleep(Duration::from_millis(300));
        let out = lvsh.stop();
        assert_eq!(
            events(&out, "drift_reverted"),
            [
                "EV drift_reverted  1 add real server 127.0.0.1:18182 to TCP 192.0.2.121:80",
                "EV drift_reverted  1 edit real server 127.0.0.1:18181 in TCP 192.0.2.121:80",
            ],
            "{out:?}"
        );
        assert_eq!(
            events(&out, "drift_found"),
            [
                "EV drift_found revert 1 TCP 192.0.2.121:80|127.0.0.1:18182||present|absent",
                "EV drift_found revert 1 TCP 192.0.2.121:80|127.0.0.1:18181|weight|1|9",
            ],
            "{out:?}"
        );
    });
}

#[test]
fn a_cleared_table_past_max_changes_is_left_alone_with_one_alert() {
    in_netns(|| {
        let mut rules = two_servers("192.0.2.122");
        rules.push_str("-A -u 192.0.2.122:53 -s rr\n-a -u 192.0.2.122:53 -r 127.0.0.1:5353 -m -w 1\n");
        ipvsadm_restore(&rules);
        let mut lvsh = watcher("action='revert', max_changes=2");
        ipvsadm("-C");
        lvsh.wait_line("EV drift_alert", FOUND);
        // four more rounds of the same drift
        std::thread::sleep(Duration::from_millis(4200));
        assert_eq!(ipvsadm("-S -n"), "", "something was reverted past max_changes");
        let out = lvsh.stop();
        assert_eq!(events(&out, "drift_alert").len(), 1, "{out:?}");
        assert_eq!(events(&out, "drift_found").len(), 1, "{out:?}");
        assert!(
            events(&out, "drift_found")[0].starts_with("EV drift_found none 5 "),
            "{out:?}"
        );
        assert!(events(&out, "drift_reverted").is_empty(), "{out:?}");
    });
}

#[test]
fn what_a_monitor_does_is_no_drift() {
    in_netns(|| {
        let mut a = Httpd::new(18281);
        let mut b = Httpd::new(18282);
        ipvsadm_restore(
            "-A -t 192.0.2.123:80 -s wrr\n-a -t 192.0.2.123:80 -r 127.0.0.1:18281 -m -w 3\n\
             -a -t 192.0.2.123:80 -r 127.0.0.1:18282 -m -w 2\n\
             -A -t 192.0.2.124:80 -s rr\n-a -t 192.0.2.124:80 -r 127.0.0.1:18283 -m -w 1\n",
        );
        let mut lvsh = Background::start_chunk(&format!(
            "{EVENTS}
            lvs.watch{{desired=lvs.state(), every=1, action='revert'}}
            lvs.monitor{{service={{addr='192.0.2.123:80'}}, check=lvs.check.http{{path='/health'}},
              interval=0.3, timeout=1, rise=1, fall=1, sorry='127.0.0.1:18289'}}
            print('READY')
            lvs.run()"
        ));
        let limit = Duration::from_secs(3);
        a.stop();
        wait_rule("-a -t 192.0.2.123:80 -r 127.0.0.1:18281 -m -w 0", true, limit);
        b.stop();
        wait_rule("-a -t 192.0.2.123:80 -r 127.0.0.1:18282 -m -w 0", true, limit);
        wait_rule("-a -t 192.0.2.123:80 -r 127.0.0.1:18289 -m -w 1", true, limit);
        // rounds see both inhibited and the sorry server in: nothing to report or undo
        std::thread::sleep(Duration::from_millis(2500));
        let s = ipvsadm("-S -n");
        assert!(s.contains("-r 127.0.0.1:18281 -m -w 0\n"), "{s}");
        assert!(s.contains("-r 127.0.0.1:18289 -m -w 1\n"), "{s}");
        // the watch is alive: a hand change on the other service is reverted
        ipvsadm("-d -t 192.0.2.124:80 -r 127.0.0.1:18283");
        lvsh.wait_line("EV drift_reverted", FOUND + Duration::from_millis(500));
        a.start();
        wait_rule("-a -t 192.0.2.123:80 -r 127.0.0.1:18281 -m -w 3", true, limit);
        wait_rule("-a -t 192.0.2.123:80 -r 127.0.0.1:18289 -m -w 1", false, limit);
        std::thread::sleep(Duration::from_millis(1200));
        let out = lvsh.stop();
        assert_eq!(
            events(&out, "drift_found"),
            ["EV drift_found revert 1 TCP 192.0.2.124:80|127.0.0.1:18283||present|absent"],
            "{out:?}"
        );
        assert_eq!(events(&out, "drift_reverted").len(), 1, "{out:?}");
    });
}

#[test]
fn adopt_takes_a_hand_edit_and_compares_later_changes_with_it() {
    in_netns(|| {
        ipvsadm_restore(&two_servers("192.0.2.125"));
        let mut lvsh = watcher("action='adopt'");
        ipvsadm("-e -t 192.0.2.125:80 -r 127.0.0.1:18181 -m -w 5");
        lvsh.wait_line("EV drift_adopted", FOUND);
        std::thread::sleep(Duration::from_millis(1200));
        assert!(
            ipvsadm("-S -n").contains("-r 127.0.0.1:18181 -m -w 5\n"),
            "reverted"
        );
        ipvsadm("-e -t 192.0.2.125:80 -r 127.0.0.1:18181 -m -w 7");
        std::thread::sleep(Duration::from_millis(2200));
        let out = lvsh.stop();
        assert_eq!(
            events(&out, "drift_adopted"),
            [
                "EV drift_adopted   TCP 192.0.2.125:80|127.0.0.1:18181|weight|1|5",
                "EV drift_adopted   TCP 192.0.2.125:80|127.0.0.1:18181|weight|5|7",
            ],
            "{out:?}"
        );
        assert!(events(&out, "drift_reverted").is_empty(), "{out:?}");
        assert!(ipvsadm("-S -n").contains("-r 127.0.0.1:18181 -m -w 7\n"));
    });
}

#[test]
fn a_server_drained_away_between_rounds_is_no_drift() {
    in_netns(|| {
        ipvsadm_restore(&two_servers("192.0.2.126"));
        let mut lvsh = Background::start_chunk(&format!(
            "{EVENTS}
            lvs.watch{{desired=lvs.state(), every=1, action='revert'}}
            print('READY')
            lvs.sleep(1.5)
            print('DRAINED', lvs.drain({{addr='192.0.2.126:80'}}, '127.0.0.1:18182'))
            lvs.run()"
        ));
        lvsh.wait_line("DRAINED\ttrue", Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(2500));
        assert!(
            !ipvsadm("-S -n").contains("127.0.0.1:18182"),
            "the drained server came back"
        );
        // a deletion by hand is drift still
        ipvsadm("-d -t 192.0.2.126:80 -r 127.0.0.1:18181");
        lvsh.wait_line("EV drift_reverted", FOUND + Duration::from_millis(500));
        let out = lvsh.stop();
        assert_eq!(
            events(&out, "drift_found"),
            ["EV drift_found revert 1 TCP 192.0.2.126:80|127.0.0.1:18181||present|absent"],
            "{out:?}"
        );
    });
}

#[test]
fn weights_an_exec_check_sets_are_no_drift() {
    in_netns(|| {
        ipvsadm_restore("-A -t 192.0.2.127:80 -s wrr\n-a -t 192.0.2.127:80 -r 127.0.0.1:80 -m -w 1\n");
        let lvsh = Background::start_chunk(&format!(
            "{EVENTS}
            lvs.watch{{desired=lvs.state(), every=1, action='revert'}}
            lvs.monitor{{service={{addr='192.0.2.127:80'}}, interval=0.2, rise=1, fall=1,
              check=lvs.check.exec{{cmd={{'/bin/sh', '-c', 'exit 7', '{{ip}}'}}}}}}
            print('READY')
            lvs.run()"
        ));
        // exit 7 asks for weight 5
        wait_rule(
            "-a -t 192.0.2.127:80 -r 127.0.0.1:80 -m -w 5",
            true,
            Duration::from_secs(3),
        );
        std::thread::sleep(Duration::from_millis(2500));
        assert!(ipvsadm("-S -n").contains("-r 127.0.0.1:80 -m -w 5\n"), "reverted");
        let out = lvsh.stop();
        assert!(events(&out, "drift_found").is_empty(), "{out:?}");
    });
}
