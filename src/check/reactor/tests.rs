//! The reactor against real sockets on the host's loopback: TCP listeners, and hyper
//! answering HTTP.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use super::*;
use crate::check::{Http, Tcp};

struct Prefix;
impl Matcher for Prefix {
    fn matches(&self, pattern: &str, subject: &[u8]) -> Result<bool, String> {
        Ok(subject.starts_with(pattern.as_bytes()))
    }
}

fn local() -> tokio::task::LocalSet {
    tokio::task::LocalSet::new()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `jobs` to their ends on one reactor; the outcomes in the order given.
async fn run_all(jobs: Vec<Job>) -> Vec<Outcome> {
    run_on(&mut Reactor::new().unwrap(), &jobs).await
}

/// Runs `jobs` to their ends on `r`; the outcomes in the order given.
async fn run_on(r: &mut Reactor<usize>, jobs: &[Job]) -> Vec<Outcome> {
    let mut out: Vec<Option<Outcome>> = vec![None; jobs.len()];
    let mut slots = Vec::new();
    for (i, j) in jobs.iter().enumerate() {
        match r.start(j, Duration::from_secs(2), i, Instant::now()) {
            Ok(s) => slots.push(s),
            Err((i, _, o)) => out[i] = Some(o),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while out.iter().any(Option::is_none) && Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(50), r.ready()).await;
        while r.drain(&Prefix, &mut |(i, _, o)| out[i] = Some(o)) {}
    }
    for s in slots {
        if let Some((i, _, o)) = r.expire(s) {
            out[i] = Some(o);
        }
    }
    assert_eq!(r.in_flight(), 0);
    out.into_iter().map(Option::unwrap).collect()
}

/// A listener that accepts nothing unless asked (to count what was accepted).
fn listener() -> TcpListener {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn tcp(addr: SocketAddr, half_open: bool) -> Job {
    Job::of(&Check::Tcp(Tcp {
        addr,
        timeout: Duration::from_secs(2),
        half_open,
    }))
    .unwrap()
    .0
}

#[test]
fn tcp_probes_see_listeners_and_refusals_and_half_open_ones_are_never_accepted() {
    let (full, half) = (listener(), listener());
    let refused = closed_port();
    let jobs = vec![
        tcp(full.local_addr().unwrap(), false),
        tcp(half.local_addr().unwrap(), true),
        tcp(refused, true),
    ];
    let out = local().block_on(&rt(), run_all(jobs));
    assert_eq!(out[0].detail, "connected");
    assert!(out[0].ok && out[1].ok, "{out:?}");
    assert_eq!(out[2].detail, format!("connect {refused}: connection refused"));
    assert!(!out[2].ok);
    std::thread::sleep(Duration::from_millis(100));
    assert!(full.accept().is_ok(), "a full connect is accepted");
    let err = half.accept().map(|_| ()).unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::WouldBlock,
        "a half-open probe never is"
    );
}

#[test]
fn a_probe_past_its_deadline_is_expired_once() {
    let rt = rt();
    local().block_on(&rt, async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut r: Reactor<u8> = Reactor::new().unwrap();
        // a half-open probe to a listener completes; expiring it first wins the race
        let slot = r
            .start(
                &tcp(l.local_addr().unwrap(), true),
                Duration::from_millis(1500),
                7,
                Instant::now(),
            )
            .unwrap();
        let (p, _, o) = r.expire(slot).unwrap();
        assert_eq!((p, o.ok, &*o.detail), (7, false, "timed out after 1.5s"));
        assert!(r.expire(slot).is_none());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!r.drain(&Prefix, &mut |_| panic!("an expired probe reported")));
    });
}

/// hyper answering: "/" 200 "ok", "/busy" 503, anything else 404.
fn serve_http(rt: &tokio::runtime::Runtime, local: &tokio::task::LocalSet) -> SocketAddr {
    let l = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = l.local_addr().unwrap();
    local.spawn_local(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let service =
                hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let (status, body) = match req.uri().path() {
                        "/" => (200, "ok\n"),
                        "/busy" => (503, "busy\n"),
                        _ => (404, "no\n"),
                    };
                    hyper::Response::builder()
                        .status(status)
                        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
                });
            tokio::task::spawn_local(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), service),
            );
        }
    });
    addr
}

fn http(addr: SocketAddr, path: &str, body: Option<&str>) -> Job {
    let mut h = Http::new(addr);
    h.path = path.into();
    h.body.pattern = body.map(String::from);
    Job::of(&Check::Http(Box::new(h))).unwrap().0
}

#[test]
fn http_probes_judge_what_hyper_answers() {
    let rt = rt();
    let local = local();
    let addr = serve_http(&rt, &local);
    let refused = closed_port();
    let jobs = vec![
        http(addr, "/", None),
        http(addr, "/", Some("ok")),
        http(addr, "/", Some("fine")),
        http(addr, "/busy", None),
        http(refused, "/", None),
    ];
    let out = local.block_on(&rt, run_all(jobs));
    let said: Vec<(bool, &str)> = out.iter().map(|o| (o.ok, &*o.detail)).collect();
    assert_eq!(
        said,
        [
            (true, "status 200"),
            (true, "status 200"),
            (false, "status 200, body does not match \"fine\""),
            (false, "status 503, want 200"),
            (
                false,
                format!("GET http://{refused}/: connection refused").as_str()
            ),
        ]
    );
}

#[test]
fn https_and_other_kinds_stay_with_their_own_code() {
    let mut h = Http::new("192.0.2.1:443".parse().unwrap());
    h.tls = true;
    assert!(Job::of(&Check::Http(Box::new(h))).is_none());
    let e = crate::check::Exec {
        argv: vec!["/bin/true".into()],
        timeout: Duration::from_secs(1),
    };
    assert!(Job::of(&Check::Exec(e)).is_none());
}

#[test]
fn sockets_are_reused_and_a_reused_one_judges_as_a_new_one_would() {
    let rt = rt();
    let local = local();
    let web = serve_http(&rt, &local);
    let (full, half) = (listener(), listener());
    let refused = closed_port();
    // each probe after a refusal or a finished exchange, on the socket it left
    let jobs = vec![
        tcp(refused, true),
        tcp(full.local_addr().unwrap(), false),
        http(web, "/busy", None),
        tcp(half.local_addr().unwrap(), true),
        http(refused, "/", None),
        http(web, "/", Some("ok")),
    ];
    local.block_on(&rt, async {
        let mut r: Reactor<usize> = Reactor::new().unwrap();
        let first = run_on(&mut r, &jobs).await;
        let said = |o: &[Outcome]| o.iter().map(|o| (o.ok, o.detail.clone())).collect::<Vec<_>>();
        assert_eq!(first.iter().filter(|o| o.ok).count(), 3, "{first:?}");
        let mut accepted = 0;
        for round in 0..20 {
            // one at a time: each probe takes the socket the one before it left
            let mut out = Vec::new();
            for j in &jobs {
                out.extend(run_on(&mut r, std::slice::from_ref(j)).await);
            }
            assert_eq!(said(&out), said(&first), "round {round}");
            assert!(!r.spares[0].is_empty(), "no socket kept");
            tokio::time::sleep(Duration::from_millis(5)).await;
            while full.accept().is_ok() {
                accepted += 1;
            }
        }
        assert!(r.spares[0].len() <= jobs.len(), "{} kept", r.spares[0].len());
        assert!(accepted >= 20, "full connects accepted: {accepted}");
        assert!(half.accept().is_err(), "a half-open probe was accepted");
    });
}
