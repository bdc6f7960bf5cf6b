//! The one change log. Every account has one monotonic counter (`modseq`); every committed write
//! transaction takes the next value, stamps the rows it touched and appends one [`ChangeRow`]
//! per touched object (a removal leaves its row as the tombstone). IMAP MODSEQ, JMAP states and
//! WebDAV sync tokens are all read from here.

use crate::error::{Error, Result};
use crate::ids::{AccountId, CollectionId, Modseq, PrincipalId};
use crate::model::CollectionKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What kind of object a change touched: a collection or an item in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ObjectType {
    Collection,
    Item,
    /// A message's place in a mailbox (the collection); the row's name is its UID.
    Message,
}

impl ObjectType {
    /// A small stable number, for storage.
    pub fn code(self) -> i16 {
        match self {
            Self::Collection => 1,
            Self::Item => 2,
            Self::Message => 3,
        }
    }

    pub fn from_code(c: i16) -> Option<Self> {
        [Self::Collection, Self::Item, Self::Message].into_iter().find(|o| o.code() == c)
    }
}

/// What happened to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChangeOp {
    Created,
    Updated,
    Destroyed,
}

impl ChangeOp {
    pub fn as_i16(self) -> i16 {
        match self {
            Self::Created => 1,
            Self::Updated => 2,
            Self::Destroyed => 3,
        }
    }

    pub fn from_i16(v: i16) -> Option<Self> {
        match v {
            1 => Some(Self::Created),
            2 => Some(Self::Updated),
            3 => Some(Self::Destroyed),
            _ => None,
        }
    }
}

/// One entry of the change log, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRow {
    pub modseq: Modseq,
    pub object: ObjectType,
    pub object_id: i64,
    /// The collection the object is (or was) in; for a collection, the collection itself.
    pub collection_id: CollectionId,
    pub kind: CollectionKind,
    pub op: ChangeOp,
    /// The object's name at the time (an item's resource name, a collection's name), so a
    /// tombstone can still say which URL went away.
    pub name: String,
    /// For a message: its thread (so a removal still says which thread it left); rows logged
    /// before threads were recorded have none.
    pub thread: Option<i64>,
}

/// A position in one account's change log, as handed to clients (opaque to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncToken {
    pub account: AccountId,
    pub modseq: Modseq,
}

impl SyncToken {
    const PREFIX: &'static str = "k1-";

    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::TokenInvalid(format!("{s:?} is not a token of this server"));
        let rest = s.strip_prefix(Self::PREFIX).ok_or_else(bad)?;
        let (acct, seq) = rest.split_once('-').ok_or_else(bad)?;
        let account = acct.parse::<i64>().map_err(|_| bad())?;
        let modseq = seq.parse::<i64>().map_err(|_| bad())?;
        if account <= 0 || modseq < 0 {
            return Err(bad());
        }
        Ok(Self { account: PrincipalId(account), modseq: Modseq(modseq) })
    }
}

impl fmt::Display for SyncToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}-{}", Self::PREFIX, self.account, self.modseq)
    }
}

/// The net effect of the log between two positions, one entry per object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Where the caller continues next time.
    pub new_token: Option<SyncToken>,
    /// True when `limit` cut the answer short: call again from `new_token` for the rest.
    pub has_more: bool,
    pub created: Vec<ChangedObject>,
    pub updated: Vec<ChangedObject>,
    pub destroyed: Vec<ChangedObject>,
}

/// An object named in [`Changes`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChangedObject {
    pub object: ObjectType,
    pub id: i64,
    pub collection_id: CollectionId,
    pub kind: CollectionKind,
    pub modseq: Modseq,
    /// Its name at that modseq (for a removal: the name it had).
    pub name: String,
}

/// Checks a client's token against the account's log before the log is read.
///
/// `current` is the account's modseq now, `oldest` the first modseq still in the log (changes
/// at or before `oldest - 1` may have been pruned, so a token below it cannot be answered).
pub fn check_token(token: SyncToken, account: AccountId, current: Modseq, oldest: Modseq) -> Result<()> {
    if token.account != account {
        return Err(Error::TokenWrongAccount);
    }
    if token.modseq > current {
        return Err(Error::TokenInvalid(format!("token {token} is ahead of the account (now at {current})")));
    }
    if token.modseq < oldest {
        return Err(Error::TokenExpired { oldest });
    }
    Ok(())
}

/// Chooses which log rows a limited answer may include. `rows` are ordered by modseq and hold at
/// most `limit + 1` entries (the extra one tells whether more exist). An answer never splits the
/// rows of one modseq, or the continuation token would skip the rest of that transaction; a
/// single transaction larger than `limit` is returned whole (the caller fetches the rest of that
/// modseq when `needs_whole_modseq` says so).
pub fn cut_at_limit(rows: &[ChangeRow], limit: usize) -> Cut {
    cut_by_modseq(rows, limit, |r| r.modseq)
}

/// [`cut_at_limit`] over anything ordered by modseq (e.g. the live objects of a first sync).
pub fn cut_by_modseq<T>(rows: &[T], limit: usize, modseq: impl Fn(&T) -> Modseq) -> Cut {
    if rows.len() <= limit {
        return Cut { keep: rows.len(), has_more: false, needs_whole_modseq: None };
    }
    let boundary = modseq(&rows[limit]);
    let keep = rows[..limit].iter().take_while(|r| modseq(r) < boundary).count();
    if keep == 0 {
        Cut { keep: 0, has_more: true, needs_whole_modseq: Some(boundary) }
    } else {
        Cut { keep, has_more: true, needs_whole_modseq: None }
    }
}

