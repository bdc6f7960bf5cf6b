//! The ports the storage crate implements. Services call these and nothing else to reach the
//! database and the blob store.
//!
//! Contract for every write method that returns [`Committed`]: the write, the account's modseq
//! bump, the change-log rows (tombstones for removals), blob reference counts and quota use
//! commit in **one** transaction; the returned events are published by the service after the
//! method returned, i.e. after commit.

use crate::address::{Address, DomainName, LocalPart};
use crate::changes::ChangeRow;
use crate::error::Result;
use crate::events::Event;
use crate::ids::{AccountId, BlobId, CollectionId, DomainId, ItemId, Modseq, PrincipalId};
use crate::model::{Alias, AppPassword, Collection, CollectionKind, Domain, Grant, Item, Principal, PrincipalKind};
use crate::rights::Rights;
use async_trait::async_trait;

/// The outcome of a committed write and the events to publish for it.
#[derive(Debug, Clone)]
pub struct Committed<T> {
    pub value: T,
    pub events: Vec<Event>,
}

/// A principal to create.
#[derive(Debug, Clone)]
pub struct NewPrincipal {
    pub domain: DomainId,
    pub local: LocalPart,
    pub kind: PrincipalKind,
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub quota_limit: Option<u64>,
}

/// A collection to create.
#[derive(Debug, Clone)]
pub struct NewCollection {
    pub account: AccountId,
    pub parent: Option<CollectionId>,
    pub kind: CollectionKind,
    pub name: String,
    pub display_name: Option<String>,
}

/// Changes to a collection's own properties; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CollectionPatch {
    pub name: Option<String>,
    pub display_name: Option<Option<String>>,
    /// Move under another parent (`Some(None)`: to the top) in the same account.
    pub parent: Option<Option<CollectionId>>,
}

/// What a dead property belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropTarget {
    Collection(CollectionId),
    Item(ItemId),
}

/// A property a client stored (WebDAV dead property), kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadProperty {
    pub namespace: String,
    pub name: String,
    /// The property's content as XML, namespaces declared inside it.
    pub value: String,
}

/// The stored content of an item (already in the blob store).
#[derive(Debug, Clone)]
pub struct ItemContent {
    pub content_type: String,
    pub blob: BlobId,
    pub size: u64,
    /// The time a calendar object may touch; unbounded for other items.
    pub span: crate::recurrence::Span,
}

/// An item to create.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub collection: CollectionId,
    pub name: String,
    pub content: ItemContent,
    pub created_by: Option<PrincipalId>,
    /// Unique in the collection when set; a clash is a `Conflict`.
    pub uid: Option<String>,
}

pub use crate::model::LogPosition;

/// The relational store: the parts below, implemented by one type.
pub trait Store:
    DirectoryStore + CollectionStore + GrantStore + ChangeLogStore + MailStore + OutboundStore + UploadStore + DocumentStore
{
}

impl<
    T: DirectoryStore
        + CollectionStore
        + GrantStore
        + ChangeLogStore
        + MailStore
        + OutboundStore
        + UploadStore
        + DocumentStore,
> Store for T
{
}

