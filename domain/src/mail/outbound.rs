//! Outbound mail: messages queued for other servers (one entry per recipient) and the DKIM
//! keys they are signed with.

use crate::address::DomainName;
use crate::ids::{AccountId, BlobId, Timestamp};

/// Messages to queue for one remote recipient each; the bytes are in the blob store already.
#[derive(Debug, Clone)]
pub struct NewQueued {
    /// The account that sent it (told of failures).
    pub account: Option<AccountId>,
    pub blob: BlobId,
    pub size: u64,
    /// Envelope sender (`MAIL FROM`); empty for the null reverse-path.
    pub mail_from: String,
    /// Recipients, each `local@domain`.
    pub rcpts: Vec<String>,
    pub now: Timestamp,
}

/// One queued delivery: a message for one recipient at another server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub account: Option<AccountId>,
    pub blob: BlobId,
    pub size: u64,
    pub mail_from: String,
    pub rcpt: String,
    /// The recipient's domain, lower case (where its MX records are looked up).
    pub rcpt_domain: String,
    pub created_at: Timestamp,
    pub next_attempt_at: Timestamp,
    /// Attempts made so far.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The token of the node holding the entry (from [`crate::ports::OutboundStore::claim_due`]).
    pub claim: String,
}

/// What became of one attempt to deliver a queued entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiving server took it.
    Delivered,
    /// A temporary failure (4xx, no connection, DNS trouble): try again later.
    Deferred(String),
    /// A permanent failure (5xx, no such domain): bounce at once.
    Failed(String),
}

/// A domain's DKIM signing key (RSA, PKCS#1 DER) and the selector its DNS record is under.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimKey {
    pub domain: DomainName,
    pub selector: String,
    /// `rsa-sha256` or `ed25519-sha256`.
    pub algorithm: String,
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl DkimKey {
    /// The DNS TXT record that publishes the key: (name, value).
    pub fn dns_record(&self) -> (String, String) {
        use base64::Engine as _;
        let k = if self.algorithm.starts_with("ed25519") { "ed25519" } else { "rsa" };
        let p = base64::engine::general_purpose::STANDARD.encode(&self.public_key);
        (format!("{}._domainkey.{}", self.selector, self.domain), format!("v=DKIM1; k={k}; p={p}"))
    }
}

/// The delay before attempt `n + 1` after `n` failed attempts: `base` doubled each time, at
/// most four hours (so a server that is down for a day is tried about every four hours).
pub fn backoff(base_ms: i64, attempts: u32) -> i64 {
    const MAX: i64 = 4 * 3600 * 1000;
    base_ms.max(1).saturating_mul(1_i64 << attempts.min(20)).min(MAX.max(base_ms))
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_up_to_four_hours() {
        assert_eq!(backoff(60_000, 0), 60_000);
        assert_eq!(backoff(60_000, 1), 120_000);
        assert_eq!(backoff(60_000, 3), 480_000);
        assert_eq!(backoff(60_000, 30), 4 * 3600 * 1000);
        assert_eq!(backoff(1000, 2), 4000);
    }
}
