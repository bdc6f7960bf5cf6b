//! An account's mail as one caller may see it, by message id rather than by mailbox and UID:
//! what JMAP reads. The caller's own account shows everything; a colleague's shows the mailboxes
//! it holds the read right on, the messages in them, and its own seen state.

use std::collections::HashMap;

use crate::Core;
use crate::changes::ChangeRow;
use crate::error::{Error, Result};
use crate::ids::{AccountId, CollectionId, Modseq};
use crate::mail::query::{Condition, MailboxCounts, MessageQuery, QueryAnswer};
use crate::mail::{Mailbox, Membership, Message};
use crate::model::{CollectionKind, Principal};
use crate::rights::Rights;

/// What a caller may see of one account's mail (checked when made, good for one request).
#[derive(Debug, Clone)]
pub struct MailView {
    pub account: AccountId,
    /// The caller.
    pub viewer: Principal,
    /// The mailboxes the caller may read, with its rights on each.
    pub mailboxes: Vec<(Mailbox, Rights)>,
}

impl MailView {
    /// The caller's own account.
    pub fn is_own(&self) -> bool {
        self.account == self.viewer.id
    }

    pub fn rights(&self, mailbox: CollectionId) -> Option<Rights> {
        self.mailboxes.iter().find(|(b, _)| b.id() == mailbox).map(|(_, r)| *r)
    }

    pub fn mailbox(&self, id: CollectionId) -> Option<&Mailbox> {
        self.mailboxes.iter().find(|(b, _)| b.id() == id).map(|(b, _)| b)
    }

    fn readable(&self, mailbox: CollectionId) -> bool {
        self.rights(mailbox).is_some()
    }
}

/// One page of the change log of an account's mail, as far as the caller may see it.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub rows: Vec<ChangeRow>,
    /// Where the next page starts (the state to hand out).
    pub until: Modseq,
    pub has_more: bool,
}

impl Core {
    /// The caller's view of an account's mail; not found when it may read nothing there.
    pub async fn mail_view(&self, who: &Principal, account: AccountId) -> Result<MailView> {
        if account == who.id {
            let boxes = self.mailboxes_of(account).await?;
            return Ok(MailView {
                account,
                viewer: who.clone(),
                mailboxes: boxes.into_iter().map(|b| (b, Rights::ALL)).collect(),
            });
        }
        let grants = self.store.grants_to(who.id).await?;
        if !grants.iter().any(|g| g.account == account) {
            return Err(Error::not_found(format!("account {account}")));
        }
        let boxes = self.store.mailboxes(account).await?;
        let mailboxes: Vec<(Mailbox, Rights)> = boxes
            .into_iter()
            .map(|b| {
                let r = super::collections::rights_from(&grants, account, Some(b.id()));
                (b, r)
            })
            .filter(|(_, r)| r.contains(Rights::READ))
            .collect();
        if mailboxes.is_empty() {
            return Err(Error::not_found(format!("account {account}")));
        }
        Ok(MailView { account, viewer: who.clone(), mailboxes })
    }

    /// The accounts other than its own where the caller may read mail, calendars or contacts
    /// (through any grant), with the owners.
    pub async fn shared_accounts(&self, who: &Principal) -> Result<Vec<(Principal, Vec<CollectionKind>)>> {
        let grants = self.store.grants_to(who.id).await?;
        let mut accounts: Vec<AccountId> = grants.iter().map(|g| g.account).filter(|a| *a != who.id).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let mut out = Vec::new();
        for account in accounts {
            let Some(owner) = self.store.principal(account).await? else { continue };
            let mut kinds = Vec::new();
            let account_wide = super::collections::rights_from(&grants, account, None);
            for c in self.store.list_collections(account, None).await? {
                let r = super::collections::rights_from(&grants, account, Some(c.id));
                if (r | account_wide).contains(Rights::READ) && !kinds.contains(&c.kind) {
                    kinds.push(c.kind);
                }
            }
            if !kinds.is_empty() {
                kinds.sort_unstable();
                out.push((owner, kinds));
            }
        }
        Ok(out)
    }

