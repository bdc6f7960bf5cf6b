//! The mail store: mailbox state beside mail-folder collections, messages, and their
//! membership in mailboxes with per-mailbox UIDs, all written through the account's change log.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use kontor_domain::changes::ChangeOp;
use kontor_domain::error::{Error, Result};
use kontor_domain::ids::{AccountId, BlobId, CollectionId, Modseq, PrincipalId, Timestamp};
use kontor_domain::mail::{
    Envelope, KeywordOp, Keywords, Mailbox, MailboxRole, Membership, Message, MimePart, NewMessage, Stored,
};
use kontor_domain::model::CollectionKind;
use kontor_domain::ports::{Committed, Durable, MailStore, NewCollection};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};

use super::collections::{insert_collection, release, to_collection};
use super::log::{AccountTx, Logged};
use super::{SqlStore, db_err, u, unique};
use crate::entities::{collection, mail_settings, mailbox, mailbox_message, message};

/// Gives a new mail-folder collection its mailbox state. UIDVALIDITY is the collection's id:
/// ids are never reused, so a mailbox made again under an old name never repeats one.
pub(crate) async fn add_mailbox_state(
    c: &impl ConnectionTrait,
    coll: &collection::Model,
    role: Option<MailboxRole>,
) -> Result<mailbox::Model> {
    mailbox::ActiveModel {
        collection_id: Set(coll.id),
        account_id: Set(coll.account_id),
        role: Set(role.map(|r| r.as_str().to_owned())),
        uidvalidity: Set(coll.id),
        uidnext: Set(1),
        subscribed: Set(true),
        total_emails: Set(0),
        unread_emails: Set(0),
        total_threads: Set(0),
        unread_threads: Set(0),
    }
    .insert(c)
    .await
    .map_err(unique(format!("a {} mailbox", role.map_or("plain", MailboxRole::as_str))))
}

