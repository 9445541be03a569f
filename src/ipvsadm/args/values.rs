//! Option values as ipvsadm reads them: numbers (strtol), addresses (inet_aton, host and
//! service names), timeouts and scheduler flags.

use std::net::{IpAddr, Ipv4Addr};

use super::{CliError, fail};
use crate::ipvs::Protocol;

/// strtol in base 10 within [min, max], as ipvsadm's string_to_number.
pub fn number(s: &str, min: i64, max: i64) -> Option<i64> {
    let v = match plain_decimal(s.as_bytes(), 18) {
        Some(v) => v as i64,
        None => {
            let t = s.trim_start();
            t.parse()
                .ok()
                .or_else(|| t.strip_prefix('+').and_then(|x| x.parse().ok()))?
        }
    };
    (min..=max).contains(&v).then_some(v)
}

/// Digits only, at most `max_len` of them (leading zeros allowed: base 10 either way).
fn plain_decimal(b: &[u8], max_len: usize) -> Option<u64> {
    if b.is_empty() || b.len() > max_len {
        return None;
    }
    let mut v = 0u64;
    for &d in b {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(d - b'0');
    }
    Some(v)
}

pub const MAX_TIMEOUT: i64 = 86400 * 31;

/// A number option within [min, max], or ipvsadm's "illegal <what> specified".
pub fn ranged(arg: Option<&str>, min: i64, max: i64, what: &str) -> Result<i64, CliError> {
    number(arg.unwrap_or(""), min, max).ok_or_else(|| CliError {
        message: format!("illegal {what} specified"),
        code: 2,
    })
}

pub fn timeout(s: Option<&str>, min: i64, max: i64) -> Result<u32, CliError> {
    match s {
        None => Ok(360),
        Some(s) => number(s, min, max).map(|v| v as u32).ok_or_else(|| CliError {
            message: format!("invalid timeout value `{s}' specified"),
            code: 2,
        }),
    }
}

/// host[:port] as ipvsadm reads it: `[v6]:port`, bare v6, v4 or an IPv4 host name, and a
/// port number or service name. Returns the address and, if given, the port.
pub fn service_addr(s: &str, proto: Protocol) -> Option<(IpAddr, Option<u16>)> {
    if let Some((a, port)) = dotted_quad_port(s.as_bytes()) {
        return Some((IpAddr::V4(a), port));
    }
    if s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest.split_once(']')?;
        (h, Some(tail.strip_prefix(':')?))
    } else if s.bytes().filter(|&b| b == b':').count() > 1 && s.parse::<std::net::Ipv6Addr>().is_ok() {
        // (an IPv6 address has two colons at least: IPv4 forms skip this parse)
        (s, None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let addr = if let Some(a6) = host
        .contains(':')
        .then(|| host.parse::<std::net::Ipv6Addr>().ok())
        .flatten()
    {
        IpAddr::V6(a6)
    } else if let Some(a4) = inet_aton(host) {
        IpAddr::V4(a4)
    } else {
        IpAddr::V4(super::super::names::host_to_v4(host)?)
    };
    let port = match port {
        None => None,
        Some(p) => Some(match number(p, 0, 65535) {
            Some(n) => n as u16,
            None => super::super::names::service_to_port(p, proto)?,
        }),
    };
    Some((addr, port))
}

/// The form nearly every rule writes, `a.b.c.d` or `a.b.c.d:port` in plain decimal with no
/// leading zeros (where inet_aton would read octal), read in one pass; None for any other
/// form, which the general reading then takes. Both readings agree wherever this one answers
/// (a unit test holds them to it).
pub(super) fn dotted_quad_port(s: &[u8]) -> Option<(Ipv4Addr, Option<u16>)> {
    let mut octets = [0u8; 4];
    let mut at = 0;
    for (k, o) in octets.iter_mut().enumerate() {
        if k > 0 {
            if s.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let (v, next) = decimal(s, at, 3).filter(|(v, _)| *v <= 255)?;
        *o = v as u8;
        at = next;
    }
    let addr = Ipv4Addr::from(octets);
    match s.get(at) {
        None => Some((addr, None)),
        Some(b':') => {
            let (port, next) = decimal(s, at + 1, 5).filter(|(v, _)| *v <= 65535)?;
            (next == s.len()).then_some((addr, Some(port as u16)))
        }
        Some(_) => None,
    }
}

/// The digits of `s` from `at`: at least one, at most `width`, no leading zero. Returns their
/// value and where they end.
fn decimal(s: &[u8], mut at: usize, width: usize) -> Option<(u32, usize)> {
    let start = at;
    let mut v = 0u32;
    while let Some(&d) = s.get(at) {
        if !d.is_ascii_digit() {
            break;
        }
        if at - start == width {
            return None;
        }
        v = v * 10 + u32::from(d - b'0');
        at += 1;
    }
    let n = at - start;
    (n > 0 && (n == 1 || s[start] != b'0')).then_some((v, at))
}

/// inet_aton's forms: a.b.c.d, a.b.c, a.b, a (each part decimal, octal or hex).
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    // the form nearly every rule uses, read by the standard parser (plain decimal a.b.c.d,
    // no leading zeros: for those both readings agree)
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Some(a);
    }
    let mut nums = [0u64; 4];
    let mut count = 0;
    for p in s.split('.') {
        if count == 4 {
            return None;
        }
        nums[count] = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            u64::from_str_radix(h, 16).ok()?
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            p.parse().ok()?
        } else {
            return None;
        };
        count += 1;
    }
    let (last, head) = nums[..count].split_last()?;
    if head.iter().any(|&n| n > 255) {
        return None;
    }
    let room = 8 * (4 - head.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let mut v: u64 = 0;
    for (i, n) in head.iter().enumerate() {
        v |= n << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from((v | last) as u32))
}

pub fn sched_flags(sched: &str, arg: &str) -> Result<u32, CliError> {
    let sched = if sched.is_empty() { "wlc" } else { sched };
    let mut flags = 0;
    for f in arg.split(',').filter(|f| !f.is_empty()) {
        let Some((bit, need)) = crate::model::spec::sched_flag_bit(f) else {
            return fail(format!("invalid scheduler flag `{f}'"));
        };
        flags |= bit;
        if need.is_some_and(|n| n != sched) {
            return fail(format!("incompatible scheduler flag `{f}'"));
        }
    }
    Ok(flags)
}

/// C's atoi: leading digits, 0 if none.
pub fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(d) => (-1, d),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let n: String = digits.chars().take_while(char::is_ascii_digit).take(18).collect();
    sign * n.parse::<i64>().unwrap_or(0)
}
