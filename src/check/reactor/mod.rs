//! Probes in flight on an epoll set of their own: the TCP connect check and the plain HTTP
//! check as monitors run them, thousands a second.
//!
//! A probe here is a socket and a few bytes of state, not a task: no task, waker, timer or
//! readiness record of the runtime's is made per probe, and closing the socket is all it
//! takes to leave the epoll set (the runtime's own registrations cost an epoll_ctl each way).
//! The set itself is one descriptor the event loop watches; whoever owns the reactor drains
//! it when it is readable and expires probes at their deadlines.
//!
//! Sockets are kept: a probe that ended leaves its socket disconnected (connect() to
//! AF_UNSPEC: the reset a SO_LINGER 0 close sends, and no TIME_WAIT) in the set, disarmed,
//! and the next probe connects it again. Per probe that leaves two connects (one to end),
//! epoll_ctl to arm it, and setsockopt for a half-open one: on the host's kernel a fifth
//! less CPU per check than making and closing a socket each time (scripts/bench.d/hostchecks.sh).

mod http;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrStorage, sockopt};
use tokio::io::unix::AsyncFd;

use super::{Check, Matcher, Outcome, secs};

/// A probe the reactor can run, made once per probe and reused at every run.
#[derive(Debug)]
pub enum Job {
    Tcp { addr: SocketAddr, half_open: bool },
    Http(Rc<http::Prepared>),
}

impl Job {
    /// The reactor's form of `check`, or None for a kind it leaves to the check's own code
    /// (HTTPS, UDP, DNS, programs).
    pub fn of(check: &Check) -> Option<(Job, Duration)> {
        match check {
            Check::Tcp(t) => Some((
                Job::Tcp {
                    addr: t.addr,
                    half_open: t.half_open,
                },
                t.timeout,
            )),
            Check::Http(h) if !h.tls => Some((Job::Http(Rc::new(http::Prepared::new(h))), h.timeout)),
            _ => None,
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Job::Tcp { addr, .. } => *addr,
            Job::Http(p) => p.addr,
        }
    }
}

/// Where a probe in flight is: `slot` in the table, `generation` telling a reused slot from
/// the probe that had it before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    index: u32,
    generation: u32,
}

impl Slot {
    fn token(self) -> u64 {
        u64::from(self.generation) << 32 | u64::from(self.index)
    }

    fn of(token: u64) -> Slot {
        Slot {
            index: token as u32,
            generation: (token >> 32) as u32,
        }
    }
}

struct Flight<T> {
    fd: OwnedFd,
    /// What the probe waits for (armed once: EPOLLONESHOT).
    interest: EpollFlags,
    generation: u32,
    started: Instant,
    timeout: Duration,
    state: State,
    payload: T,
}

enum State {
    Connecting(SocketAddr),
    Http(http::Exchange),
}

impl State {
    fn addr(&self) -> SocketAddr {
        match self {
            State::Connecting(a) => *a,
            State::Http(x) => x.addr(),
        }
    }
}

/// Every registration waits for one event: a socket that ended its probe is then disarmed,
/// and can be disconnected and kept in the set for the next probe without reporting.
const ONCE: EpollFlags = EpollFlags::EPOLLONESHOT;

/// Disconnected sockets kept per address family, at most: more than are ever in flight at
/// once on a director checking 50,000 servers a second.
const SPARES: usize = 1024;

/// The epoll set, as the event loop watches it.
struct Set(Epoll);

impl AsRawFd for Set {
    fn as_raw_fd(&self) -> RawFd {
        self.0.0.as_raw_fd()
    }
}

pub struct Reactor<T> {
    set: Rc<AsyncFd<Set>>,
    flights: Vec<Option<Flight<T>>>,
    free: Vec<u32>,
    generation: u32,
    /// Where epoll_wait puts its events and HTTP answers are read into, made once: zeroing
    /// them at every drain cost more instructions than the rest of a probe's bookkeeping.
    events: Vec<EpollEvent>,
    scratch: Vec<u8>,
    /// Sockets whose probes ended, disconnected, still in the set but disarmed, per family
    /// (IPv4, IPv6): the next probe connects one again rather than making a socket, which
    /// spares it socket(), SO_LINGER, an epoll_ctl add and the close's freeing of the file
    /// and its epoll entry, a fifth of the kernel's work for a probe.
    spares: [Vec<OwnedFd>; 2],
}

/// A probe that ended: what the owner gave it, when it started, and what it found.
pub type Done<T> = (T, Instant, Outcome);

