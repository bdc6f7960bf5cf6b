//! The outbound queue and the domains' DKIM keys.

use async_trait::async_trait;
use kontor_domain::address::DomainName;
use kontor_domain::error::{Error, Result};
use kontor_domain::ids::{BlobId, DomainId, PrincipalId, Timestamp};
use kontor_domain::mail::outbound::{DkimKey, DsnRequest, NewQueued, Notify, Queued, RcptDsn};
use kontor_domain::ports::OutboundStore;
use sea_orm::sea_query::{Expr, ExprTrait as _, LockBehavior, LockType, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::collections::{ref_blob, release};
use super::{Backend, SqlStore, commit, db_err, i, u};
use crate::entities::{dkim_key, domain, outbound_queue as q};

fn to_queued(m: q::Model) -> Result<Queued> {
    Ok(Queued {
        id: m.id,
        account: m.account_id.map(PrincipalId),
        blob: BlobId::parse(&m.blob_id)
            .ok_or_else(|| Error::internal(format!("bad blob id in queue entry {}", m.id)))?,
        size: u(m.size),
        mail_from: m.mail_from,
        rcpt: m.rcpt,
        rcpt_domain: m.rcpt_domain,
        created_at: Timestamp(m.created_at),
        next_attempt_at: Timestamp(m.next_attempt_at),
        attempts: u32::try_from(m.attempts).unwrap_or(0),
        last_error: m.last_error,
        claim: m.claim.unwrap_or_default(),
        dsn: DsnRequest { full: m.dsn_full.unwrap_or(false), envid: m.dsn_envid },
        rcpt_dsn: RcptDsn {
            notify: m.dsn_notify.and_then(|n| u8::try_from(n).ok()).map(Notify::from_bits),
            orcpt: m.dsn_orcpt,
        },
    })
}

#[async_trait]
impl OutboundStore for SqlStore {
    async fn enqueue(&self, new: NewQueued) -> Result<Vec<i64>> {
        let (_turn, txn) = self.write().await?;
        let mut ids = Vec::with_capacity(new.rcpts.len());
        for (rcpt, dsn) in &new.rcpts {
            let domain = rcpt.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
            ref_blob(&txn, &new.blob, new.size).await?;
            let row = q::Entity::insert(q::ActiveModel {
                account_id: Set(new.account.map(|a| a.0)),
                blob_id: Set(new.blob.to_string()),
                size: Set(i(new.size)),
                mail_from: Set(new.mail_from.clone()),
                rcpt: Set(rcpt.clone()),
                rcpt_domain: Set(domain),
                created_at: Set(new.now.0),
                next_attempt_at: Set(new.now.0),
                attempts: Set(0),
                last_error: Set(None),
                claimed_until: Set(0),
                claim: Set(None),
                dsn_notify: Set(dsn.notify.map(|n| i16::from(n.bits()))),
                dsn_orcpt: Set(dsn.orcpt.clone()),
                dsn_full: Set(Some(new.dsn.full)),
                dsn_envid: Set(new.dsn.envid.clone()),
                ..Default::default()
            })
            .exec(&txn)
            .await
            .map_err(db_err)?;
            ids.push(row.last_insert_id);
        }
        commit(txn).await?;
        Ok(ids)
    }

    async fn claim_due(&self, now: Timestamp, until: Timestamp, limit: usize) -> Result<Vec<Queued>> {
        let (_turn, txn) = self.write().await?;
        let mut find = q::Entity::find()
            .filter(q::Column::NextAttemptAt.lte(now.0))
            .filter(q::Column::ClaimedUntil.lte(now.0))
            .order_by_asc(q::Column::NextAttemptAt)
            .order_by_asc(q::Column::Id)
            .limit(limit as u64);
        // SQLite's write transaction holds the database; PostgreSQL nodes skip each other's rows.
        if self.backend() == Backend::Postgres {
            find = find.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let mut rows = find.all(&txn).await.map_err(db_err)?;
        let claim = hex::encode(rand::random::<[u8; 16]>());
        if !rows.is_empty() {
            q::Entity::update_many()
                .col_expr(q::Column::ClaimedUntil, Expr::value(until.0))
                .col_expr(q::Column::Claim, Expr::value(claim.clone()))
                .filter(q::Column::Id.is_in(rows.iter().map(|r| r.id)))
                .exec(&txn)
                .await
                .map_err(db_err)?;
        }
        commit(txn).await?;
        for r in &mut rows {
            r.claim = Some(claim.clone());
        }
        rows.into_iter().map(to_queued).collect()
    }

    async fn dequeue(&self, id: i64, claim: &str) -> Result<bool> {
        let (_turn, txn) = self.write().await?;
        let held = q::Entity::find()
            .filter(q::Column::Id.eq(id))
            .filter(q::Column::Claim.eq(claim))
            .one(&txn)
            .await
            .map_err(db_err)?;
        let Some(row) = held else { return Ok(false) };
        q::Entity::delete_by_id(row.id).exec(&txn).await.map_err(db_err)?;
        release(&txn, vec![row.blob_id]).await?;
        commit(txn).await?;
        Ok(true)
    }

    async fn defer(&self, id: i64, claim: &str, next: Timestamp, error: &str) -> Result<bool> {
        let error: String = error.chars().take(1000).collect();
        let r = q::Entity::update_many()
            .col_expr(q::Column::Attempts, Expr::col(q::Column::Attempts).add(1))
            .col_expr(q::Column::NextAttemptAt, Expr::value(next.0))
            .col_expr(q::Column::LastError, Expr::value(error))
            .col_expr(q::Column::ClaimedUntil, Expr::value(0_i64))
            .col_expr(q::Column::Claim, Expr::value(Option::<String>::None))
            .filter(q::Column::Id.eq(id))
            .filter(q::Column::Claim.eq(claim))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    async fn renew_claim(&self, id: i64, claim: &str, until: Timestamp) -> Result<bool> {
        let r = q::Entity::update_many()
            .col_expr(q::Column::ClaimedUntil, Expr::value(until.0))
            .filter(q::Column::Id.eq(id))
            .filter(q::Column::Claim.eq(claim))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    async fn queued(&self) -> Result<Vec<Queued>> {
        q::Entity::find()
            .order_by_asc(q::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_queued)
            .collect()
    }

    async fn flush_queue(&self, now: Timestamp) -> Result<u64> {
        let r = q::Entity::update_many()
            .col_expr(q::Column::NextAttemptAt, Expr::value(now.0))
            .filter(q::Column::NextAttemptAt.gt(now.0))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected)
    }

    async fn dkim_key(&self, domain_id: DomainId) -> Result<Option<DkimKey>> {
        let Some(k) = dkim_key::Entity::find_by_id(domain_id.0).one(&self.db).await.map_err(db_err)? else {
            return Ok(None);
        };
        let d = domain::Entity::find_by_id(domain_id.0)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(format!("domain {domain_id}")))?;
        Ok(Some(DkimKey {
            domain: DomainName::parse(&d.name)?,
            selector: k.selector,
            algorithm: k.algorithm,
            private_key: k.private_key,
            public_key: k.public_key,
            created_at: Timestamp(k.created_at),
        }))
    }

    async fn put_dkim_key(&self, domain_id: DomainId, key: DkimKey) -> Result<DkimKey> {
        dkim_key::Entity::insert(dkim_key::ActiveModel {
            domain_id: Set(domain_id.0),
            selector: Set(key.selector.clone()),
            algorithm: Set(key.algorithm.clone()),
            private_key: Set(key.private_key.clone()),
            public_key: Set(key.public_key.clone()),
            created_at: Set(key.created_at.0),
        })
        .on_conflict(OnConflict::column(dkim_key::Column::DomainId).do_nothing().to_owned())
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        self.dkim_key(domain_id).await?.ok_or_else(|| Error::internal("DKIM key not stored"))
    }
}
