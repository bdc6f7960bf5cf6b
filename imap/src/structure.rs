//! ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) from what delivery stored: the MIME
//! structure with offsets and the envelopes of the message and of the messages attached in it.
//! Messages stored before envelopes were kept have theirs read from the header again. The
//! answers are written straight into the response buffer: a FETCH of every message's
//! ENVELOPE and BODYSTRUCTURE makes no string per field.

use std::io::Write as _;

use kontor_domain::mail::MimePart;
use kontor_domain::mail::parse::{EnvelopeAddress, ImapEnvelope, imap_envelope};

use crate::parse::quote_into;

/// What a multipart without parts, or an attached message without a structure, shows.
const EMPTY_TEXT: &[u8] = b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)";

fn nstring(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => quote_into(out, s, false),
        None => out.extend_from_slice(b"NIL"),
    }
}

fn addresses(out: &mut Vec<u8>, list: &[EnvelopeAddress]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        match a.name.as_deref() {
            Some(name) if !name.is_ascii() => encoded_words(out, name),
            name => nstring(out, name),
        }
        out.extend_from_slice(b" NIL ");
        quote_into(out, &a.mailbox, false);
        out.push(b' ');
        quote_into(out, &a.host, false);
        out.push(b')');
    }
    out.push(b')');
}

/// Writes a display name that is not ASCII as RFC 2047 encoded words in a quoted string, as
/// it stood in the header (delivery kept it decoded): IMAP4rev1 clients decode envelope names
/// themselves and need no 8-bit literal, and rev2 clients read the same.
fn encoded_words(out: &mut Vec<u8>, name: &str) {
    use base64::Engine as _;
    /// Bytes of text per word: 60 characters of base64 inside the 75 RFC 2047 allows.
    const WORD: usize = 45;
    out.push(b'"');
    let mut rest = name;
    while !rest.is_empty() {
        let mut cut = rest.len().min(WORD);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if rest.len() < name.len() {
            out.push(b' ');
        }
        out.extend_from_slice(b"=?utf-8?b?");
        let at = out.len();
        out.resize(at + base64::encoded_len(cut, true).unwrap_or(0), 0);
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(&rest.as_bytes()[..cut], &mut out[at..])
            .unwrap_or(0);
        out.truncate(at + n);
        out.extend_from_slice(b"?=");
        rest = &rest[cut..];
    }
    out.push(b'"');
}

/// Writes an envelope.
pub fn write_envelope(out: &mut Vec<u8>, e: &ImapEnvelope) {
    out.push(b'(');
    nstring(out, e.date.as_deref());
    out.push(b' ');
    nstring(out, e.subject.as_deref());
    for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
        out.push(b' ');
        addresses(out, list);
    }
    out.push(b' ');
    nstring(out, e.in_reply_to.as_deref());
    out.push(b' ');
    nstring(out, e.message_id.as_deref());
    out.push(b')');
}

/// The ENVELOPE of the message whose header starts `raw`.
#[cfg(test)]
fn envelope(raw: &[u8]) -> String {
    let mut out = Vec::new();
    write_envelope(&mut out, &imap_envelope(raw));
    into_string(out)
}

/// The ENVELOPE of a message: as stored with its structure, else read from `raw` (its header).
pub fn write_message_envelope(out: &mut Vec<u8>, top: &MimePart, raw: &[u8]) {
    match &top.envelope {
        Some(e) => write_envelope(out, e),
        None => write_envelope(out, &imap_envelope(raw)),
    }
}

