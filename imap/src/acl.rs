//! ACL (RFC 4314): SETACL, DELETEACL, GETACL, MYRIGHTS and LISTRIGHTS over the domain's one
//! permission model. The letters map to rights as ../shared/DESIGN.md's table says: `l r`
//! read, `s` seen, `w` flag, `i p` create, `t e` delete, `k` create child, `x` delete the
//! mailbox, `a` share; `i` with `t` also means modify. The domain decides who may do what.
//!
//! Rights on a mailbox are the union of a grant on it and one on the owner's whole account
//! (delegation). SETACL and DELETEACL change the mailbox's grant; one that would take away
//! rights the account-wide grant gives is refused with NO [CANNOT] and changes nothing, since
//! only the account's owner changes that grant.

use kontor_domain::address::Address;
use kontor_domain::model::Principal;
use kontor_domain::rights::Rights;
use kontor_domain::{Core, Error};

use crate::names;
use crate::parse::{Token, quote};
use crate::session::{Fail, push};

/// Rights and the letters that stand for them, in RFC 4314's order.
const LETTERS: [(Rights, &str); 8] = [
    (Rights::READ, "lr"),
    (Rights::SEEN, "s"),
    (Rights::FLAG, "w"),
    (Rights::CREATE, "ip"),
    (Rights::CREATE_CHILD, "k"),
    (Rights::DELETE_COLLECTION, "x"),
    (Rights::DELETE, "te"),
    (Rights::SHARE, "a"),
];

/// The IMAP letters of a set of rights.
pub(crate) fn letters(r: Rights) -> String {
    LETTERS.iter().filter(|(right, _)| r.contains(*right)).map(|(_, l)| *l).collect()
}

/// The rights a string of letters grants: any letter of a tied group grants the group. `c` and
/// `d` are RFC 2086's (RFC 4314 §2.1.1): create child, and delete messages and the mailbox.
/// Unknown letters are refused.
pub(crate) fn rights_of(s: &str) -> Option<Rights> {
    let mut r = Rights::NONE;
    for c in s.chars() {
        r |= match c {
            'c' => Rights::CREATE_CHILD,
            'd' => Rights::DELETE | Rights::DELETE_COLLECTION,
            _ => LETTERS.iter().find(|(_, l)| l.contains(c)).map(|(right, _)| *right)?,
        };
    }
    if r.contains(Rights::CREATE | Rights::DELETE) {
        r |= Rights::MODIFY;
    }
    Some(r)
}

fn refused(e: Error) -> Fail {
    match e {
        Error::CrossDomainGrant(_) => Fail::No("[CANNOT] Mailboxes are shared only with users of the same domain"),
        Error::NotFound(_) => Fail::No("[NONEXISTENT] No such user in this domain"),
        Error::Forbidden { .. } => Fail::No("[NOPERM] You may not change the rights on this mailbox"),
        Error::Invalid(_) => Fail::No("[CANNOT] The owner's own rights cannot be changed"),
        e => crate::session::no(e),
    }
}

/// The mailbox of a command and the identifier after it.
fn args(args: &[Token]) -> Result<(String, Option<String>), Fail> {
    let name = args.first().and_then(Token::text).ok_or(Fail::Bad("A mailbox name is needed"))?;
    Ok((name, args.get(1).and_then(Token::text)))
}

