//! Sysctls by dotted name (`net.ipv4.conf.all.arp_ignore`) or /proc/sys path. They read and
//! write the calling thread's network namespace for the net.* tree.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SysctlError {
    #[error("no such sysctl: {0}")]
    Missing(String),
    #[error("sysctl {name}: cannot set {value:?}: {why}")]
    Rejected {
        name: String,
        value: String,
        why: String,
    },
    #[error("sysctl {name}: {why}")]
    Io { name: String, why: String },
    #[error("bad sysctl name {0:?}")]
    BadName(String),
}

/// The /proc/sys path of a sysctl. A dotted name's dots are separators; an interface name that
/// has dots (eth0.100) is written with slashes instead, as sysctl(8) accepts.
pub fn path(name: &str) -> Result<PathBuf, SysctlError> {
    if name.contains("..") || name.is_empty() {
        return Err(SysctlError::BadName(name.into()));
    }
    if let Some(rest) = name.strip_prefix("/proc/sys/") {
        if rest.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(SysctlError::BadName(name.into()));
        }
        return Ok(PathBuf::from(name));
    }
    let mut p = PathBuf::from("/proc/sys");
    for part in name.split('.') {
        if part.is_empty() {
            return Err(SysctlError::BadName(name.into()));
        }
        // a part written with slashes is one name (an interface such as eth0/100 -> eth0.100)
        p.push(part.replace('/', "."));
    }
    Ok(p)
}

pub fn get(name: &str) -> Result<String, SysctlError> {
    let p = path(name)?;
    std::fs::read_to_string(&p)
        .map(|s| s.trim_end().to_string())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SysctlError::Missing(name.into()),
            _ => SysctlError::Io {
                name: name.into(),
                why: e.to_string(),
            },
        })
}

pub fn set(name: &str, value: &str) -> Result<(), SysctlError> {
    let p = path(name)?;
    if !p.exists() {
        return Err(SysctlError::Missing(name.into()));
    }
    std::fs::write(&p, value).map_err(|e| SysctlError::Rejected {
        name: name.into(),
        value: value.into(),
        why: match e.raw_os_error() {
            Some(nix::libc::EINVAL) => "the kernel refused the value (invalid argument)".into(),
            Some(nix::libc::EPERM) | Some(nix::libc::EACCES) => "permission denied (run as root)".into(),
            _ => e.to_string(),
        },
    })
}

/// Every `net.ipv4.vs.*` setting with its value.
pub fn vs() -> Result<Vec<(String, String)>, SysctlError> {
    let dir = "/proc/sys/net/ipv4/vs";
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|_| SysctlError::Missing("net.ipv4.vs (is ip_vs loaded?)".into()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(v) = std::fs::read_to_string(e.path()) {
            out.push((name, v.trim_end().to_string()));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(
            path("net.ipv4.conf.all.arp_ignore").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/all/arp_ignore")
        );
        assert_eq!(
            path("net.ipv4.conf.eth0/100.rp_filter").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
        assert_eq!(
            path("/proc/sys/net/ipv4/ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert!(path("net..x").is_err());
        assert!(path("/proc/sys/../etc/passwd").is_err());
        assert!(matches!(get("net.nosuch.thing"), Err(SysctlError::Missing(_))));
    }
}