/// The result of [`cut_at_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub keep: usize,
    pub has_more: bool,
    /// The first transaction alone exceeds the limit: fetch all rows of this modseq instead.
    pub needs_whole_modseq: Option<Modseq>,
}

/// Folds log rows (ordered by modseq) into one entry per object: created then changed stays
/// created; changed then removed becomes removed; created and removed inside the window is
/// left out, since the client never saw it. A move between collections is logged as removed
/// from one and created in the other: account-wide it folds to "updated"; a per-collection
/// view filters the rows by collection first and sees the removal or the creation. A rename
/// is a removal of the old name and a creation of the new one (URLs are names).
pub fn fold(rows: &[ChangeRow]) -> (Vec<ChangedObject>, Vec<ChangedObject>, Vec<ChangedObject>) {
    #[derive(Clone)]
    struct State {
        first: ChangeOp,
        last: ChangeOp,
        obj: ChangedObject,
    }
    let mut by_obj: BTreeMap<(ObjectType, i64, String), State> = BTreeMap::new();
    for r in rows {
        let obj = ChangedObject {
            object: r.object,
            id: r.object_id,
            collection_id: r.collection_id,
            kind: r.kind,
            modseq: r.modseq,
            name: r.name.clone(),
        };
        match by_obj.entry((r.object, r.object_id, r.name.clone())) {
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let s = e.get_mut();
                s.last = r.op;
                s.obj = obj;
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(State { first: r.op, last: r.op, obj });
            }
        }
    }
    let (mut created, mut updated, mut destroyed) = (Vec::new(), Vec::new(), Vec::new());
    for s in by_obj.into_values() {
        match (s.first, s.last) {
            (ChangeOp::Created, ChangeOp::Destroyed) => {}
            (_, ChangeOp::Destroyed) => destroyed.push(s.obj),
            (ChangeOp::Created, _) => created.push(s.obj),
            // Destroyed then re-created (e.g. moved back) inside the window: the client may
            // hold a stale copy, so it must fetch it again.
            (_, _) => updated.push(s.obj),
        }
    }
    for v in [&mut created, &mut updated, &mut destroyed] {
        v.sort_by_key(|o| (o.modseq, o.id));
    }
    (created, updated, destroyed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(modseq: i64, id: i64, op: ChangeOp) -> ChangeRow {
        ChangeRow {
            modseq: Modseq(modseq),
            object: ObjectType::Item,
            object_id: id,
            collection_id: CollectionId(1),
            kind: CollectionKind::Calendar,
            op,
            name: format!("{id}.ics"),
            thread: None,
        }
    }

    #[test]
    fn token_round_trip_and_garbage() {
        let t = SyncToken { account: PrincipalId(7), modseq: Modseq(42) };
        assert_eq!(SyncToken::parse(&t.to_string()).unwrap(), t);
        for bad in ["", "k1-", "k1-7", "k1-x-1", "k2-7-1", "k1-0-1", "k1-7--1", "http://x/1"] {
            assert!(matches!(SyncToken::parse(bad), Err(Error::TokenInvalid(_))), "{bad}");
        }
    }

    #[test]
    fn token_checks() {
        let a = PrincipalId(1);
        let tok = |m| SyncToken { account: a, modseq: Modseq(m) };
        assert!(check_token(tok(5), a, Modseq(10), Modseq(0)).is_ok());
        assert!(matches!(check_token(tok(5), PrincipalId(2), Modseq(10), Modseq(0)), Err(Error::TokenWrongAccount)));
        assert!(matches!(check_token(tok(11), a, Modseq(10), Modseq(0)), Err(Error::TokenInvalid(_))));
        assert!(matches!(
            check_token(tok(3), a, Modseq(10), Modseq(4)),
            Err(Error::TokenExpired { oldest: Modseq(4) })
        ));
        assert!(check_token(tok(4), a, Modseq(10), Modseq(4)).is_ok());
    }

    #[test]
    fn fold_nets_out_changes() {
        use ChangeOp::*;
        let rows = [
            row(1, 10, Created),
            row(2, 10, Updated),
            row(2, 11, Updated),
            row(3, 12, Created),
            row(4, 12, Destroyed),
            row(5, 11, Destroyed),
            row(6, 13, Updated),
        ];
        let (c, u, d) = fold(&rows);
        assert_eq!(c.iter().map(|o| o.id).collect::<Vec<_>>(), [10]);
        assert_eq!(c[0].modseq, Modseq(2));
        assert_eq!(u.iter().map(|o| o.id).collect::<Vec<_>>(), [13]);
        assert_eq!(d.iter().map(|o| o.id).collect::<Vec<_>>(), [11]);
    }

    #[test]
    fn limit_never_splits_a_transaction() {
        use ChangeOp::*;
        let rows = [row(1, 1, Created), row(2, 2, Created), row(2, 3, Created), row(3, 4, Created)];
        // limit 2: rows[2] has modseq 2 like rows[1], so only modseq 1 is kept.
        assert_eq!(cut_at_limit(&rows[..3], 2), Cut { keep: 1, has_more: true, needs_whole_modseq: None });
        // limit 3: all of modseq 1 and 2.
        assert_eq!(cut_at_limit(&rows, 3), Cut { keep: 3, has_more: true, needs_whole_modseq: None });
        // one transaction bigger than the limit.
        assert_eq!(cut_at_limit(&rows[1..3], 1), Cut { keep: 0, has_more: true, needs_whole_modseq: Some(Modseq(2)) });
        assert_eq!(cut_at_limit(&rows[..2], 5), Cut { keep: 2, has_more: false, needs_whole_modseq: None });
    }
}
