//! Rules text in the ipvsadm -R format (what ipvsadm -S writes), with what people write by
//! hand too: comments, blank lines, long options, a leading `ipvsadm`.

use super::args::{self, Cmd, Parsed};
use crate::ipvs::{Dest, Forward, Op, Service, ServiceKey};

pub use crate::model::source::RuleError;

/// Splits a line as ipvsadm -R does (spaces, tabs, CR), dropping `ipvsadm` tokens.
pub fn tokens(line: &str) -> Vec<&str> {
    // by bytes: the separators are ASCII, so every cut falls on a character boundary
    let sep = |b: &u8| matches!(b, b' ' | b'\t' | b'\r');
    let bytes = line.as_bytes();
    let mut out = Vec::with_capacity(16);
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && sep(&bytes[i]) {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && !sep(&bytes[i]) {
            i += 1;
        }
        if let Some(t) = line.get(start..i).filter(|t| !t.is_empty() && *t != "ipvsadm") {
            out.push(t);
        }
    }
    out
}

pub fn service_key(p: &Parsed) -> ServiceKey {
    if p.svc.fwmark != 0 {
        ServiceKey::Fwmark {
            af: p.svc.af,
            mark: p.svc.fwmark,
        }
    } else {
        ServiceKey::Addr {
            proto: p.svc.proto,
            addr: p.svc.addr,
            port: p.svc.port,
        }
    }
}

pub fn service(p: &Parsed) -> Service {
    Service {
        key: service_key(p),
        scheduler: p.svc.sched.clone(),
        flags: p.svc.flags,
        timeout: p.svc.timeout,
        netmask: p.svc.netmask,
        pe: (!p.svc.pe.is_empty()).then(|| p.svc.pe.clone()),
        stats: Default::default(),
    }
}

pub fn dest(p: &Parsed) -> Dest {
    Dest {
        fwd: Forward::from_raw(p.dest.fwd),
        weight: p.dest.weight,
        upper: p.dest.upper,
        lower: p.dest.lower,
        tun_type: p.dest.tun_type,
        tun_port: p.dest.tun_port,
        tun_flags: p.dest.tun_flags,
        ..Dest::new(p.dest.addr, p.dest.port)
    }
}

/// The kernel operation of a command that changes the table; None for listings and the like.
pub fn op(p: &Parsed) -> Option<Op> {
    Some(match p.cmd {
        Cmd::Add => Op::AddService(service(p)),
        Cmd::Edit => Op::EditService(service(p)),
        Cmd::Del => Op::DelService(service_key(p)),
        Cmd::Flush => Op::Flush,
        Cmd::AddDest => Op::AddDest(service_key(p), dest(p)),
        Cmd::EditDest => Op::EditDest(service_key(p), dest(p)),
        Cmd::DelDest => Op::DelDest(service_key(p), p.dest.addr, p.dest.port),
        // libipvs sends no service for a zero address, port and mark: every counter is zeroed
        Cmd::Zero if p.has(args::opt::SERVICE) && !zero_key(p) => Op::Zero(Some(service_key(p))),
        Cmd::Zero => Op::Zero(None),
        Cmd::SetTimeout => Op::SetTimeouts(p.timeouts),
        Cmd::StartDaemon => Op::StartDaemon(p.daemon.clone()),
        Cmd::StopDaemon => Op::StopDaemon(p.daemon.state),
        Cmd::List | Cmd::Restore | Cmd::Save | Cmd::Help | Cmd::Version => return None,
    })
}

/// The longest line rules may have. Lines that ipvsadm -S writes are under 300 bytes; the
/// bound keeps an endless line (`--state /dev/zero`) from taking all memory.
pub const MAX_LINE: usize = 64 * 1024;
/// The most rules read from one source: about a million rules, far past any real table.
pub const MAX_INPUT: u64 = 256 << 20;

fn zero_key(p: &Parsed) -> bool {
    p.svc.fwmark == 0 && p.svc.addr.is_unspecified() && p.svc.port == 0
}

/// Parses a whole rules text into operations and, in a list beside them, their line numbers
/// (the form a restore hands to the kernel client); the first bad line is an error naming it.
pub fn parse_lines(input: impl std::io::BufRead) -> Result<(Vec<usize>, Vec<Op>), RuleError> {
    let (mut lines, mut ops) = (Vec::new(), Vec::new());
    for_each_in(input, |line, op| {
        lines.push(line);
        ops.push(op);
        Ok(())
    })?;
    Ok((lines, ops))
}

