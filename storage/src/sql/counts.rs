//! Mailbox counts (JMAP's totalEmails, unreadEmails, totalThreads, unreadThreads) kept as mail
//! changes instead of counted at every read. `mailbox_threads` holds, per mailbox and thread, how
//! many of the thread's messages are in the mailbox and how many of those are unread (neither
//! `$seen` nor `$draft`); the mailbox's row holds the four sums. A write transaction notes what
//! its messages did ([`CountChanges::add`]) and its commit writes the result: one statement per
//! (mailbox, thread) touched and one per mailbox, however many messages moved.
//!
//! The counts are the owner's: a colleague's unread counts of a shared mailbox follow its own
//! seen state and are counted when asked ([`SqlStore::mailbox_counts_seen_by_of`]).

use std::collections::{BTreeMap, HashMap};

use kontor_domain::error::Result;
use kontor_domain::ids::{AccountId, CollectionId, PrincipalId};
use kontor_domain::mail::query::MailboxCounts;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::statements::{Batch, MessageRef, Sql};
use super::{SqlStore, db_err};
use crate::entities::mailbox;

/// The count changes of one transaction: per (mailbox, thread), messages in (+) or out (−) and
/// unread messages in or out.
#[derive(Debug, Default)]
pub(crate) struct CountChanges(BTreeMap<(i64, i64), (i64, i64)>);

impl CountChanges {
    /// A message of `thread` came into `mailbox` (`emails` 1) or left it (−1); `unread` says
    /// the same of unread messages (a message read or unread again: `emails` 0, `unread` ±1).
    pub fn add(&mut self, mailbox: i64, thread: i64, emails: i64, unread: i64) {
        let e = self.0.entry((mailbox, thread)).or_default();
        e.0 += emails;
        e.1 += unread;
    }

    /// Writes the changes (inside the transaction that made them).
    pub async fn apply(self, txn: &DatabaseTransaction) -> Result<()> {
        // Per mailbox: emails, unread emails, threads, unread threads.
        let mut sums: BTreeMap<i64, [i64; 4]> = BTreeMap::new();
        for ((mailbox, thread), (emails, unread)) in self.0 {
            let Some(d) = thread_change(txn, mailbox, thread, emails, unread).await? else { continue };
            let s = sums.entry(mailbox).or_default();
            for (s, d) in s.iter_mut().zip(d) {
                *s += d;
            }
        }
        for (mailbox, [emails, unread, threads, unread_threads]) in sums {
            let mut sql = Sql::new(txn.get_database_backend());
            let (e, u, t, ut, b) =
                (sql.bind(emails), sql.bind(unread), sql.bind(threads), sql.bind(unread_threads), sql.bind(mailbox));
            sql.push(&format!(
                "UPDATE mailboxes SET total_emails = total_emails + {e}, unread_emails = unread_emails + {u}, \
                 total_threads = total_threads + {t}, unread_threads = unread_threads + {ut} \
                 WHERE collection_id = {b}"
            ));
            txn.execute_raw(sql.statement()).await.map_err(db_err)?;
        }
        Ok(())
    }
}

