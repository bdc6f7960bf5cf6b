//! Mail: the special-use mailboxes every account has, delivery into inboxes, reading a mailbox.

use crate::error::{Error, Result};
use crate::ids::{AccountId, CollectionId, PrincipalId, Timestamp};
use crate::mail::{Keywords, Mailbox, MailboxRole, Membership, Message, NewMessage, Stored, ThreadKeys, parse};
use crate::model::Principal;
use crate::rights::Rights;

/// A message taken in (size checked, parsed, bytes stored), before it is filed.
pub(super) struct Incoming {
    pub(super) parsed: parse::Parsed,
    pub(super) blob: crate::ids::BlobId,
    pub(super) size: u64,
    /// The write of the bytes when it may still be under way (`take_in_pending`);
    /// none when they are stored.
    pub(super) pending: Option<PendingWrite>,
}

/// A blob write under way; waited for (once) before a row that names the blob commits.
pub(super) struct PendingWrite {
    handle: std::sync::Mutex<Option<tokio::task::JoinHandle<Result<crate::ids::BlobId>>>>,
    done: tokio::sync::OnceCell<()>,
}

impl Incoming {
    /// Returns once the bytes are durably stored. A wait given up half way (its caller went
    /// away) leaves the write unknown: later waits fail rather than file a message whose bytes
    /// may not be there.
    pub(super) async fn durable(&self) -> Result<()> {
        let Some(p) = &self.pending else { return Ok(()) };
        p.done
            .get_or_try_init(|| async {
                let handle = p.handle.lock().map_err(|_| Error::internal("blob write lock poisoned"))?.take();
                let handle = handle.ok_or_else(|| Error::internal("the blob write was abandoned"))?;
                handle.await.map_err(Error::internal)?.map(|_| ())
            })
            .await?;
        Ok(())
    }
}

/// What delivery did for one recipient.
#[derive(Debug)]
pub struct Delivered {
    pub recipient: PrincipalId,
    pub outcome: Result<Stored>,
}

/// Quota warnings waiting to be mailed: filled when a write that crossed a mark commits,
/// drained by [`crate::Core::send_quota_warnings`], which the server runs when `notify` fires.
#[derive(Debug, Default)]
pub struct QuotaWarnings {
    pending: std::sync::Mutex<Vec<(AccountId, crate::quota::QuotaLevel, u64, u64)>>,
    pub notify: tokio::sync::Notify,
}

impl QuotaWarnings {
    pub(crate) fn push(&self, account: AccountId, level: crate::quota::QuotaLevel, used: u64, limit: u64) {
        if let Ok(mut p) = self.pending.lock() {
            p.push((account, level, used, limit));
        }
        self.notify.notify_one();
    }

    fn take(&self) -> Vec<(AccountId, crate::quota::QuotaLevel, u64, u64)> {
        self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default()
    }
}

/// How long a POP3 maildrop lock lasts without renewal: longer than a POP3 session may stay
/// idle (ten minutes, RFC 1939 §3), so a live session never loses it.
pub const MAILDROP_LEASE_MS: i64 = 11 * 60 * 1000;

/// Proof that the read right on a mailbox was checked (see [`crate::Core::mailbox_reader`]); it
/// reads messages of that mailbox's account only.
#[derive(Debug, Clone)]
pub struct MailboxReader {
    account: AccountId,
}

impl MailboxReader {
    /// The account whose messages it reads.
    pub(crate) fn account(&self) -> AccountId {
        self.account
    }
}

/// Whether mail for an address is taken here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// A user or alias of a local domain; mail goes to this account.
    Local(PrincipalId),
    /// A local domain has no such address.
    Unknown,
    /// Not a domain of this server (relaying is not offered to unauthenticated clients).
    NotLocal,
    /// The account is full.
    OverQuota,
}

