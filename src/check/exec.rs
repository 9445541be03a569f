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
        let work = async {
            let mut out = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.take(MAX_OUTPUT as u64).read_to_end(&mut out).await;
            }
            (child.wait().await, out)
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
        // a test, off any event loop: the killed group's exit takes a moment to show in /proc
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
            (o.ok, o.weight, o.detail.as_str()),
            (true, Some(10), "exit 12, weight 10: busy")
        );
    }
}
