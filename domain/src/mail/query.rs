//! Queries over an account's messages by their stored fields (JMAP Email/query): a tree of
//! conditions, sort keys, thread collapsing. The store answers them in SQL; this module only
//! says what they mean.

use super::search::TextQuery;
use crate::ids::{AccountId, CollectionId, Timestamp};

/// One condition, or conditions joined (RFC 8620 §5.5 FilterOperator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Every condition holds (an empty list: always true).
    All(Vec<Condition>),
    /// At least one holds (an empty list: never).
    Any(Vec<Condition>),
    /// None holds.
    None(Vec<Condition>),
    /// In this mailbox.
    InMailbox(CollectionId),
    /// In at least one mailbox that is not one of these.
    InMailboxOtherThan(Vec<CollectionId>),
    /// Arrived before (exclusive).
    Before(Timestamp),
    /// Arrived at or after.
    After(Timestamp),
    MinSize(u64),
    /// Smaller than.
    MaxSize(u64),
    /// Has the keyword (lower case).
    HasKeyword(String),
    AllInThreadHaveKeyword(String),
    SomeInThreadHaveKeyword(String),
    NoneInThreadHaveKeyword(String),
    HasAttachment(bool),
    /// The text conditions of the full-text index, all of them.
    Text(TextQuery),
    /// A colleague's own `$seen` on a message of someone else's account (shared folders keep
    /// \Seen per user): this principal has seen it.
    SeenBy(crate::ids::PrincipalId),
    /// Never holds (e.g. a mailbox the caller may not read).
    False,
}

impl Condition {
    /// The tree with every `$seen` condition asked of `viewer`'s own seen state.
    #[must_use]
    pub fn seen_by(self, viewer: crate::ids::PrincipalId) -> Self {
        let map = |v: Vec<Self>| v.into_iter().map(|c| c.seen_by(viewer)).collect();
        match self {
            Self::All(v) => Self::All(map(v)),
            Self::Any(v) => Self::Any(map(v)),
            Self::None(v) => Self::None(map(v)),
            Self::HasKeyword(w) if w.eq_ignore_ascii_case("$seen") => Self::SeenBy(viewer),
            other => other,
        }
    }

    /// A mailbox every message that meets the condition is in (an `InMailbox` the condition
    /// cannot hold without), if there is one.
    pub fn required_mailbox(&self) -> Option<CollectionId> {
        match self {
            Self::InMailbox(b) => Some(*b),
            Self::All(v) => v.iter().find_map(Self::required_mailbox),
            _ => None,
        }
    }
}

/// What messages are ordered by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    ReceivedAt,
    SentAt,
    Size,
    From,
    To,
    Subject,
    HasKeyword(String),
    AllInThreadHaveKeyword(String),
    SomeInThreadHaveKeyword(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub ascending: bool,
}

/// A query over one account's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageQuery {
    pub account: AccountId,
    pub filter: Condition,
    /// Empty: newest first by arrival.
    pub sort: Vec<Sort>,
    /// Only the first message of each thread (in this order) is kept.
    pub collapse_threads: bool,
    /// Skip this many results…
    pub offset: usize,
    /// …and return at most this many (`None`: all).
    pub limit: Option<usize>,
    /// Count all results too.
    pub count: bool,
}

/// The answer: ids in order (the window asked for), and the count of all when asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryAnswer {
    /// (message id, thread id).
    pub ids: Vec<(i64, i64)>,
    pub total: Option<usize>,
}

/// Counts of one mailbox (JMAP Mailbox totals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxCounts {
    pub total_emails: u64,
    pub unread_emails: u64,
    pub total_threads: u64,
    pub unread_threads: u64,
}
