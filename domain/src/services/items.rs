//! Items in collections: create, read, replace, remove — with rights, quota and blobs.

use crate::Core;
use crate::error::{Error, Rejection, Result};
use crate::ids::{CollectionId, ItemId, Modseq};
use crate::model::{Item, Principal};
use crate::objects;
use crate::ports::{ItemContent, NewItem};
use crate::recurrence::{BusyType, CalendarObject, Span, Window, merge_busy};
use crate::rights::Rights;
use crate::services::collections::check_name;

impl Core {
    /// Refuses early (before any byte is stored) a write that cannot fit the account's quota;
    /// the transaction checks again, exactly.
    async fn precheck_quota(&self, account: crate::ids::AccountId, grow: u64) -> Result<()> {
        if let Some(p) = self.store.principal(account).await?
            && !crate::quota::fits(p.quota.used_bytes, grow, p.quota.limit_bytes)
        {
            return Err(Error::OverQuota {
                used: p.quota.used_bytes,
                limit: p.quota.limit_bytes.unwrap_or(u64::MAX),
                requested: grow,
            });
        }
        Ok(())
    }

    /// Stores the bytes and checks the item size limit.
    async fn store_content(&self, content_type: &str, data: &[u8], span: Span) -> Result<ItemContent> {
        let size = data.len() as u64;
        if size > self.settings.max_item_size {
            return Err(Error::TooLarge { size, max: self.settings.max_item_size });
        }
        let blob = self.blobs.put(data).await?;
        Ok(ItemContent { content_type: content_type.to_owned(), blob, size, span })
    }

    /// A blob may have been collected between `put` and the commit that references it (it had
    /// no references then); put it back. Garbage collection deletes files before its
    /// transaction commits, and our commit waits for it, so this check sees the deletion.
    async fn ensure_blob(&self, content: &ItemContent, data: &[u8]) -> Result<()> {
        self.restore_blob(&content.blob, data).await
    }

    /// [`Self::ensure_blob`] for any committed blob reference.
    pub(super) async fn restore_blob(&self, blob: &crate::ids::BlobId, data: &[u8]) -> Result<()> {
        if !self.blobs.exists(blob).await? {
            self.blobs.put(data).await?;
        }
        Ok(())
    }

    /// Creates an item in a collection the caller may add to.
    pub async fn create_item(
        &self,
        who: &Principal,
        collection: CollectionId,
        name: &str,
        content_type: &str,
        data: &[u8],
    ) -> Result<Item> {
        check_name(name)?;
        let access = self.access(who, collection).await?;
        access.require(Rights::CREATE)?;
        let info = objects::inspect(access.collection.kind, data)?;
        if let Some(uid) = &info.uid
            && let Some(existing) = self.store.item_by_uid(collection, uid).await?
        {
            return Err(Error::Rejected {
                reason: Rejection::UidConflict { existing: existing.name },
                message: format!("UID {uid:?} is used by another object of this collection"),
            });
        }
        self.precheck_quota(access.collection.account, data.len() as u64).await?;
        let content = self.store_content(content_type, data, info.span).await?;
        let c = self
            .store
            .create_item(NewItem {
                collection,
                name: name.to_owned(),
                content: content.clone(),
                created_by: Some(who.id),
                uid: info.uid,
            })
            .await?;
        self.ensure_blob(&content, data).await?;
        Ok(self.publish(c))
    }

    /// An item the caller may read, and its bytes.
    pub async fn read_item(&self, who: &Principal, id: ItemId) -> Result<(Item, bytes::Bytes)> {
        let (item, _) = self.visible_item(who, id, Rights::READ).await?;
        let data = self
            .blobs
            .get(&item.blob)
            .await?
            .ok_or_else(|| Error::internal(format!("blob {} of item {} is missing", item.blob, item.id)))?;
        Ok((item, data))
    }

    /// The content of an item of a collection the caller already opened with [`Core::access`]
    /// (no second rights lookup: for reports over many items).
    pub async fn content_of(&self, access: &crate::Access, item: &Item) -> Result<bytes::Bytes> {
        access.require(Rights::READ)?;
        if item.collection != access.collection.id {
            return Err(Error::not_found(format!("item {}", item.id)));
        }
        self.blobs
            .get(&item.blob)
            .await?
            .ok_or_else(|| Error::internal(format!("blob {} of item {} is missing", item.blob, item.id)))
    }

    /// The item named `name` in a collection the caller may read.
    pub async fn item_by_name(&self, who: &Principal, collection: CollectionId, name: &str) -> Result<Item> {
        self.access(who, collection).await?.require(Rights::READ)?;
        self.store.item_by_name(collection, name).await?.ok_or_else(|| Error::not_found(format!("item {name:?}")))
    }

