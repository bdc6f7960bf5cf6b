//! FETCH and UID FETCH (RFC 3501 §6.4.5): UID, FLAGS, RFC822.SIZE, INTERNALDATE, body sections
//! (`BODY[]`, `HEADER`, `TEXT`, `HEADER.FIELDS[.NOT]`, part numbers and their `MIME`, with
//! `<origin.count>` partials), their `.PEEK` forms, RFC822, RFC822.HEADER, RFC822.TEXT, and
//! the ALL/FAST macros. Sections are cut from the stored bytes by the offsets the structure
//! recorded on delivery. BINARY (RFC 3516): `BINARY[part]`, `BINARY.PEEK[part]` and
//! `BINARY.SIZE[part]`, the part's content with its transfer encoding (base64,
//! quoted-printable) undone.

use kontor_domain::Core;
use kontor_domain::mail::{KeywordOp, Keywords, MimePart, Summary};
use kontor_domain::model::Principal;
use kontor_domain::{BlobRef, MailboxReader, Structured};

use crate::parse::Token;
use crate::session::{Fail, Selected, push};

/// How many messages' bytes a FETCH reads at a time, at most.
const READ_AHEAD: usize = 16;
/// How many bytes of messages a FETCH reads at a time, at most (a batch has at least one):
/// sixteen large attachments would otherwise sit in memory at once.
const READ_AHEAD_BYTES: u64 = 2 << 20;
/// How many messages' rows a FETCH of envelopes or structures reads at a time.
const ROWS_AHEAD: usize = 250;
/// A FETCH answer is handed to the connection in pieces of about this size.
const STREAM_CHUNK: usize = 128 << 10;
/// The first piece of an answer: the client has something to read (and parse) while the rest
/// is made. Each following piece may be twice as large, up to [`STREAM_CHUNK`].
const FIRST_PIECE: usize = 8 << 10;
/// How many messages the first query of a FETCH reads (then [`ROWS_AHEAD`]), and of them how
/// many bodies: the first lines go out after a small read, not after hundreds of rows.
const FIRST_ROWS: usize = 16;
const FIRST_BODIES: usize = 4;
/// The buffer a piece is written into: room for a piece and the line that ends it, so that it
/// never grows (a buffer doubled past the allocator's threshold for large blocks would be
/// mapped and unmapped again for every piece).
const PIECE_BUFFER: usize = STREAM_CHUNK + STREAM_CHUNK / 2;
/// Body data of this size or more goes to the connection as the bytes read, not copied into
/// the answer (when the answer is streamed): no buffer grows to hold large messages again.
const UNCOPIED: usize = 16 << 10;

/// IMAP flags of a message's keywords.
pub fn flags(k: &Keywords) -> String {
    let mut out = Vec::new();
    write_flags(&mut out, k);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`flags`], written to `out`.
pub fn write_flags(out: &mut Vec<u8>, k: &Keywords) {
    out.push(b'(');
    for (n, w) in k.iter().enumerate() {
        if n > 0 {
            out.push(b' ');
        }
        let word: &[u8] = match w {
            "$seen" => b"\\Seen",
            "$answered" => b"\\Answered",
            "$flagged" => b"\\Flagged",
            "$draft" => b"\\Draft",
            "$deleted" => b"\\Deleted",
            other => other.as_bytes(),
        };
        out.extend_from_slice(word);
    }
    out.push(b')');
}

enum Item {
    Uid,
    Flags,
    Size,
    InternalDate,
    /// CONDSTORE (RFC 7162): the message's MODSEQ in this mailbox.
    Modseq,
    Envelope,
    /// BODYSTRUCTURE (`true`) or BODY.
    Structure(bool),
    /// The name to answer with (e.g. `BODY[HEADER]`, `RFC822`), the section, a partial.
    /// `peek`: reading it leaves \\Seen alone (BODY.PEEK, RFC822.HEADER).
    Section {
        name: String,
        section: String,
        partial: Option<(usize, usize)>,
        peek: bool,
    },
    /// BINARY (`size`: BINARY.SIZE) of a part (`""`: the whole message).
    Binary {
        section: String,
        partial: Option<(usize, usize)>,
        peek: bool,
        size: bool,
    },
}

