//! SEARCH and UID SEARCH (RFC 3501 §6.4.4): flags and keywords, dates, sizes, the stored
//! envelope fields, header fields and text, sequence and UID sets, NOT, OR and parentheses.
//! Flags, dates, sizes and sets are read from the session's summaries; SUBJECT, FROM, TO, CC,
//! BCC, TEXT, BODY and HEADER ask the domain's full-text index (case-insensitive substrings of
//! the decoded text), one query per key, whose answer the key then stands for.

use kontor_domain::Core;
use kontor_domain::error::Error;
use kontor_domain::mail::Summary;
use kontor_domain::mail::search::{TextField, TextQuery};
use kontor_domain::model::Principal;

use crate::parse::{self, Token};
use crate::session::{Fail, Selected, in_ranges, push};
use crate::store::keyword;

enum Key {
    All,
    Flag(String, bool),
    Before(i64),
    On(i64),
    Since(i64),
    SentBefore(i64),
    SentOn(i64),
    SentSince(i64),
    Larger(u64),
    Smaller(u64),
    /// The messages the full-text query with this index in [`Parser::text`] found.
    Indexed(usize),
    Uid(Vec<(u32, u32)>),
    /// SEARCHRES (RFC 5182): the UIDs the last `RETURN (SAVE)` kept (`$`), sorted.
    Saved(Vec<u32>),
    /// CONDSTORE: changed at or after this MODSEQ.
    Modseq(i64),
    Seq(Vec<(u32, u32)>),
    Not(Box<Key>),
    Or(Box<Key>, Box<Key>),
    And(Vec<Key>),
}

/// A day as `d-Mon-yyyy`, to the start of it (UTC, in milliseconds).
fn day(t: &Token) -> Result<i64, Fail> {
    let s = t.text().ok_or(Fail::Bad("Bad date"))?;
    let d = chrono::NaiveDate::parse_from_str(&s, "%d-%b-%Y").map_err(|_| Fail::Bad("Bad date"))?;
    Ok(d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_millis())
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    total: u32,
    max_uid: u32,
    /// The full-text queries of the keys, in order.
    text: Vec<TextQuery>,
    /// What `$` stands for.
    saved: &'a [u32],
}

impl Parser<'_> {
    fn next(&mut self) -> Result<&Token, Fail> {
        let t = self.tokens.get(self.at).ok_or(Fail::Bad("Search criterion missing its argument"))?;
        self.at += 1;
        Ok(t)
    }

    fn text(&mut self) -> Result<String, Fail> {
        self.next()?.text().map(|t| t.to_lowercase()).ok_or(Fail::Bad("Expected a string"))
    }

    fn number(&mut self) -> Result<u64, Fail> {
        self.next()?.atom().and_then(|a| a.parse().ok()).ok_or(Fail::Bad("Expected a number"))
    }

    /// A full-text key on `field` with the next argument as its text.
    fn indexed(&mut self, field: TextField) -> Result<Key, Fail> {
        let needle = self.text()?;
        self.text.push(TextQuery::one(field, &needle));
        Ok(Key::Indexed(self.text.len() - 1))
    }

    fn key(&mut self, depth: usize) -> Result<Key, Fail> {
        if depth > 32 {
            return Err(Fail::Bad("Search too deeply nested"));
        }
        let t = self.next()?.clone();
        let a = match &t {
            Token::List(inner) => {
                let mut p = Parser {
                    tokens: inner,
                    at: 0,
                    total: self.total,
                    max_uid: self.max_uid,
                    text: std::mem::take(&mut self.text),
                    saved: self.saved,
                };
                let mut keys = Vec::new();
                while p.at < inner.len() {
                    keys.push(p.key(depth + 1)?);
                }
                self.text = p.text;
                return Ok(Key::And(keys));
            }
            Token::Atom(a) => a.to_ascii_uppercase(),
            _ => return Err(Fail::Bad("Unsupported search criterion")),
        };
        let flag = |f: &str, on: bool| Ok(Key::Flag(f.to_owned(), on));
        match a.as_str() {
            "ALL" => Ok(Key::All),
            "ANSWERED" => flag("$answered", true),
            "UNANSWERED" => flag("$answered", false),
            "DELETED" => flag("$deleted", true),
            "UNDELETED" => flag("$deleted", false),
            "DRAFT" => flag("$draft", true),
            "UNDRAFT" => flag("$draft", false),
            "FLAGGED" => flag("$flagged", true),
            "UNFLAGGED" => flag("$flagged", false),
            "SEEN" | "OLD" => flag("$seen", true),
            "UNSEEN" | "NEW" => flag("$seen", false),
            "RECENT" => Ok(Key::Not(Box::new(Key::All))),
            "KEYWORD" | "UNKEYWORD" => {
                let k = self.next()?.atom().and_then(keyword).ok_or(Fail::Bad("Bad keyword"))?;
                Ok(Key::Flag(k, a == "KEYWORD"))
            }
            "BEFORE" => Ok(Key::Before(day(self.next()?)?)),
            "ON" => Ok(Key::On(day(self.next()?)?)),
            "SINCE" => Ok(Key::Since(day(self.next()?)?)),
            "SENTBEFORE" => Ok(Key::SentBefore(day(self.next()?)?)),
            "SENTON" => Ok(Key::SentOn(day(self.next()?)?)),
            "SENTSINCE" => Ok(Key::SentSince(day(self.next()?)?)),
            "LARGER" => Ok(Key::Larger(self.number()?)),
            "SMALLER" => Ok(Key::Smaller(self.number()?)),
            "SUBJECT" | "FROM" | "TO" | "CC" | "BCC" => self.indexed(TextField::header(&a)),
            "HEADER" => {
                let name = self.text()?;
                self.indexed(TextField::header(&name))
            }
            "BODY" => self.indexed(TextField::Body),
            "TEXT" => self.indexed(TextField::Text),
            "UID" => {
                let max = self.max_uid;
                let saved = self.saved;
                let set = self.next()?.atom().ok_or(Fail::Bad("UID needs a set"))?;
                if set == "$" {
                    return Ok(Key::Saved(saved.to_vec()));
                }
                Ok(Key::Uid(parse::sequence_set(set, max).ok_or(Fail::Bad("Bad UID set"))?))
            }
            "$" => Ok(Key::Saved(self.saved.to_vec())),
            "MODSEQ" => {
                let n = self.number()?;
                Ok(Key::Modseq(i64::try_from(n).map_err(|_| Fail::Bad("Bad MODSEQ"))?))
            }
            "NOT" => Ok(Key::Not(Box::new(self.key(depth + 1)?))),
            "OR" => {
                let x = self.key(depth + 1)?;
                Ok(Key::Or(Box::new(x), Box::new(self.key(depth + 1)?)))
            }
            s if s.starts_with(|c: char| c.is_ascii_digit() || c == '*') => {
                Ok(Key::Seq(parse::sequence_set(s, self.total).ok_or(Fail::Bad("Bad sequence set"))?))
            }
            _ => Err(Fail::Bad("Unsupported search criterion")),
        }
    }
}