    /// Who hears of changes in an account: its owner (every kind, `None`) and each colleague
    /// holding rights there, with the kinds of collections it may read. Grants to groups are
    /// left out (their members are not expanded here). An account without grants costs one
    /// query (this runs after every change).
    pub async fn account_watchers(&self, account: AccountId) -> Result<Vec<(AccountId, Option<Vec<CollectionKind>>)>> {
        let mut grantees: Vec<_> = self.store.grants_on(account).await?.into_iter().map(|g| g.grantee).collect();
        grantees.sort_unstable_by_key(|p| p.0);
        grantees.dedup();
        let mut out = vec![(account, None)];
        for g in grantees.into_iter().filter(|g| *g != account) {
            let Some(p) = self.store.principal(g).await? else { continue };
            let shared = self.shared_accounts(&p).await?;
            if let Some((_, kinds)) = shared.into_iter().find(|(o, _)| o.id == account) {
                out.push((p.id, Some(kinds)));
            }
        }
        Ok(out)
    }

    /// Messages of the view by id with their memberships in mailboxes the caller may read;
    /// ids it cannot see are left out. In a colleague's account, `$seen` is the caller's own.
    pub async fn view_messages(&self, view: &MailView, ids: &[i64]) -> Result<Vec<(Message, Vec<Membership>)>> {
        let mut found = self.store.messages_by_id(view.account, ids).await?;
        if view.is_own() {
            return Ok(found);
        }
        found.retain_mut(|(_, ms)| {
            ms.retain(|m| view.readable(m.mailbox));
            !ms.is_empty()
        });
        let ids: Vec<i64> = found.iter().map(|(m, _)| m.id).collect();
        let states = self.store.seen_states(view.viewer.id, &ids).await?;
        let states: HashMap<i64, bool> = states.into_iter().map(|(id, seen, _)| (id, seen)).collect();
        for (m, _) in &mut found {
            m.keywords = m.keywords.with_seen(states.get(&m.id).copied().unwrap_or(false));
        }
        Ok(found)
    }

    /// Runs a query over the view's messages (in a colleague's account, only those in
    /// mailboxes the caller may read).
    pub async fn view_query(&self, view: &MailView, mut q: MessageQuery) -> Result<QueryAnswer> {
        q.account = view.account;
        if !view.is_own() {
            // `$seen` there is the caller's own, as Email/get shows it.
            let filter = std::mem::replace(&mut q.filter, Condition::False).seen_by(view.viewer.id);
            // A query inside one readable mailbox sees only visible messages anyway.
            q.filter = if filter.required_mailbox().is_some_and(|b| view.readable(b)) {
                filter
            } else {
                let visible =
                    Condition::Any(view.mailboxes.iter().map(|(b, _)| Condition::InMailbox(b.id())).collect());
                Condition::All(vec![visible, filter])
            };
        }
        self.store.query_messages(&q).await
    }

    /// Counts of every mailbox of the view; in a colleague's account, unread by the caller's
    /// own seen state.
    pub async fn view_counts(&self, view: &MailView) -> Result<HashMap<CollectionId, MailboxCounts>> {
        let counts = if view.is_own() {
            self.store.mailbox_counts(view.account).await?
        } else {
            let boxes: Vec<CollectionId> = view.mailboxes.iter().map(|(b, _)| b.id()).collect();
            self.store.mailbox_counts_seen_by(&boxes, view.viewer.id).await?
        };
        Ok(counts.into_iter().filter(|(b, _)| view.readable(*b)).collect())
    }

    /// The messages of these threads the caller may see, as (thread, message), each thread's
    /// oldest first.
    pub async fn view_threads(&self, view: &MailView, threads: &[i64]) -> Result<Vec<(i64, i64)>> {
        let members = self.store.thread_members(view.account, threads).await?;
        if view.is_own() {
            return Ok(members);
        }
        let ids: Vec<i64> = members.iter().map(|(_, m)| *m).collect();
        let visible: std::collections::HashSet<i64> =
            self.view_messages(view, &ids).await?.into_iter().map(|(m, _)| m.id).collect();
        Ok(members.into_iter().filter(|(_, m)| visible.contains(m)).collect())
    }

    /// The bytes of a message the caller got through [`Core::view_messages`].
    pub async fn view_message_bytes(&self, view: &MailView, m: &Message) -> Result<bytes::Bytes> {
        if m.account != view.account {
            return Err(Error::not_found("message"));
        }
        self.blobs.get(&m.blob).await?.ok_or_else(|| Error::internal(format!("blob {} is missing", m.blob)))
    }

