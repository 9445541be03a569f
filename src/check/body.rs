//! How an HTTP answer's body is judged: a Lua pattern (the caller's matcher), the MD5 digest
//! keepalived's `digest` compares (genhash prints it), and a regular expression that must or
//! must not match (keepalived's `regex` / `regex_no_match`). Every rule given must hold.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use md5::{Digest, Md5};

use super::Matcher;

/// A compiled regular expression, equal to another with the same source (checks are
/// compared and hashed to share a probe between monitors).
#[derive(Clone, Debug)]
pub struct Regex(Arc<regex::bytes::Regex>);

impl Regex {
    /// Compiled with a size limit: a pattern comes from a configuration, but a huge one
    /// should be refused, not built.
    pub fn new(source: &str) -> Result<Regex, String> {
        regex::bytes::RegexBuilder::new(source)
            .size_limit(1 << 20)
            .build()
            .map(|r| Regex(Arc::new(r)))
            .map_err(|e| e.to_string())
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Regex {}

impl Hash for Regex {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BodyRule {
    /// A Lua pattern the body must match.
    pub pattern: Option<String>,
    /// The MD5 of the body, in lower-case hex.
    pub digest: Option<String>,
    pub regex: Option<Regex>,
    /// The regex must not match (keepalived's `regex_no_match`).
    pub regex_no_match: bool,
}

impl BodyRule {
    /// Whether the body is looked at at all (when not, the probe ends with the head).
    pub fn wanted(&self) -> bool {
        self.pattern.is_some() || self.digest.is_some() || self.regex.is_some()
    }

    /// Why `body` fails the rule, if it does.
    pub fn judge(&self, body: &[u8], matcher: &dyn Matcher) -> Result<(), String> {
        if let Some(p) = &self.pattern {
            match matcher.matches(p, body) {
                Ok(true) => {}
                Ok(false) => return Err(format!("body does not match {p:?}")),
                Err(e) => return Err(format!("body pattern {p:?}: {e}")),
            }
        }
        if let Some(want) = &self.digest {
            let got = md5_hex(body);
            if !got.eq_ignore_ascii_case(want) {
                return Err(format!("body digest {got}, want {want}"));
            }
        }
        if let Some(re) = &self.regex {
            match (re.0.is_match(body), self.regex_no_match) {
                (false, false) => return Err(format!("body does not match regex {:?}", re.as_str())),
                (true, true) => return Err(format!("body matches regex {:?}", re.as_str())),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The MD5 of `data` in lower-case hex, as genhash and md5sum print it.
pub fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// A digest as a caller gives it: 32 hex digits (any case), kept in lower case.
pub fn digest_text(s: &str) -> Option<String> {
    (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Never;
    impl Matcher for Never {
        fn matches(&self, _: &str, _: &[u8]) -> Result<bool, String> {
            Ok(false)
        }
    }

    #[test]
    fn the_digest_is_md5_in_hex() {
        // RFC 1321's test vectors
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            digest_text("900150983CD24FB0D6963F7D28E17F72").as_deref(),
            Some("900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(digest_text("abc"), None);
        let r = BodyRule {
            digest: Some("900150983cd24fb0d6963f7d28e17f72".into()),
            ..BodyRule::default()
        };
        assert!(r.wanted());
        assert_eq!(r.judge(b"abc", &Never), Ok(()));
        assert_eq!(
            r.judge(b"abd", &Never).unwrap_err(),
            format!(
                "body digest {}, want 900150983cd24fb0d6963f7d28e17f72",
                md5_hex(b"abd")
            )
        );
    }

    #[test]
    fn a_regex_must_match_or_with_no_match_must_not() {
        let mut r = BodyRule {
            regex: Some(Regex::new("^OK [0-9]+").unwrap()),
            ..BodyRule::default()
        };
        assert_eq!(r.judge(b"OK 12\n", &Never), Ok(()));
        assert!(
            r.judge(b"FAIL\n", &Never)
                .unwrap_err()
                .contains("does not match regex")
        );
        r.regex_no_match = true;
        assert!(r.judge(b"OK 12\n", &Never).unwrap_err().contains("matches regex"));
        assert_eq!(r.judge(b"FAIL\n", &Never), Ok(()));
        assert!(Regex::new("(").is_err());
        assert_eq!(Regex::new("a+").unwrap(), Regex::new("a+").unwrap());
    }

    #[test]
    fn every_rule_given_must_hold() {
        let r = BodyRule {
            pattern: Some("x".into()),
            ..BodyRule::default()
        };
        assert!(
            r.judge(b"x", &Never)
                .unwrap_err()
                .contains("does not match \"x\"")
        );
        assert!(!BodyRule::default().wanted());
        assert_eq!(BodyRule::default().judge(b"", &Never), Ok(()));
    }
}