/// Hands each operation of a rules text, with its line number, to `f` as it is parsed; the
/// first bad line, or the first error `f` gives, stops it with an error naming the line.
pub fn for_each(text: &str, f: impl FnMut(usize, Op) -> Result<(), String>) -> Result<(), RuleError> {
    for_each_in(text.as_bytes(), f)
}

/// As `for_each`, reading the rules as it goes (a file of 20,000 rules is never held whole).
/// Rules are bytes: a comment may be in any encoding, a rule must be UTF-8 (ASCII, in fact).
/// A read that fails is an error, never the end of the rules.
pub fn for_each_in(
    mut input: impl std::io::BufRead,
    mut f: impl FnMut(usize, Op) -> Result<(), String>,
) -> Result<(), RuleError> {
    use std::io::{BufRead, Read};
    let mut bytes = Vec::new();
    let (mut number, mut total) = (0, 0u64);
    loop {
        bytes.clear();
        number += 1;
        let err = |line: &str, message: String| RuleError {
            line: number,
            text: line.trim_end_matches(['\n', '\r']).to_string(),
            message,
        };
        // one byte past the bound tells a line of exactly MAX_LINE from a longer one
        match (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut bytes)
        {
            Ok(0) => return Ok(()),
            Ok(n) => total += n as u64,
            Err(e) => return Err(err("", format!("cannot read the rules: {e}"))),
        }
        let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        if line.len() > MAX_LINE {
            return Err(err("", format!("longer than {} KiB", MAX_LINE >> 10)));
        }
        if total > MAX_INPUT {
            return Err(err(
                "",
                format!("the rules are longer than {} MiB", MAX_INPUT >> 20),
            ));
        }
        if let Some(o) = args::parse_saved(line).as_ref().and_then(op) {
            let text = || String::from_utf8_lossy(line).into_owned();
            f(number, o).map_err(|m| err(&text(), m))?;
            continue;
        }
        let blank = line.trim_ascii();
        if blank.is_empty() || blank.starts_with(b"#") {
            continue;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return Err(err(&String::from_utf8_lossy(line), "not valid UTF-8".into()));
        };
        let toks = tokens(text);
        if toks.is_empty() {
            continue;
        }
        let parsed = args::parse(&toks).map_err(|e| err(text, e.message))?;
        match op(&parsed) {
            Some(o) => f(number, o).map_err(|m| err(text, m))?,
            None => {
                return Err(err(
                    text,
                    format!("{:?} is not a command that restore can run", parsed.cmd).to_lowercase(),
                ));
            }
        }
    }
}

/// Rules text read as it goes, as the model takes operations.
pub struct Rules<R>(pub R);

impl<R: std::io::BufRead> crate::model::source::OpSource for Rules<R> {
    fn each_op(&mut self, each: &mut dyn FnMut(usize, Op) -> Result<(), String>) -> Result<(), RuleError> {
        for_each_in(&mut self.0, each)
    }
}