fn items(t: &Token) -> Result<Vec<Item>, Fail> {
    let words: Vec<String> = match t {
        Token::Atom(a) => match a.to_ascii_uppercase().as_str() {
            "FAST" => vec!["FLAGS".into(), "INTERNALDATE".into(), "RFC822.SIZE".into()],
            "ALL" => vec!["FLAGS".into(), "INTERNALDATE".into(), "RFC822.SIZE".into(), "ENVELOPE".into()],
            "FULL" => {
                vec!["FLAGS".into(), "INTERNALDATE".into(), "RFC822.SIZE".into(), "ENVELOPE".into(), "BODY".into()]
            }
            _ => vec![a.clone()],
        },
        Token::List(l) => l
            .iter()
            .map(|t| t.atom().map(str::to_owned).ok_or(Fail::Bad("Bad fetch item")))
            .collect::<Result<_, _>>()?,
        _ => return Err(Fail::Bad("Bad fetch items")),
    };
    words.iter().map(|w| item(w)).collect()
}

fn item(w: &str) -> Result<Item, Fail> {
    let upper = w.to_ascii_uppercase();
    Ok(match upper.as_str() {
        "UID" => Item::Uid,
        "FLAGS" => Item::Flags,
        "RFC822.SIZE" => Item::Size,
        "INTERNALDATE" => Item::InternalDate,
        "ENVELOPE" => Item::Envelope,
        "MODSEQ" => Item::Modseq,
        "BODYSTRUCTURE" => Item::Structure(true),
        "BODY" => Item::Structure(false),
        "RFC822" => Item::Section { name: "RFC822".into(), section: String::new(), partial: None, peek: false },
        "RFC822.HEADER" => {
            Item::Section { name: "RFC822.HEADER".into(), section: "HEADER".into(), partial: None, peek: true }
        }
        "RFC822.TEXT" => {
            Item::Section { name: "RFC822.TEXT".into(), section: "TEXT".into(), partial: None, peek: false }
        }
        _ => {
            let binary = ["BINARY[", "BINARY.PEEK[", "BINARY.SIZE["].into_iter().find(|p| upper.starts_with(p));
            let rest = upper
                .strip_prefix("BODY.PEEK[")
                .or_else(|| upper.strip_prefix("BODY["))
                .or_else(|| binary.and_then(|p| upper.strip_prefix(p)))
                .ok_or(Fail::Bad("Unsupported fetch item"))?;
            let close = rest.find(']').ok_or(Fail::Bad("Bad section"))?;
            let section = rest[..close].to_owned();
            let tail = &rest[close + 1..];
            let partial = if tail.is_empty() {
                None
            } else {
                let inner = tail.strip_prefix('<').and_then(|t| t.strip_suffix('>')).ok_or(Fail::Bad("Bad partial"))?;
                let (o, n) = inner.split_once('.').ok_or(Fail::Bad("Bad partial"))?;
                Some((
                    o.parse().map_err(|_| Fail::Bad("Bad partial"))?,
                    n.parse().map_err(|_| Fail::Bad("Bad partial"))?,
                ))
            };
            if let Some(prefix) = binary {
                // RFC 3516 §4: only part numbers, and no partial for the size.
                if !section.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    && !section.is_empty()
                {
                    return Err(Fail::Bad("BINARY takes part numbers only"));
                }
                let size = prefix == "BINARY.SIZE[";
                if size && partial.is_some() {
                    return Err(Fail::Bad("BINARY.SIZE takes no partial"));
                }
                return Ok(Item::Binary { section, partial, peek: prefix == "BINARY.PEEK[", size });
            }
            // The answer names the section without .PEEK, keeping the client's spelling.
            let start = w.find('[').unwrap_or(0);
            let end = w.find(']').map_or(w.len(), |e| e + 1);
            let peek = upper.starts_with("BODY.PEEK[");
            Item::Section { name: format!("BODY{}", &w[start..end]), section, partial, peek }
        }
    })
}