pub(crate) async fn command(
    core: &Core,
    who: &Principal,
    name: &str,
    tokens: &[Token],
    out: &mut Vec<u8>,
) -> Result<(), Fail> {
    let (mailbox_name, identifier) = args(tokens)?;
    let named = names::find(core, who, &mailbox_name).await?;
    let b = &named.mailbox;
    let owner_account = b.collection.account;
    match name {
        "MYRIGHTS" => {
            push(out, &format!("* MYRIGHTS {} {}\r\n", quote(&mailbox_name), letters(named.rights)));
        }
        "GETACL" => {
            if !named.rights.contains(Rights::SHARE) {
                return Err(Fail::No("[NOPERM] You may not see the rights on this mailbox"));
            }
            let acl = core.mailbox_acl(who, b.id()).await.map_err(refused)?;
            let owner = if named.own { who.address.to_string() } else { owner_of(&named.name) };
            let mut line = format!("* ACL {} {} {}", quote(&mailbox_name), quote(&owner), letters(Rights::ALL));
            for e in acl {
                line.push_str(&format!(
                    " {} {}",
                    quote(&e.grantee.to_string()),
                    letters(e.on_mailbox | e.account_wide)
                ));
            }
            push(out, &format!("{line}\r\n"));
        }
        "LISTRIGHTS" => {
            let id = identifier.ok_or(Fail::Bad("LISTRIGHTS needs an identifier"))?;
            if !named.rights.contains(Rights::SHARE) {
                return Err(Fail::No("[NOPERM] You may not see the rights on this mailbox"));
            }
            // Nothing is granted always; each group can be granted on its own.
            let groups: Vec<&str> = LETTERS.iter().map(|(_, l)| *l).collect();
            let required = if Address::parse(&id).is_ok_and(|a| Some(a) == owner_address(who, &named)) {
                letters(Rights::ALL)
            } else {
                String::new()
            };
            push(
                out,
                &format!(
                    "* LISTRIGHTS {} {} {} {}\r\n",
                    quote(&mailbox_name),
                    quote(&id),
                    quote(&required),
                    groups.join(" ")
                ),
            );
        }
        "SETACL" | "DELETEACL" => {
            let id = identifier.ok_or(Fail::Bad("An identifier is needed"))?;
            let grantee = Address::parse(&id).map_err(|_| Fail::No("[CANNOT] Rights are given to users by address"))?;
            let (on_mailbox, account_wide) = core
                .mailbox_acl(who, b.id())
                .await
                .map_err(refused)?
                .into_iter()
                .find(|e| e.grantee == grantee)
                .map_or((Rights::NONE, Rights::NONE), |e| (e.on_mailbox, e.account_wide));
            let rights = if name == "DELETEACL" {
                Rights::NONE
            } else {
                let spec = tokens.get(2).and_then(Token::text).ok_or(Fail::Bad("SETACL needs rights"))?;
                let (modifier, letters) = match spec.chars().next() {
                    Some(m @ ('+' | '-')) => (Some(m), &spec[1..]),
                    _ => (None, spec.as_str()),
                };
                let given = rights_of(letters).ok_or(Fail::Bad("Unknown right letter"))?;
                // What the identifier holds here now: this mailbox's grant and the account's.
                let current = on_mailbox | account_wide;
                match modifier {
                    Some('+') => current | given,
                    Some(_) => Rights::from_bits(current.bits() & !given.bits()),
                    None => given,
                }
            };
            // A grant on the whole account reaches this mailbox as well, and only the account's
            // owner changes it (`kontor share`, /api/shares): a change that would take away
            // rights it gives is refused whole rather than done in part (RFC 4314 §3.1-3.2
            // leave inherited rights to the server).
            if !rights.contains(account_wide) {
                return Err(Fail::No(
                    "[CANNOT] A grant on the whole account gives these rights here; its owner changes it",
                ));
            }
            core.share(who, owner_account, Some(b.id()), &grantee, rights).await.map_err(refused)?;
        }
        _ => return Err(Fail::Bad("Unknown ACL command")),
    }
    Ok(())
}

/// The owner's address in a shared mailbox's name (`Shared/<owner>/…`).
fn owner_of(name: &str) -> String {
    name.strip_prefix(names::SHARED).and_then(|r| r.split('/').next()).unwrap_or_default().to_owned()
}

fn owner_address(who: &Principal, named: &names::Named) -> Option<Address> {
    if named.own { Some(who.address.clone()) } else { Address::parse(&owner_of(&named.name)).ok() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kontor_domain::rights::Role;

    #[test]
    fn letters_and_rights_as_the_design_maps_them() {
        assert_eq!(letters(Role::Reviewer.rights()), "lrs");
        assert_eq!(letters(Role::Author.rights()), "lrsip");
        assert_eq!(letters(Role::Editor.rights()), "lrswipte");
        assert_eq!(letters(Role::Owner.rights()), "lrswipktea");
        assert_eq!(letters(Rights::ALL), "lrswipkxtea");
        assert_eq!(rights_of("lrs"), Some(Role::Reviewer.rights()));
        assert_eq!(rights_of("lrswipte"), Some(Role::Editor.rights()));
        assert_eq!(rights_of("lrswipktea"), Some(Role::Owner.rights()));
        assert_eq!(rights_of("l"), Some(Rights::READ));
        assert_eq!(rights_of("d"), Some(Rights::DELETE | Rights::DELETE_COLLECTION));
        assert_eq!(rights_of("lrz"), None);
        assert_eq!(rights_of(""), Some(Rights::NONE));
    }
}