/// Writes one (mailbox, thread) change to `mailbox_threads`; gives back what it does to the
/// mailbox's four sums (emails, unread emails, threads, unread threads), `None` when nothing
/// (no change, or the mailbox went in this transaction and its counts with it).
async fn thread_change(
    txn: &DatabaseTransaction,
    mailbox: i64,
    thread: i64,
    emails: i64,
    unread: i64,
) -> Result<Option<[i64; 4]>> {
    if emails == 0 && unread == 0 {
        return Ok(None);
    }
    let backend = txn.get_database_backend();
    // Placeholders are bound in the order they appear (SQLite's are positional).
    let mut sql = Sql::new(backend);
    if emails > 0 {
        let (b, t, e, u) = (sql.bind(mailbox), sql.bind(thread), sql.bind(emails), sql.bind(unread));
        sql.push(&format!(
            "INSERT INTO mailbox_threads (mailbox_id, thread_id, emails, unread) VALUES ({b}, {t}, {e}, {u}) \
             ON CONFLICT (mailbox_id, thread_id) DO UPDATE SET emails = mailbox_threads.emails + \
             excluded.emails, unread = mailbox_threads.unread + excluded.unread RETURNING emails, unread"
        ));
    } else {
        let (e, u, b, t) = (sql.bind(emails), sql.bind(unread), sql.bind(mailbox), sql.bind(thread));
        sql.push(&format!(
            "UPDATE mailbox_threads SET emails = emails + {e}, unread = unread + {u} \
             WHERE mailbox_id = {b} AND thread_id = {t} RETURNING emails, unread"
        ));
    }
    let Some(row) = txn.query_one_raw(sql.statement()).await.map_err(db_err)? else { return Ok(None) };
    let now_emails = row.try_get_by_index::<i64>(0).map_err(db_err)?;
    let now_unread = row.try_get_by_index::<i64>(1).map_err(db_err)?;
    let (was_emails, was_unread) = (now_emails - emails, now_unread - unread);
    if now_emails <= 0 {
        let mut sql = Sql::new(backend);
        let (b, t) = (sql.bind(mailbox), sql.bind(thread));
        sql.push(&format!("DELETE FROM mailbox_threads WHERE mailbox_id = {b} AND thread_id = {t}"));
        txn.execute_raw(sql.statement()).await.map_err(db_err)?;
    }
    Ok(Some([
        emails,
        unread,
        i64::from(now_emails > 0) - i64::from(was_emails > 0),
        i64::from(now_unread > 0) - i64::from(was_unread > 0),
    ]))
}