/// The ipvsadm command line that does what `op` does (numeric, with thresholds).
pub fn command_line(op: &Op) -> String {
    use super::listing::{addrport, server_options, service_name, service_options};
    let f = super::args::Format {
        numeric: true,
        rule: true,
        ..Default::default()
    };
    let name = |k: &ServiceKey| service_name(&Service::new(k.clone()), &f);
    let proto = |k: &ServiceKey| match k {
        ServiceKey::Addr { proto, .. } => *proto,
        ServiceKey::Fwmark { .. } => crate::ipvs::Protocol::Tcp,
    };
    let server = |k: &ServiceKey, a: &std::net::IpAddr, p: u16| addrport(a, p, proto(k), true);
    match op {
        Op::AddService(s) => format!("-A {}{}", name(&s.key), service_options(s)),
        Op::EditService(s) => format!("-E {}{}", name(&s.key), service_options(s)),
        Op::DelService(k) => format!("-D {}", name(k)),
        Op::AddDest(k, d) => format!(
            "-a {} -r {}{}",
            name(k),
            server(k, &d.addr, d.port),
            server_options(d, true)
        ),
        Op::EditDest(k, d) => format!(
            "-e {} -r {}{}",
            name(k),
            server(k, &d.addr, d.port),
            server_options(d, true)
        ),
        Op::DelDest(k, a, p) => format!("-d {} -r {}", name(k), server(k, a, *p)),
        Op::Zero(Some(k)) => format!("-Z {}", name(k)),
        Op::Zero(None) => "-Z".into(),
        Op::Flush => "-C".into(),
        Op::SetTimeouts(t) => format!("--set {} {} {}", t.tcp, t.tcpfin, t.udp),
        Op::StartDaemon(d) => {
            let mut s = format!(
                "--start-daemon {} --mcast-interface {} --syncid {}",
                d.state.name(),
                d.ifname,
                d.syncid
            );
            if d.maxlen != 0 {
                s += &format!(" --sync-maxlen {}", d.maxlen);
            }
            if let Some(g) = d.group {
                s += &format!(" --mcast-group {g}");
            }
            if d.port != 0 {
                s += &format!(" --mcast-port {}", d.port);
            }
            if d.ttl != 0 {
                s += &format!(" --mcast-ttl {}", d.ttl);
            }
            s
        }
        Op::StopDaemon(st) => format!("--stop-daemon {}", st.name()),
    }
}

/// What apply reads rules from: the text, or the file at a path (opened now, so a missing
/// file is named before anything else is done).
pub fn opener(
    arg: crate::director::RulesArg,
) -> Result<crate::director::Wanted<'static>, crate::director::Error> {
    use crate::director::{Error, RulesArg, Wanted};
    use crate::model::OpSource;
    match arg {
        RulesArg::Text(text) => Ok(text_opener(text.into_bytes())),
        RulesArg::Path(path) => {
            std::fs::File::open(&path)
                .map_err(|e| Error::File(format!("cannot read rules from {path}: {e}")))?;
            let p = path.clone();
            Ok(Wanted::Rules {
                origin: Some(path),
                open: Box::new(move || {
                    let file = std::fs::File::open(&p)?;
                    Ok(Box::new(Rules(std::io::BufReader::with_capacity(1 << 16, file)))
                        as Box<dyn OpSource>)
                }),
            })
        }
    }
}

