//! Collections (mail folders, calendars, address books, task lists, file folders) and the
//! rights a principal holds on them.

use crate::Core;
use crate::error::{Error, Result};
use crate::ids::{AccountId, CollectionId};
use crate::model::{Collection, CollectionKind, Grant, Principal};
use crate::ports::{CollectionPatch, NewCollection};
use crate::rights::Rights;

/// A collection and what the caller may do with it.
#[derive(Debug, Clone)]
pub struct Access {
    pub collection: Collection,
    pub rights: Rights,
}

impl Access {
    pub fn require(&self, needed: Rights) -> Result<()> {
        if self.rights.contains(needed) { Ok(()) } else { Err(Error::forbidden(needed.to_string())) }
    }
}

/// Names are path segments and folder names: printable, no slash, not `.`/`..`.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "bad name {name:?}: 1 to 255 bytes, no '/', no control characters, not '.' or '..'"
        )))
    }
}

/// The union of the grants (to a principal and its groups) that reach `collection` of
/// `account`: those on the collection and those on the whole account.
pub(crate) fn rights_from(grants: &[Grant], account: AccountId, collection: Option<CollectionId>) -> Rights {
    grants
        .iter()
        .filter(|g| g.account == account && (g.collection.is_none() || g.collection == collection))
        .fold(Rights::NONE, |r, g| r | g.rights)
}

/// [`rights_from`], and for a drive folder also the grants on the folders above it (a grant on
/// a folder covers its subtree). `parents` maps the account's folders to their parents.
fn folder_rights(
    grants: &[Grant],
    c: &Collection,
    parents: &std::collections::HashMap<CollectionId, Option<CollectionId>>,
) -> Rights {
    let mut rights = rights_from(grants, c.account, Some(c.id));
    if c.kind == CollectionKind::FileFolder {
        let mut parent = c.parent;
        // Bounded: a drive is not deeper than this, and a damaged tree cannot loop forever.
        for _ in 0..64 {
            let Some(id) = parent else { break };
            rights |= rights_from(grants, c.account, Some(id));
            parent = parents.get(&id).copied().flatten();
        }
    }
    rights
}

fn parent_map(collections: &[Collection]) -> std::collections::HashMap<CollectionId, Option<CollectionId>> {
    collections.iter().map(|c| (c.id, c.parent)).collect()
}

impl Core {
    /// The rights `who` holds on a collection: everything on its own account; otherwise the
    /// union of its grants (direct or through groups) on the collection and on the account.
    ///
    /// Folders of the file drive inherit: a grant on a folder covers the folders below it, as
    /// someone who shares a folder expects.
    pub async fn rights_on(&self, who: &Principal, collection: &Collection) -> Result<Rights> {
        if collection.account == who.id {
            return Ok(Rights::ALL);
        }
        let grants = self.store.grants_to(who.id).await?;
        // The folder tree is read only when a folder grant of that account could be inherited.
        let folders = if collection.kind == CollectionKind::FileFolder
            && grants.iter().any(|g| g.account == collection.account && g.collection.is_some())
        {
            self.store.list_collections(collection.account, Some(CollectionKind::FileFolder)).await?
        } else {
            Vec::new()
        };
        Ok(folder_rights(&grants, collection, &parent_map(&folders)))
    }

    /// The rights `who` holds in `account`, on `collection` or (with `None`) account-wide.
    pub async fn rights_in(
        &self,
        who: &Principal,
        account: AccountId,
        collection: Option<CollectionId>,
    ) -> Result<Rights> {
        if account == who.id {
            return Ok(Rights::ALL);
        }
        Ok(rights_from(&self.store.grants_to(who.id).await?, account, collection))
    }

    /// Like [`Core::access`] for a collection already read from the store.
    pub async fn access_to(&self, who: &Principal, collection: Collection) -> Result<Access> {
        let rights = self.rights_on(who, &collection).await?;
        if rights.is_empty() {
            return Err(Error::not_found(format!("collection {}", collection.id)));
        }
        Ok(Access { collection, rights })
    }