impl<T> Reactor<T> {
    /// Must be called on the event loop (the set is registered with it).
    pub fn new() -> std::io::Result<Reactor<T>> {
        let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        // SAFETY: the AsyncFd owns the set, which stays open and the same descriptor until
        // the AsyncFd is dropped.
        let set = unsafe { AsyncFd::register_with_interest(Set(ep), tokio::io::Interest::READABLE) }?;
        Ok(Reactor {
            set: Rc::new(set),
            flights: Vec::new(),
            free: Vec::new(),
            generation: 0,
            events: vec![EpollEvent::empty(); 256],
            scratch: vec![0; 4096],
            spares: [Vec::new(), Vec::new()],
        })
    }

    /// Waits until some probe has news; then [`Reactor::drain`] takes them.
    pub fn ready(&self) -> impl std::future::Future<Output = ()> + 'static {
        let set = self.set.clone();
        async move {
            if let Ok(mut g) = set.readable().await {
                // the owner drains the set until epoll_wait finds nothing; readiness is
                // asked of the kernel again at the next wait
                g.clear_ready();
            }
        }
    }

    pub fn in_flight(&self) -> usize {
        self.flights.len() - self.free.len()
    }

    /// Starts `job`; a probe that ends at once (no socket, a refused connect) is returned.
    pub fn start(
        &mut self,
        job: &Job,
        timeout: Duration,
        payload: T,
        started: Instant,
    ) -> Result<Slot, Done<T>> {
        let addr = job.addr();
        let half_open = matches!(job, Job::Tcp { half_open: true, .. });
        let failed = |e: Errno| match job {
            Job::Tcp { .. } => connect_failed(addr, e, started),
            Job::Http(p) => p.failed(&e.desc().to_lowercase(), started),
        };
        let slot = self.slot();
        let ev = EpollEvent::new(EpollFlags::EPOLLOUT | ONCE, slot.token());
        let fd = match self.connect(addr, half_open, ev) {
            Ok(fd) => fd,
            Err(e) => {
                self.free.push(slot.index);
                return Err((payload, started, failed(e)));
            }
        };
        let state = match job {
            Job::Tcp { .. } => State::Connecting(addr),
            Job::Http(p) => State::Http(http::Exchange::new(p.clone())),
        };
        self.flights[slot.index as usize] = Some(Flight {
            fd,
            interest: EpollFlags::EPOLLOUT,
            generation: slot.generation,
            started,
            timeout,
            state,
            payload,
        });
        Ok(slot)
    }

    /// A socket connecting to `addr`, in the set and armed with `ev`: a spare if there is
    /// one, else a new one.
    fn connect(&mut self, addr: SocketAddr, half_open: bool, ev: EpollEvent) -> Result<OwnedFd, Errno> {
        let set = &self.set.get_ref().0;
        if let Some(fd) = self.spares[usize::from(addr.is_ipv6())].pop() {
            // a spare that fails here is closed, and leaves the set with it
            reconnect(&fd, addr, half_open)?;
            set.modify(fd.as_fd(), &mut { ev })?;
            return Ok(fd);
        }
        let fd = open(addr, half_open)?;
        set.add(fd.as_fd(), ev)?;
        Ok(fd)
    }

    /// Keeps the socket of a probe that ended (its registration disarmed by the event that
    /// ended it) for the next: disconnected, with the reset its SO_LINGER 0 close would send.
    fn recycle(&mut self, fd: OwnedFd, addr: SocketAddr) {
        let spares = &mut self.spares[usize::from(addr.is_ipv6())];
        if spares.len() < SPARES && disconnect(&fd).is_ok() {
            spares.push(fd);
        }
    }

    fn slot(&mut self) -> Slot {
        self.generation = self.generation.wrapping_add(1);
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.flights.push(None);
                (self.flights.len() - 1) as u32
            }
        };
        Slot {
            index,
            generation: self.generation,
        }
    }

    fn take(&mut self, slot: Slot) -> Option<Flight<T>> {
        let f = self.flights.get_mut(slot.index as usize)?;
        if f.as_ref().is_some_and(|f| f.generation == slot.generation) {
            self.free.push(slot.index);
            f.take()
        } else {
            None
        }
    }

    /// The probe at `slot` ran out of time, if it is still in flight. Its socket is closed,
    /// not kept: it is still armed.
    pub fn expire(&mut self, slot: Slot) -> Option<Done<T>> {
        let f = self.take(slot)?;
        let detail = format!("timed out after {}", secs(f.timeout));
        Some((f.payload, f.started, Outcome::down(detail, f.started)))
    }

    /// Takes what the kernel has for the probes in flight, and hands each that ended to
    /// `done`. Call until it returns false (the set had fewer events than it could take).
    pub fn drain(&mut self, matcher: &dyn Matcher, done: &mut impl FnMut(Done<T>)) -> bool {
        let mut events = std::mem::take(&mut self.events);
        let n = match self.set.get_ref().0.wait(&mut events, EpollTimeout::ZERO) {
            Ok(n) => n,
            Err(e) => {
                self.events = events;
                // interrupted: try again
                return e == Errno::EINTR;
            }
        };
        for ev in &events[..n] {
            let slot = Slot::of(ev.data());
            if let Some(d) = self.event(slot, ev.events(), matcher) {
                done(d);
            }
        }
        let more = n == events.len();
        self.events = events;
        more
    }

    fn event(&mut self, slot: Slot, got: EpollFlags, matcher: &dyn Matcher) -> Option<Done<T>> {
        let f = self.flights.get_mut(slot.index as usize)?.as_mut()?;
        if f.generation != slot.generation {
            return None;
        }
        let broken = got.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP);
        let outcome = match &mut f.state {
            State::Connecting(addr) => {
                if broken || !got.contains(EpollFlags::EPOLLOUT) {
                    connect_failed(*addr, socket_error(&f.fd), f.started)
                } else {
                    Outcome::up("connected", f.started)
                }
            }
            State::Http(x) => {
                let step = if broken && !got.contains(EpollFlags::EPOLLIN) {
                    http::Step::Done(x.failed(socket_error(&f.fd), f.started))
                } else {
                    let writable = got.contains(EpollFlags::EPOLLOUT);
                    x.step(&f.fd, writable, &mut self.scratch, matcher, f.started)
                };
                let interest = match step {
                    http::Step::Done(o) => Err(o),
                    http::Step::Read => Ok(EpollFlags::EPOLLIN),
                    http::Step::Wait => Ok(f.interest),
                };
                match interest {
                    Err(o) => o,
                    // armed again for the next event
                    Ok(interest) => {
                        let ev = EpollEvent::new(interest | ONCE, slot.token());
                        match self.set.get_ref().0.modify(f.fd.as_fd(), &mut { ev }) {
                            Ok(()) => {
                                f.interest = interest;
                                return None;
                            }
                            Err(e) => x.failed(e, f.started),
                        }
                    }
                }
            }
        };
        let f = self.take(slot)?;
        self.recycle(f.fd, f.state.addr());
        Some((f.payload, f.started, outcome))
    }
}

