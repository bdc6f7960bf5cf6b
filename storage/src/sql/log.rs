//! The change log: the account write transaction that bumps modseq, records change rows,
//! settles quota use and mailbox counts, and the `ChangeLogStore` port that reads the log.

use std::collections::BTreeSet;

use async_trait::async_trait;
use kontor_domain::changes::{ChangeOp, ChangeRow, ObjectType};
use kontor_domain::error::{Error, Result};
use kontor_domain::events::Event;
use kontor_domain::ids::{AccountId, CollectionId, Modseq};
use kontor_domain::model::CollectionKind;
use kontor_domain::ports::{ChangeLogStore, LogPosition};
use kontor_domain::quota::{self, QuotaLevel};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use super::counts::CountChanges;
use super::statements::Batch;
use super::{SqlStore, commit, db_err, i, u};
use crate::entities::{change, collection, principal};

/// Change-log rows written per INSERT statement (nine parameters each).
const LOG_ROWS_PER_INSERT: usize = 1000;

/// What a change-log row names.
pub(crate) struct Logged<'a> {
    pub object: ObjectType,
    pub id: i64,
    /// The collection the object is in (a collection: itself).
    pub collection: i64,
    pub kind: CollectionKind,
    pub name: &'a str,
    /// A message's thread.
    pub thread: Option<i64>,
}

impl<'a> Logged<'a> {
    pub fn collection(id: i64, kind: CollectionKind, name: &'a str) -> Self {
        Self { object: ObjectType::Collection, id, collection: id, kind, name, thread: None }
    }

    pub fn item(id: i64, collection: i64, kind: CollectionKind, name: &'a str) -> Self {
        Self { object: ObjectType::Item, id, collection, kind, name, thread: None }
    }

    /// A message of a thread in a mailbox; `uid` (its UID there, as text) is the name.
    pub fn message(id: i64, mailbox: i64, uid: &'a str, thread: i64) -> Self {
        Self {
            object: ObjectType::Message,
            id,
            collection: mailbox,
            kind: CollectionKind::MailFolder,
            name: uid,
            thread: Some(thread),
        }
    }
}

/// One write transaction on an account. `begin` takes the account's next modseq first — on
/// PostgreSQL that row lock orders concurrent writers of one account, so modseqs commit in
/// order; on SQLite the transaction holds the write lock from BEGIN. Mailbox counts changed on
/// the way are written at commit, in the same transaction.
pub(crate) struct AccountTx {
    pub txn: DatabaseTransaction,
    /// Dropped after `txn` (fields drop in order): the turn outlasts the transaction.
    _turn: super::Turn,
    pub account: AccountId,
    pub modseq: i64,
    used_bytes: u64,
    /// The quota use the account's row holds now (written at commit when it differs).
    row_used: u64,
    limit: Option<u64>,
    level: QuotaLevel,
    delta: i64,
    rows: Vec<change::ActiveModel>,
    kinds: BTreeSet<CollectionKind>,
    touched: BTreeSet<i64>,
    pub counts: CountChanges,
}

impl AccountTx {
    pub async fn begin(store: &SqlStore, account: AccountId) -> Result<Self> {
        Self::begin_growing(store, account, 0).await
    }

    /// [`Self::begin`] of a write that adds `bytes` to the account's use (a new message): the
    /// statement that takes the modseq also writes the new use, so the commit has no quota
    /// row to write unless the level changes. Over quota, nothing is written: the
    /// transaction rolls back when the error drops it.
    pub async fn begin_growing(store: &SqlStore, account: AccountId, bytes: u64) -> Result<Self> {
        let (turn, txn) = store.write().await?;
        let mut update = principal::Entity::update_many()
            .col_expr(principal::Column::Modseq, Expr::col(principal::Column::Modseq).add(1));
        if bytes > 0 {
            update =
                update.col_expr(principal::Column::UsedBytes, Expr::col(principal::Column::UsedBytes).add(i(bytes)));
        }
        let acct = update
            .filter(principal::Column::Id.eq(account.0))
            .exec_with_returning(&txn)
            .await
            .map_err(db_err)?
            .pop()
            .ok_or_else(|| Error::not_found(format!("account {account}")))?;
        let row_used = u(acct.used_bytes);
        let mut tx = Self {
            txn,
            _turn: turn,
            account,
            modseq: acct.modseq,
            used_bytes: row_used.saturating_sub(bytes),
            row_used,
            limit: acct.quota_limit.map(u),
            level: QuotaLevel::from_code(acct.quota_level),
            delta: 0,
            rows: Vec::new(),
            kinds: BTreeSet::new(),
            touched: BTreeSet::new(),
            counts: CountChanges::default(),
        };
        if bytes > 0 {
            tx.grow(bytes)?;
        }
        Ok(tx)
    }

    /// Records a change of an object; the modseq of its collection follows.
    pub fn log(&mut self, op: ChangeOp, o: &Logged<'_>) {
        use sea_orm::Set;
        self.rows.push(change::ActiveModel {
            account_id: Set(self.account.0),
            modseq: Set(self.modseq),
            object_type: Set(o.object.code()),
            object_id: Set(o.id),
            collection_id: Set(o.collection),
            kind: Set(o.kind.code()),
            op: Set(op.as_i16()),
            name: Set(o.name.to_owned()),
            thread_id: Set(o.thread),
            ..Default::default()
        });
        self.kinds.insert(o.kind);
        if !(o.object == ObjectType::Collection && op == ChangeOp::Destroyed) {
            self.touched.insert(o.collection);
        }
    }

