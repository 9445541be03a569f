//! The two line shapes that ipvsadm -S writes for nearly every rule, read straight from the
//! line: a saved table of 20,000 rules is otherwise 20,000 runs of the general parser (token
//! lists, option items, the legality table), the larger part of an unchanged apply.

use std::net::IpAddr;

use super::options::opt;
use super::values::{dotted_quad_port, number};
use super::{Cmd, Parsed};
use crate::ipvs::Protocol;
use crate::ipvs::consts::{CONN_F_DROUTE, CONN_F_MASQ, CONN_F_TUNNEL};

/// `-A -t|-u A.B.C.D:PORT -s SCHED` and `-a -t|-u A.B.C.D:PORT -r A.B.C.D[:PORT] -g|-m|-i -w N`,
/// single spaces apart, nothing else on the line. Only the reading is short: the checks and
/// defaults after it are the general parser's own (`Parsed::checked`). None for any other
/// line, and for every line that is an error, which the general parser then reads and words;
/// wherever this answers, the general parser gives the same (a property test holds them to it).
///
/// The line is taken as bytes: a line this answers is ASCII throughout, so a rules file is
/// checked for UTF-8 only where the general parser reads it.
pub fn parse_saved(line: &[u8]) -> Option<Parsed> {
    let mut words = line.split(|&b| b == b' ');
    let cmd = words.next()?;
    let mut p = Parsed::blank();
    p.svc.proto = match words.next()? {
        b"-t" => Protocol::Tcp,
        b"-u" => Protocol::Udp,
        _ => return None,
    };
    let (addr, port) = dotted_quad_port(words.next()?)?;
    p.svc.addr = IpAddr::V4(addr);
    p.svc.port = port.unwrap_or(0);
    match cmd {
        b"-A" => {
            if words.next()? != b"-s" {
                return None;
            }
            let sched = std::str::from_utf8(words.next()?).ok()?;
            // a scheduler's name, as the kernel's modules are named ("ipvsadm" is a word
            // rules files may repeat anywhere, which is dropped)
            let plain = (1..=15).contains(&sched.len())
                && sched.bytes().all(|b| b.is_ascii_lowercase())
                && sched != "ipvsadm";
            if !plain {
                return None;
            }
            p.svc.sched = sched.to_string();
            p.cmd = Cmd::Add;
            p.options = 1 << opt::SERVICE | 1 << opt::SCHEDULER;
        }
        b"-a" => {
            if words.next()? != b"-r" {
                return None;
            }
            let (addr, port) = dotted_quad_port(words.next()?)?;
            p.dest.fwd = match words.next()? {
                b"-g" => CONN_F_DROUTE,
                b"-m" => CONN_F_MASQ,
                b"-i" => CONN_F_TUNNEL,
                _ => return None,
            };
            if words.next()? != b"-w" {
                return None;
            }
            let weight = std::str::from_utf8(words.next()?).ok()?;
            p.dest.weight = number(weight, 0, i32::MAX as i64)? as u32;
            p.dest.addr = IpAddr::V4(addr);
            p.dest.port = port.unwrap_or(p.svc.port);
            p.cmd = Cmd::AddDest;
            p.options = 1 << opt::SERVICE | 1 << opt::SERVER | 1 << opt::FORWARD | 1 << opt::WEIGHT;
        }
        _ => return None,
    }
    if words.next().is_some() {
        return None;
    }
    p.checked().ok()
}