/// A connect check's failure, as both ways of running it word it.
pub fn connect_failed(addr: SocketAddr, e: Errno, started: Instant) -> Outcome {
    Outcome::down(format!("connect {addr}: {}", e.desc().to_lowercase()), started)
}

fn socket_error(fd: &OwnedFd) -> Errno {
    match socket::getsockopt(fd, sockopt::SocketError) {
        Ok(0) => Errno::ECONNRESET,
        Ok(n) => Errno::from_raw(n),
        Err(e) => e,
    }
}

/// A non-blocking socket connecting to `addr`, closed with a reset (SO_LINGER 0: a probe
/// leaves no TIME_WAIT behind on the director, which at thousands of probes a second would
/// fill its tables); with `half_open`, quick ACKs off (see `check::tcp`).
pub fn open(addr: SocketAddr, half_open: bool) -> Result<OwnedFd, Errno> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd: OwnedFd = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let reset = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    socket::setsockopt(&fd, sockopt::Linger, &reset)?;
    reconnect(&fd, addr, half_open)?;
    Ok(fd)
}

/// Connects `fd` (new, or disconnected) to `addr`. Quick ACKs are turned off again each
/// time: a disconnect sets the socket's ACK state back.
fn reconnect(fd: &OwnedFd, addr: SocketAddr, half_open: bool) -> Result<(), Errno> {
    if half_open {
        no_quick_ack(fd)?;
    }
    match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(addr)) {
        Ok(()) | Err(Errno::EINPROGRESS) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Ends the socket's connection as a close with SO_LINGER 0 would (a reset, if it was
/// connected; no TIME_WAIT) and leaves the socket itself open: connect() to AF_UNSPEC.
fn disconnect(fd: &OwnedFd) -> Result<(), Errno> {
    let unspec = nix::libc::sockaddr {
        sa_family: nix::libc::AF_UNSPEC as nix::libc::sa_family_t,
        sa_data: [0; 14],
    };
    // SAFETY: a valid descriptor, and a sockaddr of the size given.
    let r = unsafe {
        nix::libc::connect(
            fd.as_raw_fd(),
            &unspec,
            std::mem::size_of::<nix::libc::sockaddr>() as nix::libc::socklen_t,
        )
    };
    if r == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// TCP_QUICKACK off (nix has no option for it).
fn no_quick_ack(fd: &OwnedFd) -> Result<(), Errno> {
    let off: nix::libc::c_int = 0;
    // SAFETY: a valid descriptor and an int option of the size given.
    let r = unsafe {
        nix::libc::setsockopt(
            fd.as_raw_fd(),
            nix::libc::IPPROTO_TCP,
            nix::libc::TCP_QUICKACK,
            (&off as *const nix::libc::c_int).cast(),
            std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t,
        )
    };
    if r == 0 { Ok(()) } else { Err(Errno::last()) }
}
