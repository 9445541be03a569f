//! Host setup as scripts ask for it (`lvs.addr`, `lvs.link`): arguments read from plain
//! data, what was done said in words, what is there as records.

use std::net::IpAddr;

use super::rtnl::{HostError, Rtnl, check_label, parse_cidr};
use crate::fields::Record;
use crate::model::SpecError;
use crate::model::input::{Args, Value, bad};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Host(#[from] HostError),
}

struct AddrArgs {
    dev: String,
    addr: IpAddr,
    prefix: u8,
    label: Option<String>,
}

fn addr_args(v: &Value) -> Result<AddrArgs, SpecError> {
    // the fields an address in `lvs.addr.list()` has besides these, so it can be passed back
    let f = Args::of(
        "address",
        v,
        &["dev", "addr", "label"],
        &["prefix", "family", "scope"],
        "must be a table such as {dev=\"eth0\", addr=\"192.0.2.110/24\"}",
    )?;
    let dev = f
        .string("dev")?
        .ok_or_else(|| bad("dev", &Value::Nil, "is required (e.g. \"eth0\")"))?;
    let text = f
        .string("addr")?
        .ok_or_else(|| bad("addr", &Value::Nil, "is required (e.g. \"192.0.2.110/24\")"))?;
    let (addr, prefix) = parse_cidr(&text)
        .ok_or_else(|| bad("addr", f.raw("addr"), "not an address such as 192.0.2.110/24"))?;
    Ok(AddrArgs {
        dev,
        addr,
        prefix,
        label: f.string("label")?,
    })
}

/// What a role helper (`lvs.realserver`, `lvs.director`) is asked for, checked before it
/// changes anything and named in the caller's words: `{vip=, dev=, label=, arp_devs=}` (each
/// arp_devs entry "all", "default" or a device; without dev only vip is checked). The VIP's
/// address and prefix.
pub fn check_role(v: &Value) -> Result<(IpAddr, u8), SetupError> {
    let f = Args::of(
        "role",
        v,
        &["vip", "dev", "label", "arp_devs"],
        &[],
        "must be a table such as {vip=\"192.0.2.110\", dev=\"lo\"}",
    )?;
    let text = f
        .string("vip")?
        .ok_or_else(|| bad("vip", &Value::Nil, "is required (e.g. \"192.0.2.110\")"))?;
    let (addr, prefix) = parse_cidr(&text).ok_or_else(|| {
        let ip = text.split_once('/').map_or(text.as_str(), |(a, _)| a);
        let reason = match ip.parse::<IpAddr>() {
            Ok(a) => format!("the prefix must be 0 to {}", if a.is_ipv4() { 32 } else { 128 }),
            Err(_) => "not an address such as 192.0.2.110".into(),
        };
        bad("vip", f.raw("vip"), &reason)
    })?;
    // (taking a role down needs no device: one since deleted still has sysctls to put back)
    let Some(dev) = f.string("dev")? else {
        return Ok((addr, prefix));
    };
    let links = Rtnl::new()?.links()?;
    let exists = |name: &str| links.iter().any(|l| l.name == name);
    if !exists(&dev) {
        return Err(bad("dev", f.raw("dev"), "no such device").into());
    }
    if let Some(l) = f.string("label")?
        && check_label(&dev, &l).is_err()
    {
        let reason = format!("must be {dev} or start with '{dev}:' (at most 15 characters)");
        return Err(bad("label", f.raw("label"), &reason).into());
    }
    for d in f.strings("arp_devs")?.unwrap_or_default() {
        if d != "all" && d != "default" && !exists(&d) {
            let v = Value::Str(d);
            return Err(bad("arp_devs", &v, "no such device (nor \"all\" or \"default\")").into());
        }
    }
    Ok((addr, prefix))
}

/// Writes a role helper's memory of what it changed: in a directory only root reads, whole
/// or not at all.
pub fn write_state(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    super::files::write_atomic(path, text.as_bytes())
}

/// Adds an address (with its label, an alias such as eth0:1); whether it was added, and
/// what was done.
pub fn add_addr(v: &Value) -> Result<(bool, String), SetupError> {
    let a = addr_args(v)?;
    let added = Rtnl::new()?.add_addr(&a.dev, a.addr, a.prefix, a.label.as_deref())?;
    let what = if added {
        format!(
            "added {}/{} to {}",
            a.addr,
            a.prefix,
            a.label.as_deref().unwrap_or(&a.dev)
        )
    } else {
        format!("{}/{} is already on {}", a.addr, a.prefix, a.dev)
    };
    Ok((added, what))
}

pub fn del_addr(v: &Value) -> Result<(bool, String), SetupError> {
    let a = addr_args(v)?;
    let deleted = Rtnl::new()?.del_addr(&a.dev, a.addr, a.prefix)?;
    let what = if deleted {
        format!("deleted {}/{} from {}", a.addr, a.prefix, a.dev)
    } else {
        format!("{}/{} was not on {}", a.addr, a.prefix, a.dev)
    };
    Ok((deleted, what))
}

/// The addresses (of one device, or all).
pub fn addrs(dev: Option<&str>) -> Result<Vec<Record>, SetupError> {
    Ok(Rtnl::new()?
        .addrs(dev)?
        .into_iter()
        .map(|a| {
            let mut r: Record = vec![
                ("dev", a.dev.into()),
                ("addr", a.addr.to_string().into()),
                ("prefix", a.prefix.into()),
                ("family", if a.addr.is_ipv4() { "inet" } else { "inet6" }.into()),
            ];
            if let Some(l) = a.label {
                r.push(("label", l.into()));
            }
            r.push(("scope", a.scope.into()));
            r
        })
        .collect())
}

pub fn links() -> Result<Vec<Record>, SetupError> {
    Ok(Rtnl::new()?
        .links()?
        .into_iter()
        .map(|l| {
            let mut r: Record = vec![
                ("index", l.index.into()),
                ("name", l.name.into()),
                ("up", l.up.into()),
                ("mtu", l.mtu.into()),
            ];
            if let Some(k) = l.kind {
                r.push(("kind", k.into()));
            }
            r
        })
        .collect())
}

/// `{name=, local=, remote=}`: an ipip tunnel device (LVS-TUN's real servers decapsulate
/// with one).
pub fn add_ipip(v: &Value) -> Result<bool, SetupError> {
    let f = Args::of(
        "ipip device",
        v,
        &["name", "local", "remote"],
        &[],
        "must be a table such as {name=\"tunl1\"}",
    )?;
    let name = f
        .string("name")?
        .ok_or_else(|| bad("name", &Value::Nil, "is required (e.g. \"tunl1\")"))?;
    let ip = |field: &str| -> Result<Option<IpAddr>, SpecError> {
        match f.string(field)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| bad(field, &Value::Nil, &format!("'{s}' is not an address"))),
        }
    };
    Ok(Rtnl::new()?.add_ipip(&name, ip("local")?, ip("remote")?)?)
}
