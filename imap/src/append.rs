//! APPEND (RFC 3501 §6.3.11, APPENDUID of RFC 4315): a message from the client, with optional
//! flags and arrival time, into a mailbox of the user.

use kontor_domain::Core;
use kontor_domain::ids::Timestamp;
use kontor_domain::mail::Keywords;
use kontor_domain::model::Principal;

use crate::parse::Token;
use crate::session::Fail;
use crate::store::keyword;

/// Stores the message; returns the response code (`[APPENDUID v uid]`), the mailbox and the
/// stored message for a session that has that mailbox selected.
pub(crate) async fn append(
    core: &Core,
    who: &Principal,
    args: &[Token],
) -> Result<(String, kontor_domain::ids::CollectionId, kontor_domain::mail::Stored), Fail> {
    let (name, rest) = args.split_first().ok_or(Fail::Bad("APPEND needs a mailbox and a message"))?;
    let name = name.text().ok_or(Fail::Bad("Bad mailbox name"))?;
    let (message, options) = rest.split_last().ok_or(Fail::Bad("APPEND needs a message"))?;
    let Token::String(raw) = message else { return Err(Fail::Bad("The message must be a literal")) };
    let mut keywords = Vec::new();
    let mut date = None;
    for o in options {
        match o {
            Token::List(flags) => {
                for f in flags {
                    keywords.push(f.atom().and_then(keyword).ok_or(Fail::Bad("Bad flag"))?);
                }
            }
            Token::String(d) => {
                let d = String::from_utf8_lossy(d);
                let t = chrono::DateTime::parse_from_str(d.trim(), "%d-%b-%Y %H:%M:%S %z")
                    .map_err(|_| Fail::Bad("Bad date-time"))?;
                date = Some(Timestamp(t.timestamp_millis()));
            }
            _ => return Err(Fail::Bad("Bad APPEND arguments")),
        }
    }
    let target = match crate::names::find(core, who, &name).await {
        Ok(named) => named.mailbox,
        Err(Fail::No(_)) => return Err(Fail::No("[TRYCREATE] No such mailbox")),
        Err(e) => return Err(e),
    };
    let stored = core.append_to(who, &target, raw, Keywords::new(keywords), date).await.map_err(|e| match e {
        kontor_domain::Error::OverQuota { .. } => Fail::No("[OVERQUOTA] The mailbox is full"),
        kontor_domain::Error::TooLarge { .. } => Fail::No("[TOOBIG] The message is too large"),
        kontor_domain::Error::Forbidden { .. } => Fail::No("[NOPERM] The grant does not allow adding"),
        e => crate::session::no(e),
    })?;
    let uid = stored.memberships.first().map_or(0, |m| m.uid);
    Ok((format!("[APPENDUID {} {uid}] ", target.uidvalidity), target.id(), stored))
}
