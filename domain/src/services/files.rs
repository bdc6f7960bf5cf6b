//! Paths in a tree of collections (the WebDAV file drive), moving and copying, and dead
//! properties — with the same rights checks as everything else.

use crate::Core;
use crate::error::{Error, Result};
use crate::ids::{AccountId, CollectionId, ItemId};
use crate::model::{Collection, CollectionKind, Item, Principal};
use crate::ports::{CollectionPatch, DeadProperty, NewCollection, NewItem, PropTarget};
use crate::rights::Rights;
use crate::services::collections::{Access, check_name};

/// The name of the collection at the top of a user's file drive.
pub const DRIVE_ROOT: &str = "files";

/// What a path names.
#[derive(Debug, Clone)]
pub enum Node {
    Collection(Access),
    Item {
        item: Item,
        parent: Access,
    },
    /// Nothing yet; the parent exists (PUT and MKCOL create here).
    Missing {
        parent: Access,
        name: String,
    },
}

impl Core {
    /// The top of `account`'s file drive; its owner gets it created on first use.
    pub async fn drive_root(&self, who: &Principal, account: AccountId) -> Result<Access> {
        let kind = CollectionKind::FileFolder;
        if let Some(c) = self.store.collection_by_name(account, None, kind, DRIVE_ROOT).await? {
            return self.access_to(who, c).await;
        }
        if account != who.id {
            return Err(Error::not_found("file drive"));
        }
        let new = NewCollection { account, parent: None, kind, name: DRIVE_ROOT.into(), display_name: None };
        match self.store.create_collection(new).await {
            Ok(c) => {
                let c = self.publish(c);
                Ok(Access { collection: c, rights: Rights::ALL })
            }
            // Created concurrently by another request.
            Err(Error::Conflict(_)) => {
                let c = self
                    .store
                    .collection_by_name(account, None, kind, DRIVE_ROOT)
                    .await?
                    .ok_or_else(|| Error::internal("drive root vanished"))?;
                self.access(who, c.id).await
            }
            Err(e) => Err(e),
        }
    }

