//! STORE / UID STORE (flags and keywords, RFC 3501 §6.4.6) and EXPUNGE / UID EXPUNGE
//! (RFC 3501 §6.4.3, RFC 4315), also the silent expunge of CLOSE.

use kontor_domain::Core;
use kontor_domain::mail::{KeywordOp, Keywords};
use kontor_domain::model::Principal;

use crate::fetch::flags;
use crate::parse::{self, Token};
use crate::session::{Fail, Selected, in_ranges, push};

/// An IMAP flag or keyword as a stored keyword (`\Seen` is `$seen`).
pub fn keyword(flag: &str) -> Option<String> {
    let lower = flag.to_ascii_lowercase();
    Some(match lower.as_str() {
        "\\seen" => "$seen".into(),
        "\\answered" => "$answered".into(),
        "\\flagged" => "$flagged".into(),
        "\\draft" => "$draft".into(),
        "\\deleted" => "$deleted".into(),
        f if f.starts_with('\\') => return None,
        f => f.to_owned(),
    })
}

/// The UIDs a sequence or UID set names among the selected messages.
pub(crate) fn uids(sel: &Selected, by_uid: bool, set: &str) -> Result<Vec<u32>, Fail> {
    Ok(positions(sel, by_uid, set)?.into_iter().map(|i| sel.messages[i].uid).collect())
}

/// Where the messages a sequence or UID set names are among the selected ones (in order).
pub(crate) fn positions(sel: &Selected, by_uid: bool, set: &str) -> Result<Vec<usize>, Fail> {
    // SEARCHRES (RFC 5182): `$` is what the last SEARCH … RETURN (SAVE) kept, still here.
    if set == "$" {
        return Ok((0..sel.messages.len())
            .filter(|i| sel.saved.binary_search(&sel.messages[*i].uid).is_ok())
            .collect());
    }
    let total = u32::try_from(sel.messages.len()).unwrap_or(u32::MAX);
    let max_uid = sel.messages.last().map_or(0, |m| m.uid);
    let ranges = parse::sequence_set(set, if by_uid { max_uid } else { total }).ok_or(Fail::Bad("Bad sequence set"))?;
    if !by_uid && ranges.iter().any(|(_, hi)| *hi > total) {
        return Err(Fail::Bad("No such message"));
    }
    Ok(pick(&sel.messages, |m| m.uid, ranges, by_uid))
}

/// The positions of the `items` (in UID order) that `ranges` name: of UIDs, or (`by_uid`
/// false) of positions from 1. The ranges are put in order and overlapping ones joined, so
/// each item is found once, in order, by a binary search per range, not by a look at every
/// item for every range.
fn pick<T>(items: &[T], uid: impl Fn(&T) -> u32, mut ranges: Vec<(u32, u32)>, by_uid: bool) -> Vec<usize> {
    ranges.sort_unstable();
    let mut joined: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match joined.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => joined.push((lo, hi)),
        }
    }
    let mut at = Vec::new();
    for (lo, hi) in joined {
        let (from, to) = if by_uid {
            let from = items.partition_point(|m| uid(m) < lo);
            (from, from + items[from..].iter().take_while(|m| uid(m) <= hi).count())
        } else {
            let to = (hi as usize).min(items.len());
            ((lo as usize).saturating_sub(1).min(to), to)
        };
        at.extend(from..to);
    }
    at
}

