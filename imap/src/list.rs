//! LIST and LSUB (RFC 9051 §6.3.9) with LIST-EXTENDED (RFC 5258: selection options
//! SUBSCRIBED, SPECIAL-USE, RECURSIVEMATCH; return options CHILDREN, SUBSCRIBED, SPECIAL-USE;
//! several patterns), LIST-STATUS (RFC 5819) and the shared namespace: `Shared/` and
//! `Shared/<owner>` (and a shared folder's parents that are not shared themselves) are listed
//! as `\Noselect` containers. Shared mailboxes count as subscribed until the user unsubscribes
//! (its own state, not the owner's) and show no special use (a client must not take a
//! colleague's Sent for its own).

use kontor_domain::Core;
use kontor_domain::mail::MailboxRole;
use kontor_domain::model::Principal;

use crate::names::{self, Named};
use crate::parse::{Token, quote};
use crate::session::{Fail, push};

/// LIST patterns: `*` matches anything, `%` anything but the hierarchy separator.
pub(crate) fn matches_pattern(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((b'%', rest)) => (0..=n.len()).take_while(|i| *i == 0 || n[i - 1] != b'/').any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first().is_some_and(|d| d == c) && go(rest, &n[1..]),
        }
    }
    if pattern.eq_ignore_ascii_case("INBOX") && name.eq_ignore_ascii_case("INBOX") {
        return true;
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// The options of one LIST command: independent switches of RFC 5258.
#[derive(Default)]
#[expect(clippy::struct_excessive_bools, reason = "each is one option of RFC 5258, set independently")]
struct Options {
    subscribed_only: bool,
    special_use_only: bool,
    recursive: bool,
    return_subscribed: bool,
    status: Option<Vec<String>>,
}

/// One line of the answer: a mailbox, or a container above shared ones.
struct Entry<'a> {
    name: String,
    mailbox: Option<&'a Named>,
    children: bool,
}

impl Entry<'_> {
    fn subscribed(&self) -> bool {
        self.mailbox.is_some_and(|n| n.mailbox.subscribed)
    }

    fn special_use(&self) -> Option<&'static str> {
        self.mailbox.filter(|n| n.own).and_then(|n| n.mailbox.role).and_then(MailboxRole::special_use)
    }
}

fn atoms(t: &Token) -> Result<Vec<String>, Fail> {
    match t {
        Token::List(l) => Ok(l.iter().filter_map(Token::atom).map(str::to_ascii_uppercase).collect()),
        _ => Err(Fail::Bad("Expected a list of options")),
    }
}

fn parse(lsub: bool, args: &[Token]) -> Result<(Options, String, Vec<String>), Fail> {
    let mut o = Options::default();
    let mut rest = args;
    if !lsub && let Some((first @ Token::List(_), tail)) = rest.split_first() {
        for s in atoms(first)? {
            match s.as_str() {
                "SUBSCRIBED" => o.subscribed_only = true,
                "SPECIAL-USE" => o.special_use_only = true,
                "RECURSIVEMATCH" => o.recursive = true,
                "REMOTE" => {}
                _ => return Err(Fail::Bad("Unknown LIST selection option")),
            }
        }
        // RFC 5258 §3: RECURSIVEMATCH goes with another selection option.
        if o.recursive && !o.subscribed_only && !o.special_use_only {
            return Err(Fail::Bad("RECURSIVEMATCH needs another selection option"));
        }
        rest = tail;
    }
    let (reference, patterns, tail) = match rest {
        [r, Token::List(ps), tail @ ..] => (r, ps.iter().filter_map(Token::text).collect::<Vec<_>>(), tail),
        [r, p, tail @ ..] => (r, p.text().into_iter().collect(), tail),
        _ => return Err(Fail::Bad("LIST needs a reference and a pattern")),
    };
    let reference = reference.text().ok_or(Fail::Bad("LIST needs a reference and a pattern"))?;
    match tail {
        [] => {}
        [Token::Atom(r), Token::List(opts)] if !lsub && r.eq_ignore_ascii_case("RETURN") => {
            let mut it = opts.iter();
            while let Some(opt) = it.next() {
                match opt.atom().unwrap_or_default().to_ascii_uppercase().as_str() {
                    "SUBSCRIBED" => o.return_subscribed = true,
                    "CHILDREN" | "SPECIAL-USE" => {}
                    "STATUS" => {
                        let Some(Token::List(items)) = it.next() else {
                            return Err(Fail::Bad("RETURN STATUS needs a list of items"));
                        };
                        o.status = Some(crate::status::items(items)?);
                    }
                    _ => return Err(Fail::Bad("Unknown LIST return option")),
                }
            }
        }
        _ => return Err(Fail::Bad("Bad LIST arguments")),
    }
    Ok((o, reference, patterns))
}

