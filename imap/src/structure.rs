//! ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) from what delivery stored: the MIME
//! structure with offsets, and the header (read again for the envelope's addresses).

use kontor_domain::mail::MimePart;
use kontor_domain::mail::parse::{EnvelopeAddress, ImapEnvelope, imap_envelope};

use crate::parse::quote;

fn nstring(s: Option<&str>) -> String {
    s.map_or_else(|| "NIL".to_owned(), quote)
}

fn addresses(list: &[EnvelopeAddress]) -> String {
    if list.is_empty() {
        return "NIL".into();
    }
    let each: Vec<String> = list
        .iter()
        .map(|a| format!("({} NIL {} {})", nstring(a.name.as_deref()), quote(&a.mailbox), quote(&a.host)))
        .collect();
    format!("({})", each.concat())
}

fn envelope_of(e: &ImapEnvelope) -> String {
    format!(
        "({} {} {} {} {} {} {} {} {} {})",
        nstring(e.date.as_deref()),
        nstring(e.subject.as_deref()),
        addresses(&e.from),
        addresses(&e.sender),
        addresses(&e.reply_to),
        addresses(&e.to),
        addresses(&e.cc),
        addresses(&e.bcc),
        nstring(e.in_reply_to.as_deref()),
        nstring(e.message_id.as_deref()),
    )
}

/// The ENVELOPE of the message whose header starts `raw`.
pub fn envelope(raw: &[u8]) -> String {
    envelope_of(&imap_envelope(raw))
}

fn params(p: &[(String, String)]) -> String {
    if p.is_empty() {
        return "NIL".into();
    }
    let each: Vec<String> = p.iter().map(|(k, v)| format!("{} {}", quote(&k.to_ascii_uppercase()), quote(v))).collect();
    format!("({})", each.join(" "))
}

fn extension(p: &MimePart) -> String {
    let disposition = p.disposition.as_ref().map_or_else(
        || "NIL".to_owned(),
        |(kind, ps)| format!("({} {})", quote(&kind.to_ascii_uppercase()), params(ps)),
    );
    let language = match p.language.as_slice() {
        [] => "NIL".to_owned(),
        [one] => quote(one),
        many => format!("({})", many.iter().map(|l| quote(l)).collect::<Vec<_>>().join(" ")),
    };
    format!("{disposition} {language} {}", nstring(p.location.as_deref()))
}

/// BODYSTRUCTURE (`extended`) or BODY of a part; `raw` is the whole message (for attached
/// messages' envelopes).
pub fn body(p: &MimePart, raw: &[u8], extended: bool) -> String {
    if p.is_multipart() {
        let parts: String = p.parts.iter().map(|c| body(c, raw, extended)).collect();
        let parts = if parts.is_empty() { "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)".to_owned() } else { parts };
        let sub = quote(&p.subtype.to_ascii_uppercase());
        return if extended {
            format!("({parts} {sub} {} {})", params(&p.params), extension(p))
        } else {
            format!("({parts} {sub})")
        };
    }
    let encoding = p.encoding.as_deref().unwrap_or("7bit").to_ascii_uppercase();
    let mut s = format!(
        "({} {} {} {} {} {} {}",
        quote(&p.media_type.to_ascii_uppercase()),
        quote(&p.subtype.to_ascii_uppercase()),
        params(&p.params),
        nstring(p.id.as_deref()),
        nstring(p.description.as_deref()),
        quote(&encoding),
        p.size()
    );
    if p.media_type == "message" && p.subtype == "rfc822" {
        let nested = p.parts.first();
        let header = raw.get(p.body_start as usize..p.body_end as usize).unwrap_or_default();
        let inner = nested
            .map_or_else(|| "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)".to_owned(), |n| body(n, raw, extended));
        s.push_str(&format!(" {} {inner} {}", envelope(header), p.lines));
    } else if p.media_type == "text" {
        s.push_str(&format!(" {}", p.lines));
    }
    if extended {
        s.push_str(&format!(" NIL {}", extension(p)));
    }
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