impl crate::Core {
    /// Looks up where mail for `address` goes.
    pub async fn recipient(&self, address: &str) -> Result<Recipient> {
        let Ok(address) = crate::address::Address::parse(address) else { return Ok(Recipient::Unknown) };
        if self.store.find_domain(&address.domain).await?.is_none() {
            return Ok(Recipient::NotLocal);
        }
        let Some(id) = self.store.resolve_address(&address).await? else { return Ok(Recipient::Unknown) };
        let Some(p) = self.store.principal(id).await? else { return Ok(Recipient::Unknown) };
        if p.quota.limit_bytes.is_some_and(|limit| p.quota.used_bytes >= limit) {
            return Ok(Recipient::OverQuota);
        }
        Ok(Recipient::Local(id))
    }

    /// The account's mailboxes; the special-use ones (Inbox, Drafts, Sent, Junk, Trash,
    /// Archive) are made first when missing. A folder that already has a role's default name
    /// (made by a client before) is left alone and the role stays unassigned.
    pub async fn mailboxes_of(&self, account: AccountId) -> Result<Vec<Mailbox>> {
        let mut boxes = self.store.mailboxes(account).await?;
        for role in MailboxRole::ALL {
            if boxes.iter().any(|b| b.role == Some(role)) {
                continue;
            }
            match self.store.create_mailbox(account, None, role.default_name(), Some(role)).await {
                Ok(c) => boxes.push(self.publish(c)),
                // Made meanwhile by another delivery, or the name is taken by a plain folder.
                Err(Error::Conflict(_)) => boxes = self.store.mailboxes(account).await?,
                Err(e) => return Err(e),
            }
        }
        Ok(boxes)
    }

    /// The full name of each mailbox: its ancestors' names and its own, joined by `/` (the
    /// IMAP hierarchy separator), with whether it has children.
    pub fn mailbox_paths(boxes: &[Mailbox]) -> Vec<(String, bool)> {
        boxes
            .iter()
            .map(|b| {
                let mut names = vec![b.collection.name.as_str()];
                let mut parent = b.collection.parent;
                let mut guard = 0;
                while let Some(p) = parent.filter(|_| guard < 64) {
                    let Some(up) = boxes.iter().find(|x| x.id() == p) else { break };
                    names.push(&up.collection.name);
                    parent = up.collection.parent;
                    guard += 1;
                }
                names.reverse();
                let children = boxes.iter().any(|x| x.collection.parent == Some(b.id()));
                (names.join("/"), children)
            })
            .collect()
    }

