//! `/proc/net/ip_vs_stats`: the kernel's totals over every service of the namespace, in
//! hexadecimal (two rows of five numbers: counters, then rates).

use prometheus_client::metrics::MetricType;

use crate::ipvs::Stats;

/// The kernel's figures over the whole namespace: the same fields a service's have.
pub type Totals = Stats;

/// The totals of the calling thread's network namespace (lvsh moves threads between them,
/// and /proc/net is the process's).
pub fn read() -> Option<Totals> {
    parse(&std::fs::read_to_string("/proc/thread-self/net/ip_vs_stats").ok()?)
}

/// The rows of five hexadecimal numbers; anything else is a format lvsh does not know.
pub fn parse(text: &str) -> Option<Totals> {
    let rows: Vec<Vec<u64>> = text
        .lines()
        .filter_map(|l| {
            let f: Option<Vec<u64>> = l
                .split_whitespace()
                .map(|w| u64::from_str_radix(w, 16).ok())
                .collect();
            f.filter(|f| f.len() == 5)
        })
        .collect();
    let [c, r] = rows.as_slice() else {
        return None;
    };
    Some(Totals {
        conns: c[0],
        inpkts: c[1],
        outpkts: c[2],
        inbytes: c[3],
        outbytes: c[4],
        cps: r[0],
        inpps: r[1],
        outpps: r[2],
        inbps: r[3],
        outbps: r[4],
    })
}

/// The lvsh_total_* families of the totals.
pub fn families(t: &Totals) -> [(&'static str, &'static str, MetricType, u64); 10] {
    use MetricType::{Counter, Gauge};
    [
        (
            "total_connections",
            "Connections, all services (/proc/net/ip_vs_stats)",
            Counter,
            t.conns,
        ),
        ("total_in_packets", "Packets in, all services", Counter, t.inpkts),
        (
            "total_out_packets",
            "Packets out, all services",
            Counter,
            t.outpkts,
        ),
        ("total_in_bytes", "Bytes in, all services", Counter, t.inbytes),
        ("total_out_bytes", "Bytes out, all services", Counter, t.outbytes),
        ("total_cps", "Connections per second, all services", Gauge, t.cps),
        (
            "total_in_pps",
            "Packets in per second, all services",
            Gauge,
            t.inpps,
        ),
        (
            "total_out_pps",
            "Packets out per second, all services",
            Gauge,
            t.outpps,
        ),
        (
            "total_in_bps",
            "Bytes in per second, all services",
            Gauge,
            t.inbps,
        ),
        (
            "total_out_bps",
            "Bytes out per second, all services",
            Gauge,
            t.outbps,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_two_rows_are_read_as_hex() {
        let text = "   Total Incoming Outgoing         Incoming         Outgoing\n   Conns  Packets  Packets            Bytes            Bytes\n       A       1F        0              3E8                0\n\n Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n       1        2        0               FF                0\n";
        let t = parse(text).unwrap();
        assert_eq!((t.conns, t.inpkts, t.inbytes), (10, 31, 1000));
        assert_eq!((t.cps, t.inpps, t.inbps), (1, 2, 255));
        assert_eq!(parse("nonsense\n1 2 3\n"), None);
    }
}
