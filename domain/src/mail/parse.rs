//! Reading a message once, on delivery or APPEND: the envelope fields, the MIME structure with
//! offsets, a preview. mail-parser does the parsing; a message it cannot make sense of is still
//! stored as received, as one text part spanning its bytes.

use mail_parser::{Address, HeaderValue, MessageParser, MessagePart, MimeHeaders, PartType};

use super::{Envelope, MimePart};
use crate::ids::Timestamp;

/// How much text the preview keeps (JMAP asks for up to 256 characters).
const PREVIEW_CHARS: usize = 256;
/// Nested messages deeper than this are kept as opaque parts.
const MAX_DEPTH: usize = 8;

/// What parsing found.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub envelope: Envelope,
    pub sent_at: Option<Timestamp>,
    /// The subject without reply and forward markers, lower case: thread building compares it.
    pub base_subject: String,
    pub preview: String,
    pub structure: MimePart,
    pub has_attachment: bool,
    /// What the full-text index keeps.
    pub text: super::search::SearchText,
}

/// Parses `raw`; never fails.
pub fn parse(raw: &[u8]) -> Parsed {
    let Some(m) = MessageParser::default().parse(raw) else {
        return Parsed { structure: opaque(raw), text: super::search::search_text(raw), ..Parsed::default() };
    };
    let ids = |v: &HeaderValue<'_>| -> Vec<String> {
        match v {
            HeaderValue::Text(t) => vec![t.to_string()],
            HeaderValue::TextList(l) => l.iter().map(ToString::to_string).collect(),
            _ => Vec::new(),
        }
    };
    let subject = m.subject().unwrap_or_default().to_owned();
    let envelope = Envelope {
        message_id: m.message_id().map(str::to_owned),
        in_reply_to: ids(m.in_reply_to()),
        references: ids(m.references()),
        subject,
        from: addresses(m.from()),
        to: addresses(m.to()),
        cc: addresses(m.cc()),
    };
    let structure = m.parts.first().map_or_else(|| opaque(raw), |root| part(&m, root, raw, 0));
    Parsed {
        envelope,
        sent_at: m.date().map(|d| Timestamp(d.to_timestamp().saturating_mul(1000))),
        base_subject: m.thread_name().unwrap_or_default().trim().to_lowercase(),
        preview: m.body_preview(PREVIEW_CHARS).map(|p| p.trim().to_owned()).unwrap_or_default(),
        has_attachment: m.attachment_count() > 0,
        structure,
        text: super::search::extract(&m),
    }
}

/// One address of an envelope: display name, local part, domain (RFC 3501 §7.4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeAddress {
    pub name: Option<String>,
    pub mailbox: String,
    pub host: String,
}

/// The IMAP ENVELOPE of a message: header values as written (encoded words left for the
/// client), addresses parsed; sender and reply-to fall back to from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImapEnvelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<EnvelopeAddress>,
    pub sender: Vec<EnvelopeAddress>,
    pub reply_to: Vec<EnvelopeAddress>,
    pub to: Vec<EnvelopeAddress>,
    pub cc: Vec<EnvelopeAddress>,
    pub bcc: Vec<EnvelopeAddress>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// The envelope of the message in `raw` (its header is enough).
