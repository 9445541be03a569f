//! External program check, as keepalived's MISC_CHECK: argv (never a shell string), exit 0 is
//! up, 1 (or a signal) is down, 2+N is up with weight N. The program runs in its own process
//! group, which is killed whole at the timeout.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

use super::Outcome;

/// What a program prints is kept only as the detail of its outcome.
const MAX_OUTPUT: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Exec {
    pub argv: Vec<String>,
    pub timeout: Duration,
}

impl Exec {
    /// `argv` with `{ip}`, `{port}` and `{addr}` replaced by those of the server checked.
    pub fn for_server(argv: &[String], addr: std::net::SocketAddr, timeout: Duration) -> Exec {
        let ip = addr.ip().to_string();
        let port = addr.port().to_string();
        let argv = argv
            .iter()
            .map(|a| {
                a.replace("{ip}", &ip)
                    .replace("{port}", &port)
                    .replace("{addr}", &addr.to_string())
            })
            .collect();
        Exec { argv, timeout }
    }

    pub async fn run(&self, started: Instant) -> Outcome {
        let Some((prog, args)) = self.argv.split_first() else {
            return Outcome::down("exec check has an empty command", started);
        };
        let mut child = match tokio::process::Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                return Outcome::down(
                    format!("cannot run {prog}: {}", super::tcp::io_reason(&e)),
                    started,
                );
            }
        };
        let pgid = child.id().map(|id| Pid::from_raw(id as i32));
        let mut stdout = child.stdout.take();
        // The check is judged by the exit of the program it ran, not by the end of its
        // output: a child it left in the background may hold the pipe open for long after.
        // Output is read all along (a program that prints more than a pipe holds would
        // block on it otherwise); past the bound it is read and dropped.
        let work = async {
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            let status = loop {
                let Some(s) = stdout.as_mut() else {
                    break child.wait().await;
                };
                tokio::select! {
                    st = child.wait() => break st,
                    n = s.read(&mut buf) => match n {
                        Ok(0) | Err(_) => stdout = None,
                        Ok(n) => keep(&mut out, &buf[..n]),
                    },
                }
            };
            // what it printed before it ended is in the pipe already
            while let Some(s) = stdout.as_mut() {
                match tokio::time::timeout(Duration::from_millis(10), s.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 && out.len() < MAX_OUTPUT => keep(&mut out, &buf[..n]),
                    _ => break,
                }
            }
            (status, out)
        };
        let (status, out) = match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => {
                if let Some(p) = pgid {
                    let _ = killpg(p, Signal::SIGKILL);
                }
                let _ = child.wait().await;
                return Outcome::down(
                    format!("{prog} killed after {}", super::secs(self.timeout)),
                    started,
                );
            }
        };
        // Children the check left behind go with it.
        if let Some(p) = pgid {
            let _ = killpg(p, Signal::SIGKILL);
        }
        let text = String::from_utf8_lossy(&out);
        let first = text.lines().next().unwrap_or("").trim().to_string();
        match status {
            Err(e) => Outcome::down(format!("{prog}: {e}"), started),
            Ok(st) => judge(st.code(), st.into_signal(), first, started),
        }
    }
}

fn keep(out: &mut Vec<u8>, chunk: &[u8]) {
    let room = MAX_OUTPUT.saturating_sub(out.len());
    out.extend_from_slice(&chunk[..chunk.len().min(room)]);
}

trait IntoSignal {
    fn into_signal(self) -> Option<i32>;
}
impl IntoSignal for std::process::ExitStatus {
    fn into_signal(self) -> Option<i32> {
        std::os::unix::process::ExitStatusExt::signal(&self)
    }
}

fn judge(code: Option<i32>, signal: Option<i32>, first_line: String, started: Instant) -> Outcome {
    let said = |what: String| {
        if first_line.is_empty() {
            what
        } else {
            format!("{what}: {first_line}")
        }
    };
    match (code, signal) {
        (Some(0), _) => Outcome::up(said("exit 0".into()), started),
        (Some(n), _) if n >= 2 => {
            let mut o = Outcome::up(said(format!("exit {n}, weight {}", n - 2)), started);
            o.weight = Some((n - 2) as u32);
            o
        }
        (Some(n), _) => Outcome::down(said(format!("exit {n}")), started),
        (None, Some(s)) => Outcome::down(said(format!("killed by signal {s}")), started),
        (None, None) => Outcome::down(said("ended without a status".into()), started),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_map_as_keepalived_misc_check() {
        let t = Instant::now();
        assert!(judge(Some(0), None, String::new(), t).ok);
        assert!(!judge(Some(1), None, "bad".into(), t).ok);
        let o = judge(Some(7), None, String::new(), t);
        assert!(o.ok && o.weight == Some(5), "{o:?}");
        assert!(!judge(None, Some(9), String::new(), t).ok);
    }

    #[test]
    fn placeholders_take_the_server() {
        let e = Exec::for_server(
            &[
                "/bin/check".into(),
                "{ip}".into(),
                "{port}".into(),
                "--to={addr}".into(),
            ],
            "192.0.2.1:80".parse().unwrap(),
            Duration::from_secs(1),
        );
        assert_eq!(e.argv, ["/bin/check", "192.0.2.1", "80", "--to=192.0.2.1:80"]);
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_hanging_check_is_killed_with_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("grandchild");
        let script = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let e = Exec {
            argv: vec!["/bin/sh".into(), "-c".into(), script],
            timeout: Duration::from_millis(300),
        };
        let o = rt().block_on(e.run(Instant::now()));
        assert!(!o.ok && o.detail.contains("killed after"), "{o:?}");
        let pid: i32 = std::fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
        // a test, off any event loop (a blocking sleep is fine): the killed group's exit
        // takes a moment to show in /proc
        std::thread::sleep(Duration::from_millis(100));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // gone, or a zombie waiting for init to reap it
        assert!(
            stat.is_empty() || stat.contains(") Z"),
            "grandchild still runs: {stat}"
        );
    }

    #[test]
    fn dynamic_weight_and_output_detail() {
        let e = Exec {
            argv: vec!["/bin/sh".into(), "-c".into(), "echo busy; exit 12".into()],
            timeout: Duration::from_secs(5),
        };
        let o = rt().block_on(e.run(Instant::now()));
        assert_eq!(
            (o.ok, o.weight, &*o.detail),
            (true, Some(10), "exit 12, weight 10: busy")
        );
    }

    #[test]
    fn a_check_that_prints_more_than_a_pipe_holds_is_judged_by_its_exit() {
        // 100 KB: more than the 64 KiB a pipe buffers
        let e = Exec {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "head -c 102400 /dev/zero | tr '\\0' x; exit 0".into(),
            ],
            timeout: Duration::from_secs(3),
        };
        let o = rt().block_on(e.run(Instant::now()));
        assert!(o.ok, "{o:?}");
        assert!(
            o.detail.len() < MAX_OUTPUT + 100,
            "the detail is bounded: {}",
            o.detail.len()
        );
    }

    #[test]
    fn a_background_child_holding_stdout_does_not_make_it_down() {
        let e = Exec {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo fine; sleep 30 & exit 0".into(),
            ],
            timeout: Duration::from_secs(3),
        };
        let started = Instant::now();
        let o = rt().block_on(e.run(started));
        assert_eq!((o.ok, &*o.detail), (true, "exit 0: fine"), "{o:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "judged at its exit, not at EOF"
        );
    }
}