#[cfg(test)]
fn into_string(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes a parameter list. Delivery kept the values decoded (RFC 2231 continuations joined,
/// character sets undone); one that is not ASCII goes out as the parameter `name*`: to an
/// IMAP4rev2 client in UTF-8 (RFC 9051 §7.5.2), to an IMAP4rev1 client RFC 2231-encoded
/// (`utf-8''…`), which it decodes itself as it would the header's, instead of as 8-bit.
fn params(out: &mut Vec<u8>, p: &[(String, String)], rev2: bool) {
    if p.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (n, (k, v)) in p.iter().enumerate() {
        if n > 0 {
            out.push(b' ');
        }
        if v.is_ascii() {
            quote_into(out, k, true);
            out.push(b' ');
            quote_into(out, v, false);
        } else {
            quote_into(out, &format!("{k}*"), true);
            out.push(b' ');
            if rev2 {
                quote_into(out, v, false);
            } else {
                quote_into(out, &rfc2231(v), false);
            }
        }
    }
    out.push(b')');
}

/// What an RFC 2231 extended value percent-encodes: every byte but the attribute-chars (§7).
const NOT_ATTRIBUTE_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'{')
    .remove(b'|')
    .remove(b'}')
    .remove(b'~');

/// A value as an RFC 2231 extended value in UTF-8: `utf-8''` and the value percent-encoded.
fn rfc2231(v: &str) -> String {
    format!("utf-8''{}", percent_encoding::utf8_percent_encode(v, NOT_ATTRIBUTE_CHAR))
}

fn extension(out: &mut Vec<u8>, p: &MimePart, rev2: bool) {
    match &p.disposition {
        Some((kind, ps)) => {
            out.push(b'(');
            quote_into(out, kind, true);
            out.push(b' ');
            params(out, ps, rev2);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match p.language.as_slice() {
        [] => out.extend_from_slice(b"NIL"),
        [one] => quote_into(out, one, false),
        many => {
            out.push(b'(');
            for (n, l) in many.iter().enumerate() {
                if n > 0 {
                    out.push(b' ');
                }
                quote_into(out, l, false);
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    nstring(out, p.location.as_deref());
}

/// What [`write_body`] writes, as a string.
#[cfg(test)]
fn body(p: &MimePart, raw: &[u8], extended: bool) -> String {
    let mut out = Vec::new();
    write_body(&mut out, p, raw, extended, false);
    into_string(out)
}

/// Writes BODYSTRUCTURE (`extended`) or BODY of a part; `raw` is the whole message (for the
/// envelopes of attached messages stored without theirs); `rev2`: the client enabled IMAP4rev2
/// (parameters that are not ASCII go out in UTF-8, see [`params`]).
pub fn write_body(out: &mut Vec<u8>, p: &MimePart, raw: &[u8], extended: bool, rev2: bool) {
    out.push(b'(');
    if p.is_multipart() {
        if p.parts.is_empty() {
            out.extend_from_slice(EMPTY_TEXT);
        }
        for c in &p.parts {
            write_body(out, c, raw, extended, rev2);
        }
        out.push(b' ');
        quote_into(out, &p.subtype, true);
        if extended {
            out.push(b' ');
            params(out, &p.params, rev2);
            out.push(b' ');
            extension(out, p, rev2);
        }
        out.push(b')');
        return;
    }
    quote_into(out, &p.media_type, true);
    out.push(b' ');
    quote_into(out, &p.subtype, true);
    out.push(b' ');
    params(out, &p.params, rev2);
    out.push(b' ');
    nstring(out, p.id.as_deref());
    out.push(b' ');
    nstring(out, p.description.as_deref());
    out.push(b' ');
    quote_into(out, p.encoding.as_deref().unwrap_or("7bit"), true);
    let _ = write!(out, " {}", p.size());
    if p.media_type == "message" && p.subtype == "rfc822" {
        let nested = p.parts.first();
        out.push(b' ');
        match nested.and_then(|n| n.envelope.as_deref()) {
            Some(e) => write_envelope(out, e),
            None => {
                let header = raw.get(p.body_start as usize..p.body_end as usize).unwrap_or_default();
                write_envelope(out, &imap_envelope(header));
            }
        }
        out.push(b' ');
        match nested {
            Some(n) => write_body(out, n, raw, extended, rev2),
            None => out.extend_from_slice(EMPTY_TEXT),
        }
        let _ = write!(out, " {}", p.lines);
    } else if p.media_type == "text" {
        let _ = write!(out, " {}", p.lines);
    }
    if extended {
        out.extend_from_slice(b" NIL ");
        extension(out, p, rev2);
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structure as rows stored before envelopes were kept have it.
    fn without_envelopes(p: &MimePart) -> MimePart {
        let mut p = p.clone();
        p.envelope = None;
        p.parts = p.parts.iter().map(without_envelopes).collect();
        p
    }

    fn attaches(p: &MimePart) -> bool {
        (p.media_type == "message" && p.subtype == "rfc822") || p.parts.iter().any(attaches)
    }

    /// ENVELOPE and BODYSTRUCTURE from the stored envelopes are byte for byte what reading the
    /// header again gives (what FETCH read before: the header, or the whole message when
    /// messages are attached).
    #[test]
    fn stored_envelopes_answer_as_the_header_does() {
        let messages: Vec<Vec<u8>> = vec![
            // encoded words, 8-bit names, quotes and backslashes, folding
            b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nFrom: =?utf-8?q?J=C3=BCrgen?= <j@example.com>\r\nTo: \"M\xc3\xbcller, Anna\" <anna@example.com>, \"Q \\\"x\\\" \\\\y\" <q@example.com>\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?=\r\n  und mehr\r\nMessage-ID:   <a1@example.com>  \r\nIn-Reply-To: <a0@example.com>\r\n\r\nhi\r\n".to_vec(),
            // groups, sender, reply-to, cc, bcc
            b"From: boss@example.com\r\nSender: assistant@example.com\r\nReply-To: Team: a@example.com, B <b@example.com>;\r\nTo: undisclosed-recipients:;\r\nCc: x@example.com\r\nBcc: y@example.com\r\nSubject: groups\r\n\r\nbody\r\n".to_vec(),
            // missing fields, an address without a domain
            b"To: postmaster\r\n\r\nno from, no date, no subject\r\n".to_vec(),
            // an attached message holding a multipart, and one attached in it
            b"From: a@example.com\r\nSubject: Fwd: two deep\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--o\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\nFrom: =?utf-8?b?w4RybmU=?= <arne@example.org>\r\nTo: b@example.com\r\nSubject: inner\r\nDate: Tue, 24 Nov 2026 09:00:00 +0100\r\nMessage-ID: <inner@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"i\"\r\n\r\n--i\r\nContent-Type: text/html; charset=utf-8\r\nContent-Language: de, en\r\n\r\n<p>x</p>\r\n--i\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@example.net\r\nSubject: innermost\r\n\r\ndeep\r\n--i--\r\n--o--\r\n".to_vec(),
            // a base64 attached message (kept opaque: its envelope is read from the bytes)
            b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbTogYkBleGFtcGxlLmNvbQ0KU3ViamVjdDogaGkNCg0KeA0K\r\n--o--\r\n".to_vec(),
            // the whole message is an attached one
            b"From: a@example.com\r\nSubject: wrapper\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@example.com\r\nSubject: wrapped\r\n\r\ninside\r\n".to_vec(),
            // bare line feeds, attachment parameters
            b"From: a@example.com\nSubject: lf\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=us-ascii; format=flowed\n\nx\n--b\nContent-Type: application/pdf; name=\"r.pdf\"\nContent-Disposition: attachment; filename=\"r.pdf\"; size=3\nContent-ID: <c1@x>\nContent-Description: a report\nContent-Location: http://x/r.pdf\nContent-Transfer-Encoding: base64\n\nAAAA\n--b--\n".to_vec(),
            // garbage and nothing
            b"\x00\xff not mail at all".to_vec(),
            Vec::new(),
        ];
        for raw in &messages {
            let stored = kontor_domain::mail::parse::parse(raw).structure;
            assert!(stored.envelope.is_some(), "{:?}", String::from_utf8_lossy(raw));
            let old = without_envelopes(&stored);
            assert!(!old.has_envelopes());
            let read: &[u8] =
                if attaches(&old) { raw } else { &raw[..(old.body_start as usize).max(1).min(raw.len())] };
            let mut new_env = Vec::new();
            write_message_envelope(&mut new_env, &stored, b"");
            assert_eq!(String::from_utf8_lossy(&new_env), envelope(read), "{:?}", String::from_utf8_lossy(raw));
            for extended in [true, false] {
                // With every envelope stored no bytes are needed; without, they are read.
                let bytes: &[u8] = if stored.has_envelopes() { b"" } else { raw };
                assert_eq!(
                    body(&stored, bytes, extended),
                    body(&old, read, extended),
                    "{:?}",
                    String::from_utf8_lossy(raw)
                );
            }
        }
        // The two-deep forward keeps both attached envelopes: FETCH reads nothing.
        assert!(kontor_domain::mail::parse::parse(&messages[3]).structure.has_envelopes());
        assert!(!kontor_domain::mail::parse::parse(&messages[4]).structure.has_envelopes());
    }

    /// Display names that are not ASCII go out as encoded words (no 8-bit literal), which
    /// decode to the name, each word within RFC 2047's 75 characters.
    #[test]
    fn names_that_are_not_ascii_are_encoded_words() {
        use base64::Engine as _;
        let long = "Ærøskøbing Ålesund Jürgen Müller-Lüdenscheidt 李小龙 and 🦀🦀🦀 more";
        for (header, name) in [
            ("=?utf-8?q?J=C3=BCrgen?= <j@example.com>", "Jürgen"),
            ("\"M\u{fc}ller, \\\"Anna\\\"\" <anna@example.com>", "Müller, \"Anna\""),
            ("=?utf-8?b?5p2OIOWwj+m+mQ==?= <user@example.com>", "李 小龙"),
        ] {
            let raw = format!("From: {header}\r\nSubject: x\r\n\r\nbody\r\n");
            let env = envelope(raw.as_bytes());
            assert!(env.is_ascii() && !env.contains('{'), "{env}");
            let words = env.split("((\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
            let decoded: String = words
                .split(' ')
                .map(|w| {
                    assert!(w.len() <= 75, "{w}");
                    let b64 = w.strip_prefix("=?utf-8?b?").and_then(|w| w.strip_suffix("?=")).unwrap_or_default();
                    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default())
                        .unwrap_or_default()
                })
                .collect();
            assert_eq!(decoded, name, "{env}");
        }
        let mut out = Vec::new();
        encoded_words(&mut out, long);
        let text = String::from_utf8(out).unwrap_or_default();
        assert!(text.split(' ').count() > 1 && text.split(' ').all(|w| w.trim_matches('"').len() <= 75), "{text}");
    }

    #[test]
    fn envelope_and_structure_of_a_multipart() {
        let raw = b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nFrom: Ann Example <ann@example.com>\r\nTo: bob@example.com\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <m1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";
        assert_eq!(
            envelope(raw),
            "(\"Mon, 23 Nov 2026 10:00:00 +0000\" \"=?utf-8?q?Gr=C3=BC=C3=9Fe?=\" ((\"Ann Example\" NIL \"ann\" \"example.com\")) ((\"Ann Example\" NIL \"ann\" \"example.com\")) ((\"Ann Example\" NIL \"ann\" \"example.com\")) ((NIL NIL \"bob\" \"example.com\")) NIL NIL NIL \"<m1@example.com>\")"
        );
        let p = kontor_domain::mail::parse::parse(raw);
        let b = body(&p.structure, raw, true);
        assert!(b.starts_with("((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" "), "{b}");
        assert!(b.contains("(\"APPLICATION\" \"PDF\" (\"NAME\" \"a.pdf\") NIL NIL \"BASE64\" "), "{b}");
        assert!(b.contains("(\"ATTACHMENT\" (\"FILENAME\" \"a.pdf\"))"), "{b}");
        assert!(b.ends_with(" \"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL NIL)"), "{b}");
        let plain = body(&p.structure, raw, false);
        assert!(plain.ends_with(" \"MIXED\")"), "{plain}");
    }

    /// Parameters that are not ASCII (RFC 2231 in the header, kept decoded): `name*` with an
    /// RFC 2231 value for IMAP4rev1 clients, in UTF-8 for IMAP4rev2 ones (RFC 9051 §7.5.2).
    #[test]
    fn parameters_that_are_not_ascii() {
        let raw = b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: image/png; name*=utf-8''Bild_%C3%A4.png\r\nContent-Disposition: attachment;\r\n filename*0*=utf-8''Gr%C3%BC%C3%9Fe%20;\r\n filename*1=\"(1).png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n--b--\r\n";
        let p = kontor_domain::mail::parse::parse(raw);
        let rev1 = body(&p.structure, raw, true);
        assert!(rev1.is_ascii() && !rev1.contains('{'), "{rev1}");
        assert!(
            rev1.contains("(\"IMAGE\" \"PNG\" (\"NAME*\" \"utf-8''Bild_%C3%A4.png\") NIL NIL \"BASE64\" "),
            "{rev1}"
        );
        assert!(rev1.contains("(\"ATTACHMENT\" (\"FILENAME*\" \"utf-8''Gr%C3%BC%C3%9Fe%20%281%29.png\"))"), "{rev1}");
        assert!(rev1.ends_with(" \"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL NIL)"), "{rev1}");
        let mut out = Vec::new();
        write_body(&mut out, &p.structure, raw, true, true);
        let rev2 = into_string(out);
        assert!(rev2.contains("(\"NAME*\" {11}\r\nBild_ä.png)"), "{rev2}");
        assert!(rev2.contains("(\"ATTACHMENT\" (\"FILENAME*\" {15}\r\nGrüße (1).png))"), "{rev2}");
        assert_eq!(rfc2231("a b/ä~"), "utf-8''a%20b%2F%C3%A4~");
    }
}
