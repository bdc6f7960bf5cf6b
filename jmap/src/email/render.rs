//! An Email's properties (RFC 8621 §4.1) from what the store keeps and, where the stored
//! fields do not say enough, from the message itself (parsed with mail-parser): addresses,
//! header fields in their parsed forms (§4.1.2), body parts and body values.

use kontor_domain::mail::{Membership, Message};
use mail_parser::{Address, HeaderValue, MessageParser, MessagePart, MimeHeaders, PartType};
use serde_json::{Map, Value, json};

use crate::ids;

/// The default of `properties`.
pub const DEFAULT: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
];

/// Every property (header:… forms aside).
pub const ALL: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
    "headers",
    "bodyStructure",
];

/// What Email/parse can say of a blob (no mailbox, keyword or thread).
pub const PARSE_ALL: &[&str] = &[
    "blobId",
    "size",
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
    "headers",
    "bodyStructure",
];
/// Email/parse's default properties.
pub const PARSE_DEFAULT: &[&str] = &[
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
];

/// The default of `bodyProperties`.
pub const BODY_DEFAULT: &[&str] =
    &["partId", "blobId", "size", "name", "type", "charset", "disposition", "cid", "language", "location"];
pub const BODY_ALL: &[&str] = &[
    "partId",
    "blobId",
    "size",
    "headers",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
    "subParts",
];

/// How much of the message a set of properties needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Needs {
    /// The stored row answers.
    Row,
    /// The header.
    Header,
    /// The whole message.
    Body,
}

pub fn needs(props: &[String]) -> Needs {
    props.iter().fold(Needs::Row, |n, p| {
        n.max(match p.as_str() {
            "bodyValues" | "textBody" | "htmlBody" | "attachments" | "bodyStructure" => Needs::Body,
            "sender" | "from" | "to" | "cc" | "bcc" | "replyTo" | "headers" | "sentAt" => Needs::Header,
            p if p.starts_with("header:") => Needs::Header,
            _ => Needs::Row,
        })
    })
}

/// What Email/get was asked about the body.
#[derive(Debug, Clone)]
pub struct BodyOptions {
    pub properties: Vec<String>,
    pub fetch_text: bool,
    pub fetch_html: bool,
    pub fetch_all: bool,
    pub max_bytes: usize,
}

/// The blob id of a part of a message: the message's blob and the part's number.
pub fn part_blob(message_blob: &str, part: usize) -> String {
    format!("{message_blob}-{part}")
}

/// One Email object.
pub fn email(
    m: &Message,
    memberships: &[Membership],
    raw: Option<&[u8]>,
    props: &[String],
    body: &BodyOptions,
) -> Value {
    let parsed = raw.and_then(|r| MessageParser::default().parse(r));
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!(ids::email(m.id)),
            "blobId" => json!(m.blob.as_str()),
            "threadId" => json!(ids::thread(m.thread)),
            "mailboxIds" => {
                Value::Object(memberships.iter().map(|ms| (ids::mailbox(ms.mailbox), Value::Bool(true))).collect())
            }
            "keywords" => Value::Object(m.keywords.iter().map(|k| (k.to_owned(), Value::Bool(true))).collect()),
            "size" => json!(m.size),
            "receivedAt" => json!(m.received_at.rfc3339()),
            "messageId" => json!(m.envelope.message_id.as_ref().map(|id| vec![id])),
            "inReplyTo" => list_or_null(&m.envelope.in_reply_to),
            "references" => list_or_null(&m.envelope.references),
            "subject" => json!(m.envelope.subject),
            "hasAttachment" => json!(m.has_attachment),
            "preview" => json!(m.preview),
            "sentAt" => match parsed.as_ref().and_then(|x| x.date()) {
                Some(d) => json!(d.to_rfc3339()),
                None => json!(m.sent_at.map(kontor_domain::ids::Timestamp::rfc3339)),
            },
            other => match &parsed {
                Some(msg) => from_message(msg, &m.blob.to_string(), other, body),
                None => Value::Null,
            },
        };
        o.insert(p.clone(), v);
    }
    Value::Object(o)
}