    /// Adds bytes to the account's use, refusing if they do not fit its quota.
    pub fn grow(&mut self, bytes: u64) -> Result<()> {
        let now = self.current_use();
        if !quota::fits(now, bytes, self.limit) {
            return Err(Error::OverQuota { used: now, limit: self.limit.unwrap_or(u64::MAX), requested: bytes });
        }
        self.delta += i(bytes);
        Ok(())
    }

    /// Releases bytes from the account's use.
    pub fn shrink(&mut self, bytes: u64) {
        self.delta -= i(bytes);
    }

    fn current_use(&self) -> u64 {
        u(std::cmp::max(i(self.used_bytes) + self.delta, 0))
    }

    /// Writes the log rows, the collections' modseqs and the quota use, and commits.
    pub async fn commit(mut self) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        std::mem::take(&mut self.counts).apply(&self.txn).await?;
        // The log rows, the collections' modseqs and the quota: one trip on SQLite.
        let backend = self.txn.get_database_backend();
        let mut batch = Batch::new(backend);
        // In statements of at most LOG_ROWS_PER_INSERT rows: an expunge of 10,000 messages
        // logs 10,000 rows, and one INSERT of them all would pass PostgreSQL's limit of 65,535
        // parameters per statement.
        let mut rows = std::mem::take(&mut self.rows);
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(LOG_ROWS_PER_INSERT));
            batch.add_statement(change::Entity::insert_many(rows).build(backend));
            rows = rest;
        }
        if !self.touched.is_empty() {
            batch.add_statement(
                collection::Entity::update_many()
                    .col_expr(collection::Column::Modseq, Expr::value(self.modseq))
                    .filter(collection::Column::Id.is_in(self.touched.iter().copied()))
                    .build(backend),
            );
        }
        let used = self.current_use();
        let (level, warn) = quota::after_change(self.level, used, self.limit);
        if used != self.row_used || level != self.level {
            batch.add_statement(
                principal::Entity::update_many()
                    .col_expr(principal::Column::UsedBytes, Expr::value(i(used)))
                    .col_expr(principal::Column::QuotaLevel, Expr::value(level.code()))
                    .filter(principal::Column::Id.eq(self.account.0))
                    .build(backend),
            );
        }
        batch.execute(&self.txn).await?;
        commit(self.txn).await?;
        if !self.kinds.is_empty() {
            events.push(Event::Changed {
                account: self.account,
                modseq: Modseq(self.modseq),
                kinds: self.kinds.into_iter().collect(),
            });
        }
        if let (Some(level), Some(limit_bytes)) = (warn, self.limit) {
            events.push(Event::QuotaWarning { account: self.account, level, used_bytes: used, limit_bytes });
        }
        Ok(events)
    }
}

fn to_row(m: change::Model) -> Result<ChangeRow> {
    Ok(ChangeRow {
        modseq: Modseq(m.modseq),
        object: ObjectType::from_code(m.object_type)
            .ok_or_else(|| Error::internal(format!("bad object type {}", m.object_type)))?,
        object_id: m.object_id,
        collection_id: CollectionId(m.collection_id),
        kind: CollectionKind::from_code(m.kind).ok_or_else(|| Error::internal(format!("bad kind {}", m.kind)))?,
        op: ChangeOp::from_i16(m.op).ok_or_else(|| Error::internal(format!("bad op {}", m.op)))?,
        name: m.name,
        thread: m.thread_id,
    })
}

#[async_trait]
impl ChangeLogStore for SqlStore {
    async fn log_position(&self, account: AccountId) -> Result<LogPosition> {
        let m = principal::Entity::find_by_id(account.0)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(format!("account {account}")))?;
        Ok(LogPosition { current: Modseq(m.modseq), oldest: Modseq(m.oldest_modseq) })
    }

    async fn change_rows(
        &self,
        account: AccountId,
        since: Modseq,
        collection: Option<CollectionId>,
        limit: usize,
    ) -> Result<Vec<ChangeRow>> {
        let mut q = change::Entity::find()
            .filter(change::Column::AccountId.eq(account.0))
            .filter(change::Column::Modseq.gt(since.0));
        if let Some(c) = collection {
            q = q.filter(change::Column::CollectionId.eq(c.0));
        }
        q.order_by_asc(change::Column::Modseq)
            .order_by_asc(change::Column::Id)
            .limit(limit as u64)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_row)
            .collect()
    }

    async fn change_rows_at(
        &self,
        account: AccountId,
        modseq: Modseq,
        collection: Option<CollectionId>,
    ) -> Result<Vec<ChangeRow>> {
        let mut q = change::Entity::find()
            .filter(change::Column::AccountId.eq(account.0))
            .filter(change::Column::Modseq.eq(modseq.0));
        if let Some(c) = collection {
            q = q.filter(change::Column::CollectionId.eq(c.0));
        }
        q.order_by_asc(change::Column::Id).all(&self.db).await.map_err(db_err)?.into_iter().map(to_row).collect()
    }

    async fn kind_modseq(&self, account: AccountId, kind: CollectionKind) -> Result<Option<Modseq>> {
        self.kind_modseq_of(account, kind).await
    }

    async fn prune_changes(&self, account: AccountId, upto: Modseq) -> Result<u64> {
        let (_turn, txn) = self.write().await?;
        let r = change::Entity::delete_many()
            .filter(change::Column::AccountId.eq(account.0))
            .filter(change::Column::Modseq.lte(upto.0))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        // A token at `upto` still works (it asks for changes after it); older ones do not.
        principal::Entity::update_many()
            .col_expr(principal::Column::OldestModseq, Expr::value(upto.0))
            .filter(principal::Column::Id.eq(account.0))
            .filter(principal::Column::OldestModseq.lt(upto.0))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        commit(txn).await?;
        Ok(r.rows_affected)
    }
}