pub fn imap_envelope(raw: &[u8]) -> ImapEnvelope {
    let Some(m) = MessageParser::default().parse_headers(raw) else { return ImapEnvelope::default() };
    let raw_value = |name: &str| m.header_raw(name).map(|v| v.trim().to_owned());
    let list = |a: Option<&Address<'_>>| -> Vec<EnvelopeAddress> {
        let one = |x: &mail_parser::Addr<'_>| {
            let addr = x.address.as_deref().unwrap_or_default();
            let (mailbox, host) = addr.rsplit_once('@').unwrap_or((addr, ""));
            EnvelopeAddress {
                name: x.name.as_deref().map(str::to_owned),
                mailbox: mailbox.to_owned(),
                host: host.to_owned(),
            }
        };
        match a {
            Some(Address::List(l)) => l.iter().map(one).collect(),
            Some(Address::Group(g)) => g.iter().flat_map(|g| g.addresses.iter().map(one)).collect(),
            None => Vec::new(),
        }
    };
    let from = list(m.from());
    let sender = list(m.sender());
    let reply_to = list(m.reply_to());
    ImapEnvelope {
        date: raw_value("Date"),
        subject: raw_value("Subject"),
        sender: if sender.is_empty() { from.clone() } else { sender },
        reply_to: if reply_to.is_empty() { from.clone() } else { reply_to },
        from,
        to: list(m.to()),
        cc: list(m.cc()),
        bcc: list(m.bcc()),
        in_reply_to: raw_value("In-Reply-To"),
        message_id: raw_value("Message-ID"),
    }
}

/// What submission checks in a message's header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmissionHeaders {
    /// The From addresses, lower case.
    pub from: Vec<String>,
    /// The Sender addresses, lower case.
    pub sender: Vec<String>,
    pub has_date: bool,
    pub has_message_id: bool,
}

/// Reads the From/Sender addresses and whether Date and Message-ID are there.
pub fn submission_headers(raw: &[u8]) -> SubmissionHeaders {
    let Some(m) = MessageParser::default().parse_headers(raw) else { return SubmissionHeaders::default() };
    let list = |a: Option<&Address<'_>>| -> Vec<String> {
        let one = |x: &mail_parser::Addr<'_>| x.address.as_deref().map(str::to_ascii_lowercase);
        match a {
            Some(Address::List(l)) => l.iter().filter_map(one).collect(),
            Some(Address::Group(g)) => g.iter().flat_map(|g| g.addresses.iter().filter_map(one)).collect(),
            None => Vec::new(),
        }
    };
    SubmissionHeaders {
        from: list(m.from()),
        sender: list(m.sender()),
        has_date: m.header_raw("Date").is_some(),
        has_message_id: m.header_raw("Message-ID").is_some(),
    }
}

/// `Name <addr>, …` of an address header (groups flattened).
pub(super) fn addresses(a: Option<&Address<'_>>) -> String {
    let Some(a) = a else { return String::new() };
    let one = |x: &mail_parser::Addr<'_>| match (x.name.as_deref(), x.address.as_deref()) {
        (Some(n), Some(addr)) => format!("{n} <{addr}>"),
        (None, Some(addr)) => addr.to_owned(),
        (Some(n), None) => n.to_owned(),
        (None, None) => String::new(),
    };
    let all: Vec<String> = match a {
        Address::List(l) => l.iter().map(one).collect(),
        Address::Group(g) => g.iter().flat_map(|g| g.addresses.iter().map(one)).collect(),
    };
    all.into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ")
}

/// The whole message as one text part (what is stored when MIME cannot be read).
fn opaque(raw: &[u8]) -> MimePart {
    let end = u32::try_from(raw.len()).unwrap_or(u32::MAX);
    let body = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |at| at + 4);
    let body_start = u32::try_from(body).unwrap_or(end);
    MimePart {
        media_type: "text".into(),
        subtype: "plain".into(),
        header_start: 0,
        body_start,
        body_end: end,
        lines: lines(raw, body_start, end),
        ..MimePart::default()
    }
}

fn lines(raw: &[u8], from: u32, to: u32) -> u32 {
    let slice = raw.get(from as usize..to as usize).unwrap_or_default();
    // A last line without its line end (the CRLF before a boundary belongs to the boundary)
    // is a line too.
    let partial = usize::from(slice.last().is_some_and(|b| *b != b'\n'));
    u32::try_from(memchr::memchr_iter(b'\n', slice).count() + partial).unwrap_or(u32::MAX)
}

