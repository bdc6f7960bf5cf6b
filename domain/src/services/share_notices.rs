//! Share notices: when someone's rights on a colleague's collection change (from any protocol:
//! IMAP SETACL, a WebDAV ACL, JMAP `shareWith`, `/api/shares`, the CLI), the grantee's account
//! gets a notice saying who changed what, from which rights to which. JMAP shows them as
//! ShareNotification objects (RFC 9670 §4).
//!
//! They are small documents of the grantee's account. A dismissed notice leaves a tombstone
//! document in its place, so that with ids rising, "everything after document N" is an exact
//! change list: live notices after N were created, tombstones after N name what went away.

use serde::{Deserialize, Serialize};

use crate::Core;
use crate::error::Result;
use crate::events::Event;
use crate::ids::{AccountId, CollectionId, PrincipalId, Timestamp};
use crate::model::{CollectionKind, Principal};
use crate::rights::Rights;

/// The document kind notices are kept under.
const KIND: &str = "share-notice";

/// One change of a grantee's rights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareNotice {
    pub created: Timestamp,
    /// Who changed the rights (the owner or a delegate holding the share right).
    pub changed_by: PrincipalId,
    pub changed_by_name: String,
    pub changed_by_address: String,
    /// Whose data it is.
    pub account: AccountId,
    /// The collection; `None` for account-wide rights (delegation, send-as).
    pub collection: Option<CollectionId>,
    pub kind: Option<CollectionKind>,
    /// The collection's name when the notice was written (or the owner's address).
    pub name: String,
    pub old_rights: Rights,
    pub new_rights: Rights,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Notice(ShareNotice),
    Tombstone { tombstone_of: i64 },
}

/// An account's notices and the tombstones of dismissed ones, by document id.
#[derive(Debug, Default)]
pub struct ShareNotices {
    pub live: Vec<(i64, ShareNotice)>,
    /// (tombstone document id, id of the notice it replaced).
    pub tombstones: Vec<(i64, i64)>,
}

impl ShareNotices {
    /// The highest document id: everything after it is news.
    pub fn position(&self) -> i64 {
        let live = self.live.iter().map(|(id, _)| *id);
        live.chain(self.tombstones.iter().map(|(t, _)| *t)).max().unwrap_or(0)
    }
}

impl Core {
    /// Writes a notice into the grantee's account when its rights changed.
    pub(crate) async fn notice_share(
        &self,
        who: &Principal,
        grantee: &Principal,
        account: AccountId,
        collection: Option<CollectionId>,
        old_rights: Rights,
        new_rights: Rights,
    ) -> Result<()> {
        if old_rights == new_rights {
            return Ok(());
        }
        let (kind, name) = match collection {
            Some(c) => match self.store.collection(c).await? {
                Some(c) => (Some(c.kind), c.display_name.clone().unwrap_or(c.name)),
                None => return Ok(()),
            },
            None => match self.store.principal(account).await? {
                Some(owner) => (None, owner.address.to_string()),
                None => return Ok(()),
            },
        };
        let notice = ShareNotice {
            created: Timestamp::now(),
            changed_by: who.id,
            changed_by_name: who.display_name.clone().unwrap_or_else(|| who.address.to_string()),
            changed_by_address: who.address.to_string(),
            account,
            collection,
            kind,
            name,
            old_rights,
            new_rights,
        };
        let data = serde_json::to_string(&Stored::Notice(notice)).map_err(|e| crate::Error::Internal(e.to_string()))?;
        self.store.put_document(grantee.id, KIND, None, &data).await?;
        self.bus.publish(Event::Noticed { account: grantee.id });
        Ok(())
    }

    /// The caller's share notices, oldest first, with the tombstones of dismissed ones.
    pub async fn share_notices(&self, who: &Principal) -> Result<ShareNotices> {
        self.notices_of(who.id).await
    }

    /// Where an account's notices stand (for push: a number, nothing of their content).
    pub async fn share_notice_position(&self, account: AccountId) -> Result<i64> {
        Ok(self.notices_of(account).await?.position())
    }

    async fn notices_of(&self, account: AccountId) -> Result<ShareNotices> {
        let mut out = ShareNotices::default();
        for d in self.store.documents(account, KIND).await? {
            match serde_json::from_str::<Stored>(&d.data) {
                Ok(Stored::Notice(n)) => out.live.push((d.id, n)),
                Ok(Stored::Tombstone { tombstone_of }) => out.tombstones.push((d.id, tombstone_of)),
                Err(e) => tracing::warn!(id = d.id, error = %e, "unreadable share notice skipped"),
            }
        }
        Ok(out)
    }

    /// Dismisses one of the caller's notices; whether it was there.
    pub async fn dismiss_share_notice(&self, who: &Principal, id: i64) -> Result<bool> {
        if !self.store.remove_document(who.id, KIND, id).await? {
            return Ok(false);
        }
        let data = serde_json::to_string(&Stored::Tombstone { tombstone_of: id })
            .map_err(|e| crate::Error::Internal(e.to_string()))?;
        self.store.put_document(who.id, KIND, None, &data).await?;
        self.bus.publish(Event::Noticed { account: who.id });
        Ok(true)
    }
}
