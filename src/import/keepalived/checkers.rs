//! keepalived's checkers as lvs.check calls: TCP_CHECK, HTTP_GET and SSL_GET (one check per
//! url, all of which must pass; digest and regex), MISC_CHECK, DNS_CHECK, SMTP_CHECK,
//! PING_CHECK, UDP_CHECK. The rest, and the settings lvsh's checks do not have, are listed
//! as left out.

use super::super::conf::Node;
use super::super::q;
use super::Out;

/// Status codes as keepalived lists them ("200", "200-299", several on a line), as ranges.
fn statuses(args: &[String]) -> Option<Vec<(u16, u16)>> {
    let mut out = Vec::new();
    for a in args {
        for part in a.split(',').filter(|p| !p.is_empty()) {
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (lo.parse().ok()?, hi.parse().ok()?),
                None => {
                    let c = part.parse().ok()?;
                    (c, c)
                }
            };
            if lo > hi || hi > 999 {
                return None;
            }
            out.push((lo, hi));
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The `status` field: one code, or the script's `codes` helper over ranges.
fn status_field(ranges: &[(u16, u16)]) -> String {
    match ranges {
        [(lo, hi)] if lo == hi => format!("status = {lo}"),
        _ => {
            let r: Vec<String> = ranges.iter().map(|(lo, hi)| format!("{{{lo}, {hi}}}")).collect();
            format!("status = codes({})", r.join(", "))
        }
    }
}

/// The common settings of a checker as lvs.check fields: where it connects, its timeout.
fn target(c: &Node, t: &Timing, out: &mut Out) -> Vec<String> {
    let mut f = vec![format!("timeout = {}", t.connect_timeout)];
    if let Some(p) = c.value("connect_port") {
        f.push(format!("port = {p}"));
    }
    if let Some(ip) = c.value("connect_ip") {
        let addr = match c.value("connect_port") {
            Some(p) => super::sockaddr_text(ip, p),
            None => ip.to_string(),
        };
        f.retain(|x| !x.starts_with("port ="));
        f.push(format!("addr = {}", q(&addr)));
    }
    for k in ["bindto", "bind_port", "bind_if", "fwmark"] {
        if let Some(n) = c.child(k) {
            out.leave(&n.at, format!("{} {k}: lvsh's checks do not have it", c.key));
        }
    }
    if let Some(n) = c.child("warmup") {
        out.leave(
            &n.at,
            format!(
                "{} warmup: lvsh spreads the first checks over the delay_loop (keepalived's default warmup)",
                c.key
            ),
        );
    }
    f
}

/// What a checker is for: the virtual server's Host name and delay_loop, the real
/// server's weight.
pub struct On<'a> {
    pub host: Option<&'a str>,
    pub interval: f64,
    pub weight: &'a str,
}

pub fn checker(c: &Node, t: &Timing, on: &On, out: &mut Out) -> Option<String> {
    let (host, interval) = (on.host, on.interval);
    match c.key.as_str() {
        "TCP_CHECK" => Some(format!("lvs.check.tcp{{{}}}", target(c, t, out).join(", "))),
        "HTTP_GET" | "SSL_GET" => http(c, t, host, out),
        "MISC_CHECK" => misc(c, interval, out),
        "DNS_CHECK" => {
            let mut f = target(c, t, out);
            f.push(format!("name = {}", q(c.value("name").unwrap_or("."))));
            f.push(format!("type = {}", q(c.value("type").unwrap_or("SOA"))));
            Some(format!("lvs.check.dns{{{}}}", f.join(", ")))
        }
        "SMTP_CHECK" => {
            let mut f = target(c, t, out);
            if let Some(h) = c.value("helo_name") {
                f.push(format!("helo = {}", q(h)));
            }
            if let Some(h) = c.child("host") {
                out.leave(&h.at, "SMTP_CHECK host: give each host its own SMTP_CHECK");
            }
            Some(format!("lvs.check.smtp{{{}}}", f.join(", ")))
        }
        "UDP_CHECK" => udp(c, t, out),
        "FILE_CHECK" => file(c, on.weight, out),
        "PING_CHECK" => {
            let mut f = target(c, t, out);
            f.retain(|x| !x.starts_with("port ="));
            Some(format!("lvs.check.ping{{{}}}", f.join(", ")))
        }
        k => {
            out.leave(&c.at, format!("{k}: lvsh has no such check"));
            None
        }
    }
}

/// keepalived's hex strings: the words joined, each read in pairs of digits, a word's lone
/// last digit a byte of its own; `x` (a digit that may be anything) only where `wild`. As
/// pairs, for lvs.check.udp's expect_hex.
pub fn hex_pairs(words: &[String], wild: bool) -> Option<String> {
    let mut out = String::new();
    for w in words {
        let ok = w
            .chars()
            .all(|c| c.is_ascii_hexdigit() || (wild && matches!(c, 'x' | 'X')));
        if !ok || w.is_empty() {
            return None;
        }
        let mut w = w.to_ascii_lowercase();
        if !w.len().is_multiple_of(2) {
            w.insert(w.len() - 1, '0');
        }
        out.push_str(&w);
    }
    Some(out)
}

/// FILE_CHECK: its track_file's number gives the weight, on top of the real server's (the
/// check function's third value); the weight and reverse are the track_file's unless given.
fn file(c: &Node, rs_weight: &str, out: &mut Out) -> Option<String> {
    let Some(name) = c.value("track_file") else {
        out.leave(&c.at, "FILE_CHECK without a track_file");
        return None;
    };
    let Some((_, path, tw, trev)) = out.tracks.iter().find(|t| t.0 == name).cloned() else {
        out.leave(&c.at, format!("FILE_CHECK track_file {name}: no such track_file"));
        return None;
    };
    let w = c.child("weight");
    let weight = match w.and_then(|w| w.args.first()) {
        None => tw,
        Some(x) => match x.parse::<i64>() {
            Ok(x) => x,
            Err(_) => {
                out.leave(&c.at, format!("FILE_CHECK weight {x}: not a number"));
                return None;
            }
        },
    };
    let reverse = match w.and_then(|w| w.args.get(1)).map(String::as_str) {
        Some("reverse") => true,
        Some("noreverse") => false,
        _ => trev,
    };
    Some(format!(
        "function() local ok, d, _, w = lvs.check.file{{path = {}, weight = {weight}, reverse = {reverse}, base = {rs_weight}}} return ok, d, w end",
        q(&path)
    ))
}

/// Pairs of hex digits as bytes.
fn decode_hex(h: &str) -> Option<Vec<u8>> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Bytes as a Lua string literal.
fn lua_bytes(b: &[u8]) -> String {
    let body: String = b.iter().map(|x| format!("\\x{x:02x}")).collect();
    format!("\"{body}\"")
}

fn udp(c: &Node, t: &Timing, out: &mut Out) -> Option<String> {
    let mut f = target(c, t, out);
    let payload = match c.child("payload") {
        None => b"keepalived check - keepalived ch".to_vec(),
        Some(p) => match hex_pairs(&p.args, false).and_then(|h| decode_hex(&h)) {
            Some(bytes) => bytes,
            None => {
                out.leave(&p.at, format!("payload {}: not hex", p.args.join(" ")));
                return None;
            }
        },
    };
    f.push(format!("send = {}", lua_bytes(&payload)));
    match c.child("require_reply") {
        // keepalived: no answer in time is up; only an ICMP error is down
        None => f.push("silence_ok = true".into()),
        Some(r) if r.args.is_empty() => {}
        Some(r) => match hex_pairs(&r.args, true) {
            Some(h) => {
                f.push(format!("expect_hex = {}", q(&h)));
                let len = |k: &str, d: &str| c.value(k).unwrap_or(d).to_string();
                f.push(format!("min_reply = {}", len("min_reply_length", "0")));
                f.push(format!("max_reply = {}", len("max_reply_length", "255")));
            }
            None => {
                out.leave(&r.at, format!("require_reply {}: not hex", r.args.join(" ")));
                return None;
            }
        },
    }
    Some(format!("lvs.check.udp{{{}}}", f.join(", ")))
}

fn http(c: &Node, t: &Timing, host: Option<&str>, out: &mut Out) -> Option<String> {
    let mut base = target(c, t, out);
    if c.key == "SSL_GET" {
        base.push("tls = true".into());
    }
    let host = c.value("virtualhost").or(host);
    if let Some(h) = host {
        base.push(format!("host = {}", q(h)));
    }
    if let Some(sni) = c.child("sni_name")
        && sni.args.first().map(String::as_str) != host
    {
        out.leave(
            &sni.at,
            "sni_name: lvsh sends the Host header's name as the server name",
        );
    }
    let mut checks = Vec::new();
    for url in c.children.iter().filter(|u| u.key == "url") {
        let mut f = base.clone();
        f.push(format!("path = {}", q(url.value("path").unwrap_or("/"))));
        match url.child("status_code") {
            Some(s) => match statuses(&s.args) {
                Some(ranges) => f.push(status_field(&ranges)),
                None => out.leave(
                    &s.at,
                    format!("status_code {}: not codes or ranges", s.args.join(" ")),
                ),
            },
            // keepalived's default: any 2xx
            None => f.push(status_field(&[(200, 299)])),
        }
        if let Some(d) = url.child("digest") {
            match d.args.first() {
                Some(h) if h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    f.push(format!("digest = {}", q(&h.to_ascii_lowercase())));
                    // keepalived hashes the whole body; lvsh's read is capped
                    f.push("max_body = 1048576".into());
                }
                _ => out.leave(
                    &d.at,
                    format!("digest {}: not an MD5 digest (32 hex digits)", d.args.join(" ")),
                ),
            }
        }
        if let Some(r) = url.child("regex") {
            let re = r.args.join(" ");
            f.push(format!("regex = {}", q(&re)));
            if url.child("regex_no_match").is_some() {
                f.push("regex_no_match = true".into());
            }
        }
        for k in [
            "regex_options",
            "regex_min_offset",
            "regex_max_offset",
            "regex_stack",
        ] {
            if let Some(n) = url.child(k) {
                out.leave(
                    &n.at,
                    format!("url {k}: lvsh matches the regex anywhere in the body, with Rust's regex syntax"),
                );
            }
        }
        checks.push(format!("lvs.check.http{{{}}}", f.join(", ")));
    }
    if checks.is_empty() {
        out.leave(&c.at, format!("{}: no url block", c.key));
        return None;
    }
    Some(checks.join(", "))
}

