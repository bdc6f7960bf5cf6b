//! Collections and items, with blob reference counts and quota use.

use std::sync::Arc;

use async_trait::async_trait;
use kontor_domain::changes::ChangeOp;
use kontor_domain::error::{Error, Result};
use kontor_domain::ids::{AccountId, BlobId, CollectionId, ItemId, Modseq, PrincipalId, Timestamp};
use kontor_domain::model::{Collection, CollectionKind, Item};
use kontor_domain::ports::{
    BlobStore, CollectionPatch, CollectionStore, Committed, DeadProperty, ItemContent, NewCollection, NewItem,
    PropTarget,
};
use kontor_domain::recurrence::{Span, Window};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};

use super::log::{AccountTx, Logged};
use super::{SqlStore, commit, db_err, i, properties, u, unique};
use crate::entities::{blob, collection, item};

fn kind_of(code: i16) -> Result<CollectionKind> {
    CollectionKind::from_code(code).ok_or_else(|| Error::internal(format!("bad collection kind {code}")))
}

/// Inserts a collection row in the transaction's account, stamped with its modseq; a name
/// taken among its siblings is a conflict naming `what`.
pub(crate) async fn insert_collection(tx: &AccountTx, new: &NewCollection, what: &str) -> Result<collection::Model> {
    collection::ActiveModel {
        account_id: Set(new.account.0),
        parent_id: Set(new.parent.map(|p| p.0)),
        parent_key: Set(new.parent.map_or(0, |p| p.0)),
        kind: Set(new.kind.code()),
        name: Set(new.name.clone()),
        display_name: Set(new.display_name.clone()),
        modseq: Set(tx.modseq),
        created_modseq: Set(tx.modseq),
        created_at: Set(Timestamp::now().0),
        ..Default::default()
    }
    .insert(&tx.txn)
    .await
    .map_err(unique(what))
}

pub(crate) fn to_collection(m: collection::Model) -> Result<Collection> {
    Ok(Collection {
        id: CollectionId(m.id),
        account: PrincipalId(m.account_id),
        parent: m.parent_id.map(CollectionId),
        kind: kind_of(m.kind)?,
        name: m.name,
        display_name: m.display_name,
        modseq: Modseq(m.modseq),
        created_modseq: Modseq(m.created_modseq),
        created_at: Timestamp(m.created_at),
    })
}

fn to_item(m: item::Model) -> Result<Item> {
    Ok(Item {
        id: ItemId(m.id),
        account: PrincipalId(m.account_id),
        collection: CollectionId(m.collection_id),
        name: m.name,
        content_type: m.content_type,
        blob: BlobId::parse(&m.blob_id).ok_or_else(|| Error::internal(format!("bad blob id in item {}", m.id)))?,
        size: u(m.size),
        created_by: m.created_by.map(PrincipalId),
        modseq: Modseq(m.modseq),
        created_modseq: Modseq(m.created_modseq),
        created_at: Timestamp(m.created_at),
        updated_at: Timestamp(m.updated_at),
        uid: m.uid,
        span: Span { start: m.time_start, end: m.time_end },
    })
}

/// Adds one reference to a blob (creating its row).
pub(crate) async fn ref_blob(txn: &DatabaseTransaction, id: &BlobId, size: u64) -> Result<()> {
    txn.execute_raw(ref_blob_statement(txn.get_database_backend(), id, size)).await.map_err(db_err)?;
    Ok(())
}

/// The statement of [`ref_blob`], for a batch.
pub(crate) fn ref_blob_statement(backend: sea_orm::DatabaseBackend, id: &BlobId, size: u64) -> sea_orm::Statement {
    blob::Entity::insert(blob::ActiveModel {
        id: Set(id.to_string()),
        size: Set(i(size)),
        refcount: Set(1),
        created_at: Set(Timestamp::now().0),
    })
    .on_conflict(
        OnConflict::column(blob::Column::Id)
            .value(blob::Column::Refcount, Expr::col((blob::Entity, blob::Column::Refcount)).add(1))
            .to_owned(),
    )
    .build(backend)
}