/// Whether the message matches; `found` holds what each full-text query found (message ids,
/// ascending).
fn matches(k: &Key, seq: u32, m: &Summary, found: &[Vec<i64>]) -> bool {
    const DAY: i64 = 86_400_000;
    let sent = m.sent_at.map(|t| t.0);
    match k {
        Key::All => true,
        Key::Flag(f, on) => m.keywords.contains(f) == *on,
        Key::Before(d) => m.received_at.0 < *d,
        Key::On(d) => (*d..d + DAY).contains(&m.received_at.0),
        Key::Since(d) => m.received_at.0 >= *d,
        Key::SentBefore(d) => sent.is_some_and(|s| s < *d),
        Key::SentOn(d) => sent.is_some_and(|s| (*d..d + DAY).contains(&s)),
        Key::SentSince(d) => sent.is_some_and(|s| s >= *d),
        Key::Larger(n) => m.size > *n,
        Key::Smaller(n) => m.size < *n,
        Key::Indexed(i) => found.get(*i).is_some_and(|ids| ids.binary_search(&m.message).is_ok()),
        Key::Uid(r) => in_ranges(r, m.uid),
        Key::Saved(uids) => uids.binary_search(&m.uid).is_ok(),
        Key::Modseq(n) => m.modseq.0 >= *n,
        Key::Seq(r) => in_ranges(r, seq),
        Key::Not(k) => !matches(k, seq, m, found),
        Key::Or(a, b) => matches(a, seq, m, found) || matches(b, seq, m, found),
        Key::And(ks) => ks.iter().all(|k| matches(k, seq, m, found)),
    }
}

/// A failed full-text query as the client sees it (the cause is logged, not sent).
fn failed(e: Error) -> Fail {
    match e {
        Error::NotFound(_) | Error::Forbidden { .. } => Fail::No("[NONEXISTENT] No such mailbox"),
        e => {
            tracing::warn!(error = %e, "imap search failed");
            Fail::No("[UNAVAILABLE] Temporary failure")
        }
    }
}

/// A set as IMAP writes it: runs joined with `:`, commas between (`1:3,5`).
fn compact(ns: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ns.len() {
        let mut j = i;
        while j + 1 < ns.len() && ns[j + 1] == ns[j] + 1 {
            j += 1;
        }
        out.push(if i == j { ns[i].to_string() } else { format!("{}:{}", ns[i], ns[j]) });
        i = j + 1;
    }
    out.join(",")
}

