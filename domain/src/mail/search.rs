//! Full-text search: the text a message is found by, computed once from the decoded message
//! (on delivery or APPEND; for older messages by the index backfill), and the queries the
//! store's index answers (IMAP SEARCH TEXT/BODY/BCC/HEADER, later JMAP Email/query's text
//! filters).
//!
//! Matching is by substring, as IMAP asks ("contains the specified string"), over
//! [`normalize`]d text on both sides: lower case, every run of whitespace and control
//! characters one space. The store keeps the text as normalized here, so SQLite and PostgreSQL
//! match the same way whatever their collation or locale.

use mail_parser::{HeaderName, HeaderValue, MessagePart, PartType};

/// At most this much body text (bytes, after normalizing) is indexed per message, so one huge
/// message cannot blow up the index; text further in is not found.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// At most this much of the other header fields is indexed per message.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Attached messages nested deeper than this are not indexed.
const MAX_DEPTH: usize = 4;

/// The text a message is found by, [`normalize`]d.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchText {
    pub subject: String,
    /// Display names and addresses, `name <addr>, …`.
    pub from: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    /// The other header fields of the message, one per line as `name: value` (the name lower
    /// case, encoded words decoded).
    pub headers: String,
    /// The decoded text of its text parts (HTML as text) and of attached messages, at most
    /// [`MAX_BODY_BYTES`]. Non-text attachments are left out.
    pub body: String,
}

/// Where a condition looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextField {
    /// Anywhere: every header field and the body (IMAP TEXT, JMAP `text`).
    Text,
    /// The body (IMAP BODY, JMAP `body`).
    Body,
    Subject,
    From,
    To,
    Cc,
    Bcc,
    /// One other header field, by lower-case name (IMAP HEADER, JMAP `header`); an empty
    /// needle asks only that the message has the field.
    Header(String),
}

impl TextField {
    /// The field for a header name: the ones kept apart (subject and addresses) by their own
    /// field, any other as [`TextField::Header`].
    pub fn header(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "subject" => Self::Subject,
            "from" => Self::From,
            "to" => Self::To,
            "cc" => Self::Cc,
            "bcc" => Self::Bcc,
            other => Self::Header(other.to_owned()),
        }
    }
}

/// One condition: the field contains the needle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextCondition {
    pub field: TextField,
    /// [`normalize`]d.
    pub needle: String,
}

impl TextCondition {
    pub fn new(field: TextField, needle: &str) -> Self {
        Self { field, needle: normalize(needle, usize::MAX) }
    }
}

/// Conditions that must all hold (one JMAP FilterCondition, one IMAP search key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextQuery {
    pub all: Vec<TextCondition>,
}

impl TextQuery {
    pub fn one(field: TextField, needle: &str) -> Self {
        Self { all: vec![TextCondition::new(field, needle)] }
    }
}

/// Lower case, each run of whitespace or control characters as one space (none at the ends
/// of `s`), cut to at most `max` bytes at a character boundary.
pub fn normalize(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    push_normalized(&mut out, s, max);
    out
}

/// Appends `s` normalized to `out` (a space between), while `out` stays within `max` bytes.
/// Returns false once `out` is full.
fn push_normalized(out: &mut String, s: &str, max: usize) -> bool {
    let mut space = !out.is_empty();
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        let mut lower = [0u8; 16];
        let mut n = 0;
        for l in c.to_lowercase() {
            n += l.encode_utf8(&mut lower[n..]).len();
            if n + 4 > lower.len() {
                break;
            }
        }
        if out.len() + usize::from(space) + n > max {
            return false;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push_str(std::str::from_utf8(&lower[..n]).unwrap_or_default());
    }
    true
}

/// Whether a `headers` text ([`SearchText::headers`]) has a field `name` whose value contains
/// `needle` (both normalized; an empty needle: whether it has the field at all).
pub fn header_matches(headers: &str, name: &str, needle: &str) -> bool {
    headers.lines().any(|l| {
        l.split_once(": ")
            .or_else(|| l.strip_suffix(':').map(|n| (n, "")))
            .is_some_and(|(n, v)| n.eq_ignore_ascii_case(name) && v.contains(needle))
    })
}

/// The words of normalized text: maximal runs of letters and digits, for a word index.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// The search text of the message in `raw` (for messages stored before the index existed).
pub fn search_text(raw: &[u8]) -> SearchText {
    match mail_parser::MessageParser::default().parse(raw) {
        Some(m) => extract(&m),
        // Not MIME at all: the bytes as text.
        None => SearchText { body: normalize(&String::from_utf8_lossy(raw), MAX_BODY_BYTES), ..SearchText::default() },
    }
}