    /// Creates a mailbox by its full name (`Work/Projects`), making missing parents too.
    pub async fn create_mailbox(&self, who: &Principal, path: &str) -> Result<Mailbox> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        for s in &segments {
            super::collections::check_name(s)?;
            if s.contains(['%', '*']) {
                return Err(Error::invalid("mailbox names cannot contain % or *"));
            }
        }
        if path.eq_ignore_ascii_case("INBOX") {
            return Err(Error::conflict("INBOX exists"));
        }
        let mut boxes = self.mailboxes_of(who.id).await?;
        let mut parent: Option<CollectionId> = None;
        for (i, seg) in segments.iter().enumerate() {
            let existing = boxes.iter().find(|b| b.collection.parent == parent && b.collection.name == *seg).cloned();
            match existing {
                Some(_) if i + 1 == segments.len() => return Err(Error::conflict(format!("mailbox {path:?} exists"))),
                Some(b) => parent = Some(b.id()),
                None => {
                    let b = self.publish(self.store.create_mailbox(who.id, parent, seg, None).await?);
                    parent = Some(b.id());
                    boxes.push(b);
                }
            }
        }
        boxes.into_iter().find(|b| Some(b.id()) == parent).ok_or_else(|| Error::internal("mailbox not made"))
    }

    /// Deletes a mailbox of the caller and the messages only it holds. Refused for the
    /// special-use mailboxes and for one with children (its children would go too).
    pub async fn delete_mailbox(&self, who: &Principal, mailbox: &Mailbox) -> Result<()> {
        if mailbox.collection.account != who.id {
            return Err(Error::forbidden("owner"));
        }
        if mailbox.role.is_some() {
            return Err(Error::invalid("special-use mailboxes cannot be deleted"));
        }
        let boxes = self.store.mailboxes(who.id).await?;
        if boxes.iter().any(|b| b.collection.parent == Some(mailbox.id())) {
            return Err(Error::conflict("the mailbox has child mailboxes"));
        }
        self.publish(self.store.remove_collection(mailbox.id()).await?);
        Ok(())
    }

    /// Renames (and moves) a mailbox of the caller to a full name; missing parents are made.
    pub async fn rename_mailbox(&self, who: &Principal, mailbox: &Mailbox, to: &str) -> Result<()> {
        if mailbox.collection.account != who.id {
            return Err(Error::forbidden("owner"));
        }
        if mailbox.role == Some(MailboxRole::Inbox) {
            return Err(Error::invalid("renaming INBOX is not supported"));
        }
        let (parent_path, name) = match to.trim_end_matches('/').rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, to.trim_end_matches('/')),
        };
        super::collections::check_name(name)?;
        let parent = match parent_path {
            None => None,
            Some(p) => {
                let boxes = self.mailboxes_of(who.id).await?;
                let paths = Self::mailbox_paths(&boxes);
                match boxes.iter().zip(&paths).find(|(_, (path, _))| path == p) {
                    Some((b, _)) => Some(b.id()),
                    None => Some(self.create_mailbox(who, p).await?.id()),
                }
            }
        };
        let patch =
            crate::ports::CollectionPatch { name: Some(name.to_owned()), display_name: None, parent: Some(parent) };
        self.publish(self.store.update_collection(mailbox.id(), patch).await?);
        Ok(())
    }

    /// Subscribes the caller to one of its mailboxes, or unsubscribes it; on a mailbox someone
    /// shared with it, its own subscription (the owner's stays as it is).
    pub async fn subscribe(&self, who: &Principal, mailbox: &Mailbox, on: bool) -> Result<()> {
        if mailbox.collection.account != who.id {
            self.access(who, mailbox.id()).await?.require(Rights::READ)?;
            return self.store.set_shared_subscribed(who.id, mailbox.id(), on).await;
        }
        self.store.set_subscribed(mailbox.id(), on).await
    }

    /// The mailbox with `role` of the account.
    pub async fn mailbox_with_role(&self, account: AccountId, role: MailboxRole) -> Result<Mailbox> {
        self.mailboxes_of(account)
            .await?
            .into_iter()
            .find(|b| b.role == Some(role))
            .ok_or_else(|| Error::not_found(format!("{} mailbox of account {account}", role.as_str())))
    }

    /// Delivers a message (as received, e.g. with a Received: header added) to the inboxes of
    /// `recipients`: the bytes are stored once and durably, then each recipient's rows commit
    /// in their own transaction. Each recipient gets its own outcome (over quota, say); the
    /// message is only acknowledged for those whose outcome is `Ok`.
    pub async fn deliver(&self, recipients: &[PrincipalId], raw: &[u8]) -> Result<Vec<Delivered>> {
        let incoming = self.take_in_pending(raw)?;
        let out = self.deliver_incoming(&incoming, recipients).await;
        if out.iter().any(|d| d.outcome.is_ok()) {
            self.restore_blob(&incoming.blob, raw).await?;
        }
        Ok(out)
    }

    /// [`Core::deliver`] for mail from another server with its envelope sender, which may get
    /// vacation responses.
    pub async fn deliver_from(&self, sender: &str, recipients: &[PrincipalId], raw: &[u8]) -> Result<Vec<Delivered>> {
        let out = self.deliver(recipients, raw).await?;
        let delivered: Vec<PrincipalId> = out.iter().filter(|d| d.outcome.is_ok()).map(|d| d.recipient).collect();
        self.vacation_replies(sender, &delivered, raw).await;
        Ok(out)
    }

    /// Files a message taken in into the inboxes of `recipients` (each in its own transaction).
    pub(super) async fn deliver_incoming(&self, incoming: &Incoming, recipients: &[PrincipalId]) -> Vec<Delivered> {
        let received_at = Timestamp::now();
        let mut out = Vec::with_capacity(recipients.len());
        let mut seen = Vec::with_capacity(recipients.len());
        for &recipient in recipients {
            if seen.contains(&recipient) {
                continue;
            }
            seen.push(recipient);
            let outcome = async {
                let inbox = self.mailbox_with_role(recipient, MailboxRole::Inbox).await?;
                self.file(incoming, recipient, inbox.id(), Keywords::default(), received_at).await
            }
            .await;
            out.push(Delivered { recipient, outcome });
        }
        out
    }

    /// A message coming in: checked for size, parsed, its bytes stored durably.
    pub(super) async fn take_in(&self, raw: &[u8]) -> Result<Incoming> {
        let size = raw.len() as u64;
        if size > self.settings.max_item_size {
            return Err(Error::TooLarge { size, max: self.settings.max_item_size });
        }
        // The bytes are on their way to the disk (and its fsyncs) while they are parsed here.
        let (blob, parsed) = tokio::join!(self.blobs.put_uncached(raw), async { parse::parse(raw) });
        Ok(Incoming { parsed, blob: blob?, size, pending: None })
    }

    /// [`Self::take_in`] that does not wait for the bytes to be stored: their write (and its
    /// fsyncs) goes on while the message is parsed and filed, and [`Self::file`] waits for it
    /// just before its commit. Whoever else uses the blob (a queue row) waits with
    /// [`Incoming::durable`] first.
    pub(super) fn take_in_pending(&self, raw: &[u8]) -> Result<Incoming> {
        let size = raw.len() as u64;
        if size > self.settings.max_item_size {
            return Err(Error::TooLarge { size, max: self.settings.max_item_size });
        }
        let blob = crate::ids::BlobId::of(raw);
        let (blobs, bytes) = (self.blobs.clone(), raw.to_vec());
        let handle = tokio::spawn(async move { blobs.put_uncached(&bytes).await });
        let pending = PendingWrite { handle: std::sync::Mutex::new(Some(handle)), done: tokio::sync::OnceCell::new() };
        Ok(Incoming { parsed: parse::parse(raw), blob, size, pending: Some(pending) })
    }

    /// Stores an incoming message in one mailbox of `account`, in its thread.
    pub(super) async fn file(
        &self,
        m: &Incoming,
        account: AccountId,
        mailbox: CollectionId,
        keywords: Keywords,
        received_at: Timestamp,
    ) -> Result<Stored> {
        let new = NewMessage {
            account,
            blob: m.blob.clone(),
            size: m.size,
            received_at,
            parsed: m.parsed.clone(),
            keywords,
            mailboxes: vec![mailbox],
            thread: ThreadKeys::of(&m.parsed),
        };
        Ok(self.publish(self.store.append_message_after(new, Box::pin(m.durable())).await?))
    }

    /// Deletes messages (by UID) from a mailbox the caller may delete in; returns the UIDs
    /// that were there.
    pub async fn remove_messages(&self, who: &Principal, mailbox: CollectionId, uids: &[u32]) -> Result<Vec<u32>> {
        let access = self.access(who, mailbox).await?;
        access.require(Rights::DELETE)?;
        Ok(self.publish(self.store.remove_from_mailbox(mailbox, uids).await?))
    }

    /// Changes keywords (IMAP flags) of messages in a mailbox. The rights the change needs:
    /// `$seen` the seen right, `$deleted` the delete right, any other the flag right.
    pub async fn change_keywords(
        &self,
        who: &Principal,
        mailbox: CollectionId,
        uids: &[u32],
        op: crate::mail::KeywordOp,
        words: &Keywords,
    ) -> Result<Vec<(Membership, Keywords)>> {
        let access = self.access(who, mailbox).await?;
        for w in words.iter() {
            access.require(match w {
                "$seen" => Rights::SEEN,
                "$deleted" => Rights::DELETE,
                _ => Rights::FLAG,
            })?;
        }
        if op == crate::mail::KeywordOp::Replace && words.iter().next().is_none() {
            access.require(Rights::FLAG)?;
        }
        // A colleague keeps its own \Seen on someone else's mailbox.
        if access.collection.account != who.id {
            return self.change_keywords_shared(who, mailbox, uids, op, words).await;
        }
        Ok(self.publish(self.store.change_keywords(mailbox, uids, op, words).await?))
    }

    /// COPY (the message also in `to`) or MOVE (only in `to`) within one account. Needs read
    /// on `from` (and delete for a move) and create on `to`. Returns (old UID, new UID) pairs.
    pub async fn file_messages(
        &self,
        who: &Principal,
        from: CollectionId,
        uids: &[u32],
        to: CollectionId,
        remove: bool,
    ) -> Result<Vec<(u32, u32)>> {
        let source = self.access(who, from).await?;
        source.require(Rights::READ)?;
        if remove {
            source.require(Rights::DELETE)?;
        }
        let target = self.access(who, to).await?;
        target.require(Rights::CREATE)?;
        if source.collection.account != target.collection.account {
            return self.copy_across(who, from, uids, &target.collection, remove).await;
        }
        Ok(self.publish(self.store.file_messages(from, uids, to, remove).await?))
    }

    /// COPY/MOVE between accounts (out of or into a shared mailbox): a new message in the
    /// target account with the same bytes (one blob, one more reference) and the keywords the
    /// caller sees; a move then removes the originals. Rights are checked by the caller.
    async fn copy_across(
        &self,
        who: &Principal,
        from: CollectionId,
        uids: &[u32],
        to: &crate::model::Collection,
        remove: bool,
    ) -> Result<Vec<(u32, u32)>> {
        let mut listed = self.mailbox_summaries(who, from).await?;
        listed.retain(|s| uids.contains(&s.uid));
        let reader = self.mailbox_reader(who, from).await?;
        let mut ids: Vec<i64> = listed.iter().map(|s| s.message).collect();
        ids.sort_unstable();
        let whole = self.listed_messages(&reader, &ids).await?;
        let mut pairs = Vec::with_capacity(listed.len());
        for m in &listed {
            let Ok(at) = whole.binary_search_by_key(&m.message, |w| w.id) else { continue };
            let msg = &whole[at];
            let raw = self
                .blobs
                .get_uncached(&msg.blob)
                .await?
                .ok_or_else(|| Error::internal(format!("blob {} is missing", msg.blob)))?;
            let incoming =
                Incoming { parsed: parse::parse(&raw), blob: msg.blob.clone(), size: msg.size, pending: None };
            // The keywords as the caller sees them (its own \Seen on a shared mailbox).
            let stored = self.file(&incoming, to.account, to.id, m.keywords.clone(), msg.received_at).await?;
            self.restore_blob(&msg.blob, &raw).await?;
            if let Some(new) = stored.memberships.first() {
                pairs.push((m.uid, new.uid));
            }
        }
        if remove && !pairs.is_empty() {
            let done: Vec<u32> = pairs.iter().map(|(old, _)| *old).collect();
            self.publish(self.store.remove_from_mailbox(from, &done).await?);
        }
        Ok(pairs)
    }

    /// APPEND: stores a message a client hands over into a mailbox it may add to, with
    /// keywords and an arrival time of its choice. Returns the message and its UID there.
    pub async fn append_message(
        &self,
        who: &Principal,
        mailbox: CollectionId,
        raw: &[u8],
        keywords: Keywords,
        received_at: Option<Timestamp>,
    ) -> Result<Stored> {
        let access = self.access(who, mailbox).await?;
        self.append_with(&access, raw, keywords, received_at).await
    }

    /// [`Self::append_message`] into a mailbox the caller has just looked up (IMAP names it
    /// in every APPEND): its rights come from that collection instead of reading it again. A
    /// mailbox removed since is not found when the message is filed.
    pub async fn append_to(
        &self,
        who: &Principal,
        mailbox: &Mailbox,
        raw: &[u8],
        keywords: Keywords,
        received_at: Option<Timestamp>,
    ) -> Result<Stored> {
        let access = self.access_to(who, mailbox.collection.clone()).await?;
        self.append_with(&access, raw, keywords, received_at).await
    }

    async fn append_with(
        &self,
        access: &crate::Access,
        raw: &[u8],
        keywords: Keywords,
        received_at: Option<Timestamp>,
    ) -> Result<Stored> {
        let collection = &access.collection;
        if collection.kind != crate::model::CollectionKind::MailFolder {
            return Err(Error::not_found(format!("mailbox {}", collection.id)));
        }
        access.require(Rights::CREATE)?;
        let incoming = self.take_in_pending(raw)?;
        let at = received_at.unwrap_or_else(Timestamp::now);
        let stored = self.file(&incoming, collection.account, collection.id, keywords, at).await?;
        self.restore_blob(&incoming.blob, raw).await?;
        Ok(stored)
    }

    /// A message's bytes as stored, for a caller who may read the mailbox it is in.
    pub async fn message_bytes(&self, who: &Principal, mailbox: CollectionId, m: &Message) -> Result<bytes::Bytes> {
        let reader = self.mailbox_reader(who, mailbox).await?;
        self.read_message(&reader, m).await
    }

    /// Checks once that the caller may read the mailbox, for reading many of its messages
    /// (a FETCH of a thousand bodies, POP3's RETR of each) without a check per message.
    pub async fn mailbox_reader(&self, who: &Principal, mailbox: CollectionId) -> Result<MailboxReader> {
        let access = self.access(who, mailbox).await?;
        access.require(Rights::READ)?;
        Ok(MailboxReader { account: access.collection.account })
    }

    /// A message's bytes, through a reader of a mailbox of its account.
    pub async fn read_message(&self, reader: &MailboxReader, m: &Message) -> Result<bytes::Bytes> {
        if m.account != reader.account {
            return Err(Error::not_found("message"));
        }
        self.blobs.get_uncached(&m.blob).await?.ok_or_else(|| Error::internal(format!("blob {} is missing", m.blob)))
    }

    /// Takes the exclusive lock on the account's POP3 maildrop (RFC 1939 §8), seen by every
    /// node on the database; returns the holder token that renews and releases it, `None` when
    /// someone else has it. It lasts [`MAILDROP_LEASE_MS`] unless renewed, so the lock of a
    /// node that died frees itself.
    pub async fn lock_maildrop(&self, account: AccountId) -> Result<Option<String>> {
        let holder = hex::encode(rand::random::<[u8; 16]>());
        Ok(self.renew_maildrop(account, &holder).await?.then_some(holder))
    }

    /// Holds the maildrop lock for another lease; `false`: it was lost.
    pub async fn renew_maildrop(&self, account: AccountId, holder: &str) -> Result<bool> {
        let now = Timestamp::now();
        self.store.take_lease(&format!("pop3:{account}"), holder, now, Timestamp(now.0 + MAILDROP_LEASE_MS)).await
    }

    /// Gives the maildrop lock up.
    pub async fn unlock_maildrop(&self, account: AccountId, holder: &str) -> Result<()> {
        self.store.release_lease(&format!("pop3:{account}"), holder).await
    }

    /// Notes that the caller downloaded these messages over POP3 (for the account's "delete
    /// mail POP3 downloaded after N days").
    pub async fn pop3_retrieved(&self, who: &Principal, messages: &[&super::mail_list::Dropped]) -> Result<()> {
        let own: Vec<i64> = messages.iter().filter(|m| m.account() == who.id).map(|m| m.message()).collect();
        self.store.mark_pop3_retrieved(&own, Timestamp::now()).await
    }

    /// Sets how long mail downloaded over POP3 stays (`None`: for good), for the user itself or
    /// an administrator.
    pub async fn set_pop3_keep_days(&self, actor: super::Actor<'_>, address: &str, days: Option<u32>) -> Result<()> {
        let p = self.principal_by_address(address).await?;
        actor.require_self_or_admin(p.id)?;
        self.store.set_pop3_keep_days(p.id, days).await
    }

    /// The retention job: deletes mail downloaded over POP3 longer ago than its account keeps
    /// it. Returns how many messages went.
    pub async fn expire_pop3_downloads(&self) -> Result<usize> {
        let mut removed = 0;
        loop {
            let due = self.store.expired_pop3(Timestamp::now(), 1000).await?;
            if due.is_empty() {
                return Ok(removed);
            }
            let mut by_box: std::collections::BTreeMap<CollectionId, Vec<u32>> = std::collections::BTreeMap::new();
            for (mailbox, uid) in due {
                by_box.entry(mailbox).or_default().push(uid);
            }
            let mut progress = 0;
            for (mailbox, uids) in by_box {
                progress += self.publish(self.store.remove_from_mailbox(mailbox, &uids).await?).len();
            }
            if progress == 0 {
                return Ok(removed);
            }
            removed += progress;
        }
    }

    /// For the admin command line: a user's mailboxes with how many messages each holds.
    pub async fn admin_mailboxes(&self, actor: super::Actor<'_>, address: &str) -> Result<Vec<(Mailbox, usize)>> {
        actor.require_admin()?;
        let p = self.principal_by_address(address).await?;
        let mut out = Vec::new();
        for b in self.mailboxes_of(p.id).await? {
            let n = self.store.mailbox_summaries(b.id()).await?.len();
            out.push((b, n));
        }
        Ok(out)
    }

    /// For the admin command line: the messages of a user's mailbox (by name), by UID.
    pub async fn admin_messages(
        &self,
        actor: super::Actor<'_>,
        address: &str,
        mailbox: &str,
    ) -> Result<Vec<(Membership, Message)>> {
        actor.require_admin()?;
        let p = self.principal_by_address(address).await?;
        let b = self
            .mailboxes_of(p.id)
            .await?
            .into_iter()
            .find(|b| b.collection.name.eq_ignore_ascii_case(mailbox))
            .ok_or_else(|| Error::not_found(format!("mailbox {mailbox:?} of {address}")))?;
        self.store.mailbox_messages(b.id()).await
    }

    /// For the admin command line: one message's bytes as stored.
    pub async fn admin_message_bytes(
        &self,
        actor: super::Actor<'_>,
        address: &str,
        mailbox: &str,
        uid: u32,
    ) -> Result<bytes::Bytes> {
        let (_, m) = self
            .admin_messages(actor, address, mailbox)
            .await?
            .into_iter()
            .find(|(m, _)| m.uid == uid)
            .ok_or_else(|| Error::not_found(format!("message {uid} in {mailbox:?}")))?;
        self.blobs.get_uncached(&m.blob).await?.ok_or_else(|| Error::internal(format!("blob {} is missing", m.blob)))
    }

    /// Mails the pending quota warnings, one to each account that crossed 70 % or 90 % (the
    /// store remembers the level, so an account is warned again only after its use fell below
    /// the mark and crossed it anew). Returns how many were delivered.
    pub async fn send_quota_warnings(&self) -> usize {
        let mut sent = 0;
        for (account, level, used, limit) in self.quota_warnings.take() {
            let result = async {
                let p = self.store.principal(account).await?.ok_or_else(|| Error::not_found("account"))?;
                let raw = quota_warning(&p, level.percent(), used, limit);
                self.deliver(&[account], raw.as_bytes()).await
            }
            .await;
            match result {
                Ok(d) if d.iter().all(|d| d.outcome.is_ok()) => sent += 1,
                Ok(d) => {
                    for e in d.iter().filter_map(|d| d.outcome.as_ref().err()) {
                        tracing::warn!(%account, error = %e, "quota warning not delivered");
                    }
                }
                Err(e) => tracing::warn!(%account, error = %e, "quota warning not delivered"),
            }
        }
        sent
    }
}

/// The warning mail: plain text, from the postmaster of the user's domain.
fn quota_warning(p: &Principal, percent: u8, used: u64, limit: u64) -> String {
    use crate::quota::format_size;
    let now = chrono::Utc::now();
    format!(
        "From: Kontor <postmaster@{domain}>\r\nTo: <{to}>\r\nSubject: Your mailbox is {percent} % full\r\n\
         Date: {date}\r\nMessage-ID: <quota-{id}-{stamp}@{domain}>\r\nAuto-Submitted: auto-generated\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Your mailbox uses {used} of {limit} ({percent} % or more).\r\n\r\n\
         When it is full, new mail to you is refused. Delete mail you no longer need (and empty\r\n\
         the Trash), or ask your administrator for more space.\r\n",
        domain = p.address.domain.as_str(),
        to = p.address,
        date = now.to_rfc2822(),
        id = p.id,
        stamp = now.timestamp_millis(),
        used = format_size(used),
        limit = format_size(limit),
    )
}