pub(crate) async fn search(
    core: &Core,
    who: &Principal,
    sel: &mut Selected,
    tag: &str,
    by_uid: bool,
    args: &[Token],
    out: &mut Vec<u8>,
) -> Result<(), Fail> {
    let mut args = args;
    // ESEARCH (RFC 4731): RETURN (MIN MAX COUNT ALL); an empty list means ALL.
    let mut returns: Option<Vec<String>> = None;
    if args.first().and_then(Token::atom).is_some_and(|a| a.eq_ignore_ascii_case("RETURN")) {
        let Some(Token::List(opts)) = args.get(1) else { return Err(Fail::Bad("RETURN needs a list")) };
        let mut want: Vec<String> = Vec::new();
        for o in opts {
            let o = o.atom().map(str::to_ascii_uppercase).ok_or(Fail::Bad("Bad RETURN option"))?;
            if !matches!(o.as_str(), "MIN" | "MAX" | "COUNT" | "ALL" | "SAVE") {
                return Err(Fail::Bad("Unsupported RETURN option"));
            }
            want.push(o);
        }
        if want.is_empty() {
            want.push("ALL".into());
        }
        want.dedup();
        returns = Some(want);
        args = args.get(2..).unwrap_or_default();
    }
    if args.first().and_then(Token::atom).is_some_and(|a| a.eq_ignore_ascii_case("CHARSET")) {
        let charset = args.get(1).and_then(Token::text).unwrap_or_default();
        if !charset.eq_ignore_ascii_case("UTF-8") && !charset.eq_ignore_ascii_case("US-ASCII") {
            return Err(Fail::No("[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset"));
        }
        args = args.get(2..).unwrap_or_default();
    }
    let save = returns.as_ref().is_some_and(|w| w.iter().any(|o| o == "SAVE"));
    let result = matching(core, who, sel, by_uid, args).await;
    let (hits, uids) = match result {
        Ok(r) => r,
        Err(e) => {
            // A failed SEARCH … RETURN (SAVE) leaves `$` empty (RFC 5182 §2.1).
            if save {
                sel.saved.clear();
            }
            return Err(e);
        }
    };
    if save {
        // With MIN or MAX, only those are kept (RFC 5182 §2.4).
        let want = returns.as_deref().unwrap_or_default();
        let (min, max) = (want.iter().any(|o| o == "MIN"), want.iter().any(|o| o == "MAX"));
        sel.saved = if min || max {
            let mut kept: Vec<u32> = Vec::new();
            kept.extend(uids.first().filter(|_| min));
            kept.extend(uids.last().filter(|_| max));
            kept.sort_unstable();
            kept.dedup();
            kept
        } else {
            uids
        };
    }
    if let Some(mut want) = returns {
        want.retain(|o| o != "SAVE");
        if want.is_empty() {
            // SAVE alone: no ESEARCH answer (RFC 5182 §2.1).
            return Ok(());
        }
        let mut line = format!("* ESEARCH (TAG {})", crate::parse::quote(tag));
        if by_uid {
            line.push_str(" UID");
        }
        for w in want {
            match w.as_str() {
                "MIN" if !hits.is_empty() => line.push_str(&format!(" MIN {}", hits[0])),
                "MAX" if !hits.is_empty() => line.push_str(&format!(" MAX {}", hits[hits.len() - 1])),
                "ALL" if !hits.is_empty() => line.push_str(&format!(" ALL {}", compact(&hits))),
                "COUNT" => line.push_str(&format!(" COUNT {}", hits.len())),
                _ => {}
            }
        }
        push(out, &format!("{line}\r\n"));
        return Ok(());
    }
    let list: Vec<String> = hits.iter().map(u32::to_string).collect();
    push(out, &format!("* SEARCH{}{}\r\n", if list.is_empty() { "" } else { " " }, list.join(" ")));
    Ok(())
}

/// The messages the criteria select: (sequence numbers or UIDs as asked, their UIDs).
async fn matching(
    core: &Core,
    who: &Principal,
    sel: &Selected,
    by_uid: bool,
    args: &[Token],
) -> Result<(Vec<u32>, Vec<u32>), Fail> {
    let mut p = Parser {
        tokens: args,
        at: 0,
        total: u32::try_from(sel.messages.len()).unwrap_or(u32::MAX),
        max_uid: sel.messages.last().map_or(0, |m| m.uid),
        text: Vec::new(),
        saved: &sel.saved,
    };
    let mut keys = Vec::new();
    while p.at < args.len() {
        keys.push(p.key(0)?);
    }
    if keys.is_empty() {
        return Err(Fail::Bad("SEARCH needs criteria"));
    }
    let all = Key::And(keys);
    let mut found = Vec::with_capacity(p.text.len());
    for q in &p.text {
        found.push(core.search_mailbox_text(who, sel.mailbox.id(), q).await.map_err(failed)?);
    }
    let mut hits = Vec::new();
    let mut uids = Vec::new();
    for (i, m) in sel.messages.iter().enumerate() {
        let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if matches(&all, seq, m, &found) {
            hits.push(if by_uid { m.uid } else { seq });
            uids.push(m.uid);
        }
    }
    Ok((hits, uids))
}
