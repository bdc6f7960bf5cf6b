//! Shared mail folders: what others shared with a user (a folder, or the whole mailbox), the
//! grants on a folder (for IMAP ACL), sharing from the admin command line, and \Seen kept per
//! user (a colleague's own seen state over the owner's other keywords).

use crate::Core;
use crate::address::Address;
use crate::error::{Error, Result};
use crate::ids::{AccountId, CollectionId, Modseq};
use crate::mail::{KeywordOp, Keywords, Mailbox, Membership};
use crate::model::{Grant, Principal};
use crate::rights::Rights;

/// A mailbox of another account that a user may read.
#[derive(Debug, Clone)]
pub struct SharedMailbox {
    /// The owner's address (IMAP names the folder `Shared/<owner>/<path>`).
    pub owner: Address,
    /// With `subscribed` the user's own subscription, not the owner's.
    pub mailbox: Mailbox,
    /// Its full name in the owner's account (`Projects/X`).
    pub path: String,
    pub rights: Rights,
}

/// One grantee on a mailbox: its rights from a grant on the mailbox itself and from one on the
/// whole account.
#[derive(Debug, Clone)]
pub struct AclEntry {
    pub grantee: Address,
    pub on_mailbox: Rights,
    pub account_wide: Rights,
}

impl Core {
    /// The mailboxes of other accounts that `who` may read (a grant on the folder, or on the
    /// whole account), by owner and name; `subscribed` is `who`'s own subscription (on until it
    /// unsubscribes).
    pub async fn shared_mailboxes(&self, who: &Principal) -> Result<Vec<SharedMailbox>> {
        let grants = self.store.grants_to(who.id).await?;
        let mut accounts: Vec<AccountId> = grants.iter().map(|g| g.account).filter(|a| *a != who.id).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let unsubscribed =
            if accounts.is_empty() { Vec::new() } else { self.store.unsubscribed_shared(who.id).await? };
        let mut out = Vec::new();
        for account in accounts {
            let Some(owner) = self.store.principal(account).await? else { continue };
            let boxes = self.store.mailboxes(account).await?;
            let paths = Self::mailbox_paths(&boxes);
            for (mut b, (path, _)) in boxes.into_iter().zip(paths) {
                let rights = super::collections::rights_from(&grants, account, Some(b.id()));
                if rights.contains(Rights::READ) {
                    b.subscribed = unsubscribed.binary_search(&b.id()).is_err();
                    out.push(SharedMailbox { owner: owner.address.clone(), mailbox: b, path, rights });
                }
            }
        }
        out.sort_by(|a, b| (a.owner.to_string(), &a.path).cmp(&(b.owner.to_string(), &b.path)));
        Ok(out)
    }

    /// Who holds rights on a mailbox, for a caller who may share it (IMAP GETACL needs the
    /// share right, RFC 4314 §3.3).
    pub async fn mailbox_acl(&self, who: &Principal, mailbox: CollectionId) -> Result<Vec<AclEntry>> {
        let access = self.access(who, mailbox).await?;
        access.require(Rights::SHARE)?;
        let grants: Vec<Grant> = self
            .store
            .grants_on(access.collection.account)
            .await?
            .into_iter()
            .filter(|g| g.collection.is_none() || g.collection == Some(mailbox))
            .collect();
        let mut out: Vec<AclEntry> = Vec::new();
        for g in grants {
            let Some(p) = self.store.principal(g.grantee).await? else { continue };
            let at = match out.iter().position(|e| e.grantee == p.address) {
                Some(at) => at,
                None => {
                    out.push(AclEntry { grantee: p.address, on_mailbox: Rights::NONE, account_wide: Rights::NONE });
                    out.len() - 1
                }
            };
            if g.collection.is_some() {
                out[at].on_mailbox |= g.rights;
            } else {
                out[at].account_wide |= g.rights;
            }
        }
        Ok(out)
    }

    /// For the admin command line: `owner` shares one of its mailboxes (by full name; `None`:
    /// the whole mailbox) with a colleague, as if the owner did it (same domain, every rule of
    /// [`Core::share`]). Empty rights revoke.
    pub async fn admin_share(
        &self,
        actor: super::Actor<'_>,
        owner: &str,
        mailbox: Option<&str>,
        grantee: &str,
        rights: Rights,
    ) -> Result<Option<Grant>> {
        actor.require_admin()?;
        let owner = self.principal_by_address(owner).await?;
        let collection = match mailbox {
            None => None,
            Some(name) => Some(self.own_mailbox(&owner, name).await?.id()),
        };
        let grantee = Address::parse(grantee)?;
        self.share(&owner, owner.id, collection, &grantee, rights).await
    }

