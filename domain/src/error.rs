//! The domain's errors. Adapters map them to their protocol's answers in one place each.

use crate::ids::Modseq;

/// Why a domain operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that is not acceptable (bad address, bad name, bad size); the text says what.
    #[error("{0}")]
    Invalid(String),
    /// Something named does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(String),
    /// Something with that name exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// The caller lacks the rights; `needed` says which.
    #[error("permission denied: {needed} needed")]
    Forbidden { needed: String },
    /// Grants may only be given to principals of the owner's domain.
    #[error("grants are limited to the owner's domain: {0} is in another domain")]
    CrossDomainGrant(String),
    /// Authentication failed (wrong or missing credentials). Never says which part was wrong.
    #[error("authentication failed")]
    AuthFailed,
    /// Too many failed logins from this source or for this account.
    #[error("too many failed logins; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The content is larger than the server accepts for one item.
    #[error("too large: {size} bytes, at most {max} allowed")]
    TooLarge { size: u64, max: u64 },
    /// The write would take the account over its quota.
    #[error("over quota: {used} of {limit} bytes used, {requested} more requested")]
    OverQuota { used: u64, limit: u64, requested: u64 },
    /// A change token that belongs to another account.
    #[error("sync token belongs to another account")]
    TokenWrongAccount,
    /// A change token older than the retained change log.
    #[error("sync token too old: changes before modseq {oldest} were pruned")]
    TokenExpired { oldest: Modseq },
    /// A change token that this server never issued (malformed, or from the future).
    #[error("invalid sync token: {0}")]
    TokenInvalid(String),
    /// An expected state (ETag, modseq) no longer holds.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// Content the collection does not accept (calendar data, vCards); `reason` says which
    /// rule, so each protocol can answer with its own precondition.
    #[error("{message}")]
    Rejected { reason: Rejection, message: String },
    /// A failure of the store, blob store or another port. Logged, never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }
    pub fn conflict(what: impl Into<String>) -> Self {
        Self::Conflict(what.into())
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }
    pub fn forbidden(needed: impl Into<String>) -> Self {
        Self::Forbidden { needed: needed.into() }
    }
}

/// Why content was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not valid iCalendar / vCard, or not one object (one UID, one component type).
    InvalidData,
    /// A component type the collection does not hold (e.g. VEVENT in a task list).
    UnsupportedComponent,
    /// Another item of the collection has this UID (its name is given).
    UidConflict { existing: String },
    /// A replacement changes the UID of an object.
    UidChanged,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
