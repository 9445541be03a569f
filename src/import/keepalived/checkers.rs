//! keepalived's checkers as lvs.check calls: TCP_CHECK, HTTP_GET and SSL_GET (one check per
//! url, all of which must pass; digest and regex), MISC_CHECK, DNS_CHECK, SMTP_CHECK,
//! PING_CHECK. The rest, and the settings lvsh's checks do not have, are listed as left out.

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
    for k in ["bindto", "bind_port", "bind_if", "fwmark", "warmup"] {
        if let Some(n) = c.child(k) {
            out.leave(&n.at, format!("{} {k}: lvsh's checks do not have it", c.key));
        }
    }
    f
}

pub fn checker(c: &Node, t: &Timing, host: Option<&str>, interval: f64, out: &mut Out) -> Option<String> {
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
            "MISC_CHECK" => 0,
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
