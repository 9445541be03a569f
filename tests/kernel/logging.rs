//! Log lines meet a stderr that went away (`lvsh director.lua 2>&1 | head -c300`, a log
//! shipper restarting): they are dropped, and the monitors go on checking and editing the
//! table, as `ipvsadm -S -n` (the oracle) shows.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::monitor::{Httpd, wait_rule};
use crate::support::*;

#[test]
fn checks_go_on_after_the_log_pipe_closes() {
    in_netns(|| {
        let mut a = Httpd::new(18181);
        let _b = Httpd::new(18182);
        ipvsadm_restore(
            "-A -t 192.0.2.120:80 -s wrr\n-a -t 192.0.2.120:80 -r 127.0.0.1:18181 -m -w 3\n\
             -a -t 192.0.2.120:80 -r 127.0.0.1:18182 -m -w 2\n",
        );
        let chunk = "
            lvs.monitor{service={addr='192.0.2.120:80'}, check=lvs.check.http{path='/health'},
              interval=0.2, timeout=0.5, rise=1, fall=1}
            -- more than head takes: the pipe is closed before the first server goes down
            for i = 1, 10 do lvs.log.info(('filler %02d '):format(i) .. ('x'):rep(40)) end
            lvs.every(0.1, function() lvs.log.info('tick') print('tick') end)
            lvs.run()";
        // stdout and stderr into one pipe, read by head
        let (reader, writer) = std::io::pipe().unwrap();
        let mut lvsh = Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .args(["-e", chunk])
            .stdin(Stdio::null())
            .stdout(writer.try_clone().unwrap())
            .stderr(writer)
            .spawn()
            .unwrap();
        let mut head = Command::new("head")
            .arg("-c300")
            .stdin(reader)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while head.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "head never got 300 bytes"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // ticks now write into the closed pipe
        std::thread::sleep(Duration::from_millis(500));
        let limit = Duration::from_secs(5);
        wait_rule("-a -t 192.0.2.120:80 -r 127.0.0.1:18181 -m -w 3", true, limit);
        a.stop();
        wait_rule("-a -t 192.0.2.120:80 -r 127.0.0.1:18181 -m -w 0", true, limit);
        a.start();
        wait_rule("-a -t 192.0.2.120:80 -r 127.0.0.1:18181 -m -w 3", true, limit);
        a.stop();
        wait_rule("-a -t 192.0.2.120:80 -r 127.0.0.1:18181 -m -w 0", true, limit);
        assert!(lvsh.try_wait().unwrap().is_none(), "lvsh ended early");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(lvsh.id() as i32),
            nix::sys::signal::SIGTERM,
        );
        let status = lvsh.wait().unwrap();
        assert!(status.success(), "lvsh exited with {status}");
    });
}