    /// The items of a collection the caller opened that may have an instance in `window`
    /// (a superset: the caller tests each with [`crate::recurrence`]).
    pub async fn items_in(&self, access: &crate::Access, window: Window) -> Result<Vec<Item>> {
        access.require(Rights::READ)?;
        self.store.list_items_in(&access.collection, window).await
    }

    /// Busy periods of a calendar inside `window`, merged: for whoever may read it or holds a
    /// free/busy grant on it (which shows nothing else). `zone` places floating times.
    pub async fn busy_times(
        &self,
        who: &Principal,
        collection: CollectionId,
        window: Window,
        zone: Option<&str>,
    ) -> Result<Vec<(i64, i64, BusyType)>> {
        let access = self.access(who, collection).await?;
        if !access.rights.intersects(Rights::READ | Rights::FREE_BUSY) {
            return Err(Error::forbidden(Rights::FREE_BUSY.to_string()));
        }
        let mut busy = Vec::new();
        for item in self.store.list_items_in(&access.collection, window).await? {
            let Some(data) = self.blobs.get(&item.blob).await? else { continue };
            if let Some(object) = std::str::from_utf8(&data).ok().and_then(|t| CalendarObject::parse(t, zone)) {
                busy.extend(object.busy(window));
            }
        }
        Ok(merge_busy(busy))
    }

    /// The items of a collection the caller opened (sorted by name: [`crate::model::find_item`]).
    /// The listing is the collection's state when it was opened, or newer.
    pub async fn list_items(&self, access: &crate::Access) -> Result<std::sync::Arc<Vec<Item>>> {
        access.require(Rights::READ)?;
        self.store.list_items(&access.collection).await
    }

    /// Replaces an item's content; `if_modseq` makes it conditional (ETag / If-Match).
    pub async fn replace_item(
        &self,
        who: &Principal,
        id: ItemId,
        content_type: &str,
        data: &[u8],
        if_modseq: Option<Modseq>,
    ) -> Result<Item> {
        let (item, rights) = self.visible_item(who, id, Rights::NONE).await?;
        if !rights.may_modify_item(item.created_by, who.id) {
            return Err(Error::forbidden(if rights.contains(Rights::MODIFY_OWN) {
                "modify (the item was created by someone else)".to_owned()
            } else {
                Rights::MODIFY.to_string()
            }));
        }
        let kind = self.access(who, item.collection).await?.collection.kind;
        let info = objects::inspect(kind, data)?;
        if item.uid.is_some() && info.uid != item.uid {
            return Err(Error::Rejected {
                reason: Rejection::UidChanged,
                message: "an object keeps its UID; store a new UID as a new object".into(),
            });
        }
        self.precheck_quota(item.account, (data.len() as u64).saturating_sub(item.size)).await?;
        let content = self.store_content(content_type, data, info.span).await?;
        let c = self.store.replace_item(id, content.clone(), if_modseq).await?;
        self.ensure_blob(&content, data).await?;
        Ok(self.publish(c))
    }

    /// Removes an item; `if_modseq` makes it conditional.
    pub async fn remove_item(&self, who: &Principal, id: ItemId, if_modseq: Option<Modseq>) -> Result<()> {
        let (item, rights) = self.visible_item(who, id, Rights::NONE).await?;
        if !rights.may_delete_item(item.created_by, who.id) {
            return Err(Error::forbidden(if rights.contains(Rights::DELETE_OWN) {
                "delete (the item was created by someone else)".to_owned()
            } else {
                Rights::DELETE.to_string()
            }));
        }
        let c = self.store.remove_item(id, if_modseq).await?;
        self.publish(c);
        Ok(())
    }

    /// The item and the caller's rights on its collection (some right needed to see it).
    pub(crate) async fn item_with_rights(&self, who: &Principal, id: ItemId) -> Result<(Item, Rights)> {
        self.visible_item(who, id, Rights::NONE).await
    }

    /// The item and the caller's rights on it, if it holds some right on its collection and
    /// at least `needed`.
    async fn visible_item(&self, who: &Principal, id: ItemId, needed: Rights) -> Result<(Item, Rights)> {
        let item = self.store.item(id).await?.ok_or_else(|| Error::not_found(format!("item {id}")))?;
        let access = self.access(who, item.collection).await.map_err(|e| match e {
            Error::NotFound(_) => Error::not_found(format!("item {id}")),
            other => other,
        })?;
        access.require(needed)?;
        Ok((item, access.rights))
    }

    /// Deletes blobs no longer referenced. Returns how many were deleted.
    pub async fn collect_garbage(&self) -> Result<usize> {
        let mut n = 0;
        loop {
            let batch = self.store.collect_unreferenced_blobs(500, self.blobs.as_ref()).await?;
            if batch == 0 {
                return Ok(n);
            }
            n += batch;
        }
    }
}
