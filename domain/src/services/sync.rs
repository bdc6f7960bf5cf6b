//! Reading the change log: what changed since a token, for an account or one collection.

use crate::Core;
use crate::changes::{self, ChangedObject, Changes, ObjectType, SyncToken};
use crate::error::{Error, Result};
use crate::ids::{AccountId, CollectionId, Modseq};
use crate::model::{Collection, LogPosition, Principal};
use crate::rights::Rights;

impl Core {
    /// The account's current token.
    pub async fn current_token(&self, who: &Principal, account: AccountId) -> Result<SyncToken> {
        self.require_log_access(who, account).await?;
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
        match collection {
            Some(c) => {
                let access = self.access(who, c).await?;
                if access.collection.account != account {
                    return Err(Error::not_found(format!("collection {c}")));
                }
                self.changes_in(&access, token, limit, None).await
            }
            None => {
                self.require_log_access(who, account).await?;
                self.log_after(account, None, token, limit, None).await
            }
        }
    }

    /// [`Core::changes_since`] in a collection the caller opened (whoever may read it).
    /// `known`: the account's log position read for this request (the owner's
    /// [`Principal::log`]), which saves reading it again.
    pub async fn changes_in(
        &self,
        access: &crate::Access,
        token: Option<&str>,
        limit: usize,
        known: Option<LogPosition>,
    ) -> Result<Changes> {
        access.require(Rights::READ)?;
        self.log_after(access.collection.account, Some(&access.collection), token, limit, known).await
    }

    async fn log_after(
        &self,
        account: AccountId,
        collection: Option<&Collection>,
        token: Option<&str>,
        limit: usize,
        known: Option<LogPosition>,
    ) -> Result<Changes> {
        let collection_id = collection.map(|c| c.id);
        // Bounded, so `limit + 1` can never wrap and one answer stays a reasonable size.
        let limit = limit.clamp(1, 100_000);
        // A position read before the rows below is safe: rows are then that state or newer.
        let pos = match known {
            Some(p) => p,
            None => self.store.log_position(account).await?,
        };
        let Some(token) = token else {
            return self.initial_sync(account, collection, limit, pos.current).await;
        };
        let token = SyncToken::parse(token)?;
        changes::check_token(token, account, pos.current, pos.oldest)?;
        let mut rows = self.store.change_rows(account, token.modseq, collection_id, limit + 1).await?;
        let cut = changes::cut_at_limit(&rows, limit);
        if let Some(m) = cut.needs_whole_modseq {
            rows = self.store.change_rows_at(account, m, collection_id).await?;
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
        collection: Option<&Collection>,
        limit: usize,
        current: Modseq,
    ) -> Result<Changes> {
        let collections = match collection {
            Some(c) => vec![c.clone()],
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
            for i in self.store.list_items(c).await?.iter() {
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
        // The log's paging rule: never split one modseq across answers.
        let cut = changes::cut_by_modseq(&objs, limit, |o| o.modseq);
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

    /// Account-wide logs are for the owner (and account-wide readers); a collection's log is
    /// for whoever may read the collection ([`Core::changes_in`]).
    async fn require_log_access(&self, who: &Principal, account: AccountId) -> Result<()> {
        let rights = self.rights_in(who, account, None).await?;
        if rights.contains(Rights::READ) {
            Ok(())
        } else if rights.is_empty() {
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
