//! Light reads of a mailbox's messages: the summaries an IMAP session keeps per message (no
//! envelope, structure or preview), whole messages by id for what it fetches, and the blobs
//! POP3 reads.

use kontor_domain::error::{Error, Result};
use kontor_domain::ids::{AccountId, BlobId, CollectionId, Modseq, Timestamp};
use kontor_domain::mail::{Keywords, Message, MimePart, Summary};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::fulltext::Sql;
use super::mail::to_message;
use super::{SqlStore, db_err, u};
use crate::entities::message;

/// Ids looked up per query.
const CHUNK: usize = 1000;

impl SqlStore {
    pub(super) async fn mailbox_summaries_of(&self, mailbox: CollectionId) -> Result<Vec<Summary>> {
        let mut sql = Sql::new(self.db.get_database_backend());
        let p = sql.bind(mailbox.0);
        sql.push(&format!(
            "SELECT mm.uid, mm.message_id, mm.modseq, m.keywords, m.size, m.received_at, m.sent_at \
             FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id \
             WHERE mm.mailbox_id = {p} ORDER BY mm.uid"
        ));
        let rows = self.db.query_all_raw(sql.statement()).await.map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let uid: i64 = r.try_get_by_index(0).map_err(db_err)?;
            let keywords: String = r.try_get_by_index(3).map_err(db_err)?;
            let sent_at: Option<i64> = r.try_get_by_index(6).map_err(db_err)?;
            out.push(Summary {
                uid: u32::try_from(uid).map_err(Error::internal)?,
                message: r.try_get_by_index(1).map_err(db_err)?,
                modseq: Modseq(r.try_get_by_index(2).map_err(db_err)?),
                keywords: Keywords::from_stored(&keywords),
                size: u(r.try_get_by_index(4).map_err(db_err)?),
                received_at: Timestamp(r.try_get_by_index(5).map_err(db_err)?),
                sent_at: sent_at.map(Timestamp),
            });
        }
        Ok(out)
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
        for chunk in ids.chunks(CHUNK) {
            let rows: Vec<(i64, i64, String, String)> = message::Entity::find()
                .select_only()
                .column(message::Column::Id)
                .column(message::Column::AccountId)
                .column(message::Column::BlobId)
                .column(message::Column::Structure)
                .filter(message::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(db_err)?;
            for (id, owner, blob, structure) in rows {
                if owner == account.0 {
                    let blob =
                        BlobId::parse(&blob).ok_or_else(|| Error::internal(format!("bad blob id in message {id}")))?;
                    out.push((id, blob, serde_json::from_str(&structure).map_err(Error::internal)?));
                }
            }
        }
        out.sort_unstable_by_key(|(id, _, _)| *id);
        Ok(out)
    }

    pub(super) async fn message_blobs_of(&self, account: AccountId, ids: &[i64]) -> Result<Vec<(i64, BlobId)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let rows: Vec<(i64, i64, String)> = message::Entity::find()
                .select_only()
                .column(message::Column::Id)
                .column(message::Column::AccountId)
                .column(message::Column::BlobId)
                .filter(message::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(db_err)?;
            for (id, owner, blob) in rows {
                if owner == account.0 {
                    let blob =
                        BlobId::parse(&blob).ok_or_else(|| Error::internal(format!("bad blob id in message {id}")))?;
                    out.push((id, blob));
                }
            }
        }
        out.sort_unstable_by_key(|(id, _)| *id);
        Ok(out)
    }
}