/// An Email object parsed from a blob (Email/parse); `None` when it is not a message.
pub fn parse_blob(raw: &[u8], props: &[String], body: &BodyOptions) -> Option<Value> {
    let parsed = kontor_domain::mail::parse::parse(raw);
    let msg = MessageParser::default().parse(raw)?;
    let blob = kontor_domain::ids::BlobId::of(raw);
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "blobId" => json!(blob.as_str()),
            "size" => json!(raw.len()),
            "messageId" => json!(parsed.envelope.message_id.as_ref().map(|id| vec![id])),
            "inReplyTo" => list_or_null(&parsed.envelope.in_reply_to),
            "references" => list_or_null(&parsed.envelope.references),
            "subject" => json!(msg.subject()),
            "sentAt" => json!(msg.date().map(mail_parser::DateTime::to_rfc3339)),
            "hasAttachment" => json!(parsed.has_attachment),
            "preview" => json!(parsed.preview),
            other => from_message(&msg, blob.as_str(), other, body),
        };
        o.insert(p.clone(), v);
    }
    Some(Value::Object(o))
}

fn list_or_null(v: &[String]) -> Value {
    if v.is_empty() { Value::Null } else { json!(v) }
}

fn from_message(msg: &mail_parser::Message<'_>, blob: &str, prop: &str, body: &BodyOptions) -> Value {
    match prop {
        "sender" => addresses(msg.sender()),
        "from" => addresses(msg.from()),
        "to" => addresses(msg.to()),
        "cc" => addresses(msg.cc()),
        "bcc" => addresses(msg.bcc()),
        "replyTo" => addresses(msg.reply_to()),
        "headers" => headers(msg.raw_message(), msg.headers()),
        "bodyStructure" => msg.parts.first().map_or(Value::Null, |_| part(msg, blob, 0, &body.properties)),
        "textBody" => {
            Value::Array(msg.text_body.iter().map(|i| part(msg, blob, *i as usize, &body.properties)).collect())
        }
        "htmlBody" => {
            Value::Array(msg.html_body.iter().map(|i| part(msg, blob, *i as usize, &body.properties)).collect())
        }
        "attachments" => {
            Value::Array(msg.attachments.iter().map(|i| part(msg, blob, *i as usize, &body.properties)).collect())
        }
        "bodyValues" => body_values(msg, body),
        p if p.starts_with("header:") => header_form(msg.raw_message(), msg.headers(), p).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// EmailAddress[] (RFC 8621 §4.1.2.3), groups flattened; null without the field.
fn addresses(a: Option<&Address<'_>>) -> Value {
    let Some(a) = a else { return Value::Null };
    let one = |x: &mail_parser::Addr<'_>| json!({ "name": x.name.as_deref(), "email": x.address.as_deref().unwrap_or_default() });
    match a {
        Address::List(l) => Value::Array(l.iter().map(one).collect()),
        Address::Group(g) => Value::Array(g.iter().flat_map(|g| g.addresses.iter()).map(one).collect()),
    }
}

/// EmailAddressGroup[] (§4.1.2.4): addresses outside a group form a group without a name.
fn grouped(a: Option<&Address<'_>>) -> Value {
    let Some(a) = a else { return Value::Null };
    let one = |x: &mail_parser::Addr<'_>| json!({ "name": x.name.as_deref(), "email": x.address.as_deref().unwrap_or_default() });
    match a {
        Address::List(l) => json!([{ "name": null, "addresses": l.iter().map(one).collect::<Vec<_>>() }]),
        Address::Group(g) => Value::Array(
            g.iter()
                .map(|g| json!({ "name": g.name.as_deref(), "addresses": g.addresses.iter().map(one).collect::<Vec<_>>() }))
                .collect(),
        ),
    }
}

/// The raw value of a header field (§4.1.2.1): the bytes after the colon, folding kept.
fn raw_value(raw: &[u8], h: &mail_parser::Header<'_>) -> String {
    let v = raw.get(h.offset_start as usize..h.offset_end as usize).unwrap_or_default();
    let v = v.strip_suffix(b"\r\n").or_else(|| v.strip_suffix(b"\n")).unwrap_or(v);
    String::from_utf8_lossy(v).into_owned()
}

fn headers(raw: &[u8], hs: &[mail_parser::Header<'_>]) -> Value {
    Value::Array(hs.iter().map(|h| json!({ "name": h.name.as_str(), "value": raw_value(raw, h) })).collect())
}

/// `header:{name}[:as{Form}][:all]` (§4.1.3): the last field of that name (or all), in the form.
pub fn header_form(raw: &[u8], hs: &[mail_parser::Header<'_>], prop: &str) -> Option<Value> {
    let mut parts: Vec<&str> = prop.split(':').skip(1).collect();
    let all = parts.last() == Some(&"all");
    if all {
        parts.pop();
    }
    let (name, form) = match parts.as_slice() {
        [name] => (*name, "Raw"),
        [name, form] => (*name, form.strip_prefix("as")?),
        _ => return None,
    };
    let values: Vec<String> =
        hs.iter().filter(|h| h.name.as_str().eq_ignore_ascii_case(name)).map(|h| raw_value(raw, h)).collect();
    let convert = |v: &str| -> Option<Value> { parse_form(v, form) };
    if all {
        values.iter().map(|v| convert(v)).collect::<Option<Vec<_>>>().map(Value::Array)
    } else {
        match values.last() {
            Some(v) => convert(v),
            None => Some(Value::Null),
        }
    }
}

/// Whether `prop` is a well-formed header property (its form is one of §4.1.2's).
pub fn valid_header_property(prop: &str) -> bool {
    let mut parts: Vec<&str> = prop.split(':').skip(1).collect();
    if parts.last() == Some(&"all") {
        parts.pop();
    }
    match parts.as_slice() {
        [name] => !name.is_empty(),
        [name, form] => {
            !name.is_empty()
                && matches!(
                    *form,
                    "asRaw" | "asText" | "asAddresses" | "asGroupedAddresses" | "asMessageIds" | "asDate" | "asURLs"
                )
        }
        _ => false,
    }
}

/// A raw header value in one of the parsed forms, by parsing it as the header field that has
/// that form.
fn parse_form(raw: &str, form: &str) -> Option<Value> {
    let parse_as = |field: &str| -> Option<mail_parser::Message<'static>> {
        let text = format!("{field}:{raw}\r\n\r\n");
        MessageParser::default().parse(text.as_bytes()).map(mail_parser::Message::into_owned)
    };
    Some(match form {
        "Raw" => json!(raw),
        "Text" => json!(parse_as("Subject").and_then(|m| m.subject().map(str::to_owned)).unwrap_or_default()),
        "Addresses" => parse_as("From").map_or(json!([]), |m| {
            let a = addresses(m.from());
            if a.is_null() { json!([]) } else { a }
        }),
        "GroupedAddresses" => parse_as("From").map_or(json!([]), |m| {
            let a = grouped(m.from());
            if a.is_null() { json!([]) } else { a }
        }),
        "MessageIds" => match parse_as("References").map(|m| m.references().clone()) {
            Some(HeaderValue::Text(t)) => json!([t]),
            Some(HeaderValue::TextList(l)) => json!(l),
            _ => Value::Null,
        },
        "Date" => parse_as("Date").and_then(|m| m.date().map(|d| json!(d.to_rfc3339()))).unwrap_or(Value::Null),
        "URLs" => {
            let urls: Vec<&str> =
                raw.split('<').skip(1).filter_map(|s| s.split_once('>').map(|(u, _)| u.trim())).collect();
            if urls.is_empty() { Value::Null } else { json!(urls) }
        }
        _ => return None,
    })
}

/// An EmailBodyPart (§4.1.4) for part `i` of the message, with the asked properties.
fn part(msg: &mail_parser::Message<'_>, blob: &str, i: usize, props: &[String]) -> Value {
    let Some(p) = msg.parts.get(i) else { return Value::Null };
    let multipart = matches!(p.body, PartType::Multipart(_));
    let ct = p.content_type();
    let media = ct.map_or_else(
        || if matches!(p.body, PartType::Message(_)) { "message/rfc822".to_owned() } else { "text/plain".to_owned() },
        |c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("plain")).to_ascii_lowercase(),
    );
    let mut o = Map::new();
    for prop in props {
        let v = match prop.as_str() {
            "partId" => {
                if multipart {
                    Value::Null
                } else {
                    json!(i.to_string())
                }
            }
            "blobId" => {
                if multipart {
                    Value::Null
                } else {
                    json!(part_blob(blob, i))
                }
            }
            "size" => json!(if multipart { 0 } else { p.len() }),
            "headers" => headers(msg.raw_message(), p.headers()),
            "name" => json!(p.attachment_name()),
            "type" => json!(media),
            "charset" => match ct.and_then(|c| c.attribute("charset")) {
                Some(c) => json!(c.to_ascii_lowercase()),
                None if media.starts_with("text/") => json!("us-ascii"),
                None => Value::Null,
            },
            "disposition" => json!(p.content_disposition().map(|d| d.ctype().to_ascii_lowercase())),
            "cid" => json!(p.content_id().map(|c| c.trim_start_matches('<').trim_end_matches('>'))),
            "language" => match p.content_language() {
                HeaderValue::Text(t) => json!([t]),
                HeaderValue::TextList(l) => json!(l),
                _ => Value::Null,
            },
            "location" => json!(p.content_location()),
            "subParts" => match &p.body {
                PartType::Multipart(subs) => {
                    Value::Array(subs.iter().map(|s| part(msg, blob, *s as usize, props)).collect())
                }
                _ => Value::Null,
            },
            _ => continue,
        };
        o.insert(prop.clone(), v);
    }
    Value::Object(o)
}

/// The decoded text of a part, cut at `max` bytes on a character boundary (0: no cut).
fn text_value(p: &MessagePart<'_>, max: usize) -> Value {
    let text: std::borrow::Cow<'_, str> = match &p.body {
        PartType::Text(t) | PartType::Html(t) => std::borrow::Cow::Borrowed(t.as_ref()),
        _ => String::from_utf8_lossy(p.contents()),
    };
    let (value, truncated) = if max > 0 && text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        (&text[..end], true)
    } else {
        (text.as_ref(), false)
    };
    json!({ "value": value, "isEncodingProblem": p.is_encoding_problem, "isTruncated": truncated })
}

fn body_values(msg: &mail_parser::Message<'_>, body: &BodyOptions) -> Value {
    let mut out = Map::new();
    let mut add = |i: usize| {
        if let Some(p) = msg.parts.get(i)
            && p.is_text()
        {
            out.entry(i.to_string()).or_insert_with(|| text_value(p, body.max_bytes));
        }
    };
    if body.fetch_all {
        (0..msg.parts.len()).for_each(&mut add);
    } else {
        if body.fetch_text {
            msg.text_body.iter().for_each(|i| add(*i as usize));
        }
        if body.fetch_html {
            msg.html_body.iter().for_each(|i| add(*i as usize));
        }
    }
    Value::Object(out)
}

/// The decoded content and media type of part `i` of a message (a part's blob).
pub fn part_content(raw: &[u8], i: usize) -> Option<(Vec<u8>, String)> {
    let msg = MessageParser::default().parse(raw)?;
    let p = msg.parts.get(i)?;
    if matches!(p.body, PartType::Multipart(_)) {
        return None;
    }
    let media = p.content_type().map_or_else(
        || "application/octet-stream".to_owned(),
        |c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream")).to_ascii_lowercase(),
    );
    Some((p.contents().to_vec(), media))
}
