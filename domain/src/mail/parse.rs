//! Reading a message once, on delivery or APPEND: the envelope fields, the MIME structure with
//! offsets, a preview. mail-parser does the parsing; a message it cannot make sense of is still
//! stored as received, as one text part spanning its bytes.

use mail_parser::{Address, HeaderValue, MessageParser, MessagePart, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

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
        let mut structure = opaque(raw);
        structure.envelope = Some(Box::new(imap_envelope(raw)));
        return Parsed { structure, text: super::search::search_text(raw), ..Parsed::default() };
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
    let mut structure = m.parts.first().map_or_else(|| opaque(raw), |root| part(&m, root, raw, 0));
    structure.envelope = Some(Box::new(imap_envelope(raw)));
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeAddress {
    #[serde(default, rename = "n", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "m")]
    pub mailbox: String,
    #[serde(default, rename = "h")]
    pub host: String,
}

/// The IMAP ENVELOPE of a message: header values as written (encoded words left for the
/// client), addresses parsed; sender and reply-to fall back to from. Read once on delivery and
/// kept with the MIME structure ([`super::MimePart::envelope`]), in a compact form: short
/// names, empty fields left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImapEnvelope {
    #[serde(default, rename = "d", skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, rename = "s", skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, rename = "f", skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<EnvelopeAddress>,
    #[serde(default, rename = "se", skip_serializing_if = "Vec::is_empty")]
    pub sender: Vec<EnvelopeAddress>,
    #[serde(default, rename = "r", skip_serializing_if = "Vec::is_empty")]
    pub reply_to: Vec<EnvelopeAddress>,
    #[serde(default, rename = "t", skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<EnvelopeAddress>,
    #[serde(default, rename = "c", skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<EnvelopeAddress>,
    #[serde(default, rename = "b", skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<EnvelopeAddress>,
    #[serde(default, rename = "i", skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(default, rename = "id", skip_serializing_if = "Option::is_none")]
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
        each_addr(a).map(one).collect()
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
    /// How many From fields there are (mail programs show the first; one is allowed).
    pub from_fields: usize,
    pub has_date: bool,
    pub has_message_id: bool,
}

/// The header's fields as byte ranges (each with its folded lines), and where the header ends
/// (after the CRLF of its last line; the empty line follows).
pub fn header_fields(raw: &[u8]) -> (Vec<(usize, usize)>, usize) {
    let end = memchr::memmem::find(raw, b"\r\n\r\n").map_or(raw.len(), |i| i + 2);
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at < end {
        let line_end = memchr::memchr(b'\n', &raw[at..end]).map_or(end, |i| at + i + 1);
        match raw.get(at) {
            Some(b' ' | b'\t') if !fields.is_empty() => {
                if let Some(last) = fields.last_mut() {
                    last.1 = line_end;
                }
            }
            _ => fields.push((at, line_end)),
        }
        at = line_end;
    }
    (fields, end)
}

