//! The plain HTTP check on the reactor: one GET, the answer's head parsed by httparse, the
//! body read only when a pattern needs it, and every read bounded.
//!
//! The request is HTTP/1.0, as keepalived's HTTP_GET and HAProxy's httpchk send it: the
//! server closes after one answer and never sends it in chunks, so the body is what follows
//! the head, up to Content-Length or the close. (HTTPS goes through `check::http`.)

use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Instant;

use nix::errno::Errno;

use crate::check::{Http, Matcher, Outcome};

/// The most of an answer's head read: a health endpoint's head is a few hundred bytes.
pub const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// An HTTP check made ready to run many times: its request written once.
#[derive(Debug)]
pub struct Prepared {
    pub addr: std::net::SocketAddr,
    request: Vec<u8>,
    url: String,
    status: Vec<u16>,
    body: crate::check::body::BodyRule,
    max_body: usize,
}

impl Prepared {
    pub fn new(h: &Http) -> Prepared {
        Prepared {
            addr: h.addr,
            request: request(h),
            url: h.url(),
            status: h.status.clone(),
            body: h.body.clone(),
            max_body: h.max_body,
        }
    }

    pub fn failed(&self, reason: &str, started: Instant) -> Outcome {
        Outcome::down(format!("GET {}: {reason}", self.url), started)
    }

    /// The most read in all: the head, and the body when a pattern looks at it.
    fn cap(&self) -> usize {
        MAX_HEAD + if self.body.wanted() { self.max_body } else { 0 }
    }
}