/// Domains, principals and accounts, groups, aliases, app passwords, server secrets.
#[async_trait]
pub trait DirectoryStore: Send + Sync + 'static {
    /// Answers when the database is reachable.
    async fn ping(&self) -> Result<()>;

    /// A server-wide secret, created with `generate` the first time it is asked for. Shared by
    /// every node on the same database.
    async fn secret(&self, name: &str, generate: Vec<u8>) -> Result<Vec<u8>>;

    /// Takes or renews the lease `name` for `holder` until `until`: granted when nobody holds
    /// it, `holder` holds it already, or the holder's lease ended before `now`. Every node on
    /// the database sees it.
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: crate::ids::Timestamp,
        until: crate::ids::Timestamp,
    ) -> Result<bool>;
    /// Gives the lease up, if `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;

    // --- domains
    async fn create_domain(&self, name: &DomainName) -> Result<Domain>;
    async fn list_domains(&self) -> Result<Vec<Domain>>;
    async fn find_domain(&self, name: &DomainName) -> Result<Option<Domain>>;
    /// Refuses (conflict) while principals or aliases remain in the domain.
    async fn remove_domain(&self, id: DomainId) -> Result<()>;

    // --- principals and accounts
    /// Creates the principal and its account. Refuses an address taken by a principal or alias.
    async fn create_principal(&self, new: NewPrincipal) -> Result<Principal>;
    async fn principal(&self, id: PrincipalId) -> Result<Option<Principal>>;
    async fn principal_by_address(&self, address: &Address) -> Result<Option<Principal>>;
    async fn list_principals(&self, domain: Option<DomainId>) -> Result<Vec<Principal>>;
    async fn password_hash(&self, id: PrincipalId) -> Result<Option<String>>;
    /// Sets the password hash and bumps the credential version.
    async fn set_password(&self, id: PrincipalId, hash: Option<String>) -> Result<()>;
    /// Sets the quota limit; returns a warning event when the new limit puts use over a mark.
    async fn set_quota(&self, id: PrincipalId, limit: Option<u64>) -> Result<Committed<Principal>>;
    /// Gives the principal (and all its data) a new address in `domain`. Grants that would cross
    /// domains after the move are removed in the same transaction.
    async fn rename_principal(&self, id: PrincipalId, domain: DomainId, local: &LocalPart) -> Result<Principal>;
    /// Removes the principal, its account and everything in it (blobs are released).
    async fn remove_principal(&self, id: PrincipalId) -> Result<()>;

    // --- groups
    async fn add_member(&self, group: PrincipalId, member: PrincipalId) -> Result<()>;
    async fn remove_member(&self, group: PrincipalId, member: PrincipalId) -> Result<bool>;
    async fn groups_of(&self, member: PrincipalId) -> Result<Vec<PrincipalId>>;

    // --- aliases
    async fn create_alias(&self, domain: DomainId, local: &LocalPart, target: PrincipalId) -> Result<Alias>;
    /// Removes the alias; with `target`, only if it points there.
    async fn remove_alias(&self, address: &Address, target: Option<PrincipalId>) -> Result<bool>;
    async fn list_aliases(&self, domain: Option<DomainId>) -> Result<Vec<Alias>>;
    /// The principal an address (principal's own or alias) delivers to.
    async fn resolve_address(&self, address: &Address) -> Result<Option<PrincipalId>>;

    // --- app passwords
    async fn create_app_password(&self, principal: PrincipalId, label: &str, secret_hash: &str) -> Result<AppPassword>;
    async fn list_app_passwords(&self, principal: PrincipalId) -> Result<Vec<AppPassword>>;
    async fn revoke_app_password(&self, principal: PrincipalId, label: &str) -> Result<bool>;
    /// Finds the app password with this hash and records its use.
    async fn use_app_password(&self, secret_hash: &str) -> Result<Option<AppPassword>>;
}

