//! Light reads of a mailbox's messages: the summaries an IMAP session keeps per message (no
//! envelope, structure or preview), whole messages by id for what it fetches, and the blobs
//! POP3 reads.

use kontor_domain::error::{Error, Result};
use kontor_domain::ids::{AccountId, BlobId, CollectionId, Modseq, Timestamp};
use kontor_domain::mail::{Keywords, Message, MimePart, Summary, Tally};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder};

use super::mail::to_message;
use super::statements::Sql;
use super::{SqlStore, db_err, u};
use crate::entities::message;

/// Ids looked up per query.
const CHUNK: usize = 1000;
/// Messages per packed read ([`SqlStore::packed_rows`]): SQLite keeps a cached statement's
/// largest result buffer until the statement is finalized, so each pooled connection holds on
/// to one pack; 64 structures are a few hundred KB, and still 64 rows per hand-off.
const PACK: usize = 64;
/// Summaries per packed read (a few dozen bytes each).
const SUMMARY_PACK: usize = 1000;

impl SqlStore {
    /// By UID, read [`SUMMARY_PACK`] at a time as packed rows (see [`Self::packed_rows`]): a
    /// mailbox of 5,000 messages was 5,000 hand-offs from SQLite's thread and as many rows held
    /// in memory at once (20 ms and 3 MB for each SELECT, STATUS and POP3 login); now five.
    pub(super) async fn mailbox_summaries_of(&self, mailbox: CollectionId) -> Result<Vec<Summary>> {
        let backend = self.db.get_database_backend();
        let (sep, joined) = packing(backend);
        let unit = format!(" || {sep}(31) || ");
        // Keywords last: they are the only text (and hold no control characters, see Keywords).
        let fields = [
            "CAST(mm.uid AS TEXT)",
            "CAST(mm.message_id AS TEXT)",
            "CAST(mm.modseq AS TEXT)",
            "CAST(m.size AS TEXT)",
            "CAST(m.received_at AS TEXT)",
            "COALESCE(CAST(m.sent_at AS TEXT), '')",
            "COALESCE(m.keywords, '')",
        ]
        .join(&unit);
        let mut out = Vec::new();
        let mut after: i64 = 0;
        loop {
            let mut sql = Sql::new(backend);
            let (p, q) = (sql.bind(mailbox.0), sql.bind(after));
            sql.push(&format!(
                "SELECT {joined}(r, {sep}(30)) FROM (SELECT {fields} AS r FROM mailbox_messages mm \
                 JOIN messages m ON m.id = mm.message_id WHERE mm.mailbox_id = {p} AND mm.uid > {q} \
                 ORDER BY mm.uid LIMIT {SUMMARY_PACK}) t"
            ));
            let text: Option<String> = match self.db.query_one_raw(sql.statement()).await.map_err(db_err)? {
                Some(row) => row.try_get_by_index(0).map_err(db_err)?,
                None => None,
            };
            let first = out.len();
            for fields in Packed::<7>(text.unwrap_or_default()).iter() {
                out.push(summary(fields)?);
            }
            let got = out.len() - first;
            // The order of an aggregate's input is not promised: the rows are put in order here.
            out[first..].sort_unstable_by_key(|s| s.uid);
            match out.last() {
                Some(last) if got == SUMMARY_PACK => after = i64::from(last.uid),
                _ => break,
            }
        }
        Ok(out)
    }

    pub(super) async fn mailbox_tally_of(&self, mailbox: CollectionId) -> Result<Tally> {
        let mut sql = Sql::new(self.db.get_database_backend());
        // Three lookups in indexes, each its own: one query with all three read every row (the
        // key (mailbox, uid) has no modseq, the (mailbox, modseq) index no UID).
        let [p, q, r] = [sql.bind(mailbox.0), sql.bind(mailbox.0), sql.bind(mailbox.0)];
        sql.push(&format!(
            "SELECT (SELECT COUNT(*) FROM mailbox_messages WHERE mailbox_id = {p}), \
             (SELECT COALESCE(MAX(uid), 0) FROM mailbox_messages WHERE mailbox_id = {q}), \
             (SELECT COALESCE(MAX(modseq), 0) FROM mailbox_messages WHERE mailbox_id = {r})"
        ));
        let row = self.db.query_one_raw(sql.statement()).await.map_err(db_err)?;
        let Some(r) = row else { return Ok(Tally::default()) };
        let count: i64 = r.try_get_by_index(0).map_err(db_err)?;
        let last: i64 = r.try_get_by_index(1).map_err(db_err)?;
        Ok(Tally {
            messages: u(count),
            last_uid: u32::try_from(last).map_err(Error::internal)?,
            highest_modseq: Modseq(r.try_get_by_index(2).map_err(db_err)?),
        })
    }