fn misc(c: &Node, interval: f64, out: &mut Out) -> Option<String> {
    let Some(path) = c.child("misc_path") else {
        out.leave(&c.at, "MISC_CHECK: no misc_path");
        return None;
    };
    // keepalived splits the line on spaces; quotes were the config's, taken off already
    let argv: Vec<String> = path
        .args
        .iter()
        .flat_map(|a| a.split_whitespace().map(q).collect::<Vec<_>>())
        .collect();
    if argv.is_empty() {
        out.leave(&path.at, "misc_path: empty");
        return None;
    }
    if let Some(u) = c.child("user") {
        out.leave(&u.at, "MISC_CHECK user: lvsh runs exec checks as its own user");
    }
    // keepalived's default: the delay_loop
    let timeout = c
        .value("misc_timeout")
        .map_or(interval.to_string(), str::to_string);
    let exec = format!(
        "lvs.check.exec{{cmd = {{{}}}, timeout = {timeout}}}",
        argv.join(", ")
    );
    // keepalived names no server to the program: a check function runs it for each; with
    // misc_dynamic an exit of 2+N gives weight N, without it any exit but 0 is a failure
    // (lvs.check.exec gives ok, detail, latency and the weight asked for)
    if c.child("misc_dynamic").is_some() {
        Some(format!(
            "function() local ok, d, _, w = {exec} return ok, d, w end"
        ))
    } else {
        Some(format!(
            "function() local ok, d, _, w = {exec} if w then return false, d end return ok, d end"
        ))
    }
}