/// Collections and items, with blob references and quota use.
#[async_trait]
pub trait CollectionStore: Send + Sync + 'static {
    async fn create_collection(&self, new: NewCollection) -> Result<Committed<Collection>>;
    async fn collection(&self, id: CollectionId) -> Result<Option<Collection>>;
    async fn collection_by_name(
        &self,
        account: AccountId,
        parent: Option<CollectionId>,
        kind: CollectionKind,
        name: &str,
    ) -> Result<Option<Collection>>;
    async fn list_collections(&self, account: AccountId, kind: Option<CollectionKind>) -> Result<Vec<Collection>>;
    async fn update_collection(&self, id: CollectionId, patch: CollectionPatch) -> Result<Committed<Collection>>;
    /// Removes the collection, its child collections and all their items.
    async fn remove_collection(&self, id: CollectionId) -> Result<Committed<()>>;

    /// All collections of the account (every kind), at the account's modseq `at` (which the
    /// caller read) or newer: a set cached at `at` answers without a query.
    async fn collections_as_of(&self, account: AccountId, at: Modseq) -> Result<std::sync::Arc<Vec<Collection>>>;

    // --- items
    /// Refuses with `OverQuota` when the account has no room.
    async fn create_item(&self, new: NewItem) -> Result<Committed<Item>>;
    async fn item(&self, id: ItemId) -> Result<Option<Item>>;
    async fn item_by_name(&self, collection: CollectionId, name: &str) -> Result<Option<Item>>;
    /// The items of the collection as read (its modseq says which state is wanted, so a
    /// listing cached at that modseq answers without a query), sorted by name (see
    /// [`crate::model::find_item`]). Shared: the store may hand out one listing to many readers.
    async fn list_items(&self, collection: &Collection) -> Result<std::sync::Arc<Vec<Item>>>;
    async fn item_by_uid(&self, collection: CollectionId, uid: &str) -> Result<Option<Item>>;
    /// The items whose span meets the window (a superset of those with an instance in it).
    /// Sorted by name, like [`CollectionStore::list_items`].
    async fn list_items_in(&self, collection: &Collection, window: crate::recurrence::Window) -> Result<Vec<Item>>;
    /// Replaces the content; with `if_modseq`, only if the item is still at that modseq.
    async fn replace_item(
        &self,
        id: ItemId,
        content: ItemContent,
        if_modseq: Option<Modseq>,
    ) -> Result<Committed<Item>>;
    async fn remove_item(&self, id: ItemId, if_modseq: Option<Modseq>) -> Result<Committed<()>>;
    /// Moves or renames an item inside its account (same id, same content).
    async fn move_item(&self, id: ItemId, to: CollectionId, name: &str) -> Result<Committed<Item>>;

    /// The dead properties of a collection or item.
    async fn properties(&self, target: PropTarget) -> Result<Vec<DeadProperty>>;
    /// Sets and removes dead properties, all or none.
    async fn update_properties(
        &self,
        target: PropTarget,
        set: Vec<DeadProperty>,
        remove: Vec<(String, String)>,
    ) -> Result<()>;

    /// Deletes up to `limit` blobs no row refers to any more, from the table and from `blobs`.
    /// The files are deleted before the rows' removal commits, so a writer that references
    /// the same content concurrently commits after the deletion and then puts the bytes back
    /// (see `Core::ensure_blob`). Returns how many were deleted.
    async fn collect_unreferenced_blobs(&self, limit: usize, blobs: &dyn BlobStore) -> Result<usize>;
}

/// Grants of rights.
#[async_trait]
pub trait GrantStore: Send + Sync + 'static {
    /// Sets the grantee's rights on the collection (or whole account); empty rights remove it.
    async fn put_grant(
        &self,
        account: AccountId,
        collection: Option<CollectionId>,
        grantee: PrincipalId,
        rights: Rights,
    ) -> Result<Option<Grant>>;
    async fn grants_on(&self, account: AccountId) -> Result<Vec<Grant>>;
    /// Grants to the principal or to any group it belongs to.
    async fn grants_to(&self, grantee: PrincipalId) -> Result<Vec<Grant>>;
}

/// The change log.
#[async_trait]
pub trait ChangeLogStore: Send + Sync + 'static {
    async fn log_position(&self, account: AccountId) -> Result<LogPosition>;
    /// Rows with modseq > `since`, ordered by modseq, at most `limit`; only of `collection` if set.
    async fn change_rows(
        &self,
        account: AccountId,
        since: Modseq,
        collection: Option<CollectionId>,
        limit: usize,
    ) -> Result<Vec<ChangeRow>>;
    /// All rows of one transaction.
    async fn change_rows_at(
        &self,
        account: AccountId,
        modseq: Modseq,
        collection: Option<CollectionId>,
    ) -> Result<Vec<ChangeRow>>;
    /// The modseq of the account's newest log row about objects of `kind`, if any is left.
    async fn kind_modseq(&self, account: AccountId, kind: crate::model::CollectionKind) -> Result<Option<Modseq>>;
    /// Drops rows at or below `upto`; tokens older than that then get `TokenExpired`.
    async fn prune_changes(&self, account: AccountId, upto: Modseq) -> Result<u64>;
}