/// A new message in a mailbox, as statements of the batch that files it: one takes the
/// mailbox's next UID and adds the message to its four counts (a thread the mailbox had no
/// message of, or no unread one, counts as a new thread), one files the message under that UID,
/// one adds it to its thread's row in `mailbox_threads`. A mailbox that is not the account's is
/// left as it was and the message is not filed there (the caller sees no membership). The
/// mailbox's row lock (PostgreSQL) or the write lock (SQLite) keeps two deliveries from taking
/// the same UID.
pub(crate) fn push_message_in(
    batch: &mut Batch,
    account: i64,
    mailbox: i64,
    message: MessageRef,
    unread: bool,
    modseq: i64,
    received_at: i64,
) {
    let unread = i64::from(unread);
    // Placeholders are bound in the order they appear (SQLite's are positional).
    batch.add(|sql| {
        let u = sql.bind(unread);
        let (m1, b1) = (message.sql(sql), sql.bind(mailbox));
        let u2 = sql.bind(unread);
        let (m2, b2) = (message.sql(sql), sql.bind(mailbox));
        let (b, a) = (sql.bind(mailbox), sql.bind(account));
        sql.push(&format!(
            "UPDATE mailboxes SET uidnext = uidnext + 1, total_emails = total_emails + 1, \
             unread_emails = unread_emails + {u}, \
             total_threads = total_threads + CASE WHEN EXISTS (SELECT 1 FROM mailbox_threads t \
               JOIN messages m ON m.thread_id = t.thread_id WHERE m.id = {m1} AND t.mailbox_id = {b1} \
               AND t.emails > 0) THEN 0 ELSE 1 END, \
             unread_threads = unread_threads + CASE WHEN {u2} = 0 OR EXISTS (SELECT 1 FROM mailbox_threads t \
               JOIN messages m ON m.thread_id = t.thread_id WHERE m.id = {m2} AND t.mailbox_id = {b2} \
               AND t.unread > 0) THEN 0 ELSE 1 END \
             WHERE collection_id = {b} AND account_id = {a}"
        ));
    });
    batch.add(|sql| {
        let (id, q, at) = (message.sql(sql), sql.bind(modseq), sql.bind(received_at));
        let (b, a) = (sql.bind(mailbox), sql.bind(account));
        sql.push(&format!(
            "INSERT INTO mailbox_messages (mailbox_id, uid, message_id, modseq, received_at) \
             SELECT collection_id, uidnext - 1, {id}, {q}, {at} FROM mailboxes \
             WHERE collection_id = {b} AND account_id = {a}"
        ));
    });
    batch.add(|sql| {
        let (u, b, m) = (sql.bind(unread), sql.bind(mailbox), message.sql(sql));
        sql.push(&format!(
            "INSERT INTO mailbox_threads (mailbox_id, thread_id, emails, unread) \
             SELECT mm.mailbox_id, m.thread_id, 1, {u} FROM mailbox_messages mm \
             JOIN messages m ON m.id = mm.message_id WHERE mm.mailbox_id = {b} AND mm.message_id = {m} \
             ON CONFLICT (mailbox_id, thread_id) DO UPDATE SET emails = mailbox_threads.emails + 1, \
             unread = mailbox_threads.unread + excluded.unread"
        ));
    });
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl SqlStore {
    /// The owner's counts of every mailbox of the account, as kept.
    pub(super) async fn mailbox_counts_of(&self, account: AccountId) -> Result<Vec<(CollectionId, MailboxCounts)>> {
        let rows = mailbox::Entity::find()
            .filter(mailbox::Column::AccountId.eq(account.0))
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|b| {
                let counts = MailboxCounts {
                    total_emails: count(b.total_emails),
                    unread_emails: count(b.unread_emails),
                    total_threads: count(b.total_threads),
                    unread_threads: count(b.unread_threads),
                };
                (CollectionId(b.collection_id), counts)
            })
            .collect())
    }

    /// Counts of these mailboxes with unread by `viewer`'s own seen state: the totals as kept,
    /// the unread ones counted over the mailboxes' messages and the viewer's seen rows.
    pub(super) async fn mailbox_counts_seen_by_of(
        &self,
        mailboxes: &[CollectionId],
        viewer: PrincipalId,
    ) -> Result<Vec<(CollectionId, MailboxCounts)>> {
        if mailboxes.is_empty() {
            return Ok(Vec::new());
        }
        let kept = mailbox::Entity::find()
            .filter(mailbox::Column::CollectionId.is_in(mailboxes.iter().map(|b| b.0)))
            .all(&self.db)
            .await
            .map_err(db_err)?;
        let mut sql = Sql::new(self.db.get_database_backend());
        let p = sql.bind(viewer.0);
        let list = mailboxes.iter().map(|b| b.0.to_string()).collect::<Vec<_>>().join(",");
        let unread = "NOT COALESCE(s.seen, FALSE) AND (' ' || m.keywords || ' ') NOT LIKE '% $draft %'";
        sql.push(&format!(
            "SELECT mm.mailbox_id, count(*), count(DISTINCT m.thread_id) \
             FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id \
             LEFT JOIN message_seen s ON s.message_id = mm.message_id AND s.principal_id = {p} \
             WHERE mm.mailbox_id IN ({list}) AND {unread} GROUP BY mm.mailbox_id"
        ));
        let mut unread: HashMap<i64, (i64, i64)> = HashMap::new();
        for r in self.db.query_all_raw(sql.statement()).await.map_err(db_err)? {
            let n = |i: usize| r.try_get_by_index::<i64>(i).map_err(db_err);
            unread.insert(n(0)?, (n(1)?, n(2)?));
        }
        Ok(kept
            .into_iter()
            .map(|b| {
                let (emails, threads) = unread.get(&b.collection_id).copied().unwrap_or_default();
                let counts = MailboxCounts {
                    total_emails: count(b.total_emails),
                    unread_emails: count(emails),
                    total_threads: count(b.total_threads),
                    unread_threads: count(threads),
                };
                (CollectionId(b.collection_id), counts)
            })
            .collect())
    }
}