/// A checker's timing, from the virtual server's defaults and its own lines; what is not
/// given takes the checker kind's default.
#[derive(Clone, Debug)]
pub struct Timing {
    pub retry: Option<u32>,
    pub delay_before_retry: Option<f64>,
    pub connect_timeout: f64,
}

impl Default for Timing {
    fn default() -> Timing {
        // keepalived's default: 5 s to connect
        Timing {
            retry: None,
            delay_before_retry: None,
            connect_timeout: 5.0,
        }
    }
}

impl Timing {
    /// Retries before a failing checker of an up server goes down: keepalived's default is
    /// 1, 3 for DNS_CHECK, 0 for MISC_CHECK.
    pub fn retry_of(&self, kind: &str) -> u32 {
        self.retry.unwrap_or(match kind {
            "DNS_CHECK" => 3,
            // FILE_CHECK has no retries: the file's number counts at once
            "MISC_CHECK" | "FILE_CHECK" => 0,
            _ => 1,
        })
    }

    /// Seconds between those retries: keepalived's default is 1, 3 for HTTP_GET and
    /// SSL_GET, the delay_loop for DNS_CHECK.
    pub fn retry_interval(&self, kind: &str, interval: f64) -> f64 {
        self.delay_before_retry.unwrap_or(match kind {
            "HTTP_GET" | "SSL_GET" => 3.0,
            "DNS_CHECK" => interval,
            _ => 1.0,
        })
    }

    pub fn read(&mut self, c: &Node, out: &mut Out) {
        let v = c.args.first().map(String::as_str).unwrap_or("");
        let num = v.parse::<f64>().ok().filter(|x| *x >= 0.0);
        match (c.key.as_str(), num) {
            ("retry" | "nb_get_retry", Some(x)) => self.retry = Some(x as u32),
            ("delay_before_retry", Some(x)) => self.delay_before_retry = Some(x),
            ("connect_timeout", Some(x)) => self.connect_timeout = x,
            (k, _) => out.leave(&c.at, format!("{k} {v}: not a number")),
        }
    }

    /// These defaults with a checker's own lines over them.
    pub fn over(mut self, checker: &Node, out: &mut Out) -> Timing {
        for c in &checker.children {
            if matches!(
                c.key.as_str(),
                "retry" | "nb_get_retry" | "delay_before_retry" | "connect_timeout"
            ) {
                self.read(c, out);
            }
        }
        self
    }
}
