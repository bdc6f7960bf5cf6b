//! The entities of the domain, as services hand them to adapters.

use crate::address::{Address, DomainName};
use crate::ids::{
    AccountId, AppPasswordId, BlobId, CollectionId, DomainId, GrantId, ItemId, Modseq, PrincipalId, Timestamp,
};
use crate::rights::Rights;
use serde::{Deserialize, Serialize};

/// A mail domain served here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    pub id: DomainId,
    pub name: DomainName,
    pub created_at: Timestamp,
}

/// Who a principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A person who logs in.
    User,
    /// A set of principals; grants to a group reach its members.
    Group,
    /// A room or piece of equipment with a calendar.
    Resource,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Resource => "resource",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "group" => Some(Self::Group),
            "resource" => Some(Self::Resource),
            _ => None,
        }
    }
}

/// A user, group or resource, and the account that holds its data (one-to-one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub id: PrincipalId,
    pub domain_id: DomainId,
    pub address: Address,
    pub kind: PrincipalKind,
    pub display_name: Option<String>,
    pub is_admin: bool,
    /// Bumped whenever the password changes; access tokens carry it, so a changed password
    /// ends every token issued before.
    pub credential_version: i64,
    pub quota: Quota,
    pub created_at: Timestamp,
    /// Where the account's change log stood when this value was read from the store. Every
    /// write to the account raises it, so for a principal read at the start of a request it
    /// stamps what the request may take from caches of the account's state
    /// ([`crate::Core::own_collections`], [`crate::Core::changes_in`]). A value kept across
    /// requests (a long session) is old: read the principal again before relying on it.
    pub log: LogPosition,
}

/// Where an account's change log stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPosition {
    /// The modseq of the last committed write.
    pub current: Modseq,
    /// Tokens below this cannot be answered: older rows were pruned.
    pub oldest: Modseq,
}

impl Principal {
    pub fn account_id(&self) -> AccountId {
        self.id
    }
}

/// An account's storage use and limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub used_bytes: u64,
    /// `None`: unlimited.
    pub limit_bytes: Option<u64>,
}

/// Another address that delivers to (and may be used for sending by) a principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    pub address: Address,
    pub target: PrincipalId,
    pub target_address: Address,
}

/// A per-device password, revocable on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPassword {
    pub id: AppPasswordId,
    pub principal: PrincipalId,
    pub label: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// What a collection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CollectionKind {
    MailFolder,
    Calendar,
    AddressBook,
    TaskList,
    /// A folder of the WebDAV file drive.
    FileFolder,
}

impl CollectionKind {
    pub const ALL: [Self; 5] = [Self::MailFolder, Self::Calendar, Self::AddressBook, Self::TaskList, Self::FileFolder];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MailFolder => "mail-folder",
            Self::Calendar => "calendar",
            Self::AddressBook => "address-book",
            Self::TaskList => "task-list",
            Self::FileFolder => "file-folder",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A small stable number, for storage.
    pub fn code(self) -> i16 {
        match self {
            Self::MailFolder => 1,
            Self::Calendar => 2,
            Self::AddressBook => 3,
            Self::TaskList => 4,
            Self::FileFolder => 5,
        }
    }

    pub fn from_code(c: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == c)
    }
}

/// A mail folder, calendar, address book, task list or file folder, owned by one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    pub id: CollectionId,
    pub account: AccountId,
    pub parent: Option<CollectionId>,
    pub kind: CollectionKind,
    /// The name in its parent (path segment, folder name); unique among siblings of a kind.
    pub name: String,
    pub display_name: Option<String>,
    /// The modseq of the last change to the collection or to any item in it.
    pub modseq: Modseq,
    pub created_modseq: Modseq,
    pub created_at: Timestamp,
}

/// One item of a collection: a message, event, contact, task or file. Content lives in the
/// blob store; the row keeps what services need to find and check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: ItemId,
    pub account: AccountId,
    pub collection: CollectionId,
    /// The resource name inside the collection (e.g. `abc.ics`); unique per collection.
    pub name: String,
    pub content_type: String,
    pub blob: BlobId,
    pub size: u64,
    /// Who created the item; "author" grants may change only their own.
    pub created_by: Option<PrincipalId>,
    pub modseq: Modseq,
    pub created_modseq: Modseq,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The UID of a calendar object or vCard (unique in its collection).
    pub uid: Option<String>,
    /// The time a calendar object may touch (the index calendar queries narrow with).
    pub span: crate::recurrence::Span,
}

impl Item {
    /// A strong entity tag: changes whenever the item does.
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.modseq)
    }
}

/// The item named `name` in a listing sorted by name (what the stores' listings are).
pub fn find_item<'a>(sorted: &'a [Item], name: &str) -> Option<&'a Item> {
    sorted.binary_search_by(|i| i.name.as_str().cmp(name)).ok().map(|at| &sorted[at])
}

/// Rights given by an account's owner to another principal of the same domain, on one
/// collection or (when `collection` is `None`) on the whole account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: GrantId,
    pub account: AccountId,
    pub collection: Option<CollectionId>,
    pub grantee: PrincipalId,
    pub rights: Rights,
    pub created_at: Timestamp,
}
