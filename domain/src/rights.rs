//! The one permission model: a rights bitset, Exchange-style roles as named sets of rights, and
//! the checks every service runs. Protocol adapters translate [`Rights`] to their own vocabulary
//! (IMAP ACL letters, WebDAV privileges, JMAP `myRights`) and never decide access themselves.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A set of rights on a collection (or, for a grant without a collection, on a whole account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rights(u32);

impl Rights {
    /// See the collection and read its items.
    pub const READ: Self = Self(1);
    /// Keep one's own seen/unseen state.
    pub const SEEN: Self = Self(1 << 1);
    /// Set flags/keywords and other item properties that are not content.
    pub const FLAG: Self = Self(1 << 2);
    /// Add items.
    pub const CREATE: Self = Self(1 << 3);
    /// Change any item's content.
    pub const MODIFY: Self = Self(1 << 4);
    /// Remove any item.
    pub const DELETE: Self = Self(1 << 5);
    /// Change items the grantee created (the "author" role).
    pub const MODIFY_OWN: Self = Self(1 << 6);
    /// Remove items the grantee created (the "author" role).
    pub const DELETE_OWN: Self = Self(1 << 7);
    /// Create child collections.
    pub const CREATE_CHILD: Self = Self(1 << 8);
    /// Delete or rename the collection itself.
    pub const DELETE_COLLECTION: Self = Self(1 << 9);
    /// Manage grants (administer) on the collection.
    pub const SHARE: Self = Self(1 << 10);
    /// See only busy times (calendars).
    pub const FREE_BUSY: Self = Self(1 << 11);
    /// Account level: send mail as the account's address.
    pub const SEND_AS: Self = Self(1 << 12);
    /// Account level: send mail on behalf of the account (a Sender: header names the sender).
    pub const SEND_ON_BEHALF: Self = Self(1 << 13);

    pub const NONE: Self = Self(0);
    /// What an account's owner holds on everything in it.
    pub const ALL: Self = Self((1 << 14) - 1);

    const NAMES: [(Self, &'static str); 14] = [
        (Self::READ, "read"),
        (Self::SEEN, "seen"),
        (Self::FLAG, "flag"),
        (Self::CREATE, "create"),
        (Self::MODIFY, "modify"),
        (Self::DELETE, "delete"),
        (Self::MODIFY_OWN, "modify-own"),
        (Self::DELETE_OWN, "delete-own"),
        (Self::CREATE_CHILD, "create-child"),
        (Self::DELETE_COLLECTION, "delete-collection"),
        (Self::SHARE, "share"),
        (Self::FREE_BUSY, "free-busy"),
        (Self::SEND_AS, "send-as"),
        (Self::SEND_ON_BEHALF, "send-on-behalf"),
    ];

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Unknown bits are dropped, so a value read from the store can never grant more than exists.
    #[must_use]
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits & Self::ALL.0)
    }

    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// May change an item whose creator is `created_by`, acting as `me`.
    pub fn may_modify_item(self, created_by: Option<crate::ids::PrincipalId>, me: crate::ids::PrincipalId) -> bool {
        self.contains(Self::MODIFY) || (self.contains(Self::MODIFY_OWN) && created_by == Some(me))
    }

    /// May remove an item whose creator is `created_by`, acting as `me`.
    pub fn may_delete_item(self, created_by: Option<crate::ids::PrincipalId>, me: crate::ids::PrincipalId) -> bool {
        self.contains(Self::DELETE) || (self.contains(Self::DELETE_OWN) && created_by == Some(me))
    }

    /// The names of the rights set, e.g. `["read", "seen"]`.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES.iter().filter(|(r, _)| self.contains(*r)).map(|(_, n)| *n).collect()
    }

    /// Parses a comma-separated list of right names or role names (`reviewer,send-as`).
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = Self::NONE;
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let r = Role::parse(word)
                .map(Role::rights)
                .or_else(|| Self::NAMES.iter().find(|(_, n)| *n == word).map(|(r, _)| *r))?;
            out = out.union(r);
        }
        Some(out)
    }
}

