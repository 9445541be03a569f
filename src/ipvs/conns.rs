//! The kernel's connection table, /proc/net/ip_vs_conn, read as a stream: one entry at a time,
//! so a table of millions of entries is never held twice.

use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One connection entry (or persistence template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    pub proto: String,
    pub client: (IpAddr, u16),
    pub vip: (IpAddr, u16),
    pub real: (IpAddr, u16),
    pub state: String,
    /// Seconds until the entry expires.
    pub expires: u32,
    pub pe_name: Option<String>,
    pub pe_data: Option<String>,
}

fn addr(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v)))
    }
}

fn port(s: &str) -> Option<u16> {
    u16::from_str_radix(s, 16).ok()
}

/// Parses one line of /proc/net/ip_vs_conn (not the header).
pub fn parse_line(line: &str) -> Option<Conn> {
    let mut f = line.split_ascii_whitespace();
    let proto = f.next()?.to_string();
    let client = (addr(f.next()?)?, port(f.next()?)?);
    let vip = (addr(f.next()?)?, port(f.next()?)?);
    let real = (addr(f.next()?)?, port(f.next()?)?);
    let state = f.next()?.to_string();
    let expires = f.next()?.parse().ok()?;
    let pe_name = f.next().map(str::to_string);
    let pe_data = f.next().map(str::to_string);
    Some(Conn {
        proto,
        client,
        vip,
        real,
        state,
        expires,
        pe_name,
        pe_data,
    })
}

/// Where this thread's network namespace shows its connections.
pub const PROC_CONN: &str = "/proc/thread-self/net/ip_vs_conn";

/// Calls `each` for every entry; stops early if it returns false.
pub fn for_each(mut reader: impl BufRead, mut each: impl FnMut(Conn) -> bool) -> std::io::Result<()> {
    let mut line = String::with_capacity(256);
    let mut first = true;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if std::mem::take(&mut first) {
            continue; // the header
        }
        if let Some(c) = parse_line(&line)
            && !each(c)
        {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_rows() {
        let text = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n\
TCP C0A80064 D431 0A000001 0050 C0A80102 0050 ESTABLISHED     897\n\
TCP 2001:0db8:0000:0000:0000:0000:0000:0001 C350 2001:0db8:0000:0000:0000:0000:0000:0080 0050 2001:0db8:0000:0000:0000:0000:0000:a0a0 0050 TIME_WAIT       119\n\
UDP C0000201 13C4 C0000205 13C4 C0000206 13C4 UDP             170 sip 5f8a@example\n";
        let mut all = Vec::new();
        for_each(text.as_bytes(), |c| {
            all.push(c);
            true
        })
        .unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].client, ("192.168.0.100".parse().unwrap(), 54321));
        assert_eq!(all[0].real, ("192.168.1.2".parse().unwrap(), 80));
        assert_eq!((all[0].state.as_str(), all[0].expires), ("ESTABLISHED", 897));
        assert_eq!(all[1].vip.0, "2001:db8::80".parse::<IpAddr>().unwrap());
        assert_eq!(all[2].pe_name.as_deref(), Some("sip"));
        assert_eq!(all[2].pe_data.as_deref(), Some("5f8a@example"));
    }
}
