//! QRESYNC (RFC 7162 §3.2): SELECT/EXAMINE … (QRESYNC (uidvalidity modseq [known-uids
//! [seq-match]])) answers what a client that was offline missed — VANISHED (EARLIER) from the
//! change log's tombstones, and FETCH of what changed — and once QRESYNC is on, removals are
//! reported as VANISHED instead of EXPUNGE.

use kontor_domain::Core;
use kontor_domain::ids::Modseq;
use kontor_domain::model::Principal;

use crate::fetch::flags;
use crate::parse::{Token, sequence_set};
use crate::session::{Fail, Selected, in_ranges, push};

/// The QRESYNC parameters of a SELECT.
pub(crate) struct Params {
    uidvalidity: u32,
    modseq: i64,
    known: Option<Vec<(u32, u32)>>,
}

/// Reads `(QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]]))`'s inner list.
pub(crate) fn params(list: &[Token]) -> Result<Params, Fail> {
    let bad = || Fail::Bad("Bad QRESYNC parameters");
    let number = |t: Option<&Token>| t.and_then(Token::atom).and_then(|a| a.parse::<u64>().ok()).ok_or_else(bad);
    let uidvalidity = u32::try_from(number(list.first())?).map_err(|_| bad())?;
    let modseq = i64::try_from(number(list.get(1))?).map_err(|_| bad())?;
    if uidvalidity == 0 || modseq == 0 {
        return Err(bad());
    }
    let known = match list.get(2) {
        Some(Token::Atom(set)) => Some(sequence_set(set, u32::MAX).ok_or_else(bad)?),
        // The sequence match data alone, or nothing: every UID is known.
        Some(Token::List(_)) | None => None,
        Some(_) => return Err(bad()),
    };
    Ok(Params { uidvalidity, modseq, known })
}

/// Compact UID set text (`1:3,7`) of sorted UIDs.
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}:{end}") });
        i += 1;
    }
    parts.join(",")
}

/// The UIDs (within `within`) that left the mailbox after `since`: from the log's tombstones,
/// or, when the log no longer reaches back that far, every UID in `within` below UIDNEXT that
/// is not there now.
pub(crate) async fn vanished(
    core: &Core,
    who: &Principal,
    sel: &Selected,
    since: i64,
    within: Option<&[(u32, u32)]>,
) -> Result<Vec<u32>, Fail> {
    let present = |uid: u32| sel.messages.binary_search_by_key(&uid, |m| m.uid).is_ok();
    let logged = core
        .vanished_since(who, sel.mailbox.id(), Modseq(since))
        .await
        .map_err(|_| Fail::No("[UNAVAILABLE] Temporary failure"))?;
    let mut out: Vec<u32> = match logged {
        Some(uids) => uids.into_iter().filter(|u| within.is_none_or(|w| in_ranges(w, *u))).collect(),
        None => {
            let top = sel.mailbox.uidnext.saturating_sub(1);
            let ranges = within.map_or_else(|| vec![(1, top)], <[(u32, u32)]>::to_vec);
            ranges.iter().flat_map(|(lo, hi)| *lo..=(*hi).min(top)).collect()
        }
    };
    out.retain(|u| !present(*u));
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// What a SELECT … (QRESYNC …) adds to the answer: VANISHED (EARLIER), then a FETCH of each
/// message changed after the client's MODSEQ. Nothing when UIDVALIDITY changed (the client
/// starts over).
pub(crate) async fn on_select(
    core: &Core,
    who: &Principal,
    sel: &Selected,
    p: &Params,
    out: &mut Vec<u8>,
) -> Result<(), Fail> {
    if p.uidvalidity != sel.mailbox.uidvalidity {
        return Ok(());
    }
    let gone = vanished(core, who, sel, p.modseq, p.known.as_deref()).await?;
    if !gone.is_empty() {
        push(out, &format!("* VANISHED (EARLIER) {}\r\n", uid_set(&gone)));
    }
    for (i, m) in sel.messages.iter().enumerate() {
        if m.modseq.0 > p.modseq {
            push(
                out,
                &format!("* {} FETCH (UID {} FLAGS {} MODSEQ ({}))\r\n", i + 1, m.uid, flags(&m.keywords), m.modseq.0),
            );
        }
    }
    Ok(())
}

/// Takes the messages whose UIDs `gone` says out of the session's view and reports them:
/// `* n EXPUNGE`, highest first so no number shifts under the client, or with QRESYNC one
/// `* VANISHED` of their UIDs.
pub(crate) fn report_removed(sel: &mut Selected, gone: impl Fn(u32) -> bool, out: &mut Vec<u8>) {
    let mut uids = Vec::new();
    // Highest first: each EXPUNGE's number is then still the message's place before any of
    // them (one pass, where removing one at a time moved the rest for each).
    for (i, m) in sel.messages.iter().enumerate().rev() {
        if gone(m.uid) {
            uids.push(m.uid);
            if !sel.qresync {
                push(out, &format!("* {} EXPUNGE\r\n", i + 1));
            }
        }
    }
    if !uids.is_empty() {
        sel.messages.retain(|m| !gone(m.uid));
    }
    if sel.qresync && !uids.is_empty() {
        uids.reverse();
        push(out, &format!("* VANISHED {}\r\n", uid_set(&uids)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_parameters() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[]), "");
        let cmd =
            crate::parse::command(b"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))").unwrap();
        let Some(Token::List(outer)) = cmd.args.get(1) else { panic!("list") };
        let Some(Token::List(inner)) = outer.get(1) else { panic!("list") };
        let p = params(inner).ok().unwrap();
        assert_eq!((p.uidvalidity, p.modseq), (67_890_007, 20_050_715_194_045_000));
        assert_eq!(p.known.unwrap()[..2], [(41, 41), (43, 211)]);
        assert!(params(&[Token::Atom("0".into()), Token::Atom("1".into())]).is_err());
        assert!(params(&[Token::Atom("x".into())]).is_err());
    }
}
