//! Filing a new message (delivery, APPEND, a copy to Sent): the message row in its thread, its
//! text for the index, the blob reference, and per mailbox the next UID, the counts and the
//! membership, as one [`Batch`] in the account's write transaction. On SQLite that is five
//! commands to the connection's thread (BEGIN, the modseq and quota, this batch, the log batch,
//! COMMIT) where there were about twelve, one per statement.
//!
//! The thread is found inside the same transaction, by the message's [`ThreadKeys`]: the
//! thread of the account's first message whose Message-ID is one of the keys' ids, else of the
//! latest message with the keys' base subject, else a thread of its own (its id is the new
//! message's).

use kontor_domain::changes::ChangeOp;
use kontor_domain::error::{Error, Result};
use kontor_domain::ids::{CollectionId, Modseq};
use kontor_domain::mail::{Membership, NewMessage, Stored, ThreadKeys};
use kontor_domain::ports::{Committed, Durable};
use sea_orm::{ConnectionTrait, DatabaseBackend};

use super::collections::ref_blob_statement;
use super::log::{AccountTx, Logged};
use super::mail::with_structure;
use super::statements::{Batch, MessageRef, Sql};
use super::{SqlStore, db_err, i};
use crate::entities::message;

impl SqlStore {
    pub(super) async fn file_message(&self, new: NewMessage, durable: Durable<'_>) -> Result<Committed<Stored>> {
        if new.mailboxes.is_empty() {
            return Err(Error::invalid("a message must be in at least one mailbox"));
        }
        let mut mailboxes = new.mailboxes.clone();
        mailboxes.sort_unstable();
        mailboxes.dedup();
        if mailboxes.len() != new.mailboxes.len() {
            return Err(Error::invalid("a message is in a mailbox once"));
        }
        let mut tx = AccountTx::begin_growing(self, new.account, new.size).await?;
        let backend = tx.txn.get_database_backend();
        let p = &new.parsed;
        let structure = serde_json::to_string(&p.structure).map_err(Error::internal)?;
        let unread = new.keywords.is_unread();
        let mut row = message::Model {
            id: 0,
            account_id: new.account.0,
            blob_id: new.blob.to_string(),
            size: i(new.size),
            received_at: new.received_at.0,
            sent_at: p.sent_at.map(|t| t.0),
            message_id: p.envelope.message_id.clone(),
            in_reply_to: super::mail::list(&p.envelope.in_reply_to),
            refs: super::mail::list(&p.envelope.references),
            subject: p.envelope.subject.clone(),
            base_subject: p.base_subject.clone(),
            from_addr: p.envelope.from.clone(),
            to_addr: p.envelope.to.clone(),
            cc_addr: p.envelope.cc.clone(),
            preview: p.preview.clone(),
            structure,
            has_attachment: p.has_attachment,
            keywords: new.keywords.to_stored(),
            thread_id: 0,
            modseq: tx.modseq,
            created_modseq: tx.modseq,
            pop3_retrieved_at: None,
        };

        let mut batch = Batch::new(backend);
        batch.add_statement(ref_blob_statement(backend, &new.blob, new.size));
        batch.add(|sql| insert_message(sql, &row, &new.thread));
        batch.add(|sql| {
            let id = MessageRef::New.sql(sql);
            sql.push(&format!("UPDATE messages SET thread_id = id WHERE id = {id} AND thread_id = 0"));
        });
        super::fulltext::push_put(&mut batch, MessageRef::New, &p.text, false);
        for mb in &new.mailboxes {
            super::counts::push_message_in(
                &mut batch,
                new.account.0,
                mb.0,
                MessageRef::New,
                unread,
                tx.modseq,
                new.received_at.0,
            );
        }
        batch.add(|sql| {
            let id = MessageRef::New.sql(sql);
            sql.push(&format!(
                "SELECT m.id, m.thread_id, mm.mailbox_id, mm.uid FROM messages m \
                 JOIN mailbox_messages mm ON mm.message_id = m.id WHERE m.id = {id}"
            ));
        });
        let filed = batch.run(&tx.txn).await.map_err(db_err)?;

        let mut uids = Vec::with_capacity(filed.len());
        for r in &filed {
            row.id = r.try_get_by_index(0).map_err(db_err)?;
            row.thread_id = r.try_get_by_index(1).map_err(db_err)?;
            let mailbox: i64 = r.try_get_by_index(2).map_err(db_err)?;
            let uid: i64 = r.try_get_by_index(3).map_err(db_err)?;
            uids.push((mailbox, uid));
        }
        // In the order asked; a mailbox that is not the account's has no row (and the
        // transaction, dropped, writes nothing).
        let mut memberships = Vec::with_capacity(new.mailboxes.len());
        for mb in &new.mailboxes {
            let (_, uid) = uids
                .iter()
                .find(|(m, _)| *m == mb.0)
                .copied()
                .ok_or_else(|| Error::not_found(format!("mailbox {mb}")))?;
            tx.log(ChangeOp::Created, &Logged::message(row.id, mb.0, &uid.to_string(), row.thread_id));
            memberships.push(Membership {
                mailbox: CollectionId(mb.0),
                uid: u32::try_from(uid).map_err(Error::internal)?,
                message: row.id,
                modseq: Modseq(tx.modseq),
            });
        }
        // The row names the blob: it commits only once the bytes are on the disk.
        durable.await?;
        let events = tx.commit().await?;
        if backend == DatabaseBackend::Sqlite {
            self.text_put();
        }
        Ok(Committed { value: Stored { message: with_structure(row, p.structure.clone())?, memberships }, events })
    }
}

