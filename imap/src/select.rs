//! SELECT and EXAMINE (RFC 9051 §6.3.2-3) with CONDSTORE and QRESYNC parameters (RFC 7162),
//! for the user's own mailboxes and shared ones. A shared mailbox opens read-write when the
//! grant allows any change; PERMANENTFLAGS names only the flags the grant lets the user set
//! (RFC 4314 §4): \Seen with `s`, \Deleted with `t`, the others with `w`.

use kontor_domain::Core;
use kontor_domain::model::Principal;
use kontor_domain::rights::Rights;

use crate::names;
use crate::parse::{Token, quote};
use crate::session::{Fail, Selected, no, push};

const SYSTEM_FLAGS: &str = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft)";

/// What the session has switched on that SELECT needs to know.
pub(crate) struct Modes {
    pub condstore: bool,
    pub qresync: bool,
    pub rev2: bool,
}

fn permanent_flags(rights: Rights) -> String {
    let mut flags = Vec::new();
    if rights.contains(Rights::FLAG) {
        flags.extend(["\\Answered", "\\Flagged", "\\Draft"]);
    }
    if rights.contains(Rights::DELETE) {
        flags.push("\\Deleted");
    }
    if rights.contains(Rights::SEEN) {
        flags.push("\\Seen");
    }
    if rights.contains(Rights::FLAG) {
        flags.push("\\*");
    }
    format!("({})", flags.join(" "))
}

/// Opens the mailbox; writes the untagged answer and returns the selection (the caller sends
/// the tagged OK with READ-ONLY or READ-WRITE).
pub(crate) async fn select(
    core: &Core,
    who: &Principal,
    examine: bool,
    args: &[Token],
    modes: &Modes,
    out: &mut Vec<u8>,
) -> Result<Selected, Fail> {
    let name = args.first().and_then(Token::text).ok_or(Fail::Bad("SELECT needs a mailbox"))?;
    let mut condstore = modes.condstore;
    let mut qresync = None;
    match args.get(1) {
        None => {}
        Some(Token::List(params)) => {
            let mut it = params.iter();
            while let Some(p) = it.next() {
                match p.atom().map(str::to_ascii_uppercase).as_deref() {
                    Some("CONDSTORE") => condstore = true,
                    Some("QRESYNC") => {
                        if !modes.qresync {
                            return Err(Fail::Bad("ENABLE QRESYNC first"));
                        }
                        let Some(Token::List(q)) = it.next() else { return Err(Fail::Bad("Bad QRESYNC parameters")) };
                        qresync = Some(crate::qresync::params(q)?);
                        condstore = true;
                    }
                    _ => return Err(Fail::Bad("Unknown SELECT parameter")),
                }
            }
        }
        Some(_) => return Err(Fail::Bad("Bad SELECT parameters")),
    }
    let named = names::find(core, who, &name).await?;
    let messages = core.mailbox_summaries(who, named.mailbox.id()).await.map_err(no)?;
    let writable = named.rights.intersects(Rights::SEEN | Rights::FLAG | Rights::CREATE | Rights::DELETE);
    let read_only = examine || !writable;
    let highest = crate::status::highest_modseq(&named, &messages);
    let unseen = messages.iter().position(|m| !m.keywords.contains("$seen"));
    push(out, &format!("* {} EXISTS\r\n", messages.len()));
    if !modes.rev2 {
        push(out, "* 0 RECENT\r\n");
    }
    push(out, &format!("* FLAGS {SYSTEM_FLAGS}\r\n"));
    if modes.rev2 {
        // RFC 9051 §6.3.2: the mailbox's LIST answer, with its name as stored.
        let children = if named.children { "\\HasChildren" } else { "\\HasNoChildren" };
        push(out, &format!("* LIST ({children}) \"/\" {}\r\n", quote(&named.name)));
    }
    if read_only {
        push(out, "* OK [PERMANENTFLAGS ()] Read-only\r\n");
    } else {
        push(out, &format!("* OK [PERMANENTFLAGS {}] Flags and keywords\r\n", permanent_flags(named.rights)));
    }
    if let Some(u) = unseen.filter(|_| !modes.rev2) {
        push(out, &format!("* OK [UNSEEN {}] First unseen\r\n", u + 1));
    }
    push(out, &format!("* OK [UIDVALIDITY {}] UIDs valid\r\n", named.mailbox.uidvalidity));
    push(out, &format!("* OK [UIDNEXT {}] Predicted next UID\r\n", named.mailbox.uidnext));
    push(out, &format!("* OK [HIGHESTMODSEQ {highest}] Highest\r\n"));
    let sel = Selected {
        listed: kontor_domain::mail::Tally::of(&messages),
        mailbox: named.mailbox,
        read_only,
        condstore,
        qresync: modes.qresync,
        rev2: modes.rev2,
        messages,
        saved: Vec::new(),
    };
    if let Some(p) = qresync {
        crate::qresync::on_select(core, who, &sel, &p, out).await?;
    }
    Ok(sel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kontor_domain::rights::Role;

    #[test]
    fn permanent_flags_follow_the_grant() {
        assert_eq!(permanent_flags(Role::Reviewer.rights()), "(\\Seen)");
        assert_eq!(permanent_flags(Role::Editor.rights()), "(\\Answered \\Flagged \\Draft \\Deleted \\Seen \\*)");
        assert_eq!(permanent_flags(Rights::ALL), "(\\Answered \\Flagged \\Draft \\Deleted \\Seen \\*)");
    }
}
