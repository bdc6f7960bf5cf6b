//! \Seen kept per user on shared mail folders: a colleague's own seen state of messages of
//! someone else's account, beside the owner's keywords (which it never changes); and its own
//! subscription state of those folders.

use kontor_domain::error::{Error, Result};
use kontor_domain::events::Event;
use kontor_domain::ids::{CollectionId, Modseq, PrincipalId};
use kontor_domain::mail::{Keywords, Membership};
use kontor_domain::model::CollectionKind;
use kontor_domain::ports::Committed;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::{SqlStore, db_err};
use crate::entities::{mailbox_message, message, message_seen, shared_unsubscribed};

/// The colleague's rows for these messages.
async fn rows(c: &impl ConnectionTrait, principal: PrincipalId, messages: &[i64]) -> Result<Vec<message_seen::Model>> {
    let mut out = Vec::new();
    for chunk in messages.chunks(10_000) {
        out.extend(
            message_seen::Entity::find()
                .filter(message_seen::Column::PrincipalId.eq(principal.0))
                .filter(message_seen::Column::MessageId.is_in(chunk.iter().copied()))
                .all(c)
                .await
                .map_err(db_err)?,
        );
    }
    Ok(out)
}

impl SqlStore {
    pub(crate) async fn unsubscribed_shared_of(&self, principal: PrincipalId) -> Result<Vec<CollectionId>> {
        Ok(shared_unsubscribed::Entity::find()
            .filter(shared_unsubscribed::Column::PrincipalId.eq(principal.0))
            .order_by_asc(shared_unsubscribed::Column::CollectionId)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|r| CollectionId(r.collection_id))
            .collect())
    }

    pub(crate) async fn set_shared_subscribed_of(
        &self,
        principal: PrincipalId,
        mailbox: CollectionId,
        subscribed: bool,
    ) -> Result<()> {
        if subscribed {
            shared_unsubscribed::Entity::delete_many()
                .filter(shared_unsubscribed::Column::PrincipalId.eq(principal.0))
                .filter(shared_unsubscribed::Column::CollectionId.eq(mailbox.0))
                .exec(&self.db)
                .await
                .map_err(db_err)?;
        } else {
            let row =
                shared_unsubscribed::ActiveModel { principal_id: Set(principal.0), collection_id: Set(mailbox.0) };
            shared_unsubscribed::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([
                        shared_unsubscribed::Column::PrincipalId,
                        shared_unsubscribed::Column::CollectionId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&self.db)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    pub(crate) async fn seen_states_of(
        &self,
        principal: PrincipalId,
        messages: &[i64],
    ) -> Result<Vec<(i64, bool, Modseq)>> {
        Ok(rows(&self.db, principal, messages)
            .await?
            .into_iter()
            .map(|r| (r.message_id, r.seen, Modseq(r.modseq)))
            .collect())
    }

    pub(crate) async fn set_seen_of(
        &self,
        mailbox: CollectionId,
        principal: PrincipalId,
        uids: &[u32],
        seen: bool,
    ) -> Result<Committed<Vec<(Membership, Keywords)>>> {
        let (_, tx) = self.mailbox_tx(mailbox).await?;
        let mut out = Vec::new();
        let mut changed = false;
        for chunk in uids.chunks(10_000) {
            let members = mailbox_message::Entity::find()
                .filter(mailbox_message::Column::MailboxId.eq(mailbox.0))
                .filter(mailbox_message::Column::Uid.is_in(chunk.iter().map(|u| i64::from(*u))))
                .order_by_asc(mailbox_message::Column::Uid)
                .all(&tx.txn)
                .await
                .map_err(db_err)?;
            let ids: Vec<i64> = members.iter().map(|m| m.message_id).collect();
            let before = rows(&tx.txn, principal, &ids).await?;
            let messages = message::Entity::find()
                .filter(message::Column::Id.is_in(ids.iter().copied()))
                .all(&tx.txn)
                .await
                .map_err(db_err)?;
            for m in &members {
                let Some(msg) = messages.iter().find(|x| x.id == m.message_id) else { continue };
                let old = before.iter().find(|r| r.message_id == m.message_id);
                let modseq = if old.is_some_and(|r| r.seen == seen) || (old.is_none() && !seen) {
                    old.map_or(m.modseq, |r| r.modseq.max(m.modseq))
                } else {
                    message_seen::Entity::insert(message_seen::ActiveModel {
                        message_id: Set(m.message_id),
                        principal_id: Set(principal.0),
                        seen: Set(seen),
                        modseq: Set(tx.modseq),
                    })
                    .on_conflict(
                        OnConflict::columns([message_seen::Column::MessageId, message_seen::Column::PrincipalId])
                            .update_columns([message_seen::Column::Seen, message_seen::Column::Modseq])
                            .to_owned(),
                    )
                    .exec_without_returning(&tx.txn)
                    .await
                    .map_err(db_err)?;
                    changed = true;
                    tx.modseq
                };
                let membership = Membership {
                    mailbox,
                    uid: u32::try_from(m.uid).map_err(Error::internal)?,
                    message: m.message_id,
                    modseq: Modseq(modseq),
                };
                out.push((membership, Keywords::from_stored(&msg.keywords).with_seen(seen)));
            }
        }
        let account = tx.account;
        let modseq = Modseq(tx.modseq);
        // No log rows: the owner's view did not change. The bus still wakes the colleague's
        // other sessions (they watch the owner's account while the folder is selected).
        let mut events = tx.commit().await?;
        if changed {
            events.push(Event::Changed { account, modseq, kinds: vec![CollectionKind::MailFolder] });
        }
        Ok(Committed { value: out, events })
    }
}
