//! ldirectord.cf as an lvsh director script: global settings, then `virtual=` blocks (the
//! indented lines under them) with `real=` servers, each virtual a service for `lvs.apply`
//! and a monitor deciding as ldirectord does (down after `failurecount` failures, back on
//! the first success; weight 0 while `quiescent`, else removed; `fallback` as the sorry
//! server). What has no equivalent is listed with its line, never approximated.

use super::q;
use std::fmt::Write;
use std::net::IpAddr;
use std::rc::Rc;

use super::Imported;
use super::conf::{Aside, At, ParseError};

/// One `key=value` line.
struct Line {
    key: String,
    value: String,
    at: At,
    indented: bool,
}

fn lines(name: &str, text: &str) -> Result<Vec<Line>, ParseError> {
    let file: Rc<str> = Rc::from(name);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let at = At {
            file: file.clone(),
            line: i + 1,
        };
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            return Err(ParseError {
                at,
                msg: format!("'{t}': expected key=value"),
            });
        };
        let v = v.trim();
        let v = v.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(v);
        out.push(Line {
            key: k.trim().to_ascii_lowercase(),
            value: v.to_string(),
            at,
            indented: raw.starts_with([' ', '\t']),
        });
    }
    Ok(out)
}

/// Settings in force for a virtual: the globals, then its own lines.
#[derive(Clone)]
struct Settings {
    interval: String,
    timeout: Option<String>,
    connect_timeout: Option<String>,
    negotiate_timeout: Option<String>,
    failures: String,
    quiescent: bool,
    checktype: String,
    service: Option<String>,
    request: Option<String>,
    receive: Option<String>,
    virtualhost: Option<String>,
    scheduler: String,
    protocol: String,
    persistent: Option<String>,
    netmask: Option<String>,
    fallback: Option<String>,
    checkcommand: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        // ldirectord's defaults
        Settings {
            interval: "10".into(),
            timeout: None,
            connect_timeout: None,
            negotiate_timeout: None,
            failures: "1".into(),
            // the code's default (4.12's manual says yes, its set_defaults says no)
            quiescent: false,
            checktype: "negotiate".into(),
            service: None,
            request: None,
            receive: None,
            virtualhost: None,
            scheduler: "wrr".into(),
            protocol: "tcp".into(),
            persistent: None,
            netmask: None,
            fallback: None,
            checkcommand: None,
        }
    }
}

const IGNORED: &[&str] = &[
    "logfile",
    "autoreload",
    "callback",
    "emailalert",
    "emailalertfreq",
    "emailalertstatus",
    "supervised",
    "fork",
];

impl Settings {
    /// Takes a setting; false when it is not one.
    fn take(&mut self, l: &Line, left: &mut Vec<Aside>) -> bool {
        let v = l.value.clone();
        match l.key.as_str() {
            "checkinterval" => self.interval = v,
            "checktimeout" => self.timeout = Some(v),
            "connecttimeout" => self.connect_timeout = Some(v),
            "negotiatetimeout" => self.negotiate_timeout = Some(v),
            "failurecount" => self.failures = v,
            "quiescent" => self.quiescent = v.eq_ignore_ascii_case("yes"),
            "checktype" => self.checktype = v.to_ascii_lowercase(),
            "service" => self.service = Some(v.to_ascii_lowercase()),
            "request" => self.request = Some(v),
            "receive" => self.receive = Some(v),
            "virtualhost" => self.virtualhost = Some(v),
            "scheduler" => self.scheduler = v,
            "protocol" => self.protocol = v.to_ascii_lowercase(),
            "persistent" => self.persistent = Some(v),
            "netmask" => self.netmask = Some(v),
            "fallback" => self.fallback = Some(v),
            "checkcommand" => self.checkcommand = Some(v),
            k if IGNORED.contains(&k) => left.push(Aside {
                at: l.at.clone(),
                why: format!("{k}: ldirectord's own running, not the checks (lvsh logs with lvs.log)"),
            }),
            _ => return false,
        }
        true
    }
}