/// The message without the header fields `drop` picks (given the field's name and value);
/// `None` when it picks none.
pub fn without_fields(raw: &[u8], drop: impl Fn(&str, &str) -> bool) -> Option<Vec<u8>> {
    let (fields, end) = header_fields(raw);
    let dropped = |(a, b): &(usize, usize)| {
        let field = String::from_utf8_lossy(&raw[*a..*b]);
        field.split_once(':').is_some_and(|(name, value)| drop(name.trim(), value))
    };
    if !fields.iter().any(dropped) {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    for f in fields.iter().filter(|f| !dropped(f)) {
        out.extend_from_slice(&raw[f.0..f.1]);
    }
    out.extend_from_slice(&raw[end..]);
    Some(out)
}

/// The message without `Authentication-Results:` fields that claim to come from `hostname`:
/// only this server may write those (RFC 8601 §5), so nobody can fake a pass. The authserv-id
/// is compared with comments and folding taken out.
pub fn strip_forged_results(raw: &[u8], hostname: &str) -> Option<Vec<u8>> {
    without_fields(raw, |name, value| {
        name.eq_ignore_ascii_case("authentication-results") && authserv_id(value).eq_ignore_ascii_case(hostname)
    })
}

/// The authserv-id of an Authentication-Results value: its first word outside comments.
pub fn authserv_id(value: &str) -> String {
    let mut depth = 0usize;
    let mut plain = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    plain.split([';', ' ', '\t', '\r', '\n']).find(|w| !w.is_empty()).unwrap_or_default().to_owned()
}

/// Reads the From/Sender addresses and whether Date and Message-ID are there.
pub fn submission_headers(raw: &[u8]) -> SubmissionHeaders {
    let Some(m) = MessageParser::default().parse_headers(raw) else { return SubmissionHeaders::default() };
    let list = |a: Option<&Address<'_>>| -> Vec<String> {
        each_addr(a).filter_map(|x| x.address.as_deref().map(str::to_ascii_lowercase)).collect()
    };
    SubmissionHeaders {
        // mail-parser keeps the last of several From fields; mail programs show the first.
        from: m
            .header_values("From")
            .next()
            .map(|v| match v {
                HeaderValue::Address(a) => list(Some(a)),
                _ => Vec::new(),
            })
            .unwrap_or_default(),
        from_fields: m.header_values("From").count(),
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
    each_addr(Some(a)).map(one).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ")
}

/// The addresses of an address header, groups flattened.
fn each_addr<'a>(a: Option<&'a Address<'a>>) -> Box<dyn Iterator<Item = &'a mail_parser::Addr<'a>> + 'a> {
    match a {
        Some(Address::List(l)) => Box::new(l.iter()),
        Some(Address::Group(g)) => Box::new(g.iter().flat_map(|g| g.addresses.iter())),
        None => Box::new(std::iter::empty()),
    }
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
            let inner = |root| {
                let mut top = part(nested, root, raw, depth + 1);
                // What BODYSTRUCTURE tells of the attached message: the envelope of its bytes.
                let bytes = raw.get(p.offset_body as usize..p.offset_end as usize).unwrap_or_default();
                top.envelope = Some(Box::new(imap_envelope(bytes)));
                top
            };
            nested.parts.first().map(|root| vec![inner(root)]).unwrap_or_default()
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
        envelope: None,
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
        // The envelope is kept with the structure, and comes back from its stored form.
        let env = s.envelope.as_deref().expect("envelope");
        assert_eq!(
            env.to[1],
            EnvelopeAddress { name: Some("Carol".into()), mailbox: "carol".into(), host: "example.com".into() }
        );
        assert_eq!((env.sender.len(), env.bcc.len()), (1, 0));
        let json = serde_json::to_string(s).expect("json");
        assert!(json.contains("\"env\":{\"d\":"), "{json}");
        assert_eq!(&serde_json::from_str::<super::super::MimePart>(&json).expect("json"), s);
    }

    #[test]
    fn results_claiming_this_server_are_removed() {
        let m = b"Received: x\r\nAuthentication-Results: mx.example.com;\r\n\tdkim=pass\r\n\
                  Authentication-Results: (sneaky) MX.example.com ; spf=pass\r\n\
                  Authentication-Results: other.org; spf=pass\r\nSubject: s\r\n\r\n\
                  Authentication-Results: mx.example.com\r\n";
        let out = strip_forged_results(m, "mx.example.com").expect("changed");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "Received: x\r\nAuthentication-Results: other.org; spf=pass\r\nSubject: s\r\n\r\n\
             Authentication-Results: mx.example.com\r\n"
        );
        assert!(strip_forged_results(b"Subject: s\r\n\r\nbody", "mx.example.com").is_none());
        let two_from = submission_headers(b"From: boss@example.com\r\nFrom: me@example.com\r\n\r\nx");
        assert_eq!((two_from.from_fields, two_from.from.as_slice()), (2, &["boss@example.com".to_owned()][..]));
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
