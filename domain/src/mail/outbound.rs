//! Outbound mail: messages queued for other servers (one entry per recipient) and the DKIM
//! keys they are signed with.

use crate::address::DomainName;
use crate::ids::{AccountId, BlobId, Timestamp};

/// What a sender asks to be told of one recipient (RFC 3461 §4.1, RCPT TO's NOTIFY): of a
/// successful delivery, of a failure, of a delay. NEVER is none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notify(u8);

impl Notify {
    pub const NEVER: Self = Self(0);
    pub const SUCCESS: Self = Self(1);
    pub const FAILURE: Self = Self(2);
    pub const DELAY: Self = Self(4);

    #[must_use]
    pub fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// As stored: the bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn from_bits(bits: u8) -> Self {
        Self(bits & 7)
    }

    /// The NOTIFY value (`SUCCESS,FAILURE`, `NEVER`).
    pub fn keyword(self) -> String {
        let words: Vec<&str> = [(Self::SUCCESS, "SUCCESS"), (Self::FAILURE, "FAILURE"), (Self::DELAY, "DELAY")]
            .into_iter()
            .filter(|(n, _)| self.contains(*n))
            .map(|(_, w)| w)
            .collect();
        if words.is_empty() { "NEVER".to_owned() } else { words.join(",") }
    }
}

/// The DSN requests of one recipient: NOTIFY (`None`: not given, which means failures and
/// delays, RFC 3461 §4.1) and ORCPT (the original recipient as `type;address`, RFC 3461 §4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptDsn {
    pub notify: Option<Notify>,
    pub orcpt: Option<String>,
}

impl RcptDsn {
    /// Whether the sender is to be told that delivery failed.
    pub fn wants_failure(&self) -> bool {
        self.notify.is_none_or(|n| n.contains(Notify::FAILURE))
    }

    /// Whether the sender is to be told that delivery succeeded (or the message was relayed).
    pub fn wants_success(&self) -> bool {
        self.notify.is_some_and(|n| n.contains(Notify::SUCCESS))
    }
}

/// The DSN requests of a message (RFC 3461 §4.3-4.4, MAIL FROM's RET and ENVID): whether a
/// failure report returns the whole message (`RET=FULL`) or its header only (`RET=HDRS`, also
/// when not given), and the sender's envelope id, given back in every report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DsnRequest {
    pub full: bool,
    pub envid: Option<String>,
}

/// Messages to queue for one remote recipient each; the bytes are in the blob store already.
#[derive(Debug, Clone)]
pub struct NewQueued {
    /// The account that sent it (told of failures).
    pub account: Option<AccountId>,
    pub blob: BlobId,
    pub size: u64,
    /// Envelope sender (`MAIL FROM`); empty for the null reverse-path.
    pub mail_from: String,
    /// Recipients, each `local@domain`, with their DSN requests.
    pub rcpts: Vec<(String, RcptDsn)>,
    pub dsn: DsnRequest,
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
    /// What the sender asked to be told (RFC 3461).
    pub dsn: DsnRequest,
    pub rcpt_dsn: RcptDsn,
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
