//! Identifiers and small newtypes shared by every service and adapter.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A mail domain served by this installation.
    DomainId
);
id_type!(
    /// A principal: a user, group or resource. Every principal owns exactly one account, so a
    /// principal id is also its account id.
    PrincipalId
);
id_type!(
    /// A collection: mail folder, calendar, address book, task list or file folder.
    CollectionId
);
id_type!(
    /// An item inside a collection.
    ItemId
);
id_type!(
    /// A grant of rights to a principal.
    GrantId
);
id_type!(
    /// An app password.
    AppPasswordId
);

/// The account that owns data. Accounts and principals are one-to-one.
pub type AccountId = PrincipalId;

/// A position in an account's change log. Strictly increasing per account; every committed
/// write transaction takes the next value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Modseq(pub i64);

impl fmt::Display for Modseq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The content address of a blob: lowercase hex SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobId(String);

impl BlobId {
    /// The id of these bytes.
    pub fn of(data: &[u8]) -> Self {
        use sha2::Digest;
        Self(hex::encode(sha2::Sha256::digest(data)))
    }

    /// Accepts only 64 lowercase hex digits, so an id can safely become a file name.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Milliseconds since the Unix epoch, the one timestamp type of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// UTC calendar date and time: (year, month, day, hour, minute, second).
    pub fn utc_parts(self) -> (i64, i64, i64, i64, i64, i64) {
        let secs = self.0.div_euclid(1000);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
    }

    /// RFC 3339 in UTC, e.g. `2026-11-23T05:20:00Z`.
    pub fn rfc3339(self) -> String {
        let (y, mo, d, h, mi, s) = self.utc_parts();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }

    pub fn now() -> Self {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Self(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(951_782_400_123).rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp(1_795_411_200_000).utc_parts(), (2026, 11, 23, 5, 20, 0));
        assert_eq!(Timestamp(-1000).rfc3339(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn blob_id_is_sha256_hex_and_parse_rejects_paths() {
        let id = BlobId::of(b"abc");
        assert_eq!(id.as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(BlobId::parse(id.as_str()), Some(id));
        assert!(BlobId::parse("../../etc/passwd").is_none());
        assert!(BlobId::parse(&"A".repeat(64)).is_none());
    }
}