/// Drops `n` references to a blob; at zero the collector may delete it.
async fn unref_blob(txn: &impl ConnectionTrait, id: &str, n: i64) -> Result<()> {
    blob::Entity::update_many()
        .col_expr(blob::Column::Refcount, Expr::col(blob::Column::Refcount).sub(n))
        .filter(blob::Column::Id.eq(id))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

impl SqlStore {
    /// A collection's items, sorted by name, from the listing cache when it holds them at the
    /// modseq of the collection as the caller read it. Every write to an item raises its
    /// collection's modseq in the same transaction, so a listing filed under a modseq is
    /// that state or a newer one (the items are read after the caller read the collection);
    /// a newer collection misses and is read again. No query when the cache answers.
    pub(crate) async fn listing(&self, c: &Collection) -> Result<Arc<Vec<Item>>> {
        if let Some(hit) = self.listings.get(c.id.0, c.modseq.0) {
            return Ok(hit);
        }
        let mut items: Vec<Item> = item::Entity::find()
            .filter(item::Column::CollectionId.eq(c.id.0))
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_item)
            .collect::<Result<_>>()?;
        // Sorted here, not by the database: PostgreSQL's collation is not byte order.
        items.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let listing = Arc::new(items);
        self.listings.put(c.id.0, c.modseq.0, listing.clone());
        Ok(listing)
    }

    async fn collection_row(&self, c: &impl ConnectionTrait, id: CollectionId) -> Result<collection::Model> {
        collection::Entity::find_by_id(id.0)
            .one(c)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(format!("collection {id}")))
    }

    async fn item_row(&self, c: &impl ConnectionTrait, id: ItemId) -> Result<item::Model> {
        item::Entity::find_by_id(id.0)
            .one(c)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(format!("item {id}")))
    }

    /// Releases the blob references of every item of an account (before it is removed).
    pub(crate) async fn release_account_blobs(&self, txn: &DatabaseTransaction, account: PrincipalId) -> Result<()> {
        let items = item::Entity::find()
            .select_only()
            .column(item::Column::BlobId)
            .filter(item::Column::AccountId.eq(account.0))
            .into_tuple::<String>()
            .all(txn)
            .await
            .map_err(db_err)?;
        release(txn, items).await?;
        let messages = crate::entities::message::Entity::find()
            .select_only()
            .column(crate::entities::message::Column::BlobId)
            .filter(crate::entities::message::Column::AccountId.eq(account.0))
            .into_tuple::<String>()
            .all(txn)
            .await
            .map_err(db_err)?;
        release(txn, messages).await?;
        let uploads = crate::entities::upload::Entity::find()
            .select_only()
            .column(crate::entities::upload::Column::BlobId)
            .filter(crate::entities::upload::Column::AccountId.eq(account.0))
            .into_tuple::<String>()
            .all(txn)
            .await
            .map_err(db_err)?;
        release(txn, uploads).await
    }

    /// The ids of a collection and all collections below it.
    async fn subtree(&self, c: &impl ConnectionTrait, root: &collection::Model) -> Result<Vec<collection::Model>> {
        let all = collection::Entity::find()
            .filter(collection::Column::AccountId.eq(root.account_id))
            .all(c)
            .await
            .map_err(db_err)?;
        let mut out = vec![root.clone()];
        let mut i = 0;
        while i < out.len() {
            let parent = out[i].id;
            out.extend(all.iter().filter(|m| m.parent_id == Some(parent)).cloned());
            i += 1;
        }
        Ok(out)
    }
}

/// Drops one reference per entry (blob ids may repeat).
pub(crate) async fn release(txn: &DatabaseTransaction, blob_ids: Vec<String>) -> Result<()> {
    let mut counts = std::collections::BTreeMap::<String, i64>::new();
    for b in blob_ids {
        *counts.entry(b).or_default() += 1;
    }
    for (b, n) in counts {
        unref_blob(txn, &b, n).await?;
    }
    Ok(())
}

#[async_trait]
impl CollectionStore for SqlStore {
    async fn create_collection(&self, new: NewCollection) -> Result<Committed<Collection>> {
        let mut tx = AccountTx::begin(self, new.account).await?;
        if let Some(p) = new.parent {
            let parent = self.collection_row(&tx.txn, p).await?;
            if parent.account_id != new.account.0 {
                return Err(Error::invalid("parent collection is in another account"));
            }
        }
        let what = format!("collection {:?}", new.name);
        let m = insert_collection(&tx, &new, &what).await?;
        if new.kind == CollectionKind::MailFolder {
            super::mail::add_mailbox_state(&tx.txn, &m, None).await?;
        }
        tx.log(ChangeOp::Created, &Logged::collection(m.id, new.kind, &m.name));
        let events = tx.commit().await?;
        Ok(Committed { value: to_collection(m)?, events })
    }

