//! node_exporter's ipvs collector, series for series (`node_compat`): the same names, labels
//! and values, so its dashboards work unchanged. It reads /proc/net/ip_vs and
//! /proc/net/ip_vs_stats; lvsh reads the same kernel through its dump, with one difference
//! kept on purpose: node_exporter's parser knows only TCP, UDP and FWM lines, so the real
//! servers of an SCTP service are filed under the service listed before it; here they carry
//! their own service's proto="SCTP" and address.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::procfs::Totals;
use crate::ipvs::{Protocol, ServiceKey, ServiceTable};

#[derive(Debug)]
pub struct Node {
    pub table: std::sync::Arc<ServiceTable>,
    pub totals: Option<Totals>,
}

type Labels = [(&'static str, String); 6];

/// A backend gauge's value, read off a real server.
type Reading = fn(&crate::ipvs::Dest) -> u64;

/// node_exporter's backend labels for one real server of `key`.
fn labels(key: &ServiceKey, addr: &std::net::IpAddr, port: u16) -> Labels {
    let (local_address, local_port, proto, mark) = match key {
        ServiceKey::Addr { proto, addr, port } => {
            let name = match proto {
                Protocol::Tcp => "TCP".to_string(),
                Protocol::Udp => "UDP".to_string(),
                Protocol::Sctp => "SCTP".to_string(),
                other => other.name().to_uppercase(),
            };
            (addr.to_string(), port.to_string(), name, String::new())
        }
        // the kernel prints a mark as %08X, and node_exporter keeps that text
        ServiceKey::Fwmark { mark, .. } => (String::new(), "0".into(), "FWM".into(), format!("{mark:08X}")),
    };
    [
        ("local_address", local_address),
        ("local_port", local_port),
        ("remote_address", addr.to_string()),
        ("remote_port", port.to_string()),
        ("proto", proto),
        ("local_mark", mark),
    ]
}

impl Collector for Node {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(t) = &self.totals {
            for (name, help, v) in [
                (
                    "node_ipvs_connections",
                    "The total number of connections made.",
                    t.conns,
                ),
                (
                    "node_ipvs_incoming_packets",
                    "The total number of incoming packets.",
                    t.inpkts,
                ),
                (
                    "node_ipvs_outgoing_packets",
                    "The total number of outgoing packets.",
                    t.outpkts,
                ),
                (
                    "node_ipvs_incoming_bytes",
                    "The total amount of incoming data.",
                    t.inbytes,
                ),
                (
                    "node_ipvs_outgoing_bytes",
                    "The total amount of outgoing data.",
                    t.outbytes,
                ),
            ] {
                let m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
                ConstCounter::new(v).encode(m)?;
            }
        }
        let gauges: [(&str, &str, Reading); 3] = [
            (
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
                |d| d.active.into(),
            ),
            (
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
                |d| d.inactive.into(),
            ),
            (
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
                |d| d.weight.into(),
            ),
        ];
        if self.table.iter().all(|(_, d)| d.is_empty()) {
            return Ok(());
        }
        for (name, help, value) in gauges {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (svc, dests) in self.table.iter() {
                for d in dests {
                    let l = labels(&svc.key, &d.addr, d.port);
                    ConstGauge::new(value(d)).encode(m.encode_family(&l)?)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_node_exporters() {
        let key = ServiceKey::Fwmark {
            af: crate::ipvs::Family::Inet,
            mark: 26,
        };
        let l = labels(&key, &"198.51.100.1".parse().unwrap(), 80);
        assert_eq!(l[0].1, "");
        assert_eq!(l[1].1, "0");
        assert_eq!(l[4].1, "FWM");
        assert_eq!(l[5].1, "0000001A");
        let key = ServiceKey::Addr {
            proto: Protocol::Sctp,
            addr: "2001:db8::1".parse().unwrap(),
            port: 80,
        };
        let l = labels(&key, &"2001:db8::2".parse().unwrap(), 8080);
        assert_eq!((l[0].1.as_str(), l[4].1.as_str()), ("2001:db8::1", "SCTP"));
        assert_eq!((l[2].1.as_str(), l[3].1.as_str()), ("2001:db8::2", "8080"));
    }
}
