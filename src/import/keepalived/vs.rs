//! One virtual_server block: its services' settings, its real servers, and its checkers as a
//! monitor with keepalived's timing: a failing checker of an up server retried `retry` times
//! `delay_before_retry` apart before the server goes (fall = retry + 1, retry_interval),
//! back on the first success (rise = 1), removed on failure unless inhibit_on_failure
//! (weight 0).

use super::super::q;
use std::fmt::Write;

use super::super::conf::Node;
use super::checkers::Timing;
use super::scripts::Scripts;
use super::{Out, Vs};

/// Virtual-server settings with nothing to translate to: said, not approximated.
const UNSUPPORTED_VS: &[(&str, &str)] = &[
    ("ha_suspend", "the checks do not follow a VRRP address in lvsh"),
    ("smtp_alert", "lvsh sends no mail; use on_change"),
];

const SCHED_FLAGS: &[&str] = &[
    "mh-port",
    "mh-fallback",
    "sh-port",
    "sh-fallback",
    "flag-1",
    "flag-2",
    "flag-3",
];

/// The service entries for `lvs.apply`, the monitor(s), and what runs when the checker
/// stops (omega), as Lua text.
pub fn virtual_server(n: &Node, vs: &Vs, out: &mut Out) -> (String, String, String) {
    let mut scripts = Scripts::default();
    let mut fields = Vec::new();
    let mut method = "nat".to_string();
    let mut interval = 60.0;
    let mut monitor_extra = Vec::new();
    let mut host = None;
    let mut flags = Vec::new();
    let mut proto = "tcp".to_string();
    let mut action = "remove";
    let mut defaults = Timing::default();
    let mut tun = String::new();
    for c in &n.children {
        let v = c.args.first().map(String::as_str);
        match (c.key.as_str(), v) {
            ("delay_loop", Some(x)) => match x.parse::<f64>() {
                Ok(x) if x > 0.0 => interval = x,
                _ => out.leave(&c.at, format!("delay_loop {x}: not a number of seconds")),
            },
            ("lb_algo" | "lvs_sched", Some(x)) => fields.push(format!("scheduler = {}", q(x))),
            ("lb_kind" | "lvs_method", Some(x)) => match method_of(x) {
                Some(m) => {
                    method = m.into();
                    tun = tunnel(c, out);
                }
                None => out.leave(&c.at, format!("{} {x}: expected NAT, DR or TUN", c.key)),
            },
            ("persistence_timeout", Some(x)) => fields.push(format!("persistent = {x}")),
            ("persistence_granularity", Some(x)) => fields.push(format!("netmask = {}", q(x))),
            ("persistence_engine", Some(x)) => fields.push(format!("pe = {}", q(x))),
            ("protocol", Some(x)) => match x.to_ascii_lowercase().as_str() {
                p @ ("tcp" | "udp" | "sctp") => proto = p.into(),
                _ => out.leave(&c.at, format!("protocol {x}: expected TCP, UDP or SCTP")),
            },
            ("ops", _) => fields.push("ops = true".into()),
            (f, _) if SCHED_FLAGS.contains(&f) => flags.push(q(f)),
            ("sorry_server", Some(ip)) => {
                let port = c.args.get(1).map_or(String::new(), |p| format!(":{p}"));
                let m = n
                    .value("sorry_server_lvs_method")
                    .and_then(method_of)
                    .unwrap_or("nat");
                monitor_extra.push(format!(
                    "sorry = {{addr = {}, method = {}}}",
                    q(&format!("{ip}{port}")),
                    q(m)
                ));
            }
            ("sorry_server_lvs_method", _) => {}
            ("sorry_server_inhibit", _) => monitor_extra.push("sorry_inhibit = true".into()),
            ("quorum", Some(x)) => monitor_extra.push(format!("quorum = {x}")),
            ("hysteresis", Some(x)) => monitor_extra.push(format!("hysteresis = {x}")),
            ("alpha", _) => monitor_extra.push("alpha = true".into()),
            ("inhibit_on_failure", _) => action = "inhibit",
            ("virtualhost", Some(x)) => host = Some(x.to_string()),
            ("retry" | "nb_get_retry" | "delay_before_retry" | "connect_timeout", Some(_)) => {
                defaults.read(c, out)
            }
            ("real_server", _) => {}
            _ if scripts.virtual_server(c, out) => {}
            (k, _) => match UNSUPPORTED_VS.iter().find(|(u, _)| *u == k) {
                Some((_, why)) => out.leave(&c.at, format!("{k}: {why}")),
                None => out.leave(&c.at, format!("{k}: not translated")),
            },
        }
    }
    // keepalived swaps its sorry server in when the quorum (1 unless set) is lost, taking
    // the real servers still up out; with the default quorum that is when none is up, which
    // is what lvsh's sorry server does without sorry_quorum
    if n.child("sorry_server").is_some() && n.value("quorum").is_some_and(|q| q != "1") {
        monitor_extra.push("sorry_quorum = true".into());
    }
    if !flags.is_empty() {
        fields.push(format!("sched_flags = {{{}}}", flags.join(", ")));
    }
    // the real servers: settings for the table, checks for the monitor
    let mut servers = String::new();
    let mut checks = String::new();
    let mut falls = Vec::new();
    let mut retries: Vec<f64> = Vec::new();
    // FILE_CHECKs: keepalived acts on the file at once (no retries)
    let mut files = Vec::new();
    for rs in n.children.iter().filter(|c| c.key == "real_server") {
        let Some(ip) = rs.args.first() else {
            out.leave(&rs.at, "real_server without an address");
            continue;
        };
        let addr = match rs.args.get(1) {
            Some(p) => super::sockaddr_text(ip, p),
            None => ip.clone(),
        };
        let mut weight = "1".to_string();
        let mut extra = String::new();
        let mut rs_method = method.clone();
        let mut rs_tun = tun.clone();
        let mut list = Vec::new();
        for c in &rs.children {
            let v = c.args.first().map(String::as_str);
            match (c.key.as_str(), v) {
                ("weight", Some(w)) => weight = w.into(),
                ("uthreshold", Some(x)) => extra += &format!(", upper = {x}"),
                ("lthreshold", Some(x)) => extra += &format!(", lower = {x}"),
                ("lb_kind" | "lvs_method", Some(x)) => match method_of(x) {
                    Some(m) => {
                        rs_method = m.into();
                        rs_tun = tunnel(c, out);
                    }
                    None => out.leave(&c.at, format!("{} {x}: expected NAT, DR or TUN", c.key)),
                },
                ("inhibit_on_failure", _) => action = "inhibit",
                _ if scripts.real_server(&addr, c, out) => {}
                (k, _) if k.ends_with("_CHECK") || k == "HTTP_GET" || k == "SSL_GET" => {
                    let t = defaults.clone().over(c, out);
                    if k == "FILE_CHECK" {
                        files.push(c.at.clone());
                    } else {
                        falls.push(t.retry_of(k) + 1);
                    }
                    if t.retry_of(k) > 0 {
                        retries.push(t.retry_interval(k, interval));
                    }
                    let on = super::checkers::On {
                        host: host.as_deref(),
                        interval,
                        weight: rs.value("weight").unwrap_or("1"),
                    };
                    if let Some(lua) = super::checkers::checker(c, &t, &on, out) {
                        list.push(lua);
                    }
                }
                (k, _) => out.leave(&c.at, format!("real_server {k}: not translated")),
            }
        }
        let _ = writeln!(
            servers,
            "    {{addr = {}, method = {}, weight = {weight}{extra}{}}},",
            q(&addr),
            q(&rs_method),
            if rs_method == "tun" { rs_tun.as_str() } else { "" }
        );
        let check = if list.is_empty() {
            // keepalived keeps a real server without checkers up
            "function() return true, \"no checker\" end".to_string()
        } else {
            format!("{{{}}}", list.join(", "))
        };
        let _ = writeln!(checks, "    [{}] = {{check = {check}}},", q(&addr));
    }
    falls.sort_unstable();
    falls.dedup();
    let fall = match falls.as_slice() {
        [] if !files.is_empty() => 1,
        [] => 1 + defaults.retry_of("TCP_CHECK"),
        [one] => *one,
        [first, .., last] => {
            out.leave(
                &n.at,
                format!(
                    "checkers retry {}-{} times: lvsh's monitor has one fall for the service; {last} taken",
                    first - 1,
                    last - 1
                ),
            );
            *last
        }
    };
    if fall > 1 {
        for at in &files {
            out.leave(
                at,
                format!("FILE_CHECK beside checkers that retry: lvsh's monitor's fall ({fall}) applies to the file too; keepalived acts on it at once"),
            );
        }
    }
    retries.sort_by(f64::total_cmp);
    retries.dedup();
    let retry_interval = match retries.as_slice() {
        [] => None,
        [one] => Some(*one),
        [first, .., last] => {
            out.leave(
                &n.at,
                format!(
                    "checkers retry {first}-{last} s apart: lvsh's monitor has one retry interval for the service; {first} taken"
                ),
            );
            Some(*first)
        }
    }
    .filter(|r| (r - interval).abs() > f64::EPSILON);
    if let Some(r) = retry_interval {
        monitor_extra.insert(0, format!("retry_interval = {r}"));
    }
    // keepalived's quorum at its start: every real server up (unless alpha)
    let total: u64 = n
        .children
        .iter()
        .filter(|c| c.key == "real_server")
        .map(|rs| rs.value("weight").and_then(|w| w.parse().ok()).unwrap_or(1))
        .sum();
    let number = |k: &str, d: u64| n.value(k).and_then(|x| x.parse::<u64>().ok()).unwrap_or(d);
    let met = n.child("alpha").is_none() && total >= number("quorum", 1) + number("hysteresis", 0);
    let mut svc = String::new();
    let mut mon = String::new();
    let mut stop = String::new();
    for (i, key) in vs.services.iter().enumerate() {
        let service = match key.split_once(' ') {
            Some(("fwmark", m)) => format!("fwmark = {m}"),
            Some((_, a)) => format!("proto = {}, addr = {}", q(&proto), q(a)),
            None => continue,
        };
        let mut f = vec![service.clone()];
        f.extend(fields.iter().cloned());
        let _ = writeln!(svc, "  {{{}, servers = {{\n{servers}  }}}},", f.join(", "));
        let _ = writeln!(mon, "\n-- {}: virtual_server {}", n.at, vs.name);
        // a group's scripts run once, from its first service's monitor
        let first = i == 0;
        let var = if first && scripts.omega() {
            out.seq += 1;
            let v = format!("omega{}", out.seq);
            stop += &scripts.at_stop(&v);
            format!("local {v} = ")
        } else {
            String::new()
        };
        let _ = write!(
            mon,
            "{var}lvs.monitor{{\n  service = {{{service}}},\n  interval = {interval}, rise = 1, fall = {fall}, action = {},\n",
            q(action)
        );
        for e in &monitor_extra {
            let _ = writeln!(mon, "  {e},");
        }
        if first {
            for e in scripts.callbacks() {
                let _ = writeln!(mon, "  {e},");
            }
        }
        let _ = write!(
            mon,
            "  check = lvs.check.tcp{{}},\n  servers = {{\n{checks}  }},\n}}\n"
        );
        if first {
            mon += &scripts.at_start(met);
        }
    }
    (svc, mon, stop)
}

/// `lvs_method TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]` as server fields.
fn tunnel(c: &Node, out: &mut Out) -> String {
    let mut f = String::new();
    let mut words = c.args.iter().skip(1).map(String::as_str);
    while let Some(w) = words.next() {
        match (w, words.clone().next()) {
            ("type", Some(t @ ("ipip" | "gue" | "gre"))) => {
                f += &format!(", tun_type = {}", q(t));
                words.next();
            }
            ("port", Some(p)) if p.parse::<u16>().is_ok() => {
                f += &format!(", tun_port = {p}");
                words.next();
            }
            (c @ ("nocsum" | "csum" | "remcsum"), _) => f += &format!(", tun_csum = {}", q(c)),
            _ => out.leave(
                &c.at,
                format!("{} {}: {w}: not a tunnel setting", c.key, c.args.join(" ")),
            ),
        }
    }
    f
}

fn method_of(x: &str) -> Option<&'static str> {
    match x.to_ascii_uppercase().as_str() {
        "NAT" => Some("nat"),
        "DR" => Some("dr"),
        "TUN" => Some("tun"),
        _ => None,
    }
}