    async fn collection(&self, id: CollectionId) -> Result<Option<Collection>> {
        collection::Entity::find_by_id(id.0).one(&self.db).await.map_err(db_err)?.map(to_collection).transpose()
    }

    async fn collection_by_name(
        &self,
        account: AccountId,
        parent: Option<CollectionId>,
        kind: CollectionKind,
        name: &str,
    ) -> Result<Option<Collection>> {
        collection::Entity::find()
            .filter(collection::Column::AccountId.eq(account.0))
            .filter(collection::Column::ParentKey.eq(parent.map_or(0, |p| p.0)))
            .filter(collection::Column::Kind.eq(kind.code()))
            .filter(collection::Column::Name.eq(name))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_collection)
            .transpose()
    }

    async fn list_collections(&self, account: AccountId, kind: Option<CollectionKind>) -> Result<Vec<Collection>> {
        let mut q = collection::Entity::find().filter(collection::Column::AccountId.eq(account.0));
        if let Some(k) = kind {
            q = q.filter(collection::Column::Kind.eq(k.code()));
        }
        q.order_by_asc(collection::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_collection)
            .collect()
    }

    async fn collections_as_of(&self, account: AccountId, at: Modseq) -> Result<Arc<Vec<Collection>>> {
        if let Some(hit) = self.collections.get(account.0, at.0) {
            return Ok(hit);
        }
        let set = Arc::new(self.list_collections(account, None).await?);
        self.collections.put(account.0, at.0, set.clone());
        Ok(set)
    }

    async fn update_collection(&self, id: CollectionId, patch: CollectionPatch) -> Result<Committed<Collection>> {
        let row = self.collection_row(&self.db, id).await?;
        let mut tx = AccountTx::begin(self, PrincipalId(row.account_id)).await?;
        let row = self.collection_row(&tx.txn, id).await?;
        let old_name = row.name.clone();
        let mut am: collection::ActiveModel = row.clone().into();
        if let Some(parent) = patch.parent {
            if let Some(p) = parent {
                let parent_row = self.collection_row(&tx.txn, p).await?;
                if parent_row.account_id != row.account_id {
                    return Err(Error::invalid("cannot move a collection to another account"));
                }
                if self.subtree(&tx.txn, &row).await?.iter().any(|c| c.id == p.0) {
                    return Err(Error::invalid("cannot move a collection into itself"));
                }
            }
            am.parent_id = Set(parent.map(|p| p.0));
            am.parent_key = Set(parent.map_or(0, |p| p.0));
        }
        if let Some(name) = patch.name {
            am.name = Set(name);
        }
        if let Some(d) = patch.display_name {
            am.display_name = Set(d);
        }
        am.modseq = Set(tx.modseq);
        let m = am.update(&tx.txn).await.map_err(unique("a collection of that name"))?;
        let kind = kind_of(m.kind)?;
        if m.name == old_name {
            tx.log(ChangeOp::Updated, &Logged::collection(m.id, kind, &m.name));
        } else {
            tx.log(ChangeOp::Destroyed, &Logged::collection(m.id, kind, &old_name));
            tx.log(ChangeOp::Created, &Logged::collection(m.id, kind, &m.name));
        }
        let events = tx.commit().await?;
        Ok(Committed { value: to_collection(m)?, events })
    }

    async fn remove_collection(&self, id: CollectionId) -> Result<Committed<()>> {
        let row = self.collection_row(&self.db, id).await?;
        let mut tx = AccountTx::begin(self, PrincipalId(row.account_id)).await?;
        let row = self.collection_row(&tx.txn, id).await?;
        let tree = self.subtree(&tx.txn, &row).await?;
        let ids: Vec<i64> = tree.iter().map(|c| c.id).collect();
        let items = item::Entity::find()
            .filter(item::Column::CollectionId.is_in(ids.clone()))
            .all(&tx.txn)
            .await
            .map_err(db_err)?;
        for c in &tree {
            let kind = kind_of(c.kind)?;
            for it in items.iter().filter(|it| it.collection_id == c.id) {
                tx.log(ChangeOp::Destroyed, &Logged::item(it.id, c.id, kind, &it.name));
                tx.shrink(u(it.size));
            }
            tx.log(ChangeOp::Destroyed, &Logged::collection(c.id, kind, &c.name));
        }
        // Mailboxes: their messages go too unless filed elsewhere (and leave tombstones).
        for c in tree.iter().filter(|c| c.kind == CollectionKind::MailFolder.code()) {
            let rows = crate::entities::mailbox_message::Entity::find()
                .filter(crate::entities::mailbox_message::Column::MailboxId.eq(c.id))
                .all(&tx.txn)
                .await
                .map_err(db_err)?;
            super::mail::drop_memberships(&mut tx, c.id, &rows).await?;
        }
        properties::forget(&tx.txn, 2, items.iter().map(|it| it.id).collect()).await?;
        properties::forget(&tx.txn, 1, ids).await?;
        release(&tx.txn, items.into_iter().map(|it| it.blob_id).collect()).await?;
        // Children go with the parent (ON DELETE CASCADE), items with their collection.
        collection::Entity::delete_by_id(id.0).exec(&tx.txn).await.map_err(db_err)?;
        let events = tx.commit().await?;
        Ok(Committed { value: (), events })
    }

    async fn create_item(&self, new: NewItem) -> Result<Committed<Item>> {
        let coll = self.collection_row(&self.db, new.collection).await?;
        let mut tx = AccountTx::begin(self, PrincipalId(coll.account_id)).await?;
        // Re-read inside the transaction: the collection may have gone meanwhile.
        let coll = self.collection_row(&tx.txn, new.collection).await?;
        tx.grow(new.content.size)?;
        ref_blob(&tx.txn, &new.content.blob, new.content.size).await?;
        let now = Timestamp::now().0;
        let m = item::ActiveModel {
            account_id: Set(coll.account_id),
            collection_id: Set(coll.id),
            name: Set(new.name.clone()),
            content_type: Set(new.content.content_type),
            blob_id: Set(new.content.blob.to_string()),
            size: Set(i(new.content.size)),
            created_by: Set(new.created_by.map(|p| p.0)),
            modseq: Set(tx.modseq),
            created_modseq: Set(tx.modseq),
            created_at: Set(now),
            updated_at: Set(now),
            uid: Set(new.uid.clone()),
            time_start: Set(new.content.span.start),
            time_end: Set(new.content.span.end),
            ..Default::default()
        }
        .insert(&tx.txn)
        .await
        .map_err(unique(match &new.uid {
            Some(uid) => format!("an item named {:?} or with UID {uid:?}", new.name),
            None => format!("item {:?}", new.name),
        }))?;
        tx.log(ChangeOp::Created, &Logged::item(m.id, coll.id, kind_of(coll.kind)?, &m.name));
        let events = tx.commit().await?;
        Ok(Committed { value: to_item(m)?, events })
    }

    async fn item(&self, id: ItemId) -> Result<Option<Item>> {
        item::Entity::find_by_id(id.0).one(&self.db).await.map_err(db_err)?.map(to_item).transpose()
    }

    async fn item_by_name(&self, collection: CollectionId, name: &str) -> Result<Option<Item>> {
        item::Entity::find()
            .filter(item::Column::CollectionId.eq(collection.0))
            .filter(item::Column::Name.eq(name))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_item)
            .transpose()
    }

    async fn list_items(&self, collection: &Collection) -> Result<Arc<Vec<Item>>> {
        self.listing(collection).await
    }

    async fn item_by_uid(&self, collection: CollectionId, uid: &str) -> Result<Option<Item>> {
        item::Entity::find()
            .filter(item::Column::CollectionId.eq(collection.0))
            .filter(item::Column::Uid.eq(uid))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(to_item)
            .transpose()
    }

    async fn list_items_in(&self, collection: &Collection, window: Window) -> Result<Vec<Item>> {
        // The same test the items_time index serves, run over the cached listing.
        Ok(self
            .listing(collection)
            .await?
            .iter()
            .filter(|i| i.span.start.is_none_or(|s| s < window.end) && i.span.end.is_none_or(|e| e > window.start))
            .cloned()
            .collect())
    }

    async fn replace_item(
        &self,
        id: ItemId,
        content: ItemContent,
        if_modseq: Option<Modseq>,
    ) -> Result<Committed<Item>> {
        let row = self.item_row(&self.db, id).await?;
        let mut tx = AccountTx::begin(self, PrincipalId(row.account_id)).await?;
        let row = self.item_row(&tx.txn, id).await?;
        if if_modseq.is_some_and(|m| m.0 != row.modseq) {
            return Err(Error::PreconditionFailed(format!("item {id} changed since")));
        }
        tx.shrink(u(row.size));
        tx.grow(content.size)?;
        ref_blob(&tx.txn, &content.blob, content.size).await?;
        unref_blob(&tx.txn, &row.blob_id, 1).await?;
        let coll = self.collection_row(&tx.txn, CollectionId(row.collection_id)).await?;
        let mut am: item::ActiveModel = row.into();
        am.content_type = Set(content.content_type);
        am.blob_id = Set(content.blob.to_string());
        am.size = Set(i(content.size));
        am.time_start = Set(content.span.start);
        am.time_end = Set(content.span.end);
        am.modseq = Set(tx.modseq);
        am.updated_at = Set(Timestamp::now().0);
        let m = am.update(&tx.txn).await.map_err(db_err)?;
        tx.log(ChangeOp::Updated, &Logged::item(m.id, m.collection_id, kind_of(coll.kind)?, &m.name));
        let events = tx.commit().await?;
        Ok(Committed { value: to_item(m)?, events })
    }

    async fn remove_item(&self, id: ItemId, if_modseq: Option<Modseq>) -> Result<Committed<()>> {
        let row = self.item_row(&self.db, id).await?;
        let mut tx = AccountTx::begin(self, PrincipalId(row.account_id)).await?;
        let row = self.item_row(&tx.txn, id).await?;
        if if_modseq.is_some_and(|m| m.0 != row.modseq) {
            return Err(Error::PreconditionFailed(format!("item {id} changed since")));
        }
        let coll = self.collection_row(&tx.txn, CollectionId(row.collection_id)).await?;
        tx.shrink(u(row.size));
        unref_blob(&tx.txn, &row.blob_id, 1).await?;
        item::Entity::delete_by_id(id.0).exec(&tx.txn).await.map_err(db_err)?;
        properties::forget(&tx.txn, 2, vec![id.0]).await?;
        tx.log(ChangeOp::Destroyed, &Logged::item(id.0, row.collection_id, kind_of(coll.kind)?, &row.name));
        let events = tx.commit().await?;
        Ok(Committed { value: (), events })
    }

    async fn move_item(&self, id: ItemId, to: CollectionId, name: &str) -> Result<Committed<Item>> {
        let row = self.item_row(&self.db, id).await?;
        let mut tx = AccountTx::begin(self, PrincipalId(row.account_id)).await?;
        let row = self.item_row(&tx.txn, id).await?;
        let from = self.collection_row(&tx.txn, CollectionId(row.collection_id)).await?;
        let dest = self.collection_row(&tx.txn, to).await?;
        if dest.account_id != row.account_id {
            return Err(Error::invalid("cannot move an item to another account"));
        }
        let old_name = row.name.clone();
        let mut am: item::ActiveModel = row.into();
        am.collection_id = Set(dest.id);
        am.name = Set(name.to_owned());
        am.modseq = Set(tx.modseq);
        am.updated_at = Set(Timestamp::now().0);
        let m = am.update(&tx.txn).await.map_err(unique(format!("item {name:?}")))?;
        tx.log(ChangeOp::Destroyed, &Logged::item(m.id, from.id, kind_of(from.kind)?, &old_name));
        tx.log(ChangeOp::Created, &Logged::item(m.id, dest.id, kind_of(dest.kind)?, &m.name));
        let events = tx.commit().await?;
        Ok(Committed { value: to_item(m)?, events })
    }

    async fn properties(&self, target: PropTarget) -> Result<Vec<DeadProperty>> {
        self.read_properties(target).await
    }

    async fn update_properties(
        &self,
        target: PropTarget,
        set: Vec<DeadProperty>,
        remove: Vec<(String, String)>,
    ) -> Result<()> {
        self.write_properties(target, set, remove).await
    }

    async fn collect_unreferenced_blobs(&self, limit: usize, blobs: &dyn BlobStore) -> Result<usize> {
        let (_turn, txn) = self.write().await?;
        let ids: Vec<String> = blob::Entity::find()
            .select_only()
            .column(blob::Column::Id)
            .filter(blob::Column::Refcount.lte(0))
            .limit(limit as u64)
            .into_tuple::<String>()
            .all(&txn)
            .await
            .map_err(db_err)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let gone = blob::Entity::delete_many()
            .filter(blob::Column::Id.is_in(ids))
            .filter(blob::Column::Refcount.lte(0))
            .exec_with_returning(&txn)
            .await
            .map_err(db_err)?;
        for b in &gone {
            if let Some(id) = BlobId::parse(&b.id) {
                blobs.delete(&id).await?;
            }
        }
        commit(txn).await?;
        Ok(gone.len())
    }
}