impl std::ops::BitOr for Rights {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for Rights {
    fn bitor_assign(&mut self, rhs: Self) {
        *self = self.union(rhs);
    }
}

impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.names().join(","))
    }
}

/// The roles users pick, as in Exchange. Each is a named set of [`Rights`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Calendars: only busy times.
    FreeBusy,
    /// Read, with one's own seen state.
    Reviewer,
    /// Reviewer, plus create items and change/remove the ones one created.
    Author,
    /// Reviewer, plus create, change, remove and flag any item.
    Editor,
    /// Editor, plus create child collections and manage sharing (delegate).
    Owner,
}

impl Role {
    pub const ALL: [Self; 5] = [Self::FreeBusy, Self::Reviewer, Self::Author, Self::Editor, Self::Owner];

    pub const fn rights(self) -> Rights {
        let reviewer = Rights::READ.union(Rights::SEEN);
        let editor = reviewer.union(Rights::CREATE).union(Rights::MODIFY).union(Rights::DELETE).union(Rights::FLAG);
        match self {
            Self::FreeBusy => Rights::FREE_BUSY,
            Self::Reviewer => reviewer,
            Self::Author => reviewer.union(Rights::CREATE).union(Rights::MODIFY_OWN).union(Rights::DELETE_OWN),
            Self::Editor => editor,
            Self::Owner => editor.union(Rights::CREATE_CHILD).union(Rights::SHARE),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::FreeBusy => "free-busy",
            Self::Reviewer => "reviewer",
            Self::Author => "author",
            Self::Editor => "editor",
            Self::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase().replace(['_', '/'], "-");
        Self::ALL.into_iter().find(|r| r.name() == s || (s == "delegate" && *r == Self::Owner))
    }

    /// The largest role whose rights are all contained in `rights` (for display).
    pub fn best_fit(rights: Rights) -> Option<Self> {
        Self::ALL.into_iter().rev().find(|r| rights.contains(r.rights()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PrincipalId;

    #[test]
    fn roles_nest_as_documented() {
        let [fb, reviewer, author, editor, owner] = Role::ALL.map(Role::rights);
        assert_eq!(fb, Rights::FREE_BUSY);
        assert!(!fb.contains(Rights::READ));
        assert!(author.contains(reviewer) && editor.contains(reviewer) && owner.contains(editor));
        assert!(!author.contains(Rights::MODIFY) && !author.contains(Rights::DELETE));
        assert!(!editor.contains(Rights::SHARE) && owner.contains(Rights::SHARE));
        assert!(!owner.contains(Rights::SEND_AS));
        assert!(Rights::ALL.contains(owner | Rights::SEND_AS | Rights::SEND_ON_BEHALF | Rights::FREE_BUSY));
    }

    #[test]
    fn author_changes_only_own_items() {
        let (me, other) = (PrincipalId(1), PrincipalId(2));
        let author = Role::Author.rights();
        assert!(author.may_modify_item(Some(me), me));
        assert!(author.may_delete_item(Some(me), me));
        assert!(!author.may_modify_item(Some(other), me));
        assert!(!author.may_delete_item(Some(other), me));
        assert!(!author.may_modify_item(None, me));
        let editor = Role::Editor.rights();
        assert!(editor.may_modify_item(Some(other), me) && editor.may_delete_item(None, me));
        assert!(!Role::Reviewer.rights().may_modify_item(Some(me), me));
    }

    #[test]
    fn parse_names_and_roles() {
        assert_eq!(Rights::parse("reviewer"), Some(Role::Reviewer.rights()));
        assert_eq!(Rights::parse("read, send-as"), Some(Rights::READ | Rights::SEND_AS));
        assert_eq!(Rights::parse("delegate"), Some(Role::Owner.rights()));
        assert_eq!(Rights::parse("read,bogus"), None);
        assert_eq!(Rights::from_bits(u32::MAX), Rights::ALL);
        assert_eq!(Role::best_fit(Role::Editor.rights() | Rights::SEND_AS), Some(Role::Editor));
        assert_eq!(Rights::parse(&Role::Author.rights().to_string()), Some(Role::Author.rights()));
    }
}