/// What the counts and the log need of a message: its thread and whether it is unread.
async fn threads_and_unread(c: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, (i64, bool)>> {
    let rows: Vec<(i64, i64, String)> = message::Entity::find()
        .select_only()
        .column(message::Column::Id)
        .column(message::Column::ThreadId)
        .column(message::Column::Keywords)
        .filter(message::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(c)
        .await
        .map_err(db_err)?;
    Ok(rows.into_iter().map(|(id, thread, k)| (id, (thread, Keywords::from_stored(&k).is_unread()))).collect())
}

/// Takes these memberships out of their mailbox (tombstones in the log); a message then in no
/// mailbox is deleted, with its blob reference and quota use.
pub(crate) async fn drop_memberships(tx: &mut AccountTx, mailbox: i64, rows: &[mailbox_message::Model]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    for chunk in rows.chunks(10_000) {
        let ids: Vec<i64> = chunk.iter().map(|r| r.message_id).collect();
        let threads = threads_and_unread(&tx.txn, &ids).await?;
        mailbox_message::Entity::delete_many()
            .filter(mailbox_message::Column::MailboxId.eq(mailbox))
            .filter(mailbox_message::Column::Uid.is_in(chunk.iter().map(|r| r.uid)))
            .exec(&tx.txn)
            .await
            .map_err(db_err)?;
        // Messages still in another mailbox stay.
        let kept: HashSet<i64> = mailbox_message::Entity::find()
            .select_only()
            .column(mailbox_message::Column::MessageId)
            .filter(mailbox_message::Column::MessageId.is_in(ids.iter().copied()))
            .into_tuple::<i64>()
            .all(&tx.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .collect();
        let gone: Vec<message::Model> = message::Entity::find()
            .filter(message::Column::Id.is_in(ids.iter().copied().filter(|id| !kept.contains(id))))
            .all(&tx.txn)
            .await
            .map_err(db_err)?;
        for m in &gone {
            tx.shrink(u(m.size));
        }
        release(&tx.txn, gone.iter().map(|m| m.blob_id.clone()).collect()).await?;
        message::Entity::delete_many()
            .filter(message::Column::Id.is_in(gone.iter().map(|m| m.id)))
            .exec(&tx.txn)
            .await
            .map_err(db_err)?;
        for r in chunk {
            let (thread, unread) = threads.get(&r.message_id).copied().unwrap_or((r.message_id, false));
            tx.counts.add(mailbox, thread, -1, -i64::from(unread));
            tx.log(ChangeOp::Destroyed, &Logged::message(r.message_id, mailbox, &r.uid.to_string(), thread));
        }
    }
    Ok(())
}

/// The memberships of a mailbox with these UIDs, by UID.
async fn memberships(
    c: &impl ConnectionTrait,
    mailbox: CollectionId,
    uids: &[u32],
) -> Result<Vec<mailbox_message::Model>> {
    mailbox_message::Entity::find()
        .filter(mailbox_message::Column::MailboxId.eq(mailbox.0))
        .filter(mailbox_message::Column::Uid.is_in(uids.iter().map(|u| i64::from(*u))))
        .order_by_asc(mailbox_message::Column::Uid)
        .all(c)
        .await
        .map_err(db_err)
}

fn to_mailbox(b: mailbox::Model, c: collection::Model) -> Result<Mailbox> {
    Ok(Mailbox {
        collection: to_collection(c)?,
        role: b.role.as_deref().and_then(MailboxRole::parse),
        uidvalidity: u32::try_from(b.uidvalidity).map_err(Error::internal)?,
        uidnext: u32::try_from(b.uidnext).map_err(Error::internal)?,
        subscribed: b.subscribed,
    })
}

pub(super) fn list(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join(" "))
}

fn unlist(v: Option<&str>) -> Vec<String> {
    v.map(|s| s.split_ascii_whitespace().map(str::to_owned).collect()).unwrap_or_default()
}

pub(super) fn to_message(m: message::Model) -> Result<Message> {
    let structure: MimePart = serde_json::from_str(&m.structure).map_err(Error::internal)?;
    with_structure(m, structure)
}

/// [`to_message`] with the structure at hand (a message just filed: no need to read back the
/// JSON just written).
pub(super) fn with_structure(m: message::Model, structure: MimePart) -> Result<Message> {
    Ok(Message {
        id: m.id,
        account: PrincipalId(m.account_id),
        blob: BlobId::parse(&m.blob_id).ok_or_else(|| Error::internal(format!("bad blob id in message {}", m.id)))?,
        size: u(m.size),
        received_at: Timestamp(m.received_at),
        sent_at: m.sent_at.map(Timestamp),
        envelope: Envelope {
            message_id: m.message_id,
            in_reply_to: unlist(m.in_reply_to.as_deref()),
            references: unlist(m.refs.as_deref()),
            subject: m.subject,
            from: m.from_addr,
            to: m.to_addr,
            cc: m.cc_addr,
        },
        preview: m.preview,
        structure,
        has_attachment: m.has_attachment,
        keywords: Keywords::from_stored(&m.keywords),
        thread: m.thread_id,
        modseq: Modseq(m.modseq),
        created_modseq: Modseq(m.created_modseq),
    })
}

pub(super) fn to_membership(m: &mailbox_message::Model) -> Result<Membership> {
    Ok(Membership {
        mailbox: CollectionId(m.mailbox_id),
        uid: u32::try_from(m.uid).map_err(Error::internal)?,
        message: m.message_id,
        modseq: Modseq(m.modseq),
    })
}

impl SqlStore {
    /// A mailbox's row and a write transaction on its account.
    pub(super) async fn mailbox_tx(&self, id: CollectionId) -> Result<(mailbox::Model, AccountTx)> {
        let b = mailbox::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(format!("mailbox {id}")))?;
        let tx = AccountTx::begin(self, PrincipalId(b.account_id)).await?;
        Ok((b, tx))
    }
}

#[async_trait]
impl MailStore for SqlStore {
    async fn create_mailbox(
        &self,
        account: AccountId,
        parent: Option<CollectionId>,
        name: &str,
        role: Option<MailboxRole>,
    ) -> Result<Committed<Mailbox>> {
        let mut tx = AccountTx::begin(self, account).await?;
        if let Some(p) = parent {
            let parent = collection::Entity::find_by_id(p.0)
                .one(&tx.txn)
                .await
                .map_err(db_err)?
                .ok_or_else(|| Error::not_found(format!("mailbox {p}")))?;
            if parent.account_id != account.0 || parent.kind != CollectionKind::MailFolder.code() {
                return Err(Error::invalid("the parent is not a mailbox of this account"));
            }
        }
        let new = NewCollection {
            account,
            parent,
            kind: CollectionKind::MailFolder,
            name: name.to_owned(),
            display_name: None,
        };
        let c = insert_collection(&tx, &new, &format!("mailbox {name:?}")).await?;
        let b = add_mailbox_state(&tx.txn, &c, role).await?;
        tx.log(ChangeOp::Created, &Logged::collection(c.id, CollectionKind::MailFolder, &c.name));
        let events = tx.commit().await?;
        Ok(Committed { value: to_mailbox(b, c)?, events })
    }

    async fn mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>> {
        // One query (APPEND and every session's LIST/SELECT name lookup read this).
        let joined: sea_orm::RelationDef = mailbox::Entity::belongs_to(collection::Entity)
            .from(mailbox::Column::CollectionId)
            .to(collection::Column::Id)
            .into();
        mailbox::Entity::find()
            .join(sea_orm::JoinType::InnerJoin, joined)
            .select_also(collection::Entity)
            .filter(mailbox::Column::AccountId.eq(account.0))
            .filter(collection::Column::AccountId.eq(account.0))
            .filter(collection::Column::Kind.eq(CollectionKind::MailFolder.code()))
            .order_by_asc(collection::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .filter_map(|(b, c)| c.map(|c| to_mailbox(b, c)))
            .collect()
    }

    async fn append_message(&self, new: NewMessage) -> Result<Committed<Stored>> {
        self.append_message_after(new, Box::pin(async { Ok(()) })).await
    }

    async fn append_message_after(&self, new: NewMessage, durable: Durable<'_>) -> Result<Committed<Stored>> {
        self.file_message(new, durable).await
    }

    async fn search_text(
        &self,
        account: AccountId,
        mailbox: Option<CollectionId>,
        query: &kontor_domain::mail::search::TextQuery,
    ) -> Result<Vec<i64>> {
        self.search_text_of(account, mailbox, query).await
    }

    async fn text_backlog(&self, limit: usize) -> Result<Vec<(i64, BlobId)>> {
        self.text_backlog_of(limit).await
    }

    async fn index_text(&self, message: i64, text: &kontor_domain::mail::search::SearchText) -> Result<()> {
        self.index_text_of(message, text).await
    }

    async fn index_pending_text(&self, limit: usize) -> Result<usize> {
        self.index_pending_text_of(limit).await
    }

    async fn text_written(&self) {
        self.text_written_of().await;
    }

    async fn remove_from_mailbox(&self, mailbox: CollectionId, uids: &[u32]) -> Result<Committed<Vec<u32>>> {
        let (_, mut tx) = self.mailbox_tx(mailbox).await?;
        let mut removed = Vec::new();
        for chunk in uids.chunks(10_000) {
            let rows = memberships(&tx.txn, mailbox, chunk).await?;
            if rows.is_empty() {
                continue;
            }
            drop_memberships(&mut tx, mailbox.0, &rows).await?;
            for r in &rows {
                removed.push(u32::try_from(r.uid).map_err(Error::internal)?);
            }
        }
        let events = tx.commit().await?;
        removed.sort_unstable();
        Ok(Committed { value: removed, events })
    }

    async fn change_keywords(
        &self,
        mailbox: CollectionId,
        uids: &[u32],
        op: KeywordOp,
        words: &Keywords,
    ) -> Result<Committed<Vec<(Membership, Keywords)>>> {
        let (_, mut tx) = self.mailbox_tx(mailbox).await?;
        let mut out = Vec::new();
        for chunk in uids.chunks(10_000) {
            let rows = memberships(&tx.txn, mailbox, chunk).await?;
            let messages = message::Entity::find()
                .filter(message::Column::Id.is_in(rows.iter().map(|r| r.message_id)))
                .all(&tx.txn)
                .await
                .map_err(db_err)?;
            let mut changed = Vec::new();
            // Per changed message: its thread and the change of its unread state (−1, 0, 1).
            let mut unread: HashMap<i64, (i64, i64)> = HashMap::new();
            for m in &messages {
                let before = Keywords::from_stored(&m.keywords);
                let after = before.apply(op, words);
                if after != before {
                    let d = i64::from(after.is_unread()) - i64::from(before.is_unread());
                    unread.insert(m.id, (m.thread_id, d));
                    message::Entity::update_many()
                        .col_expr(message::Column::Keywords, Expr::value(after.to_stored()))
                        .col_expr(message::Column::Modseq, Expr::value(tx.modseq))
                        .filter(message::Column::Id.eq(m.id))
                        .exec(&tx.txn)
                        .await
                        .map_err(db_err)?;
                    changed.push(m.id);
                }
            }
            // Every mailbox that holds a changed message shows the change (IMAP MODSEQ).
            let everywhere = mailbox_message::Entity::find()
                .filter(mailbox_message::Column::MessageId.is_in(changed.iter().copied()))
                .all(&tx.txn)
                .await
                .map_err(db_err)?;
            mailbox_message::Entity::update_many()
                .col_expr(mailbox_message::Column::Modseq, Expr::value(tx.modseq))
                .filter(mailbox_message::Column::MessageId.is_in(changed.iter().copied()))
                .exec(&tx.txn)
                .await
                .map_err(db_err)?;
            for r in &everywhere {
                let (thread, d) = unread.get(&r.message_id).copied().unwrap_or((r.message_id, 0));
                tx.counts.add(r.mailbox_id, thread, 0, d);
                tx.log(ChangeOp::Updated, &Logged::message(r.message_id, r.mailbox_id, &r.uid.to_string(), thread));
            }
            for r in &rows {
                let Some(m) = messages.iter().find(|m| m.id == r.message_id) else { continue };
                let keywords = Keywords::from_stored(&m.keywords).apply(op, words);
                let modseq = if changed.contains(&m.id) { tx.modseq } else { r.modseq };
                let membership = Membership { modseq: Modseq(modseq), ..to_membership(r)? };
                out.push((membership, keywords));
            }
        }
        let events = tx.commit().await?;
        out.sort_by_key(|(m, _)| m.uid);
        Ok(Committed { value: out, events })
    }

    async fn file_messages(
        &self,
        from: CollectionId,
        uids: &[u32],
        to: CollectionId,
        remove: bool,
    ) -> Result<Committed<Vec<(u32, u32)>>> {
        let (source, mut tx) = self.mailbox_tx(from).await?;
        let target = mailbox::Entity::find_by_id(to.0)
            .one(&tx.txn)
            .await
            .map_err(db_err)?
            .filter(|t| t.account_id == source.account_id)
            .ok_or_else(|| Error::not_found(format!("mailbox {to}")))?;
        let mut pairs = Vec::new();
        for chunk in uids.chunks(10_000) {
            let rows = memberships(&tx.txn, from, chunk).await?;
            let ids: Vec<i64> = rows.iter().map(|r| r.message_id).collect();
            let threads = threads_and_unread(&tx.txn, &ids).await?;
            for r in rows {
                let (thread, unread) = threads.get(&r.message_id).copied().unwrap_or((r.message_id, false));
                let already = mailbox_message::Entity::find()
                    .filter(mailbox_message::Column::MailboxId.eq(target.collection_id))
                    .filter(mailbox_message::Column::MessageId.eq(r.message_id))
                    .one(&tx.txn)
                    .await
                    .map_err(db_err)?;
                let new_uid = match already {
                    Some(a) => a.uid,
                    None => {
                        let b = mailbox::Entity::update_many()
                            .col_expr(mailbox::Column::Uidnext, Expr::col(mailbox::Column::Uidnext).add(1))
                            .filter(mailbox::Column::CollectionId.eq(target.collection_id))
                            .exec_with_returning(&tx.txn)
                            .await
                            .map_err(db_err)?
                            .pop()
                            .ok_or_else(|| Error::not_found(format!("mailbox {to}")))?;
                        let uid = b.uidnext - 1;
                        mailbox_message::ActiveModel {
                            mailbox_id: Set(target.collection_id),
                            uid: Set(uid),
                            message_id: Set(r.message_id),
                            modseq: Set(tx.modseq),
                            received_at: Set(r.received_at),
                        }
                        .insert(&tx.txn)
                        .await
                        .map_err(db_err)?;
                        tx.counts.add(target.collection_id, thread, 1, i64::from(unread));
                        tx.log(
                            ChangeOp::Created,
                            &Logged::message(r.message_id, target.collection_id, &uid.to_string(), thread),
                        );
                        uid
                    }
                };
                if remove && target.collection_id != from.0 {
                    mailbox_message::Entity::delete_many()
                        .filter(mailbox_message::Column::MailboxId.eq(from.0))
                        .filter(mailbox_message::Column::Uid.eq(r.uid))
                        .exec(&tx.txn)
                        .await
                        .map_err(db_err)?;
                    tx.counts.add(from.0, thread, -1, -i64::from(unread));
                    tx.log(ChangeOp::Destroyed, &Logged::message(r.message_id, from.0, &r.uid.to_string(), thread));
                }
                pairs.push((
                    u32::try_from(r.uid).map_err(Error::internal)?,
                    u32::try_from(new_uid).map_err(Error::internal)?,
                ));
            }
        }
        let events = tx.commit().await?;
        Ok(Committed { value: pairs, events })
    }

    async fn messages_by_id(&self, account: AccountId, ids: &[i64]) -> Result<Vec<(Message, Vec<Membership>)>> {
        self.messages_by_id_of(account, ids).await
    }

    async fn query_messages(
        &self,
        q: &kontor_domain::mail::query::MessageQuery,
    ) -> Result<kontor_domain::mail::query::QueryAnswer> {
        self.query_messages_of(q).await
    }

    async fn messages_with_blob(&self, account: AccountId, blob: &BlobId) -> Result<Vec<i64>> {
        message::Entity::find()
            .select_only()
            .column(message::Column::Id)
            .filter(message::Column::AccountId.eq(account.0))
            .filter(message::Column::BlobId.eq(blob.as_str()))
            .into_tuple::<i64>()
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    async fn mailbox_counts(
        &self,
        account: AccountId,
    ) -> Result<Vec<(CollectionId, kontor_domain::mail::query::MailboxCounts)>> {
        self.mailbox_counts_of(account).await
    }

    async fn mailbox_counts_seen_by(
        &self,
        mailboxes: &[CollectionId],
        viewer: PrincipalId,
    ) -> Result<Vec<(CollectionId, kontor_domain::mail::query::MailboxCounts)>> {
        self.mailbox_counts_seen_by_of(mailboxes, viewer).await
    }

    async fn thread_members(&self, account: AccountId, threads: &[i64]) -> Result<Vec<(i64, i64)>> {
        self.thread_members_of(account, threads).await
    }

    async fn set_subscribed(&self, mailbox: CollectionId, subscribed: bool) -> Result<()> {
        mailbox::Entity::update_many()
            .col_expr(mailbox::Column::Subscribed, Expr::value(subscribed))
            .filter(mailbox::Column::CollectionId.eq(mailbox.0))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn mark_pop3_retrieved(&self, messages: &[i64], at: Timestamp) -> Result<()> {
        for chunk in messages.chunks(10_000) {
            message::Entity::update_many()
                .col_expr(message::Column::Pop3RetrievedAt, Expr::value(at.0))
                .filter(message::Column::Id.is_in(chunk.iter().copied()))
                .filter(message::Column::Pop3RetrievedAt.is_null())
                .exec(&self.db)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn set_pop3_keep_days(&self, account: AccountId, days: Option<u32>) -> Result<()> {
        let days = days.map(|d| i32::try_from(d).unwrap_or(i32::MAX));
        let row = mail_settings::ActiveModel { account_id: Set(account.0), pop3_keep_days: Set(days) };
        mail_settings::Entity::insert(row)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(mail_settings::Column::AccountId)
                    .update_column(mail_settings::Column::Pop3KeepDays)
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn expired_pop3(&self, now: Timestamp, limit: usize) -> Result<Vec<(CollectionId, u32)>> {
        let settings = mail_settings::Entity::find()
            .filter(mail_settings::Column::Pop3KeepDays.is_not_null())
            .all(&self.db)
            .await
            .map_err(db_err)?;
        let mut out = Vec::new();
        for s in settings {
            let Some(days) = s.pop3_keep_days else { continue };
            let before = now.0 - i64::from(Ord::max(days, 0)) * 86_400_000;
            // Only out of the INBOX (what POP3 serves): a message filed elsewhere since stays.
            let inbox = mailbox::Entity::find()
                .filter(mailbox::Column::AccountId.eq(s.account_id))
                .filter(mailbox::Column::Role.eq(MailboxRole::Inbox.as_str()))
                .one(&self.db)
                .await
                .map_err(db_err)?;
            let Some(inbox) = inbox else { continue };
            let downloaded = message::Entity::find()
                .select_only()
                .column(message::Column::Id)
                .filter(message::Column::AccountId.eq(s.account_id))
                .filter(message::Column::Pop3RetrievedAt.lte(before))
                .into_query();
            let rows = mailbox_message::Entity::find()
                .filter(mailbox_message::Column::MailboxId.eq(inbox.collection_id))
                .filter(mailbox_message::Column::MessageId.in_subquery(downloaded))
                .limit((limit - out.len()) as u64)
                .all(&self.db)
                .await
                .map_err(db_err)?;
            for r in rows {
                out.push((CollectionId(r.mailbox_id), u32::try_from(r.uid).map_err(Error::internal)?));
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    async fn mailbox_messages(&self, mailbox: CollectionId) -> Result<Vec<(Membership, Message)>> {
        let rows = mailbox_message::Entity::find()
            .filter(mailbox_message::Column::MailboxId.eq(mailbox.0))
            .order_by_asc(mailbox_message::Column::Uid)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        // A thousand at a time, each row made a message at once: a mailbox of thousands is not
        // held as rows, copies of them and messages all at the same time.
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(1000) {
            let mut messages: Vec<Option<message::Model>> = message::Entity::find()
                .filter(message::Column::Id.is_in(chunk.iter().map(|r| r.message_id)))
                .order_by_asc(message::Column::Id)
                .all(&self.db)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(Some)
                .collect();
            let ids: Vec<i64> = messages.iter().flatten().map(|m| m.id).collect();
            for r in chunk {
                // A message is in a mailbox once (a unique key), so each row is taken once.
                if let Ok(at) = ids.binary_search(&r.message_id)
                    && let Some(m) = messages[at].take()
                {
                    out.push((to_membership(r)?, to_message(m)?));
                }
            }
        }
        Ok(out)
    }

    async fn unsubscribed_shared(&self, principal: PrincipalId) -> Result<Vec<CollectionId>> {
        self.unsubscribed_shared_of(principal).await
    }

    async fn set_shared_subscribed(&self, principal: PrincipalId, mailbox: CollectionId, on: bool) -> Result<()> {
        self.set_shared_subscribed_of(principal, mailbox, on).await
    }

    async fn mailbox_summaries(&self, mailbox: CollectionId) -> Result<Vec<kontor_domain::mail::Summary>> {
        self.mailbox_summaries_of(mailbox).await
    }

    async fn mailbox_tally(&self, mailbox: CollectionId) -> Result<kontor_domain::mail::Tally> {
        self.mailbox_tally_of(mailbox).await
    }

    async fn messages(&self, account: AccountId, ids: &[i64]) -> Result<Vec<Message>> {
        self.messages_of(account, ids).await
    }

    async fn message_structures(
        &self,
        account: AccountId,
        ids: &[i64],
    ) -> Result<Vec<(i64, BlobId, kontor_domain::mail::MimePart)>> {
        self.message_structures_of(account, ids).await
    }

    async fn message_blobs(&self, account: AccountId, ids: &[i64]) -> Result<Vec<(i64, BlobId)>> {
        self.message_blobs_of(account, ids).await
    }

    async fn seen_states(&self, principal: PrincipalId, messages: &[i64]) -> Result<Vec<(i64, bool, Modseq)>> {
        self.seen_states_of(principal, messages).await
    }

    async fn set_seen(
        &self,
        mailbox: CollectionId,
        principal: PrincipalId,
        uids: &[u32],
        seen: bool,
    ) -> Result<Committed<Vec<(Membership, Keywords)>>> {
        self.set_seen_of(mailbox, principal, uids, seen).await
    }
}