/// The mail store: mailboxes (mail-folder collections with IMAP state) and messages.
#[async_trait]
pub trait MailStore: Send + Sync + 'static {
    /// Creates a mailbox (a mail-folder collection and its state) with an optional role.
    async fn create_mailbox(
        &self,
        account: AccountId,
        parent: Option<CollectionId>,
        name: &str,
        role: Option<crate::mail::MailboxRole>,
    ) -> Result<Committed<crate::mail::Mailbox>>;
    /// The account's mailboxes.
    async fn mailboxes(&self, account: AccountId) -> Result<Vec<crate::mail::Mailbox>>;
    /// Stores a message in its mailboxes with their next UIDs, in the thread its
    /// [`crate::mail::ThreadKeys`] find (a thread of its own when they find none): the message
    /// row, memberships, blob reference, quota use and log rows in one transaction. Refuses with
    /// `OverQuota` when the account has no room, `NotFound` (writing nothing) when a mailbox is
    /// not the account's.
    async fn append_message(&self, new: crate::mail::NewMessage) -> Result<Committed<crate::mail::Stored>>;
    /// [`Self::append_message`] that waits for `durable` (the message's bytes reaching the
    /// disk) only just before it commits, so the transaction's work overlaps the fsyncs of the
    /// blob. When `durable` fails nothing is committed.
    async fn append_message_after(
        &self,
        new: crate::mail::NewMessage,
        durable: Durable<'_>,
    ) -> Result<Committed<crate::mail::Stored>> {
        durable.await?;
        self.append_message(new).await
    }
    // --- full-text index (its rows are written with the message and go with it)
    /// The messages of the account (only those in `mailbox`, if given) whose indexed text
    /// meets every condition of `query` (case-insensitive substrings of the normalized text,
    /// see [`crate::mail::search`]); message ids, ascending.
    async fn search_text(
        &self,
        account: AccountId,
        mailbox: Option<CollectionId>,
        query: &crate::mail::search::TextQuery,
    ) -> Result<Vec<i64>>;
    /// Up to `limit` messages waiting to be (re)indexed (those stored before the index
    /// existed), as (message, blob), by id.
    async fn text_backlog(&self, limit: usize) -> Result<Vec<(i64, BlobId)>>;
    /// Puts a waiting message's text in the index (replacing what it had) and takes it off
    /// the backlog, in one transaction; a message deleted meanwhile is skipped.
    async fn index_text(&self, message: i64, text: &crate::mail::search::SearchText) -> Result<()>;
    /// Takes the text of up to `limit` stored messages that waits for the index into it, in one
    /// transaction; returns how many (0: none waits). Stores that index as they write have none.
    async fn index_pending_text(&self, limit: usize) -> Result<usize>;
    /// Resolves once text was written that waits for [`Self::index_pending_text`] (at once when
    /// that happened since the last call resolved); never for stores that index as they write.
    async fn text_written(&self);
    /// Takes the messages with these UIDs out of the mailbox (tombstones in the log); a
    /// message then in no mailbox is deleted, releasing its blob and quota use. Returns the
    /// UIDs that were there.
    async fn remove_from_mailbox(&self, mailbox: CollectionId, uids: &[u32]) -> Result<Committed<Vec<u32>>>;
    /// Changes the keywords of the messages with these UIDs in the mailbox. A message whose
    /// keywords change gets a new modseq in every mailbox it is in (log rows for each).
    /// Returns the memberships and keywords of the messages found, changed or not.
    async fn change_keywords(
        &self,
        mailbox: CollectionId,
        uids: &[u32],
        op: crate::mail::KeywordOp,
        words: &crate::mail::Keywords,
    ) -> Result<Committed<Vec<(crate::mail::Membership, crate::mail::Keywords)>>>;
    /// Puts the messages with these UIDs in `from` into `to` as well (the same message, a
    /// new UID there); with `remove`, takes them out of `from` (a move). Both mailboxes must
    /// be the account's. Returns (old UID, new UID) pairs.
    async fn file_messages(
        &self,
        from: CollectionId,
        uids: &[u32],
        to: CollectionId,
        remove: bool,
    ) -> Result<Committed<Vec<(u32, u32)>>>;
    /// Messages of the account by id, with every mailbox membership; unknown ids are left out.
    async fn messages_by_id(
        &self,
        account: AccountId,
        ids: &[i64],
    ) -> Result<Vec<(crate::mail::Message, Vec<crate::mail::Membership>)>>;
    /// The account's messages that meet the query, in its order (see [`crate::mail::query`]).
    async fn query_messages(&self, q: &crate::mail::query::MessageQuery) -> Result<crate::mail::query::QueryAnswer>;
    /// The ids of the account's messages stored as this blob.
    async fn messages_with_blob(&self, account: AccountId, blob: &BlobId) -> Result<Vec<i64>>;
    /// The counts of every mailbox of the account, by the owner's keywords (kept up to date by
    /// every write, so reading them costs no scan).
    async fn mailbox_counts(
        &self,
        account: AccountId,
    ) -> Result<Vec<(CollectionId, crate::mail::query::MailboxCounts)>>;
    /// The counts of these mailboxes with unread meaning unread by `viewer`'s own seen state (a
    /// colleague's view of shared mailboxes): this one counts the messages.
    async fn mailbox_counts_seen_by(
        &self,
        mailboxes: &[CollectionId],
        viewer: PrincipalId,
    ) -> Result<Vec<(CollectionId, crate::mail::query::MailboxCounts)>>;
    /// The messages of these threads as (thread, message), each thread's oldest (by arrival)
    /// first.
    async fn thread_members(&self, account: AccountId, threads: &[i64]) -> Result<Vec<(i64, i64)>>;
    /// Marks a mailbox subscribed or not (IMAP SUBSCRIBE/LSUB).
    async fn set_subscribed(&self, mailbox: CollectionId, subscribed: bool) -> Result<()>;
    /// Notes that these messages were downloaded over POP3 (the first time counts).
    async fn mark_pop3_retrieved(&self, messages: &[i64], at: crate::ids::Timestamp) -> Result<()>;
    /// How many days mail downloaded over POP3 stays (`None`: for good).
    async fn set_pop3_keep_days(&self, account: AccountId, days: Option<u32>) -> Result<()>;
    /// Up to `limit` messages whose keep time after a POP3 download has passed at `now`, as
    /// (INBOX, UID); copies in other mailboxes are not named.
    async fn expired_pop3(&self, now: crate::ids::Timestamp, limit: usize) -> Result<Vec<(CollectionId, u32)>>;
    /// The messages of a mailbox with their memberships, by UID.
    async fn mailbox_messages(
        &self,
        mailbox: CollectionId,
    ) -> Result<Vec<(crate::mail::Membership, crate::mail::Message)>>;
    /// The messages of a mailbox as a listing keeps them (no envelope, structure or preview),
    /// by UID.
    async fn mailbox_summaries(&self, mailbox: CollectionId) -> Result<Vec<crate::mail::Summary>>;
    /// The count, highest UID and highest membership MODSEQ of a mailbox (what
    /// [`crate::mail::Tally::of`] makes of its summaries), read without listing it.
    async fn mailbox_tally(&self, mailbox: CollectionId) -> Result<crate::mail::Tally>;
    /// Messages of the account by id, by id; unknown ids and other accounts' are left out.
    async fn messages(&self, account: AccountId, ids: &[i64]) -> Result<Vec<crate::mail::Message>>;
    /// The blobs and MIME structures of messages of the account by id, as (message, blob,
    /// structure) by id; unknown ids and other accounts' are left out.
    async fn message_structures(
        &self,
        account: AccountId,
        ids: &[i64],
    ) -> Result<Vec<(i64, BlobId, crate::mail::MimePart)>>;
    /// The blobs of messages of the account by id, as (message, blob) by id; unknown ids and
    /// other accounts' are left out.
    async fn message_blobs(&self, account: AccountId, ids: &[i64]) -> Result<Vec<(i64, BlobId)>>;
    /// The own seen state a colleague keeps on messages of someone else's account (shared
    /// folders): (message, seen, modseq of its last change) for those of `messages` it ever
    /// changed; the others are unseen for it.
    async fn seen_states(&self, principal: PrincipalId, messages: &[i64]) -> Result<Vec<(i64, bool, Modseq)>>;
    /// Sets or clears a colleague's own seen state on messages of a mailbox (by UID), leaving
    /// the owner's keywords alone. The change takes the owning account's next modseq (no log
    /// row: nobody else sees it) and announces a mail change for that account. Returns the
    /// memberships found (modseq: the newer of the membership's and the colleague's change)
    /// with the keywords as the colleague sees them.
    async fn set_seen(
        &self,
        mailbox: CollectionId,
        principal: PrincipalId,
        uids: &[u32],
        seen: bool,
    ) -> Result<Committed<Vec<(crate::mail::Membership, crate::mail::Keywords)>>>;
    /// The mailboxes of other accounts that the principal unsubscribed from (shared mailboxes
    /// count as subscribed until then).
    async fn unsubscribed_shared(&self, principal: PrincipalId) -> Result<Vec<CollectionId>>;
    /// Subscribes the principal to a mailbox of another account again, or unsubscribes it.
    async fn set_shared_subscribed(
        &self,
        principal: PrincipalId,
        mailbox: CollectionId,
        subscribed: bool,
    ) -> Result<()>;
}