pub(crate) async fn store(
    core: &Core,
    who: &Principal,
    sel: &mut Selected,
    by_uid: bool,
    args: &[Token],
    out: &mut Vec<u8>,
) -> Result<String, Fail> {
    let (unchanged_since, args) = match args {
        [set, Token::List(m), rest @ ..]
            if m.first().and_then(Token::atom).is_some_and(|a| a.eq_ignore_ascii_case("UNCHANGEDSINCE")) =>
        {
            let v = m
                .get(1)
                .and_then(Token::atom)
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or(Fail::Bad("Bad UNCHANGEDSINCE"))?;
            (Some(v), [std::slice::from_ref(set), rest].concat())
        }
        _ => (None, args.to_vec()),
    };
    let [set, what, rest @ ..] = &args[..] else { return Err(Fail::Bad("STORE needs a set, an item and flags")) };
    if sel.read_only {
        return Err(Fail::No("[READ-ONLY] The mailbox is open read-only"));
    }
    let set = set.atom().ok_or(Fail::Bad("Bad sequence set"))?;
    let what = what.atom().ok_or(Fail::Bad("Bad STORE item"))?.to_ascii_uppercase();
    let (op, silent) = match what.as_str() {
        "FLAGS" => (KeywordOp::Replace, false),
        "FLAGS.SILENT" => (KeywordOp::Replace, true),
        "+FLAGS" => (KeywordOp::Add, false),
        "+FLAGS.SILENT" => (KeywordOp::Add, true),
        "-FLAGS" => (KeywordOp::Remove, false),
        "-FLAGS.SILENT" => (KeywordOp::Remove, true),
        _ => return Err(Fail::Bad("Unsupported STORE item")),
    };
    let words: Vec<&Token> = match rest {
        [Token::List(l)] => l.iter().collect(),
        l => l.iter().collect(),
    };
    let words: Vec<String> =
        words.iter().map(|t| t.atom().and_then(keyword).ok_or(Fail::Bad("Bad flag"))).collect::<Result<_, _>>()?;
    let mut uids = uids(sel, by_uid, set)?;
    // UNCHANGEDSINCE (RFC 7162 §3.1.3): messages changed after it are left alone and named.
    let mut modified = Vec::new();
    if let Some(limit) = unchanged_since {
        uids.retain(|uid| {
            let at = sel.messages.binary_search_by_key(uid, |m| m.uid).ok();
            let fresh = at.is_none_or(|i| sel.messages[i].modseq.0 <= limit);
            if !fresh {
                modified.push(if by_uid { *uid } else { at.map_or(0, |i| u32::try_from(i + 1).unwrap_or(u32::MAX)) });
            }
            fresh
        });
    }
    let changed =
        core.change_keywords(who, sel.mailbox.id(), &uids, op, &Keywords::new(words)).await.map_err(|e| match e {
            kontor_domain::Error::Forbidden { .. } => Fail::No("[NOPERM] The grant does not allow this change"),
            e => crate::session::no(e),
        })?;
    for (membership, keywords) in changed {
        let Ok(at) = sel.messages.binary_search_by_key(&membership.uid, |m| m.uid) else { continue };
        sel.messages[at].keywords = keywords.clone();
        sel.messages[at].modseq = membership.modseq;
        // CONDSTORE reports the new MODSEQ even for .SILENT (RFC 7162 §3.1.3).
        if !silent || sel.condstore {
            let mut parts = Vec::new();
            if !silent {
                parts.push(format!("FLAGS {}", flags(&keywords)));
            }
            if by_uid {
                parts.push(format!("UID {}", membership.uid));
            }
            if sel.condstore {
                parts.push(format!("MODSEQ ({})", membership.modseq.0));
            }
            push(out, &format!("* {} FETCH ({})\r\n", at + 1, parts.join(" ")));
        }
    }
    if modified.is_empty() {
        return Ok(String::new());
    }
    let list: Vec<String> = modified.iter().map(u32::to_string).collect();
    Ok(format!("[MODIFIED {}] ", list.join(",")))
}

/// Removes the messages marked \\Deleted (only those in `only`, by UID, when given) and
/// reports each with `* n EXPUNGE`, highest first so no number shifts under the client.
pub(crate) async fn expunge(
    core: &Core,
    who: &Principal,
    sel: &mut Selected,
    only: Option<&[(u32, u32)]>,
    out: &mut Vec<u8>,
) -> Result<(), Fail> {
    if sel.read_only {
        return Err(Fail::No("[READ-ONLY] The mailbox is open read-only"));
    }
    let doomed: Vec<u32> = sel
        .messages
        .iter()
        .filter(|m| m.keywords.contains("$deleted") && only.is_none_or(|r| in_ranges(r, m.uid)))
        .map(|m| m.uid)
        .collect();
    if doomed.is_empty() {
        return Ok(());
    }
    let removed = core.remove_messages(who, sel.mailbox.id(), &doomed).await.map_err(|e| match e {
        kontor_domain::Error::Forbidden { .. } => Fail::No("[NOPERM] The grant does not allow deleting"),
        e => crate::session::no(e),
    })?;
    crate::qresync::report_removed(sel, |uid| removed.binary_search(&uid).is_ok(), out);
    Ok(())
}