fn method(word: &str) -> Option<&'static str> {
    match word {
        "gate" => Some("dr"),
        "masq" => Some("nat"),
        "ipip" => Some("tun"),
        _ => None,
    }
}

/// The service ldirectord checks when none is given: the one the virtual's port is known
/// for (ld_port_to_service, for the services lvsh checks); a fwmark's is none.
fn service_of_port(port: &str) -> &'static str {
    match port {
        "80" | "3128" => "http",
        "443" => "https",
        "53" => "dns",
        "25" | "587" => "smtp",
        _ => "none",
    }
}

/// `real=` servers: "ip:port method [weight]", the address possibly a range "a->b".
fn real(l: &Line, svc_port: &str, left: &mut Vec<Aside>) -> Vec<(String, &'static str, String)> {
    let parts: Vec<&str> = l.value.split_whitespace().collect();
    let (Some(addr), Some(m)) = (parts.first(), parts.get(1).and_then(|w| method(w))) else {
        left.push(Aside {
            at: l.at.clone(),
            why: format!(
                "real={}: expected ADDRESS[:PORT] gate|masq|ipip [WEIGHT]",
                l.value
            ),
        });
        return Vec::new();
    };
    if parts.len() > 3 {
        left.push(Aside {
            at: l.at.clone(),
            why: "real=: a request and receive per real server are not translated".into(),
        });
    }
    let weight = parts.get(2).unwrap_or(&"1").to_string();
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
            (h.trim_matches(['[', ']']).to_string(), p.to_string())
        }
        _ => (addr.to_string(), svc_port.to_string()),
    };
    let hosts: Vec<String> = match host.split_once("->") {
        Some((a, b)) => match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
            (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(b)))
                if u32::from(a) <= u32::from(b) && u32::from(b) - u32::from(a) < 65536 =>
            {
                (u32::from(a)..=u32::from(b))
                    .map(|x| std::net::Ipv4Addr::from(x).to_string())
                    .collect()
            }
            _ => {
                left.push(Aside {
                    at: l.at.clone(),
                    why: format!("real={}: not an IPv4 range", l.value),
                });
                return Vec::new();
            }
        },
        None => vec![host],
    };
    let with_port = |h: &str| {
        let h = if h.contains(':') {
            format!("[{h}]")
        } else {
            h.to_string()
        };
        if port.is_empty() { h } else { format!("{h}:{port}") }
    };
    hosts.iter().map(|h| (with_port(h), m, weight.clone())).collect()
}