    /// The header of a message the caller got through [`Core::view_messages`].
    pub async fn view_message_head(&self, view: &MailView, m: &Message) -> Result<bytes::Bytes> {
        if m.account != view.account {
            return Err(Error::not_found("message"));
        }
        let head = u64::from(m.structure.body_start).max(1);
        self.blobs
            .get_prefix(&m.blob, head)
            .await?
            .ok_or_else(|| Error::internal(format!("blob {} is missing", m.blob)))
    }

    /// A message of the view stored as this blob, if the caller may read one.
    pub async fn view_message_with_blob(&self, view: &MailView, blob: &crate::ids::BlobId) -> Result<Option<Message>> {
        let ids = self.store.messages_with_blob(view.account, blob).await?;
        Ok(self.view_messages(view, &ids).await?.into_iter().next().map(|(m, _)| m))
    }

    /// The modseq of the last change to objects of `kind` in the account (a state that
    /// changes when and only when something of that kind does). Rows pruned from the log are
    /// covered by the log's start, so the value never goes back.
    pub async fn kind_state(&self, account: AccountId, kind: CollectionKind) -> Result<Modseq> {
        let pos = self.store.log_position(account).await?;
        let last = self.store.kind_modseq(account, kind).await?;
        let floor = Modseq((pos.oldest.0 - 1).max(0));
        Ok(last.map_or(floor, |m| Modseq(m.0.max(floor.0))))
    }

    /// The log rows of `kind` after `since`, cut at a transaction boundary after at most
    /// `max` rows; rows of collections the caller may not read are left out. `None` when the
    /// log no longer reaches back to `since` or `since` is ahead of it.
    pub async fn kind_changes(
        &self,
        who: &Principal,
        account: AccountId,
        kind: CollectionKind,
        since: Modseq,
        max: usize,
    ) -> Result<Option<LogPage>> {
        let readable: Option<Vec<CollectionId>> = if account == who.id {
            None
        } else {
            let grants = self.store.grants_to(who.id).await?;
            let all = self.store.list_collections(account, Some(kind)).await?;
            Some(
                all.iter()
                    .filter(|c| super::collections::rights_from(&grants, account, Some(c.id)).contains(Rights::READ))
                    .map(|c| c.id)
                    .collect(),
            )
        };
        let pos = self.store.log_position(account).await?;
        if since.0 < pos.oldest.0 - 1 || since > pos.current {
            return Ok(None);
        }
        // Rows of every kind come back: read pages (whole transactions only) until more than
        // `max` rows of this kind are in hand or the log ends.
        let batch = (max + 1).clamp(64, 5000);
        let mut rows = Vec::new();
        let mut read_to = since;
        let mut ended = false;
        while rows.len() <= max {
            let page = self.store.change_rows(account, read_to, None, batch).await?;
            let Some(last) = page.last().map(|r| r.modseq) else {
                ended = true;
                break;
            };
            if page.len() < batch {
                rows.extend(page.into_iter().filter(|r| r.kind == kind));
                read_to = last;
                ended = true;
                break;
            }
            // The page may end inside the transaction at `last`: keep what is before it.
            let before: Vec<ChangeRow> = page.into_iter().filter(|r| r.modseq < last).collect();
            if before.is_empty() {
                // One transaction larger than a page: take it whole.
                let whole = self.store.change_rows_at(account, last, None).await?;
                rows.extend(whole.into_iter().filter(|r| r.kind == kind));
                read_to = last;
            } else {
                rows.extend(before.into_iter().filter(|r| r.kind == kind));
                read_to = Modseq(last.0 - 1);
            }
        }
        let cut = crate::changes::cut_at_limit(&rows, max);
        let (until, has_more) = if let Some(m) = cut.needs_whole_modseq {
            rows.retain(|r| r.modseq <= m);
            (m, true)
        } else if cut.has_more {
            rows.truncate(cut.keep);
            (rows.last().map_or(since, |r| r.modseq), true)
        } else if ended {
            (Modseq(pos.current.0.max(read_to.0)), false)
        } else {
            (read_to, false)
        };
        if let Some(readable) = readable {
            rows.retain(|r| readable.contains(&r.collection_id));
        }
        Ok(Some(LogPage { rows, until, has_more }))
    }
}