/// The outbound queue (mail for other servers) and the domains' DKIM keys.
#[async_trait]
pub trait OutboundStore: Send + Sync + 'static {
    /// Queues the message for each recipient (one entry each, due now), taking a blob reference
    /// for each, in one transaction. Returns the entries' ids.
    async fn enqueue(&self, new: crate::mail::outbound::NewQueued) -> Result<Vec<i64>>;
    /// Claims up to `limit` entries due at `now` that no node holds, until `until`: a node that
    /// dies while sending leaves them to be claimed again then. On PostgreSQL, nodes claiming at
    /// once skip each other's rows (`FOR UPDATE SKIP LOCKED`).
    async fn claim_due(
        &self,
        now: crate::ids::Timestamp,
        until: crate::ids::Timestamp,
        limit: usize,
    ) -> Result<Vec<crate::mail::outbound::Queued>>;
    /// Removes an entry (delivered, or bounced), releasing its blob reference, if `claim` still
    /// holds it; `false` when another node has taken it over.
    async fn dequeue(&self, id: i64, claim: &str) -> Result<bool>;
    /// Records a failed attempt (one more attempt, the error, due again at `next`) and lets
    /// the entry go, if `claim` still holds it.
    async fn defer(&self, id: i64, claim: &str, next: crate::ids::Timestamp, error: &str) -> Result<bool>;
    /// Holds a claimed entry longer (until `until`), if `claim` still holds it.
    async fn renew_claim(&self, id: i64, claim: &str, until: crate::ids::Timestamp) -> Result<bool>;
    /// Every queued entry, oldest first (for the admin).
    async fn queued(&self) -> Result<Vec<crate::mail::outbound::Queued>>;
    /// Makes every entry due now (the admin's "retry now").
    async fn flush_queue(&self, now: crate::ids::Timestamp) -> Result<u64>;

    /// The domain's DKIM key, if it has one.
    async fn dkim_key(&self, domain: DomainId) -> Result<Option<crate::mail::outbound::DkimKey>>;
    /// Stores the domain's DKIM key unless it has one already; returns the key it has now.
    async fn put_dkim_key(
        &self,
        domain: DomainId,
        key: crate::mail::outbound::DkimKey,
    ) -> Result<crate::mail::outbound::DkimKey>;
}