    /// Follows `segments` down from `root` (collections of the root's kind, then at most one item).
    pub async fn resolve(&self, who: &Principal, root: Access, segments: &[String]) -> Result<Node> {
        let mut cur = root;
        for (i, seg) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            let c = &cur.collection;
            if let Some(child) = self.store.collection_by_name(c.account, Some(c.id), c.kind, seg).await? {
                cur = self.access_to(who, child).await?;
                continue;
            }
            if !last {
                return Err(Error::not_found(format!("collection {seg:?}")));
            }
            // Items need read (or, for a new one, create): a free/busy grant shows no item,
            // not even whether a name exists.
            if !cur.rights.intersects(Rights::READ | Rights::CREATE) {
                return Err(Error::forbidden(Rights::READ.to_string()));
            }
            return Ok(match self.store.item_by_name(c.id, seg).await? {
                Some(item) => Node::Item { item, parent: cur },
                None => Node::Missing { parent: cur, name: seg.clone() },
            });
        }
        Ok(Node::Collection(cur))
    }

    /// Moves or renames an item: remove right where it is, create right where it goes.
    pub async fn move_item(&self, who: &Principal, id: ItemId, to: CollectionId, name: &str) -> Result<Item> {
        check_name(name)?;
        let (item, rights) = self.item_with_rights(who, id).await?;
        if !rights.may_delete_item(item.created_by, who.id) {
            return Err(Error::forbidden(Rights::DELETE.to_string()));
        }
        let dest = self.access(who, to).await?;
        dest.require(Rights::CREATE)?;
        self.check_fits(&item, &dest.collection).await?;
        let c = self.store.move_item(id, to, name).await?;
        Ok(self.publish(c))
    }

    /// An item moved or copied into another collection must be what that collection holds
    /// (a VEVENT does not go into a task list, a file not into an address book), with a UID
    /// free there.
    async fn check_fits(&self, item: &Item, dest: &Collection) -> Result<()> {
        let Some(src) = self.store.collection(item.collection).await? else {
            return Err(Error::not_found(format!("item {}", item.id)));
        };
        if src.kind == dest.kind && !matches!(dest.kind, CollectionKind::Calendar | CollectionKind::TaskList) {
            return Ok(());
        }
        let data = self
            .blobs
            .get(&item.blob)
            .await?
            .ok_or_else(|| Error::internal(format!("blob {} of item {} is missing", item.blob, item.id)))?;
        let info = crate::objects::inspect(dest.kind, &data)?;
        if let Some(uid) = &info.uid
            && let Some(existing) = self.store.item_by_uid(dest.id, uid).await?
            && existing.id != item.id
        {
            return Err(Error::Rejected {
                reason: crate::error::Rejection::UidConflict { existing: existing.name },
                message: format!("UID {uid:?} is used by another object of the destination"),
            });
        }
        Ok(())
    }

    /// Copies an item (content shared, properties copied) into a collection.
    pub async fn copy_item(&self, who: &Principal, id: ItemId, to: CollectionId, name: &str) -> Result<Item> {
        check_name(name)?;
        let (item, rights) = self.item_with_rights(who, id).await?;
        if !rights.contains(Rights::READ) {
            return Err(Error::forbidden(Rights::READ.to_string()));
        }
        let dest = self.access(who, to).await?;
        dest.require(Rights::CREATE)?;
        self.check_fits(&item, &dest.collection).await?;
        let content = crate::ports::ItemContent {
            content_type: item.content_type.clone(),
            blob: item.blob.clone(),
            size: item.size,
            span: item.span,
        };
        let c = self
            .store
            .create_item(NewItem {
                collection: to,
                name: name.to_owned(),
                content,
                created_by: Some(who.id),
                uid: item.uid.clone(),
            })
            .await?;
        let copy = self.publish(c);
        if !self.blobs.exists(&item.blob).await? {
            // The source went away (and its content with it) while we copied.
            let _ = self.store.remove_item(copy.id, None).await.map(|c| self.publish(c));
            return Err(Error::not_found(format!("item {id}")));
        }
        let props = self.store.properties(PropTarget::Item(id)).await?;
        if !props.is_empty() {
            self.store.update_properties(PropTarget::Item(copy.id), props, Vec::new()).await?;
        }
        Ok(copy)
    }

    /// Moves a collection under another parent and/or renames it.
    pub async fn move_collection(
        &self,
        who: &Principal,
        id: CollectionId,
        parent: CollectionId,
        name: &str,
    ) -> Result<Collection> {
        check_name(name)?;
        self.access(who, id).await?.require(Rights::DELETE_COLLECTION)?;
        self.access(who, parent).await?.require(Rights::CREATE_CHILD)?;
        let patch = CollectionPatch { name: Some(name.to_owned()), display_name: None, parent: Some(Some(parent)) };
        let c = self.store.update_collection(id, patch).await?;
        Ok(self.publish(c))
    }

    /// The dead properties of something the caller can read.
    /// The time zone properties of a calendar (`calendar-timezone`, `calendar-timezone-id`), for
    /// whoever may read it or see its busy times (floating times are placed with them).
    pub async fn zone_properties(&self, access: &Access) -> Result<Vec<DeadProperty>> {
        if !access.rights.intersects(Rights::READ | Rights::FREE_BUSY) {
            return Err(Error::forbidden(Rights::FREE_BUSY.to_string()));
        }
        let mut props = self.store.properties(PropTarget::Collection(access.collection.id)).await?;
        props.retain(|d| d.name == "calendar-timezone" || d.name == "calendar-timezone-id");
        Ok(props)
    }

    pub async fn dead_properties(&self, who: &Principal, target: PropTarget) -> Result<Vec<DeadProperty>> {
        self.target_rights(who, target).await?.require(Rights::READ)?;
        self.store.properties(target).await
    }

    /// Sets and removes dead properties (the write-properties right).
    pub async fn update_dead_properties(
        &self,
        who: &Principal,
        target: PropTarget,
        set: Vec<DeadProperty>,
        remove: Vec<(String, String)>,
    ) -> Result<()> {
        self.target_rights(who, target).await?.require(Rights::FLAG)?;
        self.store.update_properties(target, set, remove).await
    }

    async fn target_rights(&self, who: &Principal, target: PropTarget) -> Result<Access> {
        match target {
            PropTarget::Collection(c) => self.access(who, c).await,
            PropTarget::Item(i) => {
                let (item, _) = self.item_with_rights(who, i).await?;
                self.access(who, item.collection).await
            }
        }
    }
}