    /// The collection with what `who` may do there. A collection the caller holds no right on
    /// is reported as not found, so its existence does not leak.
    pub async fn access(&self, who: &Principal, id: CollectionId) -> Result<Access> {
        let collection =
            self.store.collection(id).await?.ok_or_else(|| Error::not_found(format!("collection {id}")))?;
        self.access_to(who, collection).await
    }

    /// Creates a collection in `account` (the caller's own, or one where it may create children).
    pub async fn create_collection(
        &self,
        who: &Principal,
        account: AccountId,
        parent: Option<CollectionId>,
        kind: CollectionKind,
        name: &str,
        display_name: Option<String>,
    ) -> Result<Collection> {
        check_name(name)?;
        if let Some(pid) = parent {
            let parent = self.access(who, pid).await?;
            if parent.collection.account != account {
                return Err(Error::invalid("parent collection is in another account"));
            }
            parent.require(Rights::CREATE_CHILD)?;
        } else if !self.rights_in(who, account, None).await?.contains(Rights::CREATE_CHILD) {
            return Err(Error::forbidden(Rights::CREATE_CHILD.to_string()));
        }
        let c = self
            .store
            .create_collection(NewCollection { account, parent, kind, name: name.to_owned(), display_name })
            .await?;
        Ok(self.publish(c))
    }

    /// The caller's own collections (every kind) as of the moment `who` was read from the
    /// store, or newer ([`Principal::log`]): no query while nothing in the account changed.
    /// For a principal read for this request; a long session reads it again first.
    pub async fn own_collections(&self, who: &Principal) -> Result<std::sync::Arc<Vec<Collection>>> {
        self.store.collections_as_of(who.id, who.log.current).await
    }

    /// The collections of `account` that `who` can see, with its rights on each.
    pub async fn list_collections(
        &self,
        who: &Principal,
        account: AccountId,
        kind: Option<CollectionKind>,
    ) -> Result<Vec<Access>> {
        let all = self.store.list_collections(account, kind).await?;
        let grants = if account == who.id { Vec::new() } else { self.store.grants_to(who.id).await? };
        let parents = parent_map(&all);
        Ok(all
            .iter()
            .filter_map(|collection| {
                let rights = if account == who.id { Rights::ALL } else { folder_rights(&grants, collection, &parents) };
                (!rights.is_empty()).then(|| Access { collection: collection.clone(), rights })
            })
            .collect())
    }

    /// Renames a collection or changes its display name.
    pub async fn update_collection(
        &self,
        who: &Principal,
        id: CollectionId,
        patch: CollectionPatch,
    ) -> Result<Collection> {
        let a = self.access(who, id).await?;
        if let Some(name) = &patch.name {
            check_name(name)?;
            a.require(Rights::DELETE_COLLECTION)?;
        }
        if patch.display_name.is_some() {
            a.require(Rights::FLAG)?;
        }
        if let Some(parent) = patch.parent {
            a.require(Rights::DELETE_COLLECTION)?;
            match parent {
                Some(p) => self.access(who, p).await?.require(Rights::CREATE_CHILD)?,
                None if self.rights_in(who, a.collection.account, None).await?.contains(Rights::CREATE_CHILD) => {}
                None => return Err(Error::forbidden(Rights::CREATE_CHILD.to_string())),
            }
        }
        let c = self.store.update_collection(id, patch).await?;
        Ok(self.publish(c))
    }

    /// Removes a collection with everything in it.
    pub async fn remove_collection(&self, who: &Principal, id: CollectionId) -> Result<()> {
        self.access(who, id).await?.require(Rights::DELETE_COLLECTION)?;
        let c = self.store.remove_collection(id).await?;
        self.publish(c);
        Ok(())
    }
}