/// Blobs a client uploaded (JMAP) before it uses them: each holds a blob reference until it
/// expires.
#[async_trait]
pub trait UploadStore: Send + Sync + 'static {
    /// Records an upload of bytes already in the blob store, taking a reference to them.
    async fn put_upload(
        &self,
        account: AccountId,
        blob: &BlobId,
        content_type: &str,
        size: u64,
        at: crate::ids::Timestamp,
    ) -> Result<()>;
    /// The media type and size of the account's newest upload of this blob.
    async fn upload(&self, account: AccountId, blob: &BlobId) -> Result<Option<(String, u64)>>;
    /// Forgets up to `limit` uploads made before `before`, releasing their references.
    async fn expire_uploads(&self, before: crate::ids::Timestamp, limit: usize) -> Result<usize>;
}

/// A small JSON document of an account (see [`DocumentStore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: i64,
    pub data: String,
    pub created_at: crate::ids::Timestamp,
    pub updated_at: crate::ids::Timestamp,
}

/// Small per-account documents kept as JSON text, by kind (the vacation response, JMAP's
/// submission records and push subscriptions). Not in the change log.
#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    /// The account's documents of a kind, oldest first.
    async fn documents(&self, account: AccountId, kind: &str) -> Result<Vec<Document>>;
    /// Stores a new document (`id` `None`) or replaces one; returns its id. Replacing one that
    /// is gone is `NotFound`.
    async fn put_document(&self, account: AccountId, kind: &str, id: Option<i64>, data: &str) -> Result<i64>;
    /// Removes a document; whether it was there.
    async fn remove_document(&self, account: AccountId, kind: &str, id: i64) -> Result<bool>;
}

