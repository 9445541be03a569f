//! The IPVS kernel client: one generic netlink socket, reused for every request, with bulk
//! writes (many requests per sendmsg) and complete dumps.

use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkBuffer, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};
use nix::libc;

use super::codec::*;
use super::consts::*;
use super::error::{Error, strerror};
use super::message::{IpvsMessage, IpvsNla};
use super::ops::Op;
use super::types::*;

type Msg = NetlinkMessage<GenlMessage<IpvsMessage>>;

/// Requests per sendmsg are capped by bytes so that their acks fit the receive buffer.
const BATCH_BYTES: usize = 32 * 1024;
/// The kernel fills dump chunks up to about 32 KiB.
const RX_BYTES: usize = 256 * 1024;
const RCVBUF: usize = 4 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(30);
const DUMP_RETRIES: usize = 5;
/// A service message with its stats nests is about 380 bytes; the kernel fills a dump chunk
/// up to at least 4 KiB (NLMSG_GOODSIZE).
const SERVICE_MSG_BYTES: usize = 380;
const DUMP_CHUNK_BYTES: usize = 4096;

pub struct Client {
    sock: Socket,
    family: u16,
    seq: u32,
    rx: Vec<u8>,
}

impl Client {
    /// Opens the socket and resolves the IPVS family, loading ip_vs once if it is missing.
    pub fn new() -> Result<Client, Error> {
        let sock = open()?;
        let family = match resolve_family(&sock)? {
            Some(id) => id,
            None => {
                let why = modprobe_ip_vs();
                resolve_family(&sock)?.ok_or(Error::Unavailable(why))?
            }
        };
        Ok(Client {
            sock,
            family,
            seq: 0,
            // zeroed, not written: the pages are touched only where replies land
            rx: vec![0; RX_BYTES],
        })
    }