fn lower_params(attrs: Option<&[mail_parser::Attribute<'_>]>) -> Vec<(String, String)> {
    attrs.unwrap_or_default().iter().map(|a| (a.name.to_ascii_lowercase(), a.value.to_string())).collect()
}

fn part(m: &mail_parser::Message<'_>, p: &MessagePart<'_>, raw: &[u8], depth: usize) -> MimePart {
    let (media_type, subtype, params) = match p.content_type() {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().map_or_else(String::new, str::to_ascii_lowercase),
            lower_params(ct.attributes()),
        ),
        None => ("text".to_owned(), "plain".to_owned(), Vec::new()),
    };
    let language = match p.content_language() {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    let parts = match &p.body {
        PartType::Multipart(ids) if depth < MAX_DEPTH => {
            ids.iter().filter_map(|id| m.parts.get(*id as usize)).map(|sp| part(m, sp, raw, depth + 1)).collect()
        }
        // An attached message that was not transfer-encoded was parsed in place: its offsets
        // are into the same bytes. An encoded one stays opaque.
        PartType::Message(nested) if depth < MAX_DEPTH && p.encoding == mail_parser::Encoding::None => {
            nested.parts.first().map(|root| vec![part(nested, root, raw, depth + 1)]).unwrap_or_default()
        }
        _ => Vec::new(),
    };
    MimePart {
        media_type,
        subtype,
        params,
        id: p.content_id().map(str::to_owned),
        description: p.content_description().map(str::to_owned),
        encoding: p.content_transfer_encoding().map(str::to_ascii_lowercase),
        disposition: p.content_disposition().map(|d| (d.ctype().to_ascii_lowercase(), lower_params(d.attributes()))),
        language,
        location: p.content_location().map(str::to_owned),
        header_start: p.offset_header,
        body_start: p.offset_body,
        body_end: p.offset_end,
        lines: lines(raw, p.offset_body, p.offset_end),
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_structure_and_preview() {
        let raw = b"From: Ann Example <ann@example.com>\r\nTo: bob@example.com, Carol <carol@example.com>\r\nSubject: Re: [team] Lunch\r\nMessage-ID: <m2@example.com>\r\nIn-Reply-To: <m1@example.com>\r\nReferences: <m0@example.com> <m1@example.com>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee you at noon.\r\n--b\r\nContent-Type: application/pdf; name=menu.pdf\r\nContent-Disposition: attachment; filename=menu.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";
        let p = parse(raw);
        assert_eq!(p.envelope.message_id.as_deref(), Some("m2@example.com"));
        assert_eq!(p.envelope.in_reply_to, ["m1@example.com"]);
        assert_eq!(p.envelope.references, ["m0@example.com", "m1@example.com"]);
        assert_eq!(p.envelope.from, "Ann Example <ann@example.com>");
        assert_eq!(p.envelope.to, "bob@example.com, Carol <carol@example.com>");
        assert_eq!(p.base_subject, "lunch");
        assert_eq!(p.preview, "See you at noon.");
        assert_eq!(p.sent_at, Some(Timestamp(1_795_428_000_000)));
        assert!(p.has_attachment);
        let s = &p.structure;
        assert_eq!((s.media_type.as_str(), s.subtype.as_str()), ("multipart", "mixed"));
        assert_eq!(s.parts.len(), 2);
        let pdf = &s.parts[1];
        assert_eq!(pdf.encoding.as_deref(), Some("base64"));
        assert_eq!(pdf.disposition.as_ref().map(|d| d.0.as_str()), Some("attachment"));
        let body = &raw[pdf.body_start as usize..pdf.body_end as usize];
        assert!(body.starts_with(b"JVBERi0="), "{:?}", String::from_utf8_lossy(body));
        let text = &s.parts[0];
        assert_eq!(&raw[text.body_start as usize..text.body_start as usize + 16], b"See you at noon.");
    }

    #[test]
    fn garbage_is_one_text_part() {
        for raw in [&b""[..], b"\x00\xff\xfe not mail", b"Subject: only a header"] {
            let p = parse(raw);
            assert!(p.structure.body_end as usize <= raw.len());
            assert!(p.structure.body_start <= p.structure.body_end);
        }
    }
}