/// The part a section's numbers name (`1.2`), the rest of the section (`HEADER`…), and
/// whether there were numbers.
fn walk<'p, 's>(root: &'p MimePart, section: &'s str) -> Result<(&'p MimePart, &'s str, bool), Fail> {
    let (mut part, mut rest) = (root, section);
    // Part numbers: 1.2.3 …
    let mut numbered = false;
    while let Some(first) = rest.split('.').next().filter(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())) {
        let n: usize = first.parse().map_err(|_| Fail::Bad("Bad section"))?;
        part = if part.parts.is_empty() && n == 1 && !numbered {
            part
        } else {
            part.parts.get(n.checked_sub(1).ok_or(Fail::Bad("Bad section"))?).ok_or(Fail::No("No such part"))?
        };
        // An attached message's part 1… are its own parts.
        if part.media_type == "message" && part.parts.len() == 1 && rest.len() > first.len() {
            part = &part.parts[0];
        }
        numbered = true;
        rest = rest[first.len()..].strip_prefix('.').unwrap_or("");
    }
    Ok((part, rest, numbered))
}

/// The bytes of `section` of a message.
fn section<'a>(raw: &'a [u8], root: &MimePart, section: &str) -> Result<std::borrow::Cow<'a, [u8]>, Fail> {
    let cut = |a: u32, b: u32| raw.get(a as usize..(b as usize).min(raw.len())).unwrap_or_default();
    let header_of = |p: &MimePart| cut(p.header_start, p.body_start);
    let (part, rest, numbered) = walk(root, section)?;
    Ok(match rest {
        "" if numbered => cut(part.body_start, part.body_end).into(),
        "" => raw.into(),
        "HEADER" => header_of(part).into(),
        "TEXT" => cut(part.body_start, part.body_end).into(),
        "MIME" if numbered => header_of(part).into(),
        r if r.starts_with("HEADER.FIELDS") => {
            let not = r.starts_with("HEADER.FIELDS.NOT");
            let list =
                r.find('(').and_then(|a| r.rfind(')').map(|b| &r[a + 1..b])).ok_or(Fail::Bad("Bad header list"))?;
            let wanted: Vec<String> = list.split_ascii_whitespace().map(str::to_ascii_lowercase).collect();
            header_fields(header_of(part), &wanted, not).into()
        }
        _ => return Err(Fail::Bad("Unsupported section")),
    })
}

/// BINARY of a part: its content with the transfer encoding undone (RFC 3516 §4.2); the
/// whole message (`""`) as stored.
fn binary<'a>(raw: &'a [u8], root: &MimePart, section: &str) -> Result<std::borrow::Cow<'a, [u8]>, Fail> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    if section.is_empty() {
        return Ok(raw.into());
    }
    let (part, _, _) = walk(root, section)?;
    let body = raw.get(part.body_start as usize..(part.body_end as usize).min(raw.len())).unwrap_or_default();
    let encoding = part.encoding.as_deref().unwrap_or("7bit").to_ascii_lowercase();
    let undecodable = || Fail::No("[PARSE] The part's content does not decode");
    Ok(match encoding.as_str() {
        "7bit" | "8bit" | "binary" => body.into(),
        "base64" => {
            let lenient = GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                GeneralPurposeConfig::new()
                    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
                    .with_decode_allow_trailing_bits(true),
            );
            let clean: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
            lenient.decode(clean).map_err(|_| undecodable())?.into()
        }
        "quoted-printable" => {
            quoted_printable::decode(body, quoted_printable::ParseMode::Robust).map_err(|_| undecodable())?.into()
        }
        _ => return Err(Fail::No("[UNKNOWN-CTE] Unknown content transfer encoding")),
    })
}