/// The containers above shared mailboxes that are not themselves listed.
fn containers(all: &[Named]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in all.iter().filter(|n| !n.own) {
        let mut at = 0;
        while let Some(slash) = n.name[at..].find('/') {
            let parent = &n.name[..at + slash];
            if !all.iter().any(|m| m.name == parent) && !out.iter().any(|o| o == parent) {
                out.push(parent.to_owned());
            }
            at += slash + 1;
        }
    }
    out
}

pub(crate) async fn list(
    core: &Core,
    who: &Principal,
    command: &str,
    args: &[Token],
    out: &mut Vec<u8>,
) -> Result<(), Fail> {
    let lsub = command == "LSUB";
    let (o, reference, patterns) = parse(lsub, args)?;
    if patterns.len() == 1 && patterns[0].is_empty() {
        push(out, &format!("* {command} (\\Noselect) \"/\" \"\"\r\n"));
        return Ok(());
    }
    let all = names::all(core, who).await?;
    let mut entries: Vec<Entry<'_>> =
        all.iter().map(|n| Entry { name: n.name.clone(), mailbox: Some(n), children: n.children }).collect();
    entries.extend(containers(&all).into_iter().map(|name| Entry { name, mailbox: None, children: true }));
    let full: Vec<String> = patterns.iter().map(|p| format!("{reference}{p}")).collect();
    let subscribed_only = o.subscribed_only || lsub;
    let selected =
        |e: &Entry<'_>| (!subscribed_only || e.subscribed()) && (!o.special_use_only || e.special_use().is_some());
    for e in &entries {
        if !full.iter().any(|p| matches_pattern(p, &e.name)) {
            continue;
        }
        let prefix = format!("{}/", e.name);
        // RECURSIVEMATCH: a mailbox with descendants that meet the selection says so.
        let child_match = o.recursive && entries.iter().any(|c| c.name.starts_with(&prefix) && selected(c));
        if !selected(e) && !child_match {
            continue;
        }
        let mut attrs: Vec<&str> = Vec::new();
        if e.mailbox.is_none() {
            attrs.push("\\Noselect");
        }
        attrs.push(if e.children { "\\HasChildren" } else { "\\HasNoChildren" });
        if !lsub && (o.subscribed_only || o.return_subscribed) && e.subscribed() {
            attrs.push("\\Subscribed");
        }
        attrs.extend(e.special_use());
        let childinfo = if child_match {
            let why = if o.subscribed_only { "SUBSCRIBED" } else { "SPECIAL-USE" };
            format!(" (\"CHILDINFO\" (\"{why}\"))")
        } else {
            String::new()
        };
        // A mailbox that matched only through its children is listed without its own
        // attributes of selection (RFC 5258 §3).
        let attrs = if selected(e) { attrs.join(" ") } else { String::new() };
        push(out, &format!("* {command} ({attrs}) \"/\" {}{childinfo}\r\n", quote(&e.name)));
        if let (Some(items), Some(named)) = (&o.status, e.mailbox) {
            crate::status::answer(core, who, named, items, out).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches_pattern("*", "Shared/bob@example.com/INBOX"));
        assert!(matches_pattern("%", "Sent"));
        assert!(!matches_pattern("%", "Shared/bob@example.com"));
        assert!(matches_pattern("Shared/%", "Shared/bob@example.com"));
        assert!(matches_pattern("inbox", "INBOX"));
    }

    #[test]
    fn extended_arguments() {
        let cmd = crate::parse::command(
            b"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"INBOX\" \"Sent\") RETURN (CHILDREN STATUS (MESSAGES SIZE))",
        )
        .unwrap();
        let Ok((o, reference, patterns)) = parse(false, &cmd.args) else { panic!("parses") };
        assert!(o.subscribed_only && o.recursive && !o.special_use_only);
        assert_eq!(reference, "");
        assert_eq!(patterns, ["INBOX", "Sent"]);
        assert_eq!(o.status.as_deref(), Some(&["MESSAGES".to_owned(), "SIZE".to_owned()][..]));
        let bad = crate::parse::command(b"a LIST (RECURSIVEMATCH) \"\" *").unwrap();
        assert!(parse(false, &bad.args).is_err());
        let bad = crate::parse::command(b"a LIST \"\" * RETURN (FROB)").unwrap();
        assert!(parse(false, &bad.args).is_err());
    }
}
