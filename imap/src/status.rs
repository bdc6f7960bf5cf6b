//! STATUS (RFC 9051 §6.3.11) with SIZE (RFC 8438), HIGHESTMODSEQ (RFC 7162) and DELETED
//! (IMAP4rev2); also the STATUS answers of LIST-STATUS (RFC 5819).

use kontor_domain::Core;
use kontor_domain::mail::Summary;
use kontor_domain::model::Principal;

use crate::names::{self, Named};
use crate::parse::{Token, quote};
use crate::session::{Fail, no, push};

/// The highest MODSEQ of a mailbox as this user sees it (its own seen changes count).
pub(crate) fn highest_modseq(named: &Named, messages: &[Summary]) -> i64 {
    messages.iter().map(|m| m.modseq.0).fold(named.mailbox.collection.modseq.0, i64::max)
}

/// The status items asked for, upper case, checked.
pub(crate) fn items(list: &[Token]) -> Result<Vec<String>, Fail> {
    list.iter()
        .map(|t| {
            let item = t.atom().unwrap_or_default().to_ascii_uppercase();
            match item.as_str() {
                "MESSAGES" | "UIDNEXT" | "UIDVALIDITY" | "UNSEEN" | "RECENT" | "SIZE" | "HIGHESTMODSEQ" | "DELETED" => {
                    Ok(item)
                }
                _ => Err(Fail::Bad("Unknown STATUS item")),
            }
        })
        .collect()
}

/// `* STATUS name (…)` for one mailbox.
pub(crate) async fn answer(
    core: &Core,
    who: &Principal,
    named: &Named,
    items: &[String],
    out: &mut Vec<u8>,
) -> Result<(), Fail> {
    let messages = core.mailbox_summaries(who, named.mailbox.id()).await.map_err(no)?;
    let count = |f: &dyn Fn(&Summary) -> bool| messages.iter().filter(|m| f(m)).count() as u64;
    let parts: Vec<String> = items
        .iter()
        .map(|item| {
            let value = match item.as_str() {
                "MESSAGES" => messages.len() as u64,
                "UIDNEXT" => u64::from(named.mailbox.uidnext),
                "UIDVALIDITY" => u64::from(named.mailbox.uidvalidity),
                "UNSEEN" => count(&|m| !m.keywords.contains("$seen")),
                "DELETED" => count(&|m| m.keywords.contains("$deleted")),
                "SIZE" => messages.iter().map(|m| m.size).sum(),
                "HIGHESTMODSEQ" => u64::try_from(highest_modseq(named, &messages)).unwrap_or(0),
                _ => 0,
            };
            format!("{item} {value}")
        })
        .collect();
    push(out, &format!("* STATUS {} ({})\r\n", quote(&named.name), parts.join(" ")));
    Ok(())
}

/// STATUS mailbox (items).
pub(crate) async fn status(core: &Core, who: &Principal, args: &[Token], out: &mut Vec<u8>) -> Result<(), Fail> {
    let (Some(name), Some(Token::List(list))) = (args.first().and_then(Token::text), args.get(1)) else {
        return Err(Fail::Bad("STATUS needs a mailbox and a list of items"));
    };
    let items = items(list)?;
    let mut named = names::find(core, who, &name).await?;
    // The answer names the mailbox as the client did (INBOX in its case).
    named.name = name;
    answer(core, who, &named, &items, out).await
}
