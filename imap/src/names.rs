//! Mailbox names across the two namespaces (RFC 2342): the user's own mailboxes by their full
//! names (`Work/Projects`, INBOX in any case), and what colleagues shared under
//! `Shared/<owner address>/<their name>`. Which mailboxes those are and what the user may do
//! there is the domain's answer; this only names them.

use kontor_domain::Core;
use kontor_domain::mail::Mailbox;
use kontor_domain::model::Principal;
use kontor_domain::rights::Rights;

use crate::session::{Fail, no};

/// The other users' namespace prefix, with the hierarchy separator.
pub(crate) const SHARED: &str = "Shared/";

/// A mailbox as this user names it.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub name: String,
    pub mailbox: Mailbox,
    pub rights: Rights,
    pub children: bool,
    /// The user's own (not shared with it).
    pub own: bool,
}

fn same_name(path: &str, name: &str) -> bool {
    path == name || (name.eq_ignore_ascii_case("INBOX") && path.eq_ignore_ascii_case("INBOX"))
}

/// The user's own mailboxes.
async fn own(core: &Core, who: &Principal) -> Result<Vec<Named>, Fail> {
    let boxes = core.mailboxes_of(who.id).await.map_err(no)?;
    let paths = Core::mailbox_paths(&boxes);
    Ok(boxes
        .into_iter()
        .zip(paths)
        .map(|(mailbox, (name, children))| Named { name, mailbox, rights: Rights::ALL, children, own: true })
        .collect())
}

/// What colleagues shared with the user, named in the shared namespace.
async fn shared(core: &Core, who: &Principal) -> Result<Vec<Named>, Fail> {
    let list = core.shared_mailboxes(who).await.map_err(no)?;
    Ok(list
        .iter()
        .map(|s| {
            let prefix = format!("{}/", s.path);
            let children = list.iter().any(|o| o.owner == s.owner && o.path.starts_with(&prefix));
            Named {
                name: format!("{SHARED}{}/{}", s.owner, s.path),
                mailbox: s.mailbox.clone(),
                rights: s.rights,
                children,
                own: false,
            }
        })
        .collect())
}

/// Every mailbox the user sees: its own, then the shared ones.
pub(crate) async fn all(core: &Core, who: &Principal) -> Result<Vec<Named>, Fail> {
    let mut out = own(core, who).await?;
    out.extend(shared(core, who).await?);
    Ok(out)
}

/// Whether a name lies in the shared namespace (`Shared/<address>/…`).
pub(crate) fn is_shared(name: &str) -> bool {
    name.strip_prefix(SHARED).is_some_and(|rest| rest.split('/').next().is_some_and(|owner| owner.contains('@')))
}

/// Whether a name is the shared namespace's (`Shared`, `Shared/…`): not for the user's own
/// mailboxes, which would otherwise hide under or beside colleagues' ones.
pub(crate) fn reserved(name: &str) -> bool {
    let name = name.trim_end_matches('/');
    name == SHARED.trim_end_matches('/') || name.starts_with(SHARED)
}

/// The mailbox a name denotes. A shared mailbox the user holds no right on answers as one that
/// does not exist.
pub(crate) async fn find(core: &Core, who: &Principal, name: &str) -> Result<Named, Fail> {
    let name = name.trim_end_matches('/');
    let list = if is_shared(name) { shared(core, who).await? } else { own(core, who).await? };
    list.into_iter()
        .find(|n| {
            if n.own {
                same_name(&n.name, name)
            } else {
                // `Shared/<owner>/INBOX` in any case, like the owner's own INBOX.
                n.name == name
                    || n.name.rsplit_once('/').zip(name.rsplit_once('/')).is_some_and(|((a, x), (b, y))| {
                        a == b && x.eq_ignore_ascii_case("INBOX") && y.eq_ignore_ascii_case("INBOX")
                    })
            }
        })
        .ok_or(Fail::No("[NONEXISTENT] No such mailbox"))
}
