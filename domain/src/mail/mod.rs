//! The mail store's model: mailboxes (mail-folder collections with IMAP state), messages
//! (stored once as RFC 5322 bytes, parsed once on delivery) and their membership in mailboxes.
//!
//! A message belongs to an account and may be in several of its mailboxes (JMAP's
//! `mailboxIds`); each membership has the mailbox's UID for it and the modseq of its last
//! change. Keywords (IMAP flags) are the message's, so every mailbox shows the same flags.

pub mod dsn;
pub mod outbound;
pub mod parse;
pub mod query;
pub mod search;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, BlobId, CollectionId, Modseq, Timestamp};
use crate::model::Collection;

/// The special uses of RFC 6154 that every account has one mailbox for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailboxRole {
    Inbox,
    Drafts,
    Sent,
    Junk,
    Trash,
    Archive,
}

impl MailboxRole {
    pub const ALL: [Self; 6] = [Self::Inbox, Self::Drafts, Self::Sent, Self::Junk, Self::Trash, Self::Archive];

    /// The JMAP role name (RFC 8621 §2), also how it is stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbox => "inbox",
            Self::Drafts => "drafts",
            Self::Sent => "sent",
            Self::Junk => "junk",
            Self::Trash => "trash",
            Self::Archive => "archive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(s))
    }

    /// The IMAP special-use attribute (RFC 6154); none for the inbox.
    pub fn special_use(self) -> Option<&'static str> {
        match self {
            Self::Inbox => None,
            Self::Drafts => Some("\\Drafts"),
            Self::Sent => Some("\\Sent"),
            Self::Junk => Some("\\Junk"),
            Self::Trash => Some("\\Trash"),
            Self::Archive => Some("\\Archive"),
        }
    }

    /// The folder name a new account gets for it.
    pub fn default_name(self) -> &'static str {
        match self {
            Self::Inbox => "INBOX",
            Self::Drafts => "Drafts",
            Self::Sent => "Sent",
            Self::Junk => "Junk",
            Self::Trash => "Trash",
            Self::Archive => "Archive",
        }
    }
}

/// A mailbox: a mail-folder collection and its IMAP state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub collection: Collection,
    pub role: Option<MailboxRole>,
    /// Changes only if UIDs could be reused, i.e. never for a living mailbox: a mailbox made
    /// again under the same name is a new collection with a new value.
    pub uidvalidity: u32,
    /// The UID the next message put in the mailbox gets.
    pub uidnext: u32,
    pub subscribed: bool,
}

impl Mailbox {
    pub fn id(&self) -> CollectionId {
        self.collection.id
    }
}

/// A message's keywords (IMAP flags), kept in JMAP form: lower case, system flags as `$seen`,
/// `$answered`, `$flagged`, `$draft`, `$deleted` (RFC 8621 §4.1.1). Sorted, no duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keywords(Vec<String>);

impl Keywords {
    pub fn new(words: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        // A keyword is an atom (RFC 8621 §4.1.1: %x21-7E): none with a space or a control
        // character is kept (the stored form is space-separated, and listings pack rows with
        // control characters as separators).
        let mut v: Vec<String> = words
            .into_iter()
            .map(|w| w.as_ref().to_ascii_lowercase())
            .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_graphic() || !b.is_ascii()))
            .collect();
        v.sort();
        v.dedup();
        Self(v)
    }

    /// From the stored form (space-separated).
    pub fn from_stored(s: &str) -> Self {
        Self::new(s.split_ascii_whitespace())
    }

    pub fn to_stored(&self) -> String {
        self.0.join(" ")
    }

    pub fn contains(&self, word: &str) -> bool {
        self.0.binary_search_by(|w| w.as_str().cmp(&word.to_ascii_lowercase())).is_ok()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Unread as JMAP counts it (RFC 8621 §2: neither `$seen` nor `$draft`).
    pub fn is_unread(&self) -> bool {
        !self.contains("$seen") && !self.contains("$draft")
    }
}

/// How STORE (IMAP) or a keywords patch (JMAP) changes a message's keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeywordOp {
    Add,
    Remove,
    Replace,
}

impl Keywords {
    /// The keywords after `op` with `words`.
    #[must_use]
    pub fn apply(&self, op: KeywordOp, words: &Keywords) -> Keywords {
        match op {
            KeywordOp::Replace => words.clone(),
            KeywordOp::Add => Keywords::new(self.iter().chain(words.iter())),
            KeywordOp::Remove => Keywords::new(self.iter().filter(|w| !words.contains(w))),
        }
    }
    /// These keywords with `$seen` set or cleared: how a colleague sees a message of a shared
    /// folder (its own seen state over the owner's other keywords).
    #[must_use]
    pub fn with_seen(&self, seen: bool) -> Keywords {
        let others = self.iter().filter(|w| *w != "$seen");
        if seen { Keywords::new(others.chain(["$seen"])) } else { Keywords::new(others) }
    }
}

/// One MIME part of a message, with byte offsets into the stored message (for IMAP
/// `BODY[section]`, `BODYSTRUCTURE` and JMAP `bodyStructure`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MimePart {
    /// Lower case, e.g. `text`, `multipart`.
    pub media_type: String,
    /// Lower case, e.g. `plain`, `mixed`.
    pub subtype: String,
    /// Content-Type parameters, names lower case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Content-Transfer-Encoding as written (lower case); none means 7bit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// `inline` or `attachment`, lower case, with its parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<(String, Vec<(String, String)>)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub language: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Where the part's header starts, where its body starts and ends.
    pub header_start: u32,
    pub body_start: u32,
    pub body_end: u32,
    /// Lines of the body (IMAP reports them for text parts).
    pub lines: u32,
    /// Sub-parts of a multipart, or the parts of an attached message (its first part is the
    /// attached message's own top part).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<MimePart>,
    /// On the top part of a message (the whole message's, and an attached message's): the
    /// message's IMAP envelope, read on delivery so ENVELOPE and BODYSTRUCTURE read no bytes.
    /// Absent in messages stored before it was kept (their header is read again).
    #[serde(default, rename = "env", skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Box<parse::ImapEnvelope>>,
}