    /// A mailbox of `who`'s own account by its full name (`Projects/X`; INBOX in any case).
    pub async fn own_mailbox(&self, who: &Principal, name: &str) -> Result<Mailbox> {
        let boxes = self.mailboxes_of(who.id).await?;
        let paths = Self::mailbox_paths(&boxes);
        let name = name.trim_end_matches('/');
        boxes
            .into_iter()
            .zip(paths)
            .find(|(_, (path, _))| {
                path == name || (name.eq_ignore_ascii_case("INBOX") && path.eq_ignore_ascii_case("INBOX"))
            })
            .map(|(b, _)| b)
            .ok_or_else(|| Error::not_found(format!("mailbox {name:?} of {}", who.address)))
    }

    /// STORE by a colleague on a shared mailbox: `$seen` goes to its own seen state, every
    /// other keyword to the message (rights checked by the caller).
    pub(crate) async fn change_keywords_shared(
        &self,
        who: &Principal,
        mailbox: CollectionId,
        uids: &[u32],
        op: KeywordOp,
        words: &Keywords,
    ) -> Result<Vec<(Membership, Keywords)>> {
        let others = Keywords::new(words.iter().filter(|w| *w != "$seen"));
        let access = self.access(who, mailbox).await?;
        let mut result = None;
        if op == KeywordOp::Replace {
            // Replace the owner's other keywords, keep the owner's $seen.
            let current = self.store.mailbox_summaries(mailbox).await?;
            let remove = Keywords::new(
                current
                    .iter()
                    .filter(|s| uids.contains(&s.uid))
                    .flat_map(|s| s.keywords.iter().filter(|w| *w != "$seen" && !others.contains(w)))
                    .collect::<Vec<_>>(),
            );
            for w in remove.iter() {
                access.require(if w == "$deleted" { Rights::DELETE } else { Rights::FLAG })?;
            }
            if remove.iter().next().is_some() {
                result =
                    Some(self.publish(self.store.change_keywords(mailbox, uids, KeywordOp::Remove, &remove).await?));
            }
            if others.iter().next().is_some() {
                result = Some(self.publish(self.store.change_keywords(mailbox, uids, KeywordOp::Add, &others).await?));
            }
        } else if others.iter().next().is_some() {
            result = Some(self.publish(self.store.change_keywords(mailbox, uids, op, &others).await?));
        }
        let seen = match op {
            KeywordOp::Replace => Some(words.contains("$seen")),
            KeywordOp::Add => words.contains("$seen").then_some(true),
            KeywordOp::Remove => words.contains("$seen").then_some(false),
        };
        if let Some(seen) = seen {
            return Ok(self.publish(self.store.set_seen(mailbox, who.id, uids, seen).await?));
        }
        let Some(mut changed) = result else { return Ok(Vec::new()) };
        let ids: Vec<i64> = changed.iter().map(|(m, _)| m.message).collect();
        let states = self.store.seen_states(who.id, &ids).await?;
        for (m, k) in &mut changed {
            let state = states.iter().find(|(id, _, _)| *id == m.message);
            *k = k.with_seen(state.is_some_and(|(_, seen, _)| *seen));
            if let Some((_, _, modseq)) = state {
                m.modseq = Modseq(m.modseq.0.max(modseq.0));
            }
        }
        Ok(changed)
    }

    /// The UIDs that left a mailbox after `since` (QRESYNC's VANISHED (EARLIER), from the
    /// change log's tombstones), for a caller who may read it. `None` when the log no longer
    /// reaches back that far.
    pub async fn vanished_since(
        &self,
        who: &Principal,
        mailbox: CollectionId,
        since: Modseq,
    ) -> Result<Option<Vec<u32>>> {
        let access = self.access(who, mailbox).await?;
        access.require(Rights::READ)?;
        let account = access.collection.account;
        if self.store.log_position(account).await?.oldest.0 > since.0 {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut after = since;
        loop {
            let rows = self.store.change_rows(account, after, Some(mailbox), 5000).await?;
            let Some(last) = rows.last() else { break };
            after = last.modseq;
            let full = rows.len() == 5000;
            out.extend(
                rows.iter()
                    .filter(|r| {
                        r.object == crate::changes::ObjectType::Message && r.op == crate::changes::ChangeOp::Destroyed
                    })
                    .filter_map(|r| r.name.parse::<u32>().ok()),
            );
            if !full {
                break;
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(Some(out))
    }
}