/// Rules given as text, which is bytes (a Lua string may hold a Latin-1 comment).
pub fn text_opener(bytes: Vec<u8>) -> crate::director::Wanted<'static> {
    use crate::model::OpSource;
    let bytes: std::rc::Rc<[u8]> = bytes.into();
    crate::director::Wanted::Rules {
        origin: None,
        open: Box::new(move || Ok(Box::new(Rules(std::io::Cursor::new(bytes.clone()))) as Box<dyn OpSource>)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(usize, Op)>, RuleError> {
        let (lines, ops) = parse_lines(text.as_bytes())?;
        Ok(lines.into_iter().zip(ops).collect())
    }

    #[test]
    fn parses_save_output_and_hand_written_rules() {
        let text = "# my director\n\n-A -t 192.0.2.1:80 -s rr\nipvsadm -a -t 192.0.2.1:80 -r 192.0.2.2 -m -w 3 -x 10 -y 5\n\
                    --add-service --udp-service 192.0.2.1:53 --scheduler=sh --sched-flags sh-port\n\
                    -A -f 7 -6 -s wlc\n  -a -f 7 -6 -r 2001:db8::2 -g -w 0\n--set 900 120 300\n";
        let ops = parse(text).unwrap();
        assert_eq!(ops.len(), 6);
        assert_eq!(ops[0].0, 3);
        let Op::AddDest(k, d) = &ops[1].1 else {
            panic!("{ops:?}")
        };
        assert_eq!(k.to_string(), "TCP 192.0.2.1:80");
        assert_eq!(
            (d.port, d.weight, d.upper, d.lower, d.fwd),
            (80, 3, 10, 5, Forward::Masq)
        );
        let Op::AddService(s) = &ops[2].1 else { panic!() };
        assert_eq!(
            (s.scheduler.as_str(), s.flags),
            ("sh", crate::ipvs::consts::SVC_F_SCHED2)
        );
    }

    #[test]
    fn bad_lines_are_named() {
        let e = parse("-A -t 192.0.2.1:80\n-A -t 192.0.2.2:80 -s rr -x 5\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.message,
            "Illegal 'u-threshold' option with the 'add-service' command"
        );
        let e = parse("-L -n\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("-A -t 192.0.2.1:80 # trailing\n").unwrap_err();
        assert_eq!(e.message, "unexpected argument #");
    }

    #[test]
    fn rules_are_read_as_they_come() {
        // CRLF line ends, a last line without one, and a callback's error named by its line
        let text =
            "-A -t 192.0.2.1:80 -s rr\r\n\r\n-a -t 192.0.2.1:80 -r 192.0.2.2:80 -g\n-D -t 192.0.2.1:80";
        let mut seen = Vec::new();
        for_each_in(std::io::BufReader::with_capacity(8, text.as_bytes()), |n, op| {
            seen.push((n, command_line(&op)));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                (1, "-A -t 192.0.2.1:80 -s rr".to_string()),
                (3, "-a -t 192.0.2.1:80 -r 192.0.2.2:80 -g -w 1".to_string()),
                (4, "-D -t 192.0.2.1:80".to_string())
            ]
        );
        let e = for_each(text, |n, _| if n == 3 { Err("no".into()) } else { Ok(()) }).unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (3, "no"));
        assert_eq!(e.text, "-a -t 192.0.2.1:80 -r 192.0.2.2:80 -g");
    }

    #[test]
    fn a_line_that_is_not_utf8_is_named() {
        let text = b"-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.\xff -g -w 1\n";
        let e = for_each_in(&text[..], |_, _| Ok(())).unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "not valid UTF-8"));
        assert_eq!(
            e.to_string(),
            "line 2: not valid UTF-8 (in: -a -t 192.0.2.1:80 -r 192.0.2.\u{fffd} -g -w 1)"
        );
    }

    #[test]
    fn a_comment_in_any_encoding_is_a_comment() {
        let text = b"# caf\xe9\n  #\xff\xfe\n-A -t 192.0.2.1:80 -s rr\n";
        let (lines, ops) = parse_lines(&text[..]).unwrap();
        assert_eq!((lines, ops.len()), (vec![3], 1));
    }

    #[test]
    fn lines_and_inputs_are_bounded() {
        // an endless line ends at the bound, with its line named
        let e = parse_lines(std::io::BufReader::new(std::io::repeat(b'x'))).unwrap_err();
        assert_eq!(
            (e.line, e.to_string().as_str()),
            (1, "line 1: longer than 64 KiB")
        );
        // a line of exactly the bound is read; one byte more is refused
        let mut text = b"# ".to_vec();
        text.resize(MAX_LINE, b'x');
        text.extend_from_slice(b"\n-C\n");
        assert_eq!(parse_lines(&text[..]).unwrap().0, [2]);
        text.insert(5, b'x');
        assert_eq!(parse_lines(&text[..]).unwrap_err().line, 1);
        // endless comment lines end at the bound on the whole input
        struct Endless(Vec<u8>, usize);
        impl std::io::Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = std::io::Read::read(&mut &self.0[self.1..], buf)?;
                std::io::BufRead::consume(self, n);
                Ok(n)
            }
        }
        impl std::io::BufRead for Endless {
            fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
                Ok(&self.0[self.1..])
            }
            fn consume(&mut self, n: usize) {
                self.1 = (self.1 + n) % self.0.len();
            }
        }
        let mut line = vec![b'#'; 16 << 10];
        line.push(b'\n');
        let e = parse_lines(Endless(line, 0)).unwrap_err();
        assert_eq!(e.message, "the rules are longer than 256 MiB");
        assert_eq!(e.line, (256 << 20) / ((16 << 10) + 1) + 1);
        // a read that fails is an error, not the end of the rules
        struct Broken;
        impl std::io::Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::from_raw_os_error(nix::libc::EIO))
            }
        }
        let e = parse_lines(std::io::BufReader::new(Broken)).unwrap_err();
        assert!(e.message.starts_with("cannot read the rules: "), "{e}");
    }

    #[test]
    fn tokens_split_as_ipvsadm_does() {
        assert_eq!(
            tokens("ipvsadm  -A\t-t 192.0.2.1:80\r -s rr "),
            ["-A", "-t", "192.0.2.1:80", "-s", "rr"]
        );
        assert_eq!(tokens("é -w\u{a0}1"), ["é", "-w\u{a0}1"]);
        assert!(tokens(" \t\r").is_empty());
    }
}