    fn encode(&mut self, msg: IpvsMessage, flags: u16, out: &mut Vec<u8>) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        let mut genl = GenlMessage::from_payload(msg);
        genl.set_resolved_family_id(self.family);
        let mut nl = NetlinkMessage::from(genl);
        nl.header.flags = flags;
        nl.header.sequence_number = self.seq;
        nl.finalize();
        let start = out.len();
        out.resize(start + nl.buffer_len(), 0);
        nl.serialize(&mut out[start..]);
        self.seq
    }

    /// Reads what the kernel has queued, up to two datagrams, and splits it into messages.
    /// One system call takes both: a dump's last chunk and its NLMSG_DONE, which the kernel
    /// queues while the first is read, or a reply and its ack. Reading a table dumps the real
    /// servers of each service apart, so this is one call fewer per service.
    fn receive(&mut self) -> Result<Vec<Msg>, Error> {
        use nix::sys::socket::{MsgFlags, MultiHeaders, recvmmsg};
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;
        let fd = self.sock.as_raw_fd();
        let (a, b) = self.rx.split_at_mut(RX_BYTES / 2);
        let mut slices = [[IoSliceMut::new(a)], [IoSliceMut::new(b)]];
        // made per call: the headers hold raw pointers, which would make the client !Send
        let mut headers = MultiHeaders::<()>::preallocate(2, None);
        let got: Vec<(usize, MsgFlags)> = recvmmsg(
            fd,
            &mut headers,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )
        .map_err(|e| match e {
            nix::errno::Errno::EAGAIN => Error::Io("no reply from the kernel within 30 seconds".into()),
            e => Error::from(std::io::Error::from(e)),
        })?
        .map(|r| (r.bytes, r.flags))
        .collect();
        let mut out = Vec::new();
        for (i, (len, flags)) in got.into_iter().enumerate() {
            if flags.contains(MsgFlags::MSG_TRUNC) {
                return Err(Error::Io(format!("a reply of the kernel was cut at {len} bytes")));
            }
            let start = i * (RX_BYTES / 2);
            out.extend(split(&self.rx[start..start + len])?);
        }
        Ok(out)
    }

    /// Runs one write operation.
    pub fn execute(&mut self, op: &Op) -> Result<(), Error> {
        self.execute_batch(std::slice::from_ref(op))
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Sends many operations with few system calls and returns one result per operation sent.
    /// Sending stops after the batch in which the first operation failed, so the results may
    /// be fewer than the operations; every operation with an `Ok` result was carried out.
    ///
    /// Only the last request of a batch asks for an ack: the kernel answers a failed request
    /// whether asked or not, and handles a batch in order, so the last ack tells that every
    /// request before it without an error succeeded. An ack per request would be one
    /// datagram, and one receive, per rule.
    pub fn execute_batch(&mut self, ops: &[Op]) -> Vec<Result<(), Error>> {
        let mut results = Vec::with_capacity(ops.len());
        let mut buf = Vec::with_capacity(BATCH_BYTES + 1024);
        let mut start = 0;
        while start < ops.len() {
            buf.clear();
            let first_seq = self.seq.wrapping_add(1);
            let mut end = start;
            let mut last_at = 0;
            while end < ops.len() && (end == start || buf.len() < BATCH_BYTES) {
                last_at = buf.len();
                self.encode(ops[end].message(), NLM_F_REQUEST, &mut buf);
                end += 1;
            }
            // the flags of the header (length u32, type u16, flags u16), in host order
            let flags = &mut buf[last_at + 6..last_at + 8];
            flags.copy_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
            let chunk = &ops[start..end];
            if let Err(e) = self.sock.send(&buf, 0) {
                let e = Error::from(e);
                results.extend(chunk.iter().map(|_| Err(e.clone())));
                return results;
            }
            let mut failed: Vec<(usize, Error)> = Vec::new();
            let last = chunk.len() - 1;
            let mut done = false;
            while !done {
                let msgs = match self.receive() {
                    Ok(m) => m,
                    Err(e) => {
                        // nothing more is known: what has no error of its own is unknown
                        let mut out: Vec<Result<(), Error>> = chunk.iter().map(|_| Err(e.clone())).collect();
                        for (i, err) in failed {
                            out[i] = Err(err);
                        }
                        results.extend(out);
                        return results;
                    }
                };
                for m in msgs {
                    let idx = m.header.sequence_number.wrapping_sub(first_seq) as usize;
                    if idx > last {
                        continue;
                    }
                    if let NetlinkPayload::Error(err) = m.payload {
                        if let Some(code) = err.code {
                            failed.push((idx, chunk[idx].explain(-code.get())));
                        }
                        done |= idx == last;
                    }
                }
            }
            let any_failed = !failed.is_empty();
            let base = results.len();
            results.extend(chunk.iter().map(|_| Ok(())));
            for (i, err) in failed {
                results[base + i] = Err(err);
            }
            if any_failed {
                break;
            }
            start = end;
        }
        results
    }

    /// A dump: every reply message until NLMSG_DONE, each handed to `each` as it arrives (a
    /// dump of 20,000 real servers is never held as decoded messages all at once). IPVS
    /// itself never flags a dump as interrupted, but should a kernel do so the dump is taken
    /// again from an empty list.
    fn dump<T>(
        &mut self,
        msg: IpvsMessage,
        what: impl Fn() -> String,
        mut each: impl FnMut(&mut Vec<T>, IpvsMessage) -> Result<(), Error>,
    ) -> Result<Vec<T>, Error> {
        let mut buf = Vec::new();
        'again: for _ in 0..DUMP_RETRIES {
            buf.clear();
            let seq = self.encode(msg.clone(), NLM_F_REQUEST | NLM_F_DUMP, &mut buf);
            self.sock.send(&buf, 0)?;
            let mut out = Vec::new();
            let mut interrupted = false;
            loop {
                for m in self.receive()? {
                    if m.header.sequence_number != seq {
                        continue;
                    }
                    interrupted |= m.header.flags & NLM_F_DUMP_INTR != 0;
                    match m.payload {
                        NetlinkPayload::InnerMessage(g) => each(&mut out, g.payload)?,
                        NetlinkPayload::Done(_) if interrupted => continue 'again,
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::Error(e) => match e.code {
                            Some(code) => return Err(read_error(-code.get(), &what())),
                            None => return Ok(out),
                        },
                        _ => {}
                    }
                }
            }
        }
        Err(Error::Io(format!(
            "{}: the dump was interrupted {DUMP_RETRIES} times",
            what()
        )))
    }

    /// A dump of one kind of nest: `decode` picks and decodes each as it arrives.
    fn dump_each<T>(
        &mut self,
        msg: IpvsMessage,
        what: impl Fn() -> String,
        mut decode: impl FnMut(IpvsNla) -> Option<Result<T, Error>>,
    ) -> Result<Vec<T>, Error> {
        self.dump(msg, what, |out, m| {
            for n in m.nlas {
                if let Some(v) = decode(n) {
                    out.push(v?);
                }
            }
            Ok(())
        })
    }

    /// A request answered by one reply message and an ack.
    fn request(&mut self, msg: IpvsMessage, what: &str) -> Result<Option<IpvsMessage>, Error> {
        let mut buf = Vec::new();
        let seq = self.encode(msg, NLM_F_REQUEST | NLM_F_ACK, &mut buf);
        self.sock.send(&buf, 0)?;
        let mut reply = None;
        loop {
            for m in self.receive()? {
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::InnerMessage(g) => reply = Some(g.payload),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(reply),
                            Some(code) => Err(read_error(-code.get(), what)),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(reply),
                    _ => {}
                }
            }
        }
    }

    pub fn info(&mut self) -> Result<Info, Error> {
        let reply = self.request(IpvsMessage::new(CMD_GET_INFO, vec![]), "read IPVS info")?;
        let mut info = Info {
            version: 0,
            conn_tab_size: 0,
        };
        for n in reply.map(|m| m.nlas).unwrap_or_default() {
            match n {
                IpvsNla::InfoVersion(v) => info.version = v,
                IpvsNla::InfoConnTabSize(v) => info.conn_tab_size = v,
                _ => {}
            }
        }
        Ok(info)
    }

    pub fn timeouts(&mut self) -> Result<Timeouts, Error> {
        let reply = self.request(IpvsMessage::new(CMD_GET_CONFIG, vec![]), "read timeouts")?;
        let mut t = Timeouts::default();
        for n in reply.map(|m| m.nlas).unwrap_or_default() {
            match n {
                IpvsNla::TimeoutTcp(v) => t.tcp = v,
                IpvsNla::TimeoutTcpFin(v) => t.tcpfin = v,
                IpvsNla::TimeoutUdp(v) => t.udp = v,
                _ => {}
            }
        }
        Ok(t)
    }

    /// Every service, without its real servers. The kernel resumes a dump by position in a
    /// service table shared by all network namespaces, so changes anywhere between two chunks
    /// can skip or repeat entries, and it never says so: the dump is taken until two agree.
    pub fn service_list(&mut self) -> Result<Vec<Service>, Error> {
        let mut last = self.service_dump()?;
        if last.len() * SERVICE_MSG_BYTES < DUMP_CHUNK_BYTES {
            return Ok(last); // one chunk: nothing can change inside it
        }
        for _ in 0..DUMP_RETRIES {
            let now = self.service_dump()?;
            let keys = |l: &[Service]| {
                l.iter()
                    .map(|s| s.key.clone())
                    .collect::<std::collections::HashSet<_>>()
            };
            if keys(&now) == keys(&last) {
                return Ok(now);
            }
            last = now;
        }
        Ok(last)
    }

    /// One dump, with the repeats a shifting dump can produce removed.
    pub fn service_dump(&mut self) -> Result<Vec<Service>, Error> {
        let mut out = self.dump_each(
            IpvsMessage::new(CMD_GET_SERVICE, vec![]),
            || "list services".into(),
            |n| match n {
                IpvsNla::Service(s) => Some(service_from_nlas(&s).map_err(Error::from)),
                _ => None,
            },
        )?;
        let mut seen = std::collections::HashSet::with_capacity(out.len());
        out.retain(|s| seen.insert(s.key.clone()));
        Ok(out)
    }

    /// One service, or None if it does not exist.
    pub fn service(&mut self, key: &ServiceKey) -> Result<Option<Service>, Error> {
        let msg = IpvsMessage::new(CMD_GET_SERVICE, vec![IpvsNla::Service(key_nlas(key))]);
        match self.request(msg, &format!("read service {key}")) {
            Ok(reply) => reply
                .into_iter()
                .flat_map(|m| m.nlas)
                .find_map(|n| match n {
                    IpvsNla::Service(s) => Some(service_from_nlas(&s).map_err(Error::from)),
                    _ => None,
                })
                .transpose(),
            Err(Error::Kernel {
                errno: libc::ESRCH, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The real servers of a service (none if the service does not exist).
    pub fn dests(&mut self, key: &ServiceKey) -> Result<Vec<Dest>, Error> {
        let msg = IpvsMessage::new(CMD_GET_DEST, vec![IpvsNla::Service(key_nlas(key))]);
        let af = key.af();
        // the words are made only for an error: a table's read lists 2,000 services' servers
        let what = || format!("list the real servers of {key}");
        let mut dests = self.dump_each(msg, what, |n| match n {
            IpvsNla::Dest(d) => Some(dest_from_nlas(&d, af).map_err(Error::from)),
            _ => None,
        })?;
        // a whole table is read a service at a time: no spare room kept in 2,000 lists
        dests.shrink_to_fit();
        Ok(dests)
    }

    pub fn daemons(&mut self) -> Result<Vec<Daemon>, Error> {
        self.dump_each(
            IpvsMessage::new(CMD_GET_DAEMON, vec![]),
            || "list sync daemons".into(),
            |n| match n {
                IpvsNla::Daemon(d) => Some(daemon_from_nlas(&d).map_err(Error::from)),
                _ => None,
            },
        )
    }
}

fn read_error(errno: i32, what: &str) -> Error {
    if errno == libc::EPERM {
        Error::Permission(what.to_string())
    } else {
        Error::Kernel {
            errno,
            message: format!("cannot {what}: {}", strerror(errno)),
        }
    }
}

fn split(mut data: &[u8]) -> Result<Vec<Msg>, Error> {
    let mut out = Vec::new();
    while data.len() >= 16 {
        let len = NetlinkBuffer::new_checked(data)?.length() as usize;
        let msg = Msg::deserialize(&data[..len])?;
        out.push(msg);
        let step = (len + 3) & !3;
        data = data.get(step..).unwrap_or(&[]);
    }
    Ok(out)
}

fn open() -> Result<Socket, Error> {
    let mut sock = Socket::new(NETLINK_GENERIC)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    // an error reply need not carry the request back: its sequence number names it
    let _ = sock.set_cap_ack(true);
    // Large dumps and batches: ask for a big receive buffer (FORCE works as root).
    use nix::sys::socket::{setsockopt, sockopt};
    if setsockopt(&sock, sockopt::RcvBufForce, &RCVBUF).is_err() {
        let _ = setsockopt(&sock, sockopt::RcvBuf, &RCVBUF);
    }
    let tv = nix::sys::time::TimeVal::new(TIMEOUT.as_secs() as _, 0);
    nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::ReceiveTimeout, &tv)
        .map_err(|e| Error::Io(e.to_string()))?;
    Ok(sock)
}

/// The family id of "IPVS", or None when the kernel does not know it.
fn resolve_family(sock: &Socket) -> Result<Option<u16>, Error> {
    let mut genl = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(GENL_NAME.to_string())],
    });
    genl.finalize();
    let mut nl = NetlinkMessage::from(genl);
    nl.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    nl.header.sequence_number = 1;
    nl.finalize();
    let mut buf = vec![0u8; nl.buffer_len()];
    nl.serialize(&mut buf);
    sock.send(&buf, 0)?;
    let mut rx = Vec::with_capacity(RX_BYTES);
    loop {
        rx.clear();
        sock.recv(&mut rx, 0)?;
        let mut data = &rx[..];
        while data.len() >= 16 {
            let len = NetlinkBuffer::new_checked(data)?.length() as usize;
            let msg = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&data[..len])?;
            match msg.payload {
                NetlinkPayload::InnerMessage(g) => {
                    for a in g.payload.nlas {
                        if let GenlCtrlAttrs::FamilyId(id) = a {
                            drain_ack(sock);
                            return Ok(Some(id));
                        }
                    }
                }
                NetlinkPayload::Error(e) => {
                    return match e.code.map(|c| -c.get()) {
                        None => Ok(None),
                        Some(libc::ENOENT) => Ok(None),
                        Some(libc::EPERM) => Err(Error::Permission("talking to IPVS".into())),
                        Some(errno) => Err(Error::Io(format!(
                            "resolving the IPVS family: {}",
                            strerror(errno)
                        ))),
                    };
                }
                _ => {}
            }
            data = data.get((len + 3) & !3..).unwrap_or(&[]);
        }
    }
}

