//! Mail addresses and domain names as the server accepts them for its own principals.
//!
//! Local parts are dot-atoms (RFC 5321 §4.1.2) and compared case-insensitively; domain names
//! are LDH labels (RFC 1035/5890 A-labels). Both are stored lowercased.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A validated, lowercased domain name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
        if s.is_empty() || s.len() > 253 {
            return Err(Error::invalid(format!("bad domain name {s:?}: empty or too long")));
        }
        for label in s.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err(Error::invalid(format!(
                    "bad domain name {s:?}: label {label:?} is not letters, digits and inner hyphens"
                )));
            }
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DomainName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<DomainName> for String {
    fn from(d: DomainName) -> Self {
        d.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated, lowercased local part.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalPart(String);

impl LocalPart {
    pub fn parse(s: &str) -> Result<Self> {
        const SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
        let s = s.to_ascii_lowercase();
        let ok = !s.is_empty()
            && s.len() <= 64
            && !s.starts_with('.')
            && !s.ends_with('.')
            && !s.contains("..")
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || SPECIALS.contains(&b));
        if ok {
            Ok(Self(s))
        } else {
            Err(Error::invalid(format!(
                "bad local part {s:?}: use letters, digits, dots (not leading, trailing or doubled) and !#$%&'*+-/=?^_`{{|}}~, at most 64"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LocalPart {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<LocalPart> for String {
    fn from(l: LocalPart) -> Self {
        l.0
    }
}

/// `local@domain`, the name of every principal, alias and login.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address {
    pub local: LocalPart,
    pub domain: DomainName,
}

impl Address {
    /// Parses `local@domain`. A name without a domain is refused: logins must say which domain.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(Error::invalid(format!("bad address {s:?}: expected name@domain")));
        };
        Ok(Self { local: LocalPart::parse(local)?, domain: DomainName::parse(domain)? })
    }

    pub fn new(local: LocalPart, domain: DomainName) -> Self {
        Self { local, domain }
    }
}

impl TryFrom<String> for Address {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<Address> for String {
    fn from(a: Address) -> Self {
        a.to_string()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local.0, self.domain.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lowercases() {
        let a = Address::parse(" Info@Example.COM ").unwrap();
        assert_eq!(a.to_string(), "info@example.com");
        assert_eq!(Address::parse("a.b+tag@x-y.example").unwrap().local.as_str(), "a.b+tag");
        assert_eq!(Address::parse("admin@localhost").unwrap().domain.as_str(), "localhost");
    }

    #[test]
    fn refuses_bad_addresses() {
        for bad in [
            "admin",
            "@example.com",
            "a@",
            "a..b@example.com",
            ".a@example.com",
            "a@-x.com",
            "a@x..com",
            "a b@example.com",
            "a@exa_mple.com",
            "a@b@c",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(LocalPart::parse(&"a".repeat(65)).is_err());
        assert!(DomainName::parse(&format!("{}.com", "a".repeat(64))).is_err());
    }
}
