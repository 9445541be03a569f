//! `lvsh ipvsadm` on what people get wrong: generated malformed command lines compared with
//! ipvsadm's answers, a listing into a closed pipe, and rules that are not plain UTF-8.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::ipvsadm_compat::{Run, SETUP, reset, state};
use crate::support::*;

/// A fixed-seed generator of command lines, mostly malformed: commands and options in any
/// order, clustered (`-S-n`), glued with `=`, doubled, missing their values or given bad ones.
struct Fuzz(u64);

impl Fuzz {
    fn next(&mut self) -> u64 {
        // xorshift64*: the same lines every run, so a difference can be rerun by hand
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }

    fn line(&mut self) -> Vec<String> {
        const COMMANDS: &[&str] = &[
            "-A",
            "-E",
            "-D",
            "-a",
            "-e",
            "-d",
            "-C",
            "-L",
            "-l",
            "-Z",
            "-S",
            "--set",
            "--start-daemon",
            "--stop-daemon",
            "-v",
            "--version",
            "--add-service",
            "--list",
            "--zero",
            "--save",
            "--clear",
        ];
        const OPTIONS: &[&str] = &[
            "-t",
            "-u",
            "--sctp-service",
            "-f",
            "-s",
            "-p",
            "-M",
            "-r",
            "-g",
            "-m",
            "-i",
            "-w",
            "-x",
            "-y",
            "-n",
            "-c",
            "-6",
            "-o",
            "-b",
            "--pe",
            "--tun-type",
            "--tun-port",
            "--tun-csum",
            "--tun-nocsum",
            "--stats",
            "--rate",
            "--exact",
            "--timeout",
            "--daemon",
            "--thresholds",
            "--persistent-conn",
            "--nosort",
            "--sort",
            "--tun-info",
            "--mcast-interface",
            "--syncid",
            "--mcast-group",
            "--mcast-port",
            "--sync-maxlen",
            "-X",
            "--numeric",
            "--weight",
            "--scheduler",
        ];
        const BAD: &[&str] = &[
            "-Q",
            "--bogus",
            "-S-n",
            "-Ln",
            "-nL",
            "-L-n",
            "-An",
            "-At",
            "-Zt",
            "--stats=1",
            "--list=x",
            "--tcp-service=",
            "-",
            "--",
            "x",
            "",
            "-é",
            "--tcp",
            "-tn",
            "-pn",
            "-s=rr",
            "-wx",
        ];
        const VALUES: &[&str] = &[
            "192.0.2.1:80",
            "192.0.2.1",
            "0.0.0.0:0",
            "0.0.0.0",
            "[2001:db8::1]:443",
            "[::]:0",
            "300.1.1.1",
            "192.0.2.1:99999",
            "rr",
            "wrr",
            "bogus",
            "5",
            "-1",
            "0",
            "65536",
            "abc",
            "master",
            "backup",
            "lo",
            "255.255.255.0",
            "sh-port",
            "gue",
            "sip",
            "239.1.2.3",
            "192.0.2.13:5353",
            "-n",
        ];
        let mut argv = Vec::new();
        // mostly a command first, as people write them; sometimes none, sometimes later
        if !self.next().is_multiple_of(8) {
            argv.push(self.pick(COMMANDS).to_string());
        }
        for _ in 0..self.next() % 6 {
            let word = match self.next() % 10 {
                0..=4 => self.pick(OPTIONS).to_string(),
                5..=7 => self.pick(VALUES).to_string(),
                8 => self.pick(BAD).to_string(),
                _ => self.pick(COMMANDS).to_string(),
            };
            // glue a value on with `=`, or cluster two short options
            match (
                self.next() % 6,
                word.starts_with("--"),
                word.len() == 2 && word.starts_with('-'),
            ) {
                (0, true, _) => argv.push(format!("{word}={}", self.pick(VALUES))),
                (1, _, true) => argv.push(format!("{word}{}", &self.pick(OPTIONS)[1..])),
                _ => argv.push(word),
            }
        }
        argv
    }
}

