//! Reading the change log: what changed since a token, for an account or one collection.

use crate::Core;
use crate::changes::{self, ChangeOp, ChangedObject, Changes, ObjectType, SyncToken};
use crate::error::{Error, Result};
use crate::ids::{AccountId, CollectionId, Modseq};
use crate::model::Principal;
use crate::rights::Rights;

impl Core {
    /// The account's current token.
    pub async fn current_token(&self, who: &Principal, account: AccountId) -> Result<SyncToken> {
        self.require_log_access(who, account, None).await?;
        let pos = self.store.log_position(account).await?;
        Ok(SyncToken { account, modseq: pos.current })
    }

    /// What changed after `token` (`None`: everything there is, as created, with no tombstones),
    /// in the whole account or in one collection, at most `limit` entries per answer
    /// (`has_more` says to call again with `new_token`).
    pub async fn changes_since(
        &self,
        who: &Principal,
        account: AccountId,
        collection: Option<CollectionId>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<Changes> {
        self.require_log_access(who, account, collection).await?;
        // Bounded, so `limit + 1` can never wrap and one answer stays a reasonable size.
        let limit = limit.clamp(1, 100_000);
        let pos = self.store.log_position(account).await?;
        let Some(token) = token else {
            return self.initial_sync(account, collection, limit, pos.current).await;
        };
        let token = SyncToken::parse(token)?;
        changes::check_token(token, account, pos.current, pos.oldest)?;
        let mut rows = self.store.change_rows(account, token.modseq, collection, limit + 1).await?;
        let cut = changes::cut_at_limit(&rows, limit);
        if let Some(m) = cut.needs_whole_modseq {
            rows = self.store.change_rows_at(account, m, collection).await?;
        } else {
            rows.truncate(cut.keep);
        }
        let new_modseq = if cut.has_more {
            rows.last().map_or(token.modseq, |r| r.modseq)
        } else {
            pos.current.max(rows.last().map_or(token.modseq, |r| r.modseq))
        };
        let (created, updated, destroyed) = changes::fold(&rows);
        Ok(Changes {
            new_token: Some(SyncToken { account, modseq: new_modseq }),
            has_more: cut.has_more,
            created,
            updated,
            destroyed,
        })
    }

    /// A first sync: the live objects, oldest change first, paged at transaction boundaries.
    async fn initial_sync(
        &self,
        account: AccountId,
        collection: Option<CollectionId>,
        limit: usize,
        current: Modseq,
    ) -> Result<Changes> {
        let collections = match collection {
            Some(id) => {
                vec![self.store.collection(id).await?.ok_or_else(|| Error::not_found(format!("collection {id}")))?]
            }
            None => self.store.list_collections(account, None).await?,
        };
        let mut objs = Vec::new();
        for c in &collections {
            if collection.is_none() {
                objs.push(ChangedObject {
                    object: ObjectType::Collection,
                    id: c.id.0,
                    collection_id: c.id,
                    kind: c.kind,
                    modseq: c.modseq,
                    name: c.name.clone(),
                });
            }
            for i in self.store.list_items(c.id).await?.iter() {
                objs.push(ChangedObject {
                    object: ObjectType::Item,
                    id: i.id.0,
                    collection_id: c.id,
                    kind: c.kind,
                    modseq: i.modseq,
                    name: i.name.clone(),
                });
            }
        }
        objs.sort_by_key(|o| (o.modseq, o.object, o.id));
        // Reuse the log's paging rule: never split one modseq across answers.
        let as_rows: Vec<_> = objs
            .iter()
            .take(limit + 1)
            .map(|o| changes::ChangeRow {
                modseq: o.modseq,
                object: o.object,
                object_id: o.id,
                collection_id: o.collection_id,
                kind: o.kind,
                op: ChangeOp::Created,
                name: o.name.clone(),
            })
            .collect();
        let cut = changes::cut_at_limit(&as_rows, limit);
        let keep = match cut.needs_whole_modseq {
            Some(m) => objs.iter().take_while(|o| o.modseq <= m).count(),
            None => cut.keep,
        };
        objs.truncate(keep);
        let new_modseq = if cut.has_more { objs.last().map_or(Modseq(0), |o| o.modseq) } else { current };
        Ok(Changes {
            new_token: Some(SyncToken { account, modseq: new_modseq }),
            has_more: cut.has_more,
            created: objs,
            updated: Vec::new(),
            destroyed: Vec::new(),
        })
    }

    /// Account-wide logs are for the owner (and account-wide readers); a collection's log for
    /// whoever may read it.
    async fn require_log_access(
        &self,
        who: &Principal,
        account: AccountId,
        collection: Option<CollectionId>,
    ) -> Result<()> {
        let rights = match collection {
            Some(c) => {
                let a = self.access(who, c).await?;
                if a.collection.account != account {
                    return Err(Error::not_found(format!("collection {c}")));
                }
                a.rights
            }
            None => self.rights_in(who, account, None).await?,
        };
        if rights.contains(Rights::READ) {
            Ok(())
        } else if rights.is_empty() && collection.is_none() {
            Err(Error::not_found(format!("account {account}")))
        } else {
            Err(Error::forbidden(Rights::READ.to_string()))
        }
    }

    /// Forgets the log up to `upto` (system maintenance); older tokens then get `TokenExpired`.
    pub async fn prune_changes(&self, account: AccountId, upto: Modseq) -> Result<u64> {
        self.store.prune_changes(account, upto).await
    }
}
