//! Errors of the kernel interface, worded for operators: they name the object and the cause.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The kernel has no IPVS and it could not be loaded.
    Unavailable(String),
    /// The caller lacks CAP_NET_ADMIN; the text says what was being done.
    Permission(String),
    /// The kernel refused a request; `message` names the object and the reason.
    Kernel { errno: i32, message: String },
    /// The socket failed or timed out.
    Io(String),
    /// The kernel's reply could not be decoded.
    Decode(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unavailable(why) => write!(
                f,
                "IPVS is not available in this kernel: {why} (load it with `modprobe ip_vs`, \
                 or use a kernel built with CONFIG_IP_VS)"
            ),
            Error::Permission(what) => {
                write!(
                    f,
                    "permission denied: {what} needs CAP_NET_ADMIN (run lvsh as root)"
                )
            }
            Error::Kernel { message, .. } => f.write_str(message),
            Error::Io(e) => write!(f, "netlink: {e}"),
            Error::Decode(e) => write!(f, "cannot decode the kernel's reply: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Permission(_) => Some(nix::libc::EPERM),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<netlink_packet_core::DecodeError> for Error {
    fn from(e: netlink_packet_core::DecodeError) -> Self {
        Error::Decode(e.to_string())
    }
}

/// The C library's text for an errno, e.g. "No such process".
pub fn strerror(errno: i32) -> String {
    nix::errno::Errno::from_raw(errno).desc().to_string()
}