/// The ack that follows the family reply; it must not be read as a later request's answer.
fn drain_ack(sock: &Socket) {
    let mut rx = Vec::with_capacity(4096);
    let _ = sock.recv(&mut rx, 0);
}

thread_local! {
    static MODPROBE_STDERR: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What the last `modprobe ip_vs` run on this thread wrote to stderr (taken, so it is told
/// once): `lvsh ipvsadm` passes it through as ipvsadm's child process does.
pub fn take_modprobe_stderr() -> Vec<u8> {
    MODPROBE_STDERR.with(|m| m.take())
}

/// As ipvsadm does when the family is missing: try `modprobe ip_vs` once. Returns why IPVS
/// is unavailable, for the error should it still be missing.
fn modprobe_ip_vs() -> String {
    // the caller's PATH first (a sandbox may provide its own modprobe), then where it lives
    let path = std::env::var("PATH").unwrap_or_default() + ":/usr/local/sbin:/usr/sbin:/sbin";
    let out = std::process::Command::new("modprobe")
        .args(["--", "ip_vs"])
        .env("PATH", path)
        .output();
    if let Ok(o) = &out {
        MODPROBE_STDERR.with(|m| m.replace(o.stderr.clone()));
    }
    match out {
        Ok(o) if o.status.success() => "the module ip_vs loaded but the IPVS family is still missing".into(),
        Ok(o) => format!(
            "the generic netlink family IPVS is missing and `modprobe ip_vs` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("the generic netlink family IPVS is missing and modprobe could not run: {e}"),
    }
}