/// The header fields named (or all but those), unfolded lines kept as they are, then CRLF.
fn header_fields(header: &[u8], wanted: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|b| *b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            let name = line.split(|b| *b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
            keep = wanted.contains(&name) != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn internal_date(at: kontor_domain::ids::Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(at.0)
        .map_or_else(String::new, |t| t.format("%d-%b-%Y %H:%M:%S +0000").to_string())
}

pub(crate) async fn fetch(
    core: &Core,
    who: &Principal,
    sel: &mut Selected,
    by_uid: bool,
    args: &[Token],
    out: &mut Vec<u8>,
    stream: Option<&tokio::sync::mpsc::Sender<Vec<bytes::Bytes>>>,
) -> Result<(), Fail> {
    let [set, what, modifiers @ ..] = args else { return Err(Fail::Bad("FETCH needs a set and items")) };
    let set = set.atom().ok_or(Fail::Bad("Bad sequence set"))?;
    let mut items = items(what)?;
    // CHANGEDSINCE (RFC 7162 §3.1.4): only messages changed after that MODSEQ; shows MODSEQ.
    // With VANISHED (§3.2.6, UID FETCH under QRESYNC): first the UIDs of the set removed since.
    let (changed_since, vanished) = match modifiers {
        [] => (None, false),
        [Token::List(m)] => match &m[..] {
            [Token::Atom(k), Token::Atom(v), rest @ ..] if k.eq_ignore_ascii_case("CHANGEDSINCE") => {
                let since = v.parse::<i64>().map_err(|_| Fail::Bad("Bad CHANGEDSINCE"))?;
                let vanished = match rest {
                    [] => false,
                    [Token::Atom(v)] if v.eq_ignore_ascii_case("VANISHED") => {
                        if !by_uid || !sel.qresync {
                            return Err(Fail::Bad("VANISHED needs UID FETCH and ENABLE QRESYNC"));
                        }
                        true
                    }
                    _ => return Err(Fail::Bad("Unsupported FETCH modifier")),
                };
                (Some(since), vanished)
            }
            _ => return Err(Fail::Bad("Unsupported FETCH modifier")),
        },
        _ => return Err(Fail::Bad("Bad FETCH modifiers")),
    };
    if let (Some(since), true) = (changed_since, vanished) {
        let top = sel.mailbox.uidnext.saturating_sub(1).max(sel.messages.last().map_or(0, |m| m.uid));
        let ranges = crate::parse::sequence_set(set, top).ok_or(Fail::Bad("Bad sequence set"))?;
        let gone = crate::qresync::vanished(core, who, sel, since, Some(&ranges)).await?;
        if !gone.is_empty() {
            push(out, &format!("* VANISHED (EARLIER) {}\r\n", crate::qresync::uid_set(&gone)));
        }
    }
    if (changed_since.is_some() || sel.condstore) && !items.iter().any(|i| matches!(i, Item::Modseq)) {
        items.push(Item::Modseq);
    }
    if by_uid && !items.iter().any(|i| matches!(i, Item::Uid)) {
        items.insert(0, Item::Uid);
    }
    // Where the messages asked for are among the selected ones (in order).
    let wanted = crate::store::positions(sel, by_uid, set)?;
    // Reading a body sets \\Seen (RFC 3501 §6.4.5), and the answer then shows the flags.
    let reads =
        |i: &Item| matches!(i, Item::Section { peek: false, .. } | Item::Binary { peek: false, size: false, .. });
    if !sel.read_only && items.iter().any(reads) {
        let unseen: Vec<u32> =
            wanted.iter().map(|i| &sel.messages[*i]).filter(|m| !m.keywords.contains("$seen")).map(|m| m.uid).collect();
        if !unseen.is_empty() {
            let seen = Keywords::new(["$seen"]);
            if let Ok(changed) = core.change_keywords(who, sel.mailbox.id(), &unseen, KeywordOp::Add, &seen).await {
                for (membership, keywords) in changed {
                    if let Ok(at) = sel.messages.binary_search_by_key(&membership.uid, |m| m.uid) {
                        sel.messages[at].keywords = keywords;
                        sel.messages[at].modseq = membership.modseq;
                    }
                }
                if !items.iter().any(|i| matches!(i, Item::Flags)) {
                    items.push(Item::Flags);
                }
            }
        }
    }
    let chosen: Vec<(usize, &Summary)> = wanted
        .iter()
        .map(|i| (*i, &sel.messages[*i]))
        .filter(|(_, m)| changed_since.is_none_or(|c| m.modseq.0 > c))
        .collect();
    let plan = Plan::of(&items);
    let rev2 = sel.rev2;
    // The read right is checked once; rows (or the blobs of whole bodies) are read for up to
    // ROWS_AHEAD messages in one query, bytes READ_AHEAD messages (READ_AHEAD_BYTES) at a time.
    let reader = if plan.rows || plan.bodies {
        Some(core.mailbox_reader(who, sel.mailbox.id()).await.map_err(|_| Fail::No("[NONEXISTENT] No such mailbox"))?)
    } else {
        None
    };
    let unreadable = |_| Fail::No("[UNAVAILABLE] Cannot read the message");
    let empty = bytes::Bytes::new();
    if stream.is_some() && (plan.rows || plan.bodies) && chosen.len() > 1 {
        out.reserve(PIECE_BUFFER.saturating_sub(out.len()));
    }
    // Pieces of the answer made but not handed over yet, sent together (one vectored write).
    let mut pending = Pending::default();
    let done: Result<(), Fail> = async {
        let mut piece = FIRST_PIECE;
        for part in parts(&chosen, plan.bodies) {
            let mut ids: Vec<i64> = part.iter().map(|(_, m)| m.message).collect();
            ids.sort_unstable();
            ids.dedup();
            let (rows, blobs) = match &reader {
                Some(r) if plan.rows => (core.message_structures(r, &ids).await.map_err(unreadable)?, Vec::new()),
                Some(r) => (Vec::new(), core.message_blobs(r, &ids).await.map_err(unreadable)?),
                None => (Vec::new(), Vec::new()),
            };
            let row = |id: i64| rows.binary_search_by_key(&id, Structured::message).ok().map(|at| &rows[at]);
            let blob = |id: i64| blobs.binary_search_by_key(&id, |b| b.message).ok().map(|at| &blobs[at]);
            for batch in batches(part, plan.bodies) {
                let bytes = match &reader {
                    Some(r) => read_batch(core, r, batch, &plan, &row, &blob).await?,
                    None => Vec::new(),
                };
                for (n, &(i, m)) in batch.iter().enumerate() {
                    let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    let msg = row(m.message);
                    if (plan.rows && msg.is_none()) || (plan.bodies && !plan.rows && blob(m.message).is_none()) {
                        // Expunged and gone from the store since this session looked: nothing to
                        // show (RFC 2180 §4.1.3).
                        continue;
                    }
                    let raw = bytes.get(n).and_then(Option::as_ref).unwrap_or(&empty);
                    // A part that cannot be answered takes back what was written of its line.
                    let mut to = Out::new(out, stream.is_some().then_some(&mut pending));
                    if let Err(e) = answer(&mut to, seq, &items, m, msg, raw, rev2) {
                        to.take_back();
                        return Err(e);
                    }
                    // Large answers go out as they are made, not built whole first.
                    if let Some(tx) = stream
                        && pending.len + out.len() >= piece
                    {
                        pending.parts.push(std::mem::replace(out, Vec::with_capacity(PIECE_BUFFER)).into());
                        pending.send(tx).await?;
                        piece = (piece * 2).min(STREAM_CHUNK);
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    // What was made goes out before the rest of the answer (and a NO), whatever the outcome.
    if let Some(tx) = stream {
        pending.send(tx).await?;
    }
    done
}

/// Pieces of a FETCH answer not handed to the connection yet, and their size.
#[derive(Default)]
struct Pending {
    parts: Vec<bytes::Bytes>,
    len: usize,
}

impl Pending {
    fn push(&mut self, piece: bytes::Bytes) {
        self.len += piece.len();
        self.parts.push(piece);
    }

    async fn send(&mut self, tx: &tokio::sync::mpsc::Sender<Vec<bytes::Bytes>>) -> Result<(), Fail> {
        self.len = 0;
        if self.parts.is_empty() {
            return Ok(());
        }
        tx.send(std::mem::take(&mut self.parts)).await.map_err(|_| Fail::No("[UNAVAILABLE] The connection went away"))
    }
}

/// The messages of a FETCH in the parts whose rows (or blobs) one query reads: a small first
/// part ([`FIRST_BODIES`] with bodies, else [`FIRST_ROWS`]), then [`ROWS_AHEAD`] at a time.
fn parts<'a, 's>(chosen: &'a [(usize, &'s Summary)], bodies: bool) -> impl Iterator<Item = &'a [(usize, &'s Summary)]> {
    let (first, rest) = chosen.split_at(chosen.len().min(if bodies { FIRST_BODIES } else { FIRST_ROWS }));
    std::iter::once(first).chain(rest.chunks(ROWS_AHEAD)).filter(|p| !p.is_empty())
}

/// A part of a FETCH in the batches it is read in: with bodies, up to [`READ_AHEAD`]
/// messages and [`READ_AHEAD_BYTES`]; without, [`ROWS_AHEAD`] messages.
fn batches<'a, 's>(part: &'a [(usize, &'s Summary)], bodies: bool) -> impl Iterator<Item = &'a [(usize, &'s Summary)]> {
    let mut rest = part;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut n = 0;
        let mut bytes = 0;
        let limit = if bodies { READ_AHEAD } else { ROWS_AHEAD };
        while n < rest.len().min(limit) && (n == 0 || !bodies || bytes + rest[n].1.size <= READ_AHEAD_BYTES) {
            bytes += rest[n].1.size;
            n += 1;
        }
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        Some(batch)
    })
}