/// The request `h` sends; the caller's own Host or User-Agent header replaces lvsh's.
pub fn request(h: &Http) -> Vec<u8> {
    let given = |name: &str| h.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let path = if h.path.starts_with('/') {
        h.path.clone()
    } else {
        format!("/{}", h.path)
    };
    let mut r = format!("GET {path} HTTP/1.0\r\n");
    if !given("host") {
        let host = match &h.host {
            Some(name) => name.clone(),
            None if h.addr.port() == 80 => match h.addr.ip() {
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            },
            None => h.addr.to_string(),
        };
        r.push_str(&format!("Host: {host}\r\n"));
    }
    if !given("user-agent") {
        r.push_str(concat!(
            "User-Agent: lvsh/",
            env!("CARGO_PKG_VERSION"),
            " health check\r\n"
        ));
    }
    for (k, v) in &h.headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// One probe's exchange: how much of the request went out, and the answer so far.
pub struct Exchange {
    p: Rc<Prepared>,
    written: usize,
    answer: Vec<u8>,
}

pub enum Step {
    /// Nothing to do until the socket is readable.
    Read,
    /// Nothing to do until the next event.
    Wait,
    Done(Outcome),
}

impl Exchange {
    pub fn new(p: Rc<Prepared>) -> Exchange {
        Exchange {
            p,
            written: 0,
            answer: Vec::new(),
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.p.addr
    }

    pub fn failed(&self, e: Errno, started: Instant) -> Outcome {
        self.p.failed(&e.desc().to_lowercase(), started)
    }

    /// Goes on with the exchange after an event of the socket.
    /// `chunk` is the reactor's buffer to read into.
    pub fn step(
        &mut self,
        fd: &OwnedFd,
        writable: bool,
        chunk: &mut [u8],
        m: &dyn Matcher,
        started: Instant,
    ) -> Step {
        if self.written < self.p.request.len() {
            if !writable {
                return Step::Wait;
            }
            match nix::unistd::write(fd, &self.p.request[self.written..]) {
                Ok(n) => self.written += n,
                Err(Errno::EAGAIN) => return Step::Wait,
                Err(e) => return Step::Done(self.failed(e, started)),
            }
            return if self.written == self.p.request.len() {
                Step::Read
            } else {
                Step::Wait
            };
        }
        let cap = self.p.cap();
        loop {
            let room = (cap - self.answer.len()).min(chunk.len());
            match nix::unistd::read(fd, &mut chunk[..room]) {
                Ok(0) => return Step::Done(self.finish(m, started)),
                Ok(n) => {
                    self.answer.extend_from_slice(&chunk[..n]);
                    // done as soon as all that is looked at is in: no read to find it out
                    if self.answer.len() >= cap || self.complete() {
                        return Step::Done(self.finish(m, started));
                    }
                }
                Err(Errno::EAGAIN) => {
                    return match self.complete() {
                        true => Step::Done(self.finish(m, started)),
                        false => Step::Wait,
                    };
                }
                // a server that resets after its answer has still answered
                Err(_) if self.head().is_some() => return Step::Done(self.finish(m, started)),
                Err(e) => return Step::Done(self.failed(e, started)),
            }
        }
    }

    /// The head's length, status and Content-Length, once the head is all there.
    fn head(&self) -> Option<(usize, u16, Option<usize>)> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut r = httparse::Response::new(&mut headers);
        match r.parse(&self.answer) {
            Ok(httparse::Status::Complete(len)) => {
                let length = r
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
                Some((len, r.code.unwrap_or(0), length))
            }
            _ => None,
        }
    }

    /// All that will be looked at is in: the head, and the body if a pattern needs it.
    fn complete(&self) -> bool {
        match self.head() {
            None => false,
            Some(_) if !self.p.body.wanted() => true,
            Some((len, _, Some(n))) => self.answer.len() >= len + n.min(self.p.max_body),
            Some(_) => false,
        }
    }

    /// The verdict on the answer as it is.
    fn finish(&self, m: &dyn Matcher, started: Instant) -> Outcome {
        let Some((len, status, _)) = self.head() else {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let why = match httparse::Response::new(&mut headers).parse(&self.answer) {
                Err(e) => format!("not an HTTP answer ({e})"),
                Ok(_) if self.answer.len() >= MAX_HEAD => {
                    format!("the answer's head is over {MAX_HEAD} bytes")
                }
                Ok(_) if self.answer.is_empty() => "closed without answering".to_string(),
                Ok(_) => "the answer ended in its head".to_string(),
            };
            return self.p.failed(&why, started);
        };
        let end = self.answer.len().min(len + self.p.max_body);
        let body = &self.answer[len..end];
        crate::check::http::verdict(status, &self.p.status, &self.p.body, body, m, started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Prefix;
    impl Matcher for Prefix {
        fn matches(&self, pattern: &str, subject: &[u8]) -> Result<bool, String> {
            Ok(subject.starts_with(pattern.as_bytes()))
        }
    }

    fn exchange(h: &Http, answer: &[u8]) -> Exchange {
        let mut x = Exchange::new(Rc::new(Prepared::new(h)));
        x.written = x.p.request.len();
        x.answer = answer.to_vec();
        x
    }

    #[test]
    fn the_request_names_the_host_and_takes_the_callers_headers() {
        let mut h = Http::new("192.0.2.1:80".parse().unwrap());
        h.path = "health".into();
        let r = String::from_utf8(request(&h)).unwrap();
        assert!(
            r.starts_with("GET /health HTTP/1.0\r\nHost: 192.0.2.1\r\nUser-Agent: lvsh/"),
            "{r}"
        );
        assert!(r.ends_with(" health check\r\n\r\n"), "{r}");
        let mut h = Http::new("[2001:db8::1]:8080".parse().unwrap());
        h.headers = vec![
            ("host".into(), "www.example.org".into()),
            ("X-A".into(), "1".into()),
        ];
        let r = String::from_utf8(request(&h)).unwrap();
        assert_eq!(r.matches("ost:").count(), 1, "{r}");
        assert!(r.contains("host: www.example.org\r\nX-A: 1\r\n\r\n"), "{r}");
        let mut h = Http::new("[2001:db8::1]:80".parse().unwrap());
        h.host = Some("a.example".into());
        assert!(
            String::from_utf8(request(&h))
                .unwrap()
                .contains("Host: a.example\r\n")
        );
        h.host = None;
        assert!(
            String::from_utf8(request(&h))
                .unwrap()
                .contains("Host: [2001:db8::1]\r\n")
        );
    }

    #[test]
    fn answers_are_judged_by_status_and_body() {
        let t = Instant::now();
        let mut h = Http::new("192.0.2.1:80".parse().unwrap());
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        let x = exchange(&h, ok);
        assert!(x.complete());
        assert_eq!(x.finish(&Prefix, t).detail, "status 200");
        let x = exchange(&h, b"HTTP/1.0 503 Busy\r\n\r\n");
        assert_eq!(x.finish(&Prefix, t).detail, "status 503, want 200");
        h.status = vec![200, 503];
        assert!(exchange(&h, b"HTTP/1.0 503 Busy\r\n\r\n").finish(&Prefix, t).ok);
        h.body.pattern = Some("ok".into());
        let x = exchange(&h, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\no");
        assert!(!x.complete(), "two bytes of the body are still to come");
        assert!(exchange(&h, ok).finish(&Prefix, t).ok);
        let bad = exchange(&h, b"HTTP/1.0 200 OK\r\n\r\nbusy").finish(&Prefix, t);
        assert_eq!(bad.detail, "status 200, body does not match \"ok\"");
        // the body is cut at max_body before matching
        h.max_body = 1;
        assert!(!exchange(&h, ok).finish(&Prefix, t).ok);
    }

    #[test]
    fn broken_answers_say_what_broke() {
        let t = Instant::now();
        let h = Http::new("192.0.2.1:8080".parse().unwrap());
        let said = |a: &[u8]| exchange(&h, a).finish(&Prefix, t).detail;
        assert_eq!(said(b""), "GET http://192.0.2.1:8080/: closed without answering");
        assert_eq!(
            said(b"HTTP/1.1 200 OK\r\nX: y"),
            "GET http://192.0.2.1:8080/: the answer ended in its head"
        );
        assert!(
            said(b"SSH-2.0-OpenSSH\r\n\r\n").starts_with("GET http://192.0.2.1:8080/: not an HTTP answer (")
        );
        let long = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert!(
            said(&long).ends_with("head is over 16384 bytes"),
            "{}",
            said(&long)
        );
    }
}