/// The search text of a parsed message.
pub(crate) fn extract(m: &mail_parser::Message<'_>) -> SearchText {
    let addresses = |a| normalize(&super::parse::addresses(a), MAX_HEADER_BYTES);
    let mut headers = String::new();
    for h in m.headers() {
        let name = h.name.as_str().to_ascii_lowercase();
        if matches!(h.name, HeaderName::Subject | HeaderName::From | HeaderName::To | HeaderName::Cc | HeaderName::Bcc)
        {
            continue;
        }
        let raw = m.raw_message().get(h.offset_start as usize..h.offset_end as usize).unwrap_or_default();
        let raw = String::from_utf8_lossy(raw);
        // Decoded where mail-parser decoded encoded words; otherwise as written (angle
        // brackets of Message-IDs, dates, parameters).
        let value = match &h.value {
            HeaderValue::Text(t) if raw.contains("=?") => t.to_string(),
            HeaderValue::TextList(l) if raw.contains("=?") => l.join(", "),
            HeaderValue::Address(a) if raw.contains("=?") => super::parse::addresses(Some(a)),
            _ => raw.into_owned(),
        };
        let line = format!("{name}: {}", normalize(&value, MAX_HEADER_BYTES));
        if headers.len() + line.len() + 1 > MAX_HEADER_BYTES {
            break;
        }
        if !headers.is_empty() {
            headers.push('\n');
        }
        headers.push_str(&line);
    }
    let mut body = String::new();
    body_text(m, &mut body, 0);
    SearchText {
        subject: normalize(m.subject().unwrap_or_default(), MAX_HEADER_BYTES),
        from: addresses(m.from()),
        to: addresses(m.to()),
        cc: addresses(m.cc()),
        bcc: addresses(m.bcc()),
        headers,
        body,
    }
}

/// Appends the message's body text: its text body (the plain alternative where there is one,
/// else HTML as text), then text attachments and attached messages (their subject, addresses
/// and text). Returns false once `out` is full.
fn body_text(m: &mail_parser::Message<'_>, out: &mut String, depth: usize) -> bool {
    for i in 0..m.text_body_count() {
        if let Some(t) = m.body_text(i)
            && !push_normalized(out, &t, MAX_BODY_BYTES)
        {
            return false;
        }
    }
    let body_parts: Vec<u32> = m.text_body.iter().chain(&m.html_body).copied().collect();
    for &id in &m.attachments {
        if body_parts.contains(&id) {
            continue;
        }
        let Some(p) = m.parts.get(id as usize) else { continue };
        if !attachment_text(p, out, depth) {
            return false;
        }
    }
    true
}

fn attachment_text(p: &MessagePart<'_>, out: &mut String, depth: usize) -> bool {
    match &p.body {
        PartType::Text(t) => push_normalized(out, t, MAX_BODY_BYTES),
        PartType::Html(h) => push_normalized(out, &mail_parser::decoders::html::html_to_text(h), MAX_BODY_BYTES),
        PartType::Message(nested) if depth < MAX_DEPTH => {
            let head = [
                nested.subject().unwrap_or_default().to_owned(),
                super::parse::addresses(nested.from()),
                super::parse::addresses(nested.to()),
            ];
            head.iter().all(|h| push_normalized(out, h, MAX_BODY_BYTES)) && body_text(nested, out, depth + 1)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing() {
        assert_eq!(normalize("  Hello\r\n\tWORLD  ", 100), "hello world");
        assert_eq!(normalize("Grüße ÄÖÜ", 100), "grüße äöü");
        assert_eq!(normalize("a\0b", 100), "a b");
        // Cut at a character boundary.
        assert_eq!(normalize("ééé", 5), "éé");
    }

    #[test]
    fn text_of_a_message() {
        let raw = "From: =?utf-8?q?J=C3=BCrgen?= <jue@example.com>\r\nTo: ann@example.com\r\nBcc: secret@example.com\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?=\r\nX-Tag: Blue\r\nMessage-ID: <m1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nSch=F6ne   Gr=FC=DFe\r\n--c\r\nContent-Type: text/html\r\n\r\n<p>Sch&ouml;ne <b>Gr&uuml;&szlig;e</b></p>\r\n--c--\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQgc2VjcmV0\r\n--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=a.csv\r\n\r\nqty,item\r\n--b--\r\n";
        let t = search_text(raw.as_bytes());
        assert_eq!(t.subject, "grüße");
        assert_eq!(t.from, "jürgen <jue@example.com>");
        assert_eq!(t.bcc, "secret@example.com");
        assert!(header_matches(&t.headers, "x-tag", "blue"), "{}", t.headers);
        assert!(header_matches(&t.headers, "message-id", "<m1@"), "{}", t.headers);
        assert!(header_matches(&t.headers, "x-tag", ""));
        assert!(!header_matches(&t.headers, "x-other", ""));
        // The plain alternative once, the CSV attachment, not the PDF.
        assert_eq!(t.body, "schöne grüße qty,item");
    }

    #[test]
    fn html_only_and_capped() {
        let big = "word ".repeat(100_000);
        let raw = format!(
            "Subject: x\r\nContent-Type: text/html\r\n\r\n<html><body><p>Hello <i>there</i></p>{big}</body></html>"
        );
        let t = search_text(raw.as_bytes());
        assert!(t.body.starts_with("hello there word"), "{}", &t.body[..40]);
        assert!(t.body.len() <= MAX_BODY_BYTES);
        assert!(!t.body.contains('<'));
    }

    #[test]
    fn words_split_on_punctuation() {
        assert_eq!(
            words("carol@elsewhere.org, re: x-1").collect::<Vec<_>>(),
            ["carol", "elsewhere", "org", "re", "x", "1"]
        );
    }
}
