//! systemd's notify protocol for a director run as a `Type=notify` service: READY=1 once it
//! is serving, STATUS= kept current, STOPPING=1 on the way out, and WATCHDOG=1 from the event
//! loop itself, so that a loop that stops turning (Lua that never yields, a blocked call)
//! stops the pings and systemd restarts the director.
//!
//! The sd-notify crate words the messages and reads WATCHDOG_USEC/WATCHDOG_PID; they are sent
//! here on a non-blocking socket, because its own `notify` blocks when the manager's queue
//! is full, and the loop must never wait for anyone. A message that does not fit is dropped.

use std::cell::RefCell;
use std::ffi::OsString;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use sd_notify::NotifyState;

pub struct Systemd {
    sock: UnixDatagram,
    to: SocketAddr,
    /// Half of WATCHDOG_USEC, when the manager watches the process.
    pub ping: Option<Duration>,
    status: RefCell<String>,
}

impl Systemd {
    /// The manager's socket from NOTIFY_SOCKET, if lvsh runs under one.
    pub fn from_env() -> Option<Systemd> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        match Self::open(&path) {
            Ok(s) => Some(s),
            Err(e) => {
                crate::log::error(&format!("NOTIFY_SOCKET {}: {e}", path.to_string_lossy()));
                None
            }
        }
    }

    fn open(path: &OsString) -> std::io::Result<Systemd> {
        let bytes = path.as_encoded_bytes();
        // "@name" is an abstract socket, as libsystemd reads it
        let to = match bytes.strip_prefix(b"@") {
            Some(name) => SocketAddr::from_abstract_name(name)?,
            None => SocketAddr::from_pathname(std::path::Path::new(path))?,
        };
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        Ok(Systemd {
            sock,
            to,
            // WATCHDOG_USEC=0 is no watchdog (and no interval of zero)
            ping: sd_notify::watchdog_enabled()
                .filter(|d| !d.is_zero())
                .map(|d| d / 2),
            status: RefCell::new(String::new()),
        })
    }

    fn send(&self, states: &[NotifyState]) {
        let mut msg = String::new();
        for s in states {
            msg.push_str(&s.to_string());
            msg.push('\n');
        }
        if let Err(e) = self.sock.send_to_addr(msg.as_bytes(), &self.to)
            && e.kind() != std::io::ErrorKind::WouldBlock
        {
            crate::log::warn(&format!("systemd notify: {e}"));
        }
    }

    pub fn ready(&self, status: &str) {
        *self.status.borrow_mut() = status.to_string();
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// Sends `status` if it says something new.
    pub fn status(&self, status: &str) {
        if *self.status.borrow() != status {
            *self.status.borrow_mut() = status.to_string();
            self.send(&[NotifyState::Status(status)]);
        }
    }

    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    pub fn stopping(&self, why: &str) {
        let status = format!("stopping ({why})");
        self.send(&[NotifyState::Stopping, NotifyState::Status(&status)]);
    }
}