/// What the items of a FETCH need beyond the summaries.
struct Plan {
    /// The structures (sections, BINARY, BODYSTRUCTURE) with the envelopes.
    rows: bool,
    /// Every message's bytes (body sections, BINARY).
    bodies: bool,
    /// ENVELOPE or BODYSTRUCTURE: from the rows, or the header where delivery kept no envelopes.
    heads: bool,
}

impl Plan {
    fn of(items: &[Item]) -> Self {
        let bodies = items.iter().any(|i| matches!(i, Item::Section { .. } | Item::Binary { .. }));
        let heads = items.iter().any(|i| matches!(i, Item::Envelope | Item::Structure(_)));
        // The whole message (BODY[], RFC822, BINARY[]) is its bytes: no row needed.
        let structured = items.iter().any(|i| match i {
            Item::Section { section, .. } | Item::Binary { section, .. } => !section.is_empty(),
            _ => false,
        });
        Self { rows: heads || structured, bodies, heads }
    }

    /// Whether a message's bytes are read.
    fn reads(&self, msg: &Structured) -> bool {
        self.bodies || (self.heads && !msg.structure.has_envelopes())
    }
}

/// The bytes the plan needs of each message of a batch, in the batch's order (`None`: none
/// needed, or the message is gone): from the rows, or (whole bodies only) from the blobs.
async fn read_batch<'r>(
    core: &Core,
    reader: &MailboxReader,
    batch: &[(usize, &Summary)],
    plan: &Plan,
    row: &impl Fn(i64) -> Option<&'r Structured>,
    blob: &impl Fn(i64) -> Option<&'r BlobRef>,
) -> Result<Vec<Option<bytes::Bytes>>, Fail> {
    let unreadable = |_| Fail::No("[UNAVAILABLE] Cannot read the message");
    let mut bytes = Vec::with_capacity(batch.len());
    if plan.bodies && !plan.rows {
        let wanted: Vec<Option<&BlobRef>> = batch.iter().map(|(_, m)| blob(m.message)).collect();
        let refs: Vec<&BlobRef> = wanted.iter().flatten().copied().collect();
        let mut got = core.read_blobs(reader, &refs).await.map_err(unreadable)?.into_iter();
        bytes.extend(wanted.iter().map(|w| w.and_then(|_| got.next())));
        return Ok(bytes);
    }
    let wanted: Vec<Option<&Structured>> =
        batch.iter().map(|(_, m)| row(m.message).filter(|r| plan.reads(r))).collect();
    if plan.bodies {
        // Whole messages: read in one go.
        let refs: Vec<&BlobRef> = wanted.iter().flatten().map(|s| &s.bytes).collect();
        let mut got = core.read_blobs(reader, &refs).await.map_err(unreadable)?.into_iter();
        bytes.extend(wanted.iter().map(|w| w.and_then(|_| got.next())));
    } else {
        // Headers of messages stored before their envelopes were kept.
        let reads = wanted.iter().map(|w| async move {
            match w {
                Some(msg) => core.read_structured_head(reader, msg).await.map(Some),
                None => Ok(None),
            }
        });
        for got in futures_util::future::join_all(reads).await {
            bytes.push(got.map_err(unreadable)?);
        }
    }
    Ok(bytes)
}

