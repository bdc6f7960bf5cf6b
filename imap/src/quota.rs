//! QUOTA (RFC 9208): GETQUOTAROOT and GETQUOTA, storage in units of 1024 octets. Each account
//! is one quota root: the user's own is named `""`, and the account of a colleague who shared
//! mailboxes with the user is `Shared/<owner>` — a message APPENDed or copied into a shared
//! mailbox counts against its owner. A user sees a colleague's root only while it sees one of
//! that colleague's mailboxes; otherwise the root, like the mailbox, does not exist for it.

use kontor_domain::Core;
use kontor_domain::model::Principal;

use crate::names;
use crate::parse::{Token, quote};
use crate::session::{Fail, no, push};

/// GETQUOTAROOT mailbox, or GETQUOTA root.
pub(crate) async fn command(
    core: &Core,
    who: &Principal,
    name: &str,
    args: &[Token],
    out: &mut Vec<u8>,
) -> Result<(), Fail> {
    let arg = args.first().and_then(Token::text).ok_or(Fail::Bad("A mailbox or quota root is needed"))?;
    let root = if name == "GETQUOTAROOT" {
        // The user's own mailboxes need not exist (RFC 9208 §4.3: the root a new one would
        // get); a shared one must be one the user sees.
        let root = if names::reserved(&arg) {
            let named = names::find(core, who, &arg).await?;
            owner_root(&named.name).ok_or(Fail::No("[NONEXISTENT] No such mailbox"))?
        } else {
            String::new()
        };
        push(out, &format!("* QUOTAROOT {} {}\r\n", quote(&arg), quote(&root)));
        root
    } else {
        arg
    };
    let owner = if root.is_empty() {
        who.address.to_string()
    } else {
        let owner = root.strip_prefix(names::SHARED).filter(|o| !o.contains('/')).unwrap_or_default();
        let shared = core.shared_mailboxes(who).await.map_err(no)?;
        if owner.is_empty() || !shared.iter().any(|s| s.owner.to_string().eq_ignore_ascii_case(owner)) {
            return Err(Fail::No("[NONEXISTENT] No such quota root"));
        }
        owner.to_owned()
    };
    let fresh = core.principal_by_address(&owner).await.map_err(no)?;
    match fresh.quota.limit_bytes {
        Some(limit) => push(
            out,
            &format!(
                "* QUOTA {} (STORAGE {} {})\r\n",
                quote(&root),
                fresh.quota.used_bytes.div_ceil(1024),
                limit / 1024
            ),
        ),
        None => push(out, &format!("* QUOTA {} ()\r\n", quote(&root))),
    }
    Ok(())
}

/// The quota root of a shared mailbox's name (`Shared/<owner>/…` → `Shared/<owner>`).
fn owner_root(name: &str) -> Option<String> {
    let owner = name.strip_prefix(names::SHARED)?.split('/').next().filter(|o| !o.is_empty())?;
    Some(format!("{}{owner}", names::SHARED))
}

#[cfg(test)]
mod tests {
    use super::owner_root;

    #[test]
    fn a_shared_mailbox_is_under_its_owners_root() {
        assert_eq!(owner_root("Shared/ann@example.com/INBOX").as_deref(), Some("Shared/ann@example.com"));
        assert_eq!(owner_root("Shared/ann@example.com/A/B").as_deref(), Some("Shared/ann@example.com"));
        assert_eq!(owner_root("INBOX"), None);
    }
}
