//! Grants: an owner (or a delegate holding the share right) gives a colleague of the same
//! domain a role on a collection, or account-wide rights such as send-as.

use crate::Core;
use crate::address::Address;
use crate::error::{Error, Result};
use crate::ids::{AccountId, CollectionId};
use crate::model::{Grant, Principal};
use crate::rights::Rights;

impl Core {
    /// Sets what `grantee` may do on `collection` of `account` (or account-wide with `None`).
    /// Empty rights revoke. The grantee must be in the owner's domain.
    pub async fn share(
        &self,
        who: &Principal,
        account: AccountId,
        collection: Option<CollectionId>,
        grantee: &Address,
        rights: Rights,
    ) -> Result<Option<Grant>> {
        let owner =
            self.store.principal(account).await?.ok_or_else(|| Error::not_found(format!("account {account}")))?;
        match collection {
            Some(c) => {
                let access = self.access(who, c).await?;
                if access.collection.account != account {
                    return Err(Error::not_found(format!("collection {c}")));
                }
                access.require(Rights::SHARE)?;
                if rights.intersects(Rights::SEND_AS | Rights::SEND_ON_BEHALF) {
                    return Err(Error::invalid(
                        "send-as and send-on-behalf are granted on the whole account, not a collection",
                    ));
                }
            }
            // Account-wide grants (delegation, send-as) are the owner's alone.
            None if who.id != account => return Err(Error::forbidden("account owner")),
            None => {}
        }
        // Decided on the domain's name, before any lookup, so answers never reveal who exists
        // in other domains.
        if grantee.domain != owner.address.domain {
            return Err(Error::CrossDomainGrant(grantee.to_string()));
        }
        let target = self
            .store
            .principal_by_address(grantee)
            .await?
            .ok_or_else(|| Error::not_found(format!("user {grantee}")))?;
        if target.id == owner.id {
            return Err(Error::invalid("the owner holds every right already"));
        }
        if target.id == who.id {
            return Err(Error::invalid("nobody grants rights to themselves"));
        }
        // A delegate passes on at most what it holds itself.
        if who.id != account {
            let mine = self.rights_in(who, account, collection).await?;
            if !mine.contains(rights) {
                return Err(Error::forbidden(format!("{rights} (more than the caller holds)")));
            }
        }
        let old = self
            .store
            .grants_on(account)
            .await?
            .into_iter()
            .find(|g| g.collection == collection && g.grantee == target.id)
            .map_or(Rights::NONE, |g| g.rights);
        let g = self.store.put_grant(account, collection, target.id, rights).await?;
        tracing::info!(owner = %owner.address, grantee = %target.address, ?collection, %rights, "grant set");
        // The grant stands; a notice that could not be written is logged, not an error.
        if let Err(e) = self.notice_share(who, &target, account, collection, old, rights).await {
            tracing::warn!(error = %e, grantee = %target.address, "share notice not written");
        }
        Ok(g)
    }

    /// The grants on an account, for its owner or a delegate with the share right.
    pub async fn grants_on(&self, who: &Principal, account: AccountId) -> Result<Vec<Grant>> {
        let mine = self.rights_in(who, account, None).await?;
        let all = self.store.grants_on(account).await?;
        if mine.contains(Rights::SHARE) {
            return Ok(all);
        }
        // A delegate on single collections sees the grants of those.
        let mut out = Vec::new();
        for g in all {
            if let Some(c) = g.collection
                && self.rights_in(who, account, Some(c)).await?.contains(Rights::SHARE)
            {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// What others shared with `who`.
    pub async fn shared_with(&self, who: &Principal) -> Result<Vec<Grant>> {
        self.store.grants_to(who.id).await
    }
}