/// Waits until bytes a write depends on are durably stored.
pub type Durable<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>>;

/// Content-addressed bytes.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores the bytes durably (on return they survive a crash) and returns their id. Storing
    /// bytes that are there already costs no second copy.
    async fn put(&self, data: &[u8]) -> Result<BlobId>;
    /// Shared bytes: a cached blob is handed out without a copy.
    async fn get(&self, id: &BlobId) -> Result<Option<bytes::Bytes>>;
    /// [`Self::put`] of bytes not worth keeping in a memory cache: mail, which a client reads
    /// once (and then keeps), unlike the calendar and contact objects reports read again.
    async fn put_uncached(&self, data: &[u8]) -> Result<BlobId> {
        self.put(data).await
    }
    /// [`Self::get`] that leaves the memory cache as it is (see [`Self::put_uncached`]).
    async fn get_uncached(&self, id: &BlobId) -> Result<Option<bytes::Bytes>> {
        self.get(id).await
    }
    /// [`Self::get_uncached`] of several blobs, in order: a FETCH of many bodies reads them in
    /// one go instead of one file operation after the other.
    async fn get_many_uncached(&self, ids: &[BlobId]) -> Result<Vec<Option<bytes::Bytes>>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.get_uncached(id).await?);
        }
        Ok(out)
    }
    /// The first `len` bytes (all, if it is shorter): a message's header without its body.
    async fn get_prefix(&self, id: &BlobId, len: u64) -> Result<Option<bytes::Bytes>> {
        Ok(self.get(id).await?.map(|b| b.slice(..b.len().min(usize::try_from(len).unwrap_or(usize::MAX)))))
    }
    async fn exists(&self, id: &BlobId) -> Result<bool>;
    async fn delete(&self, id: &BlobId) -> Result<()>;
}
