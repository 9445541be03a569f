//! The file lvsh gives BIRD 2 to include: the `direct` protocol that turns the addresses on
//! the anycast device into routes, and the export filter the operator's BGP protocols use
//! (with the MEDs of graded announcements). The operator's own configuration only includes
//! it; lvsh never edits that. Written atomically, and only when it changes.

use std::net::IpAddr;
use std::path::Path;

pub struct Include<'a> {
    /// The name of the direct protocol, and the filter's (`<protocol>_export`).
    pub protocol: &'a str,
    pub dev: &'a str,
    /// A MED per VIP announced with one.
    pub meds: &'a [(IpAddr, u32)],
}

impl Include<'_> {
    pub fn filter(&self) -> String {
        format!("{}_export", self.protocol)
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        s += "# Written by lvsh (lvs.anycast), rewritten when its announcements change: do not edit.\n";
        s += &format!(
            "# The VIPs are addresses on {}, a device that lives only as long as lvsh holds it:\n",
            self.dev
        );
        s += "# when lvsh dies or its event loop stalls the device goes, and its routes with it.\n";
        s += &format!("protocol direct {} {{\n\tipv4;\n\tipv6;\n", self.protocol);
        s += &format!("\tinterface \"{}\";\n}}\n\n", self.dev);
        s += &format!(
            "# export filter {}; in a BGP channel announces them\n",
            self.filter()
        );
        s += &format!("filter {} {{\n", self.filter());
        s += &format!("\tif proto != \"{}\" then reject;\n", self.protocol);
        for (vip, med) in self.meds {
            let net = match vip {
                IpAddr::V4(_) => format!("{vip}/32"),
                IpAddr::V6(_) => format!("{vip}/128"),
            };
            s += &format!("\tif net = {net} then bgp_med = {med};\n");
        }
        s += "\taccept;\n}\n";
        s
    }
}

/// Writes `text` to `path` unless it holds that already; true when it wrote.
pub fn write(path: &Path, text: &str) -> std::io::Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(false);
    }
    super::files::write_atomic(path, text.as_bytes())?;
    Ok(true)
}

/// A name BIRD takes for a protocol or filter: a letter, then letters, digits and '_'.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bird.protocol: {name:?} is not a BIRD symbol (a letter, then letters, digits or '_')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_include_names_the_device_and_sets_meds_per_vip() {
        let meds = [
            ("192.0.2.10".parse().unwrap(), 200),
            ("2001:db8::10".parse().unwrap(), 50),
        ];
        let text = Include {
            protocol: "lvsh_anycast",
            dev: "lvsh-any",
            meds: &meds,
        }
        .render();
        assert!(
            text.contains("protocol direct lvsh_anycast {\n\tipv4;\n\tipv6;\n\tinterface \"lvsh-any\";\n}"),
            "{text}"
        );
        assert!(
            text.contains("filter lvsh_anycast_export {\n\tif proto != \"lvsh_anycast\" then reject;\n"),
            "{text}"
        );
        assert!(
            text.contains("\tif net = 192.0.2.10/32 then bgp_med = 200;\n"),
            "{text}"
        );
        assert!(
            text.contains("\tif net = 2001:db8::10/128 then bgp_med = 50;\n"),
            "{text}"
        );
        assert!(text.ends_with("\taccept;\n}\n"));
        assert!(check_name("lvsh_anycast").is_ok());
        assert!(check_name("x\"; }").is_err() && check_name("1a").is_err() && check_name("").is_err());
    }
}