/// The message's row, with the thread its keys find (0 when none: the batch then names the
/// thread after the message).
fn insert_message(sql: &mut Sql, m: &message::Model, thread: &ThreadKeys) {
    sql.push(
        "INSERT INTO messages (account_id, blob_id, size, received_at, sent_at, message_id, in_reply_to, refs, \
         subject, base_subject, from_addr, to_addr, cc_addr, preview, structure, has_attachment, keywords, \
         modseq, created_modseq, thread_id) VALUES (",
    );
    let values = [
        sql.bind(m.account_id),
        sql.bind(m.blob_id.as_str()),
        sql.bind(m.size),
        sql.bind(m.received_at),
        sql.bind(m.sent_at),
        sql.bind(m.message_id.as_deref()),
        sql.bind(m.in_reply_to.as_deref()),
        sql.bind(m.refs.as_deref()),
        sql.bind(m.subject.as_str()),
        sql.bind(m.base_subject.as_str()),
        sql.bind(m.from_addr.as_str()),
        sql.bind(m.to_addr.as_str()),
        sql.bind(m.cc_addr.as_str()),
        sql.bind(m.preview.as_str()),
        sql.bind(m.structure.as_str()),
        sql.bind(m.has_attachment),
        sql.bind(m.keywords.as_str()),
        sql.bind(m.modseq),
        sql.bind(m.created_modseq),
    ];
    sql.push(&values.join(", "));
    sql.push(", ");
    let mut found = Vec::new();
    if !thread.ids.is_empty() {
        // One statement text whatever the number of ids (the statement cache keeps one).
        let a = sql.bind(m.account_id);
        let ids = sql.bind(serde_json::Value::from(thread.ids.clone()).to_string());
        let list = if sql.backend() == DatabaseBackend::Sqlite {
            format!("SELECT value FROM json_each({ids})")
        } else {
            format!("SELECT json_array_elements_text({ids}::json)")
        };
        found.push(format!(
            "(SELECT thread_id FROM messages WHERE account_id = {a} AND message_id IN ({list}) ORDER BY id LIMIT 1)"
        ));
    }
    if let Some(subject) = thread.base_subject.as_deref().filter(|s| !s.is_empty()) {
        let (a, s) = (sql.bind(m.account_id), sql.bind(subject));
        found.push(format!(
            "(SELECT thread_id FROM messages WHERE account_id = {a} AND base_subject = {s} ORDER BY id DESC LIMIT 1)"
        ));
    }
    if found.is_empty() {
        sql.push("0)");
    } else {
        sql.push(&format!("COALESCE({}, 0))", found.join(", ")));
    }
}