/// The check for a virtual's settings (`vip`: its address or fwmark, on `port`, empty for a
/// fwmark), as Lua text.
fn check(s: &Settings, vip: &str, port: &str, at: &At, left: &mut Vec<Aside>) -> String {
    // ldirectord: connect checks wait checktimeout, else negotiatetimeout, else 5 s;
    // negotiate checks negotiatetimeout, else checktimeout, else 30 s
    let connect = s
        .connect_timeout
        .clone()
        .or_else(|| s.timeout.clone())
        .or_else(|| s.negotiate_timeout.clone())
        .unwrap_or_else(|| "5".into());
    let negotiate = s
        .negotiate_timeout
        .clone()
        .or_else(|| s.timeout.clone())
        .unwrap_or_else(|| "30".into());
    let service = s.service.as_deref().unwrap_or_else(|| service_of_port(port));
    match (s.checktype.as_str(), Some(service)) {
        // ldirectord pings instead of connecting on a UDP virtual
        ("connect", _) if s.protocol == "udp" => format!("lvs.check.ping{{timeout = {connect}}}"),
        ("connect", _) => format!("lvs.check.tcp{{timeout = {connect}}}"),
        ("ping", _) => format!("lvs.check.ping{{timeout = {connect}}}"),
        // the command with the virtual's address and port and the real server's; any exit
        // but 0 is down
        ("external", _) if s.checkcommand.is_some() => format!(
            "function() local ok, d, _, w = lvs.check.exec{{cmd = {{{}, {}, {}, \"{{ip}}\", \"{{port}}\"}}, timeout = {connect}}} if w then return false, d end return ok, d end",
            q(s.checkcommand.as_deref().unwrap_or_default()),
            q(vip),
            q(port)
        ),
        ("negotiate", Some(svc @ ("http" | "https"))) => {
            let mut f = vec![format!("timeout = {negotiate}")];
            if svc == "https" {
                f.push("tls = true".into());
            }
            f.push(format!(
                "path = {}",
                q(&format!(
                    "/{}",
                    s.request.as_deref().unwrap_or("").trim_start_matches('/')
                ))
            ));
            if let Some(h) = &s.virtualhost {
                f.push(format!("host = {}", q(h)));
            }
            // a Perl regular expression, matched anywhere in the body
            if let Some(r) = s.receive.as_deref().filter(|r| !r.is_empty()) {
                f.push(format!("regex = {}", q(r)));
            }
            format!("lvs.check.http{{{}}}", f.join(", "))
        }
        ("negotiate", Some("smtp")) => format!("lvs.check.smtp{{timeout = {negotiate}}}"),
        // ldirectord's check_none: always up
        ("negotiate", Some("none")) => "function() return true, \"service none\" end".into(),
        ("negotiate", Some("dns")) => match &s.request {
            Some(name) => format!("lvs.check.dns{{name = {}, timeout = {negotiate}}}", q(name)),
            None => {
                left.push(Aside {
                    at: at.clone(),
                    why: "service=dns without request= (the name to ask)".into(),
                });
                format!("lvs.check.tcp{{timeout = {connect}}}")
            }
        },
        ("on", _) => "function() return true, \"checktype on\" end".into(),
        // ldirectord checks nothing and leaves the real servers out (the fallback in)
        ("off", _) => "function() return false, \"checktype off\" end".into(),
        (t, svc) => {
            left.push(Aside {
                at: at.clone(),
                why: format!(
                    "checktype={t}{}: not translated; a TCP connect check stands in",
                    svc.map_or(String::new(), |s| format!(", service={s}"))
                ),
            });
            format!("lvs.check.tcp{{timeout = {connect}}}")
        }
    }
}

pub fn import(path: &std::path::Path) -> Result<Imported, ParseError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ParseError {
        at: At {
            file: Rc::from(name.as_str()),
            line: 0,
        },
        msg: format!("cannot read it: {e}"),
    })?;
    translate(&name, &text)
}