fn run_argv(program: &str, pre: &[&str], argv: &[String]) -> Run {
    let out = Command::new(program)
        .args(pre)
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// 150 generated command lines, each run by ipvsadm and by lvsh from the same table: the
/// same stdout, stderr, exit code and resulting table. (-h is left out: lvsh's usage text is
/// its own.) 400 were run once with no difference; each line costs process starts and
/// listings in the sandbox, and the whole suite must stay under 40 minutes.
#[test]
fn serial_malformed_command_lines_match_ipvsadm() {
    in_netns(|| {
        let mut fuzz = Fuzz(0x1f2e_3d4c_5b6a_7988);
        let lines: Vec<Vec<String>> = (0..150).map(|_| fuzz.line()).collect();
        let mut mismatches = Vec::new();
        let mut dirty = true;
        for argv in &lines {
            if dirty {
                reset(SETUP);
            }
            let want = run_argv("ipvsadm", &[], argv);
            // only a command that succeeded can have changed the table
            let changed = want.2 == 0;
            let want_state = if changed { state("--all") } else { String::new() };
            if changed {
                reset(SETUP);
            }
            let got = run_argv(env!("CARGO_BIN_EXE_lvsh"), &["ipvsadm"], argv);
            let got_state = if changed || got.2 == 0 {
                state("--all")
            } else {
                String::new()
            };
            dirty = changed || got.2 == 0;
            if got != want || got_state != want_state {
                mismatches.push(format!(
                    "`ipvsadm {}`\n  ipvsadm: {want:?}\n  lvsh:    {got:?}\n  state same: {}",
                    argv.iter()
                        .map(|a| format!("{a:?}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    got_state == want_state
                ));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{} of {} lines differ:\n{}",
            mismatches.len(),
            lines.len(),
            mismatches.join("\n")
        );
    });
}

/// ipvsadm dies of SIGPIPE when its reader has gone; so does `lvsh ipvsadm`.
#[test]
fn a_listing_into_a_closed_pipe_dies_of_sigpipe_as_ipvsadm_does() {
    use std::os::unix::process::ExitStatusExt;
    in_netns(|| {
        reset(SETUP);
        let status = |program: &str, pre: &[&str]| {
            let (read, write) = nix::unistd::pipe().unwrap();
            drop(read);
            Command::new(program)
                .args(pre)
                .args(["-L", "-n"])
                .stdout(Stdio::from(write))
                .stderr(Stdio::null())
                .status()
                .unwrap()
        };
        let want = status("ipvsadm", &[]);
        assert_eq!(want.signal(), Some(13), "{want:?}");
        let got = status(env!("CARGO_BIN_EXE_lvsh"), &["ipvsadm"]);
        assert_eq!(got.signal(), Some(13), "{got:?}");
    });
}

/// -R reads bytes: a Latin-1 comment is a comment (lvsh takes comments, ipvsadm does not),
/// a rule that is not UTF-8 is refused by its line with nothing restored, and `lvs.ipvsadm`
/// reads stdin the same way.
#[test]
fn restore_reads_rules_as_bytes() {
    in_netns(|| {
        reset(&[]);
        let restore = |pre: &[&str], rules: &[u8]| {
            let mut child = Command::new(env!("CARGO_BIN_EXE_lvsh"))
                .args(pre)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // (lvsh stops reading at a line past the bound: the rest meets a closed pipe)
            let _ = child.stdin.take().unwrap().write_all(rules);
            let out = child.wait_with_output().unwrap();
            (
                String::from_utf8_lossy(&out.stderr).into_owned(),
                out.status.code(),
            )
        };
        let r = restore(&["ipvsadm", "-R"], b"# caf\xe9\n-A -t 192.0.2.1:80 -s rr\n");
        assert_eq!(r, (String::new(), Some(0)));
        assert_eq!(ipvsadm("-S -n"), "-A -t 192.0.2.1:80 -s rr\n");
        let r = restore(
            &["ipvsadm", "-R"],
            b"-A -t 192.0.2.2:80 -s rr\n-A -t 192.0.2.3:80 -s r\xe9\n",
        );
        assert_eq!(r, ("line 2: not valid UTF-8\n".to_string(), Some(2)));
        assert_eq!(ipvsadm("-S -n"), "-A -t 192.0.2.1:80 -s rr\n", "nothing restored");
        let r = restore(
            &["-e", "lvs.ipvsadm('-R')"],
            b"# r\xe9seau\n-A -t 192.0.2.4:80 -s wrr\n",
        );
        assert_eq!(r, (String::new(), Some(0)));
        assert_eq!(
            ipvsadm("-S -n"),
            "-A -t 192.0.2.1:80 -s rr\n-A -t 192.0.2.4:80 -s wrr\n"
        );
        // an endless line is refused at the bound, with nothing restored
        let mut long = b"-A -t 192.0.2.5:80 -s rr\n-A ".to_vec();
        long.resize(200_000, b'x');
        let r = restore(&["ipvsadm", "-R"], &long);
        assert_eq!(r, ("line 2: longer than 64 KiB\n".to_string(), Some(2)));
        assert!(!ipvsadm("-S -n").contains("192.0.2.5"));
    });
}
