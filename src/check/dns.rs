//! DNS check: ask the server for `name`/`type` over UDP; up when it answers NOERROR with at
//! least one record of that type. hickory-proto builds and parses the messages.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use super::tcp::io_reason;
use super::{Outcome, within};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dns {
    pub addr: SocketAddr,
    pub name: String,
    pub rtype: String,
    pub timeout: Duration,
}

impl Dns {
    /// The query, or why `name`/`type` cannot make one (checked before anything runs).
    pub fn query(&self, id: u16) -> Result<Vec<u8>, String> {
        let name = Name::from_ascii(&self.name).map_err(|e| format!("name {:?}: {e}", self.name))?;
        let rtype = RecordType::from_str(&self.rtype.to_ascii_uppercase())
            .map_err(|_| format!("type {:?}: not a DNS record type", self.rtype))?;
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(name, rtype));
        msg.to_vec().map_err(|e| e.to_string())
    }

    pub async fn run(&self, started: Instant) -> Outcome {
        let id: u16 = rand_id();
        let query = match self.query(id) {
            Ok(q) => q,
            Err(e) => return Outcome::down(e, started),
        };
        within(self.timeout, started, async {
            match exchange(self.addr, &query).await {
                Ok(reply) => self.judge(id, &reply, started),
                Err(e) => Outcome::down(format!("dns {}: {}", self.addr, io_reason(&e)), started),
            }
        })
        .await
    }

    fn judge(&self, id: u16, reply: &[u8], started: Instant) -> Outcome {
        let msg = match Message::from_vec(reply) {
            Ok(m) => m,
            Err(e) => return Outcome::down(format!("bad DNS reply: {e}"), started),
        };
        if msg.metadata.id != id || msg.metadata.message_type != MessageType::Response {
            return Outcome::down("reply is not an answer to the query", started);
        }
        if msg.metadata.response_code != ResponseCode::NoError {
            return Outcome::down(format!("rcode {}", msg.metadata.response_code), started);
        }
        let want = self.rtype.to_ascii_uppercase();
        let found: Vec<String> = msg
            .answers
            .iter()
            .filter(|r| r.data.record_type().to_string() == want)
            .map(|r| r.data.to_string())
            .collect();
        if found.is_empty() {
            Outcome::down(format!("no {want} record for {}", self.name), started)
        } else {
            Outcome::up(format!("{want} {}", found.join(" ")), started)
        }
    }
}

fn rand_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ (nanos >> 16)) as u16
}

async fn exchange(addr: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let bind = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let sock = tokio::net::UdpSocket::bind(bind).await?;
    sock.connect(addr).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; 4096];
    let n = sock.recv(&mut buf).await?;
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(rtype: &str) -> Dns {
        Dns {
            addr: "192.0.2.53:53".parse().unwrap(),
            name: "www.example.org".into(),
            rtype: rtype.into(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn builds_a_query_and_judges_answers() {
        let q = dns("a").query(0x1234).unwrap();
        assert_eq!(&q[..2], &[0x12, 0x34]);
        let mut reply = Message::from_vec(&q).unwrap();
        reply.metadata.message_type = MessageType::Response;
        let rec = hickory_proto::rr::Record::from_rdata(
            Name::from_ascii("www.example.org").unwrap(),
            60,
            hickory_proto::rr::RData::A("192.0.2.80".parse().unwrap()),
        );
        reply.answers.push(rec);
        let o = dns("a").judge(0x1234, &reply.to_vec().unwrap(), Instant::now());
        assert!(o.ok, "{o:?}");
        assert_eq!(o.detail, "A 192.0.2.80");
        let o = dns("AAAA").judge(0x1234, &reply.to_vec().unwrap(), Instant::now());
        assert!(!o.ok);
        let o = dns("a").judge(0x9999, &reply.to_vec().unwrap(), Instant::now());
        assert!(!o.ok);
        assert!(dns("NOPE").query(1).unwrap_err().contains("NOPE"));
        assert!(!dns("a").judge(1, b"\x00", Instant::now()).ok);
    }
}