/// COPY / UID COPY and MOVE / UID MOVE (RFC 6851): the same message filed in another mailbox
/// of the account, answered with COPYUID (RFC 4315); a move then expunges here.
pub(crate) async fn copy(
    core: &Core,
    who: &Principal,
    sel: &mut Selected,
    by_uid: bool,
    remove: bool,
    args: &[Token],
    out: &mut Vec<u8>,
) -> Result<String, Fail> {
    let [set, target] = args else { return Err(Fail::Bad("COPY needs a set and a mailbox")) };
    if remove && sel.read_only {
        return Err(Fail::No("[READ-ONLY] The mailbox is open read-only"));
    }
    let set = set.atom().ok_or(Fail::Bad("Bad sequence set"))?;
    let name = target.text().ok_or(Fail::Bad("Bad mailbox name"))?;
    let to = match crate::names::find(core, who, &name).await {
        Ok(named) => named.mailbox,
        Err(Fail::No(_)) => return Err(Fail::No("[TRYCREATE] No such mailbox")),
        Err(e) => return Err(e),
    };
    let uids = uids(sel, by_uid, set)?;
    let pairs = core.file_messages(who, sel.mailbox.id(), &uids, to.id(), remove).await.map_err(|e| match e {
        kontor_domain::Error::Forbidden { .. } => Fail::No("[NOPERM] The grant does not allow this"),
        kontor_domain::Error::OverQuota { .. } => Fail::No("[OVERQUOTA] The target mailbox is full"),
        e => crate::session::no(e),
    })?;
    let join = |v: Vec<u32>| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let code = if pairs.is_empty() {
        String::new()
    } else {
        let (src, dst): (Vec<u32>, Vec<u32>) = pairs.iter().copied().unzip();
        format!("[COPYUID {} {} {}] ", to.uidvalidity, join(src), join(dst))
    };
    if remove {
        if !code.is_empty() {
            push(out, &format!("* OK {code}Moved\r\n"));
        }
        if to.id() != sel.mailbox.id() {
            crate::qresync::report_removed(sel, |uid| pairs.iter().any(|(old, _)| *old == uid), out);
        }
        return Ok(String::new());
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::pick;
    use crate::session::in_ranges;

    /// Sets of every shape give what a look at every message for every range gives.
    #[test]
    fn sets_pick_what_a_full_scan_picks() {
        let uids: Vec<u32> = (1..=300).filter(|u| u % 7 != 0 && u % 11 != 3).collect();
        let max = *uids.last().unwrap_or(&0);
        let sets = [
            "1:*",
            "*",
            "5",
            "300:1",
            "2,4,6,4,2",
            "10:20,15:30,31,33:32",
            "1000:2000",
            "3:3,3,1:2",
            "*:250,7:8,9:10",
            "299,1,150:160,155",
            "1:1,0001",
        ];
        for set in sets {
            for by_uid in [true, false] {
                let largest = if by_uid { max } else { u32::try_from(uids.len()).unwrap() };
                let ranges = crate::parse::sequence_set(set, largest).unwrap();
                let scan: Vec<u32> = uids
                    .iter()
                    .enumerate()
                    .filter(|(i, u)| in_ranges(&ranges, if by_uid { **u } else { u32::try_from(i + 1).unwrap() }))
                    .map(|(_, u)| *u)
                    .collect();
                let picked: Vec<u32> = pick(&uids, |u| *u, ranges, by_uid).into_iter().map(|i| uids[i]).collect();
                assert_eq!(picked, scan, "{set} by_uid={by_uid}");
            }
        }
        assert!(pick(&[] as &[u32], |u| *u, vec![(1, 5)], false).is_empty());
    }
}