impl MimePart {
    pub fn is_multipart(&self) -> bool {
        self.media_type == "multipart"
    }

    pub fn size(&self) -> u32 {
        self.body_end.saturating_sub(self.body_start)
    }

    /// Whether this (top) part's stored structure holds every envelope that ENVELOPE and
    /// BODYSTRUCTURE show: its own and those of the messages attached in it.
    pub fn has_envelopes(&self) -> bool {
        fn attached(p: &MimePart) -> bool {
            let nested_ok = !(p.media_type == "message" && p.subtype == "rfc822")
                || p.parts.first().is_some_and(|top| top.envelope.is_some());
            nested_ok && p.parts.iter().all(attached)
        }
        self.envelope.is_some() && attached(self)
    }
}

/// A stored message, as the store keeps its parsed form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: i64,
    pub account: AccountId,
    pub blob: BlobId,
    pub size: u64,
    /// When it arrived here (IMAP INTERNALDATE, JMAP receivedAt).
    pub received_at: Timestamp,
    /// The Date header, if it could be read.
    pub sent_at: Option<Timestamp>,
    pub envelope: Envelope,
    pub preview: String,
    pub structure: MimePart,
    pub has_attachment: bool,
    pub keywords: Keywords,
    /// The id of the first message of its thread.
    pub thread: i64,
    pub modseq: Modseq,
    pub created_modseq: Modseq,
}

/// The header fields searches, sorts and thread building read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Without the angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub subject: String,
    /// Addresses as `Name <addr>` lists, comma-separated (for display and search).
    pub from: String,
    pub to: String,
    pub cc: String,
}

/// A message's place in a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub mailbox: CollectionId,
    pub uid: u32,
    pub message: i64,
    /// The modseq of the last change to the message as seen in this mailbox (IMAP MODSEQ).
    pub modseq: Modseq,
}

/// A message of a mailbox as a listing keeps it: what message sequence numbers, FLAGS,
/// CONDSTORE/QRESYNC, STATUS and a SEARCH of flags, dates and sizes need, without the
/// envelope, structure and preview of a [`Message`] (an IMAP session holds one of these per
/// message of the mailbox it has selected, and reads whole messages only for what it fetches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub uid: u32,
    /// The message's id.
    pub message: i64,
    /// The membership's modseq (IMAP MODSEQ).
    pub modseq: Modseq,
    pub keywords: Keywords,
    pub size: u64,
    pub received_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

impl Summary {
    /// The summary of a message in a mailbox.
    pub fn of(m: &Membership, msg: &Message) -> Self {
        Self {
            uid: m.uid,
            message: msg.id,
            modseq: m.modseq,
            keywords: msg.keywords.clone(),
            size: msg.size,
            received_at: msg.received_at,
            sent_at: msg.sent_at,
        }
    }
}

/// What a mailbox holds at a glance: enough to tell that nothing in it changed since a listing
/// (a message in or out changes the count or the highest UID, since UIDs only grow; a change
/// of flags raises the highest MODSEQ, since MODSEQs only grow), without reading it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub messages: u64,
    /// The highest UID in the mailbox (0: empty).
    pub last_uid: u32,
    /// The highest MODSEQ of its memberships (0: empty).
    pub highest_modseq: Modseq,
}

impl Tally {
    /// The tally of a listing (summaries by UID).
    pub fn of(listed: &[Summary]) -> Self {
        Self {
            messages: listed.len() as u64,
            last_uid: listed.last().map_or(0, |m| m.uid),
            highest_modseq: listed.iter().map(|m| m.modseq).max().unwrap_or_default(),
        }
    }
}

/// A message to store: bytes already in the blob store, parsed.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub account: AccountId,
    pub blob: BlobId,
    pub size: u64,
    pub received_at: Timestamp,
    pub parsed: parse::Parsed,
    pub keywords: Keywords,
    pub mailboxes: Vec<CollectionId>,
    /// What finds the thread the message joins (the store looks in the transaction that
    /// files it).
    pub thread: ThreadKeys,
}

/// What a new message's thread is found by: the thread of the account's first message whose
/// Message-ID is one of `ids` (the message's own, In-Reply-To, References); else, when
/// `base_subject` is given (a reply or forward whose subject had a marker), that of the latest
/// message with that base subject; else a thread of its own, named after the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadKeys {
    /// Sorted, each once.
    pub ids: Vec<String>,
    pub base_subject: Option<String>,
}

impl ThreadKeys {
    pub fn of(p: &parse::Parsed) -> Self {
        let e = &p.envelope;
        let mut ids: Vec<String> = e.in_reply_to.iter().chain(&e.references).chain(&e.message_id).cloned().collect();
        ids.sort();
        ids.dedup();
        let marked = !p.base_subject.is_empty() && p.base_subject != e.subject.trim().to_lowercase();
        Self { ids, base_subject: marked.then(|| p.base_subject.clone()) }
    }
}

/// What storing a message gave: the message and its place in each mailbox.
#[derive(Debug, Clone)]
pub struct Stored {
    pub message: Message,
    pub memberships: Vec<Membership>,
}
