//! JMAP ids (RFC 8620 §1.2: 1–255 characters of `A-Za-z0-9-_`) for the domain's numeric ids:
//! a letter for the kind of object, then the number. Ids of one kind never look like another's.

use kontor_domain::ids::{AccountId, CollectionId, ItemId, PrincipalId};

pub fn account(a: AccountId) -> String {
    format!("a{}", a.0)
}

pub fn parse_account(s: &str) -> Option<AccountId> {
    number(s, 'a').map(PrincipalId)
}

pub fn mailbox(c: CollectionId) -> String {
    format!("m{}", c.0)
}

pub fn parse_mailbox(s: &str) -> Option<CollectionId> {
    number(s, 'm').map(CollectionId)
}

pub fn email(id: i64) -> String {
    format!("e{id}")
}

pub fn parse_email(s: &str) -> Option<i64> {
    number(s, 'e')
}

pub fn thread(id: i64) -> String {
    format!("t{id}")
}

pub fn parse_thread(s: &str) -> Option<i64> {
    number(s, 't')
}

/// A collection of contacts or calendars: `b` (address book) or `k` (calendar) and the number.
pub fn collection(letter: char, c: CollectionId) -> String {
    format!("{letter}{}", c.0)
}

pub fn parse_collection(s: &str, letter: char) -> Option<CollectionId> {
    number(s, letter).map(CollectionId)
}

/// A contact card (`c`) or calendar event (`v`): the item's number.
pub fn item(letter: char, i: ItemId) -> String {
    format!("{letter}{}", i.0)
}

pub fn parse_item(s: &str, letter: char) -> Option<ItemId> {
    number(s, letter).map(ItemId)
}

/// A principal (RFC 9670), e.g. in `shareWith`: `p` and the number (the same number as the
/// principal's account, `a`).
pub fn principal(p: PrincipalId) -> String {
    format!("p{}", p.0)
}

pub fn parse_principal(s: &str) -> Option<PrincipalId> {
    number(s, 'p').map(PrincipalId)
}

pub fn identity(p: PrincipalId, n: usize) -> String {
    format!("i{}-{n}", p.0)
}

/// A positive number after the kind letter.
fn number(s: &str, kind: char) -> Option<i64> {
    let rest = s.strip_prefix(kind)?;
    if rest.is_empty() || rest.len() > 18 || !rest.bytes().all(|b| b.is_ascii_digit()) || rest.starts_with('0') {
        return None;
    }
    rest.parse().ok().filter(|n| *n > 0)
}

/// Whether `s` is a valid JMAP id at all (for ids the client makes up, e.g. creation ids).
pub fn valid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        assert_eq!(parse_mailbox(&mailbox(CollectionId(42))), Some(CollectionId(42)));
        assert_eq!(parse_email(&email(7)), Some(7));
        assert_eq!(parse_account("a3"), Some(PrincipalId(3)));
        for bad in ["", "e", "m1", "e0", "e01", "e-1", "e1x", "e99999999999999999999", "E1"] {
            assert_eq!(parse_email(bad), None, "{bad}");
        }
        assert_eq!(parse_item(&item('c', ItemId(9)), 'c'), Some(ItemId(9)));
        assert_eq!(parse_item("v9", 'c'), None);
        assert_eq!(parse_collection(&collection('k', CollectionId(4)), 'k'), Some(CollectionId(4)));
        assert_eq!(parse_principal("p3"), Some(PrincipalId(3)));
        assert!(valid("abc-_1") && !valid("a b") && !valid(""));
    }
}