pub fn translate(name: &str, text: &str) -> Result<Imported, ParseError> {
    let all = lines(name, text)?;
    let mut left = Vec::new();
    let mut globals = Settings::default();
    // (the virtual= line, its settings, its real= lines)
    let mut virtuals: Vec<(&Line, Settings, Vec<&Line>)> = Vec::new();
    for l in &all {
        if l.key == "virtual" {
            virtuals.push((l, globals.clone(), Vec::new()));
            continue;
        }
        match virtuals.last_mut() {
            Some((_, s, reals)) if l.indented => {
                if l.key == "real" {
                    reals.push(l);
                } else if !s.take(l, &mut left) {
                    left.push(Aside {
                        at: l.at.clone(),
                        why: format!("{}: not translated", l.key),
                    });
                }
            }
            _ => {
                if !globals.take(l, &mut left) {
                    left.push(Aside {
                        at: l.at.clone(),
                        why: format!("{}: not translated", l.key),
                    });
                }
            }
        }
    }
    let mut apply = String::new();
    let mut monitors = String::new();
    let mut translated = Vec::new();
    for (v, s, reals) in &virtuals {
        let (service, port) = if let Ok(mark) = v.value.parse::<u32>() {
            (format!("fwmark = {mark}"), String::new())
        } else {
            match v.value.rsplit_once(':') {
                Some((_, p)) if p.parse::<u16>().is_ok() => (
                    format!("proto = {}, addr = {}", q(&s.protocol), q(&v.value)),
                    p.to_string(),
                ),
                _ => {
                    left.push(Aside {
                        at: v.at.clone(),
                        why: format!("virtual={}: expected ADDRESS:PORT or a fwmark", v.value),
                    });
                    continue;
                }
            }
        };
        let mut fields = vec![service.clone(), format!("scheduler = {}", q(&s.scheduler))];
        if let Some(p) = &s.persistent {
            fields.push(format!("persistent = {p}"));
        }
        if let Some(m) = &s.netmask {
            fields.push(format!("netmask = {}", q(m)));
        }
        let mut servers = String::new();
        for r in reals {
            for (addr, m, w) in real(r, &port, &mut left) {
                let _ = writeln!(
                    servers,
                    "    {{addr = {}, method = {}, weight = {w}}},",
                    q(&addr),
                    q(m)
                );
            }
        }
        let _ = writeln!(apply, "  {{{}, servers = {{\n{servers}  }}}},", fields.join(", "));
        let _ = writeln!(monitors, "\n-- {}: virtual={}", v.at, v.value);
        let _ = write!(
            monitors,
            "lvs.monitor{{\n  service = {{{service}}},\n  interval = {}, rise = 1, fall = {}, action = {},\n",
            s.interval,
            s.failures,
            q(if s.quiescent { "inhibit" } else { "remove" })
        );
        if let Some(f) = &s.fallback {
            // ldirectord adds it with weight 1, gatewaying unless told, on the virtual's port
            let parts: Vec<&str> = f.split_whitespace().collect();
            let m = parts.get(1).and_then(|w| method(w)).unwrap_or("dr");
            let addr = parts.first().unwrap_or(&"");
            let has_port = addr
                .rsplit_once(':')
                .is_some_and(|(h, _)| !h.contains(':') || h.ends_with(']'));
            let addr = if has_port || port.is_empty() {
                addr.to_string()
            } else {
                format!("{addr}:{port}")
            };
            let _ = writeln!(
                monitors,
                "  sorry = {{addr = {}, method = {}, weight = 1}},",
                q(&addr),
                q(m)
            );
        }
        let _ = write!(
            monitors,
            "  check = {},\n}}\n",
            check(
                s,
                v.value.rsplit_once(':').map_or(v.value.as_str(), |(h, _)| h),
                &port,
                &v.at,
                &mut left
            )
        );
        translated.push(format!(
            "{}: virtual={} ({} real server line(s))",
            v.at,
            v.value,
            reals.len()
        ));
    }
    let mut script = String::new();
    script += "#!/usr/bin/env lvsh\n";
    let _ = writeln!(
        script,
        "-- Imported from {name} by `lvsh import ldirectord`: each virtual as a service"
    );
    script += "-- for lvs.apply and a monitor deciding as ldirectord does.\n";
    if !left.is_empty() {
        let _ = writeln!(script, "-- Not translated ({}):", left.len());
        for a in &left {
            let _ = writeln!(script, "--   {}: {}", a.at, a.why);
        }
    }
    let _ = write!(script, "\nlvs.apply({{\n{apply}}})\n{monitors}\nlvs.run()\n");
    Ok(Imported {
        script,
        translated,
        left,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CF: &str = "checktimeout=3\ncheckinterval=1\nquiescent=no\nlogfile=\"local0\"\n\n\
        virtual=192.0.2.10:80\n\treal=198.51.100.1->198.51.100.2:80 gate 2\n\treal=198.51.100.9:8080 masq\n\
        \tfallback=127.0.0.1:80 gate\n\tservice=http\n\trequest=\"health\"\n\treceive=\"OK-1\"\n\tscheduler=rr\n\
        \tprotocol=tcp\n\tchecktype=negotiate\n\tfailurecount=3\n\n\
        virtual=7\n\treal=198.51.100.3 gate\n\tchecktype=connect\n\tquiescent=yes\n\tregex=1\n";

    #[test]
    fn virtuals_real_servers_and_checks_come_across() {
        let i = translate("l.cf", CF).unwrap();
        let s = &i.script;
        for want in [
            "{proto = \"tcp\", addr = \"192.0.2.10:80\", scheduler = \"rr\", servers = {",
            "{addr = \"198.51.100.1:80\", method = \"dr\", weight = 2},",
            "{addr = \"198.51.100.2:80\", method = \"dr\", weight = 2},",
            "{addr = \"198.51.100.9:8080\", method = \"nat\", weight = 1},",
            "interval = 1, rise = 1, fall = 3, action = \"remove\",",
            "sorry = {addr = \"127.0.0.1:80\", method = \"dr\", weight = 1},",
            "check = lvs.check.http{timeout = 3, path = \"/health\", regex = \"OK-1\"},",
            "{fwmark = 7, scheduler = \"wrr\", servers = {",
            "{addr = \"198.51.100.3\", method = \"dr\", weight = 1},",
            "action = \"inhibit\",",
            "check = lvs.check.tcp{timeout = 3},",
        ] {
            assert!(s.contains(want), "{want}:\n{s}");
        }
        let left: Vec<String> = i.left.iter().map(|a| format!("{}: {}", a.at, a.why)).collect();
        assert!(left.iter().any(|l| l.starts_with("l.cf:4: logfile")), "{left:?}");
        assert!(
            left.iter()
                .any(|l| l.starts_with("l.cf:22: regex: not translated")),
            "{left:?}"
        );
        assert_eq!(i.translated.len(), 2);
    }

    #[test]
    fn external_ping_and_unchecked_services_come_across() {
        let cf = "virtual=192.0.2.20:8080\n\treal=198.51.100.1:8080 masq\n\tchecktype=external\n\tcheckcommand=\"/usr/local/bin/probe\"\n\tchecktimeout=4\n\
            virtual=192.0.2.21:53\n\treal=198.51.100.2:53 gate\n\tprotocol=udp\n\tchecktype=connect\n\
            virtual=192.0.2.22:8080\n\treal=198.51.100.3:8080 gate\n";
        let i = translate("e.cf", cf).unwrap();
        let s = &i.script;
        for want in [
            "check = function() local ok, d, _, w = lvs.check.exec{cmd = {\"/usr/local/bin/probe\", \"192.0.2.20\", \"8080\", \"{ip}\", \"{port}\"}, timeout = 4} if w then return false, d end return ok, d end,",
            // connect on a UDP virtual: ldirectord pings
            "check = lvs.check.ping{timeout = 5},",
            // negotiate on a port ldirectord knows no service for: never checked
            "check = function() return true, \"service none\" end,",
        ] {
            assert!(s.contains(want), "{want}:\n{s}");
        }
        assert!(
            i.left.is_empty(),
            "{:?}",
            i.left.iter().map(|a| &a.why).collect::<Vec<_>>()
        );
    }

    proptest::proptest! {
        /// Any lines: a script or an error naming a line, never a panic.
        #[test]
        fn any_lines_translate_or_fail_with_a_line(lines in proptest::collection::vec(
            proptest::sample::select(vec![
                "virtual=192.0.2.1:80", "virtual=7", "virtual=x", "\treal=1.2.3.4->1.2.3.1:80 gate", "\treal=::1 gate",
                "\treal=[2001:db8::1]:80 masq 2", "\treal=a", "\treal=1.2.3.4 gate 1 req rec", "\tservice=dns",
                "\tchecktype=external", "\treceive=a.b", "\tfallback=", "quiescent=no", "x", "# c", "\tfoo=1", "",
            ]),
            0..30,
        )) {
            match translate("l.cf", &lines.join("\n")) {
                Ok(_) => {}
                Err(e) => proptest::prop_assert!(e.at.line >= 1 && e.at.line <= lines.len()),
            }
        }
    }

    #[test]
    fn a_line_without_equals_is_an_error_with_its_line() {
        let e = translate("l.cf", "checktimeout=3\nvirtual 192.0.2.1:80\n")
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "l.cf:2: 'virtual 192.0.2.1:80': expected key=value"
        );
    }
}