    pub(super) async fn messages_of(&self, account: AccountId, ids: &[i64]) -> Result<Vec<Message>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            // By primary key, the account checked on the rows (see `messages_by_id_of`).
            let rows = message::Entity::find()
                .filter(message::Column::Id.is_in(chunk.iter().copied()))
                .order_by_asc(message::Column::Id)
                .all(&self.db)
                .await
                .map_err(db_err)?;
            for r in rows.into_iter().filter(|r| r.account_id == account.0) {
                out.push(to_message(r)?);
            }
        }
        out.sort_unstable_by_key(|m| m.id);
        Ok(out)
    }

    pub(super) async fn message_structures_of(
        &self,
        account: AccountId,
        ids: &[i64],
    ) -> Result<Vec<(i64, BlobId, MimePart)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(PACK) {
            for [id, blob, structure] in self.packed_rows(account, chunk, &["blob_id", "structure"]).await?.iter() {
                let id = parse_id(id)?;
                out.push((id, blob_id(id, blob)?, serde_json::from_str(structure).map_err(Error::internal)?));
            }
        }
        out.sort_unstable_by_key(|(id, _, _)| *id);
        Ok(out)
    }

    pub(super) async fn message_blobs_of(&self, account: AccountId, ids: &[i64]) -> Result<Vec<(i64, BlobId)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(PACK) {
            for [id, blob] in self.packed_rows(account, chunk, &["blob_id"]).await?.iter() {
                let id = parse_id(id)?;
                out.push((id, blob_id(id, blob)?));
            }
        }
        out.sort_unstable_by_key(|(id, _)| *id);
        Ok(out)
    }

    /// The id and `columns` of the account's messages among `ids`, read as one value: the
    /// columns' text joined by unit separators (31), rows by record separators (30). With
    /// SQLite each row of a result is a hand-off between the connection's thread and the task
    /// reading it (a FETCH of 5,000 envelopes spent a quarter of its time switching threads);
    /// one packed value is one hand-off. The columns must not hold those two characters: ids,
    /// hex blob ids and JSON (which escapes control characters) do not. The rows are found by
    /// primary key and the account is checked on them (an account_id condition could make
    /// SQLite, which keeps no statistics, walk the account's index instead).
    async fn packed_rows<const M: usize>(
        &self,
        account: AccountId,
        ids: &[i64],
        columns: &[&str],
    ) -> Result<Packed<M>> {
        debug_assert_eq!(columns.len() + 1, M);
        let backend = self.db.get_database_backend();
        let (sep, joined) = packing(backend);
        let mut fields = vec!["CAST(id AS TEXT)".to_owned()];
        fields.extend(columns.iter().map(|c| format!("CAST({c} AS TEXT)")));
        let mut sql = Sql::new(backend);
        // Placeholders are bound in the order they appear (SQLite's are positional).
        let a = sql.bind(account.0);
        let list: Vec<String> = ids.iter().map(|id| sql.bind(*id)).collect();
        sql.push(&format!(
            "SELECT {joined}(CASE WHEN account_id = {a} THEN {} END, {sep}(30)) FROM messages WHERE id IN ({})",
            fields.join(&format!(" || {sep}(31) || ")),
            list.join(", "),
        ));
        let text: Option<String> = match self.db.query_one_raw(sql.statement()).await.map_err(db_err)? {
            Some(row) => row.try_get_by_index(0).map_err(db_err)?,
            None => None,
        };
        Ok(Packed(text.unwrap_or_default()))
    }
}

/// Rows packed by [`SqlStore::packed_rows`]: each of `M` fields.
struct Packed<const M: usize>(String);

impl<const M: usize> Packed<M> {
    fn iter(&self) -> impl Iterator<Item = [&str; M]> {
        self.0.split('\u{1e}').filter(|r| !r.is_empty()).map(|r| {
            let mut f = r.splitn(M, '\u{1f}');
            std::array::from_fn(|_| f.next().unwrap_or_default())
        })
    }
}

/// The SQL that packs rows into one value: the function making a character from its code, and
/// the aggregate joining texts.
fn packing(backend: DatabaseBackend) -> (&'static str, &'static str) {
    if backend == DatabaseBackend::Postgres { ("chr", "string_agg") } else { ("char", "group_concat") }
}

/// A summary from the fields of its packed row (see [`SqlStore::mailbox_summaries_of`]).
fn summary([uid, message, modseq, size, received_at, sent_at, keywords]: [&str; 7]) -> Result<Summary> {
    let number = |s: &str| s.parse::<i64>().map_err(|_| Error::internal(format!("bad number {s:?} in a summary")));
    Ok(Summary {
        uid: u32::try_from(number(uid)?).map_err(Error::internal)?,
        message: number(message)?,
        modseq: Modseq(number(modseq)?),
        size: u(number(size)?),
        received_at: Timestamp(number(received_at)?),
        sent_at: if sent_at.is_empty() { None } else { Some(Timestamp(number(sent_at)?)) },
        keywords: Keywords::from_stored(keywords),
    })
}

fn parse_id(id: &str) -> Result<i64> {
    id.parse().map_err(|_| Error::internal(format!("bad message id {id:?}")))
}

fn blob_id(id: i64, blob: &str) -> Result<BlobId> {
    BlobId::parse(blob).ok_or_else(|| Error::internal(format!("bad blob id in message {id}")))
}