/// Where one message's FETCH line is written: its text, and (when the answer is streamed)
/// large data as pieces, which go out before what `text` holds at the end.
struct Out<'a> {
    text: &'a mut Vec<u8>,
    pieces: Option<&'a mut Pending>,
    /// Where the line began: in `text`, and in the pieces.
    start: (usize, usize),
}

impl<'a> Out<'a> {
    fn new(text: &'a mut Vec<u8>, pieces: Option<&'a mut Pending>) -> Self {
        let start = (text.len(), pieces.as_ref().map_or(0, |p| p.parts.len()));
        Self { text, pieces, start }
    }

    /// Writes `data` (a part of `raw`) after the text: as a slice of `raw` where it is large
    /// and the answer streamed, else copied.
    fn data(&mut self, raw: &bytes::Bytes, data: &[u8]) {
        let at = (data.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
        match &mut self.pieces {
            Some(pieces) if data.len() >= UNCOPIED && at <= raw.len() && data.len() <= raw.len() - at => {
                // The text so far is copied out: the buffer stays, with its room.
                pieces.push(bytes::Bytes::copy_from_slice(self.text));
                self.text.clear();
                pieces.push(raw.slice(at..at + data.len()));
            }
            _ => self.text.extend_from_slice(data),
        }
    }

    /// Takes back what was written of the line.
    fn take_back(&mut self) {
        let (text, parts) = self.start;
        if let Some(pieces) = self.pieces.as_mut().filter(|p| p.parts.len() > parts) {
            let mut all = Vec::new();
            for p in pieces.parts.drain(parts..) {
                pieces.len -= p.len();
                all.extend_from_slice(&p);
            }
            all.extend_from_slice(self.text);
            *self.text = all;
        }
        self.text.truncate(text);
    }
}

/// Writes one message's FETCH line: from its summary, and its row (`msg`) for what the
/// summary does not hold.
fn answer(
    to: &mut Out<'_>,
    seq: u32,
    items: &[Item],
    m: &Summary,
    msg: Option<&Structured>,
    raw_bytes: &bytes::Bytes,
    rev2: bool,
) -> Result<(), Fail> {
    use std::io::Write as _;
    let raw: &[u8] = raw_bytes;
    let row = || msg.ok_or(Fail::No("[UNAVAILABLE] Cannot read the message"));
    let _ = write!(to.text, "* {seq} FETCH (");
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            to.text.push(b' ');
        }
        match item {
            Item::Uid => {
                let _ = write!(to.text, "UID {}", m.uid);
            }
            Item::Flags => {
                to.text.extend_from_slice(b"FLAGS ");
                write_flags(to.text, &m.keywords);
            }
            Item::Size => {
                let _ = write!(to.text, "RFC822.SIZE {}", m.size);
            }
            Item::Modseq => {
                let _ = write!(to.text, "MODSEQ ({})", m.modseq.0);
            }
            Item::InternalDate => push(to.text, &format!("INTERNALDATE \"{}\"", internal_date(m.received_at))),
            Item::Envelope => {
                to.text.extend_from_slice(b"ENVELOPE ");
                crate::structure::write_message_envelope(to.text, &row()?.structure, raw);
            }
            Item::Structure(extended) => {
                to.text.extend_from_slice(if *extended { b"BODYSTRUCTURE " } else { b"BODY " });
                crate::structure::write_body(to.text, &row()?.structure, raw, *extended, rev2);
            }
            Item::Section { name, section: s, partial, .. } => {
                let bytes = if s.is_empty() { raw.into() } else { section(raw, &row()?.structure, s)? };
                let (label, data) = match partial {
                    Some((o, n)) => {
                        let from = (*o).min(bytes.len());
                        (format!("{name}<{o}>"), &bytes[from..from.saturating_add(*n).min(bytes.len())])
                    }
                    None => (name.clone(), &bytes[..]),
                };
                let _ = write!(to.text, "{label} {{{}}}\r\n", data.len());
                to.data(raw_bytes, data);
            }
            Item::Binary { section: s, partial, size, .. } => {
                let bytes = if s.is_empty() { raw.into() } else { binary(raw, &row()?.structure, s)? };
                if *size {
                    let _ = write!(to.text, "BINARY.SIZE[{s}] {}", bytes.len());
                    continue;
                }
                let (label, data) = match partial {
                    Some((o, n)) => {
                        let from = (*o).min(bytes.len());
                        (format!("BINARY[{s}]<{o}>"), &bytes[from..from.saturating_add(*n).min(bytes.len())])
                    }
                    None => (format!("BINARY[{s}]"), &bytes[..]),
                };
                // literal8 only where it is needed (NUL bytes), so rev1 clients still read it.
                let tilde = if data.contains(&0) { "~" } else { "" };
                let _ = write!(to.text, "{label} {tilde}{{{}}}\r\n", data.len());
                to.data(raw_bytes, data);
            }
        }
    }
    to.text.extend_from_slice(b")\r\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use kontor_domain::ids::{Modseq, Timestamp};
    use kontor_domain::mail::{Keywords, Summary};

    use super::{FIRST_BODIES, FIRST_ROWS, READ_AHEAD, READ_AHEAD_BYTES, ROWS_AHEAD, batches, parts};

    fn summary(uid: u32, size: u64) -> Summary {
        Summary {
            uid,
            message: i64::from(uid),
            modseq: Modseq(1),
            keywords: Keywords::default(),
            size,
            received_at: Timestamp(0),
            sent_at: None,
        }
    }

    /// Bodies are read in batches of at most READ_AHEAD messages and READ_AHEAD_BYTES (a
    /// larger message alone), in order, every message once; rows in batches of ROWS_AHEAD.
    #[test]
    fn batches_keep_to_their_limits() {
        let big = READ_AHEAD_BYTES + 1;
        let sizes = [big, 10, 10, READ_AHEAD_BYTES / 2, READ_AHEAD_BYTES / 2, 1, big, big];
        let mut list: Vec<Summary> = sizes.iter().enumerate().map(|(i, &s)| summary(i as u32, s)).collect();
        list.extend((100..140).map(|u| summary(u, 100)));
        let part: Vec<(usize, &Summary)> = list.iter().enumerate().collect();
        let got: Vec<Vec<u32>> = batches(&part, true).map(|b| b.iter().map(|(_, m)| m.uid).collect()).collect();
        assert_eq!(&got[..5], &[vec![0], vec![1, 2, 3], vec![4, 5], vec![6], vec![7]]);
        let all: Vec<u32> = got.concat();
        assert_eq!(all, list.iter().map(|m| m.uid).collect::<Vec<_>>());
        for b in batches(&part, true) {
            assert!(b.len() <= READ_AHEAD);
            assert!(b.len() == 1 || b.iter().map(|(_, m)| m.size).sum::<u64>() <= READ_AHEAD_BYTES);
        }
        let rows: Vec<usize> = batches(&part, false).map(<[_]>::len).collect();
        assert_eq!(rows, vec![part.len().min(ROWS_AHEAD)]);
    }

    /// The parts of a FETCH: a small first one, then ROWS_AHEAD at a time, every message once,
    /// in order; none for no messages.
    #[test]
    fn a_fetch_reads_a_small_part_first() {
        let list: Vec<Summary> = (1..=600).map(|u| summary(u, 100)).collect();
        let all: Vec<(usize, &Summary)> = list.iter().enumerate().collect();
        for (bodies, first) in [(false, FIRST_ROWS), (true, FIRST_BODIES)] {
            let sizes: Vec<usize> = parts(&all, bodies).map(<[_]>::len).collect();
            let rest = 600 - first;
            let mut want = vec![first];
            want.extend(std::iter::repeat_n(ROWS_AHEAD, rest / ROWS_AHEAD));
            if rest % ROWS_AHEAD > 0 {
                want.push(rest % ROWS_AHEAD);
            }
            assert_eq!(sizes, want);
            let uids: Vec<u32> = parts(&all, bodies).flatten().map(|(_, m)| m.uid).collect();
            assert_eq!(uids, (1..=600).collect::<Vec<u32>>());
            assert_eq!(parts(&all[..3], bodies).map(<[_]>::len).collect::<Vec<_>>(), vec![3]);
            assert_eq!(parts(&all[..0], bodies).count(), 0);
        }
    }
}
