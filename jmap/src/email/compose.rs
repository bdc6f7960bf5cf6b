//! Email/set create and Email/import (RFC 8621 §4.6, §4.8): a message made from an Email
//! object (header properties, and textBody/htmlBody/attachments or a bodyStructure whose parts
//! take their content from bodyValues or from blobs), or an uploaded RFC 5322 blob, stored in
//! its mailboxes through the same domain call IMAP's APPEND uses.

use std::borrow::Cow;

use kontor_domain::ids::{AccountId, Timestamp};
use kontor_domain::mail::Keywords;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::mime::{BodyPart, MimePart};
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::error::SetError;
use crate::ids;

/// The properties a new Email may set.
const SETTABLE: &[&str] = &[
    "mailboxIds",
    "keywords",
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
    "bodyStructure",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
];

fn bad(prop: &str, why: impl Into<String>) -> SetError {
    SetError::invalid_properties(&[prop], why)
}

/// EmailAddress[] as a header value.
fn addresses(prop: &str, v: &Value) -> Result<Address<'static>, SetError> {
    let Value::Array(list) = v else { return Err(bad(prop, "must be a list of EmailAddress")) };
    let mut out = Vec::with_capacity(list.len());
    for a in list {
        let email = a.get("email").and_then(Value::as_str).ok_or_else(|| bad(prop, "each address needs an email"))?;
        if email.contains(['\r', '\n', '<', '>']) || !email.contains('@') {
            return Err(bad(prop, format!("{email:?} is not an address")));
        }
        let name = a.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).map(str::to_owned);
        out.push(Address::new_address(name, email.to_owned()));
    }
    Ok(if out.len() == 1 { out.pop().unwrap_or_else(|| Address::new_list(Vec::new())) } else { Address::new_list(out) })
}

fn id_list(prop: &str, v: &Value) -> Result<Vec<String>, SetError> {
    let Value::Array(list) = v else { return Err(bad(prop, "must be a list of message ids")) };
    list.iter()
        .map(|x| {
            x.as_str()
                .filter(|s| !s.is_empty() && !s.contains(['\r', '\n', '<', '>', ' ']))
                .map(str::to_owned)
                .ok_or_else(|| bad(prop, "a message id is a string without spaces or angle brackets"))
        })
        .collect()
}

fn date(prop: &str, v: &Value) -> Result<chrono::DateTime<chrono::FixedOffset>, SetError> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .ok_or_else(|| bad(prop, "must be a date like 2024-01-31T10:00:00Z"))
}

/// The content of a body part: its bodyValue, or the blob it names.
async fn content(
    ctx: &Ctx<'_>,
    account: AccountId,
    part: &Map<String, Value>,
    values: &Map<String, Value>,
) -> Result<BodyPart<'static>, SetError> {
    if let Some(Value::String(id)) = part.get("partId") {
        let text = values
            .get(id)
            .and_then(|v| v.get("value"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("bodyValues", format!("no bodyValue for part {id}")))?;
        return Ok(BodyPart::Text(Cow::Owned(text.to_owned())));
    }
    if let Some(Value::String(blob)) = part.get("blobId") {
        let blob = ctx.resolve(blob).unwrap_or(blob);
        let (bytes, _) = crate::blob::read(ctx.core, ctx.who, account, blob)
            .await?
            .ok_or_else(|| SetError::new("blobNotFound", format!("no blob {blob}")))?;
        return Ok(BodyPart::Binary(Cow::Owned(bytes.to_vec())));
    }
    Err(bad("bodyStructure", "a leaf part needs a partId or a blobId"))
}

/// One EmailBodyPart (and its subParts) as a MIME part.
fn part<'a>(
    ctx: &'a Ctx<'_>,
    account: AccountId,
    p: &'a Value,
    values: &'a Map<String, Value>,
    depth: usize,
) -> futures_util::future::BoxFuture<'a, Result<MimePart<'static>, SetError>> {
    Box::pin(async move {
        let Value::Object(p) = p else { return Err(bad("bodyStructure", "a part is an object")) };
        if depth > 10 {
            return Err(bad("bodyStructure", "parts nested too deep"));
        }
        if p.keys().any(|k| k == "headers" || k.starts_with("header:")) {
            return Err(bad("bodyStructure", "part headers are set through type, name, disposition, cid"));
        }
        let media = p.get("type").and_then(Value::as_str).unwrap_or("text/plain").to_ascii_lowercase();
        if media.contains(['\r', '\n', ';']) || !media.contains('/') {
            return Err(bad("bodyStructure", format!("bad type {media:?}")));
        }
        let mut m = if let Some(Value::Array(subs)) = p.get("subParts") {
            if !media.starts_with("multipart/") {
                return Err(bad("bodyStructure", "only multipart parts have subParts"));
            }
            let mut children = Vec::with_capacity(subs.len());
            for s in subs {
                children.push(part(ctx, account, s, values, depth + 1).await?);
            }
            MimePart::new(media.clone(), BodyPart::Multipart(children))
        } else {
            let body = content(ctx, account, p, values).await?;
            let body = match body {
                BodyPart::Binary(b) if media.starts_with("text/") => match String::from_utf8(b.into_owned()) {
                    Ok(t) => BodyPart::Text(Cow::Owned(t)),
                    Err(e) => BodyPart::Binary(Cow::Owned(e.into_bytes())),
                },
                other => other,
            };
            MimePart::new(media.clone(), body)
        };
        let name = p.get("name").and_then(Value::as_str).map(str::to_owned);
        match p.get("disposition").and_then(Value::as_str) {
            Some("attachment") => m = m.attachment(name.unwrap_or_else(|| "attachment".into())),
            Some("inline") => m = m.inline(),
            _ => {
                if let Some(n) = name {
                    m = m.attachment(n);
                }
            }
        }
        if let Some(cid) = p.get("cid").and_then(Value::as_str) {
            m = m.cid(cid.to_owned());
        }
        if let Some(l) = p.get("location").and_then(Value::as_str) {
            m = m.location(l.to_owned());
        }
        Ok(m)
    })
}

/// The message an Email object describes.
async fn build(ctx: &Ctx<'_>, account: AccountId, o: &Map<String, Value>) -> Result<Vec<u8>, SetError> {
    let mut b = MessageBuilder::new();
    for (k, v) in o {
        if v.is_null() {
            continue;
        }
        b = match k.as_str() {
            "from" => b.from(addresses(k, v)?),
            "to" => b.to(addresses(k, v)?),
            "cc" => b.cc(addresses(k, v)?),
            "bcc" => b.bcc(addresses(k, v)?),
            "replyTo" => b.reply_to(addresses(k, v)?),
            "sender" => b.sender(addresses(k, v)?),
            "subject" => b.subject(Text::new(v.as_str().ok_or_else(|| bad(k, "must be a string"))?.to_owned())),
            "sentAt" => b.date(date(k, v)?.timestamp()),
            "messageId" => b.message_id(id_list(k, v)?.into_iter().next().ok_or_else(|| bad(k, "empty"))?),
            "inReplyTo" => b.in_reply_to(id_list(k, v)?.join(" ")),
            "references" => b.references(id_list(k, v)?.join(" ")),
            h if h.starts_with("header:") => {
                let mut parts = h.split(':').skip(1);
                let (Some(name), form) = (parts.next(), parts.next()) else {
                    return Err(bad(h, "bad header property"));
                };
                let known = ["from", "to", "cc", "bcc", "reply-to", "sender", "subject", "date", "message-id"];
                if name.is_empty()
                    || known.contains(&name.to_ascii_lowercase().as_str())
                    || !name.bytes().all(|c| c.is_ascii_graphic() && c != b':')
                {
                    return Err(bad(h, "set this header through its own property, or use a valid field name"));
                }
                let text = v.as_str().ok_or_else(|| bad(h, "must be a string"))?;
                match form {
                    None | Some("asRaw") => b.header(name.to_owned(), Raw::new(text.replace(['\r', '\n'], " "))),
                    Some("asText") => b.header(name.to_owned(), Text::new(text.to_owned())),
                    Some(_) => return Err(bad(h, "only the Raw and Text forms can be set")),
                }
            }
            _ => b,
        };
    }
    let values = match o.get("bodyValues") {
        Some(Value::Object(m)) => m.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(bad("bodyValues", "must be an object")),
    };
    if let Some(structure) = o.get("bodyStructure").filter(|v| !v.is_null()) {
        if ["textBody", "htmlBody", "attachments"].iter().any(|k| o.get(*k).is_some_and(|v| !v.is_null())) {
            return Err(bad("bodyStructure", "give bodyStructure or textBody/htmlBody/attachments, not both"));
        }
        b = b.body(part(ctx, account, structure, &values, 0).await?);
    } else {
        let one = |k: &str| -> Result<Option<&Value>, SetError> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(a)) if a.len() <= 1 => Ok(a.first()),
                Some(_) => Err(bad(k, "at most one part")),
            }
        };
        let text = match one("textBody")? {
            Some(p) => Some(part(ctx, account, p, &values, 0).await?),
            None => None,
        };
        let html = match one("htmlBody")? {
            Some(p) => Some(part(ctx, account, p, &values, 0).await?),
            None => None,
        };
        let mut atts = Vec::new();
        if let Some(Value::Array(list)) = o.get("attachments") {
            for a in list {
                atts.push(part(ctx, account, a, &values, 0).await?);
            }
        }
        let body = match (text, html) {
            (Some(t), Some(h)) => Some(MimePart::new("multipart/alternative", BodyPart::Multipart(vec![t, h]))),
            (Some(one), None) | (None, Some(one)) => Some(one),
            (None, None) => None,
        };
        let body = match (body, atts.is_empty()) {
            (Some(b), true) => Some(b),
            (Some(b), false) => {
                let mut all = vec![b];
                all.extend(atts);
                Some(MimePart::new("multipart/mixed", BodyPart::Multipart(all)))
            }
            (None, false) => Some(MimePart::new("multipart/mixed", BodyPart::Multipart(atts))),
            (None, true) => None,
        };
        b = b.body(body.unwrap_or_else(|| MimePart::new("text/plain", BodyPart::Text(Cow::Borrowed("")))));
    }
    b.write_to_vec().map_err(|e| SetError::new("invalidProperties", format!("the message could not be written: {e}")))
}

fn keywords(o: &Map<String, Value>) -> Result<Keywords, SetError> {
    match o.get("keywords") {
        None | Some(Value::Null) => Ok(Keywords::default()),
        Some(Value::Object(k)) => {
            if k.values().any(|v| *v != Value::Bool(true)) {
                return Err(bad("keywords", "keyword values must be true"));
            }
            Ok(Keywords::new(k.keys()))
        }
        Some(_) => Err(bad("keywords", "must be an object")),
    }
}

/// Stores `raw` in the mailboxes `o` names (`mailboxIds`) with its keywords.
async fn store(ctx: &Ctx<'_>, account: AccountId, o: &Map<String, Value>, raw: &[u8]) -> Result<Value, SetError> {
    let view = ctx.core.mail_view(ctx.who, account).await?;
    let Some(Value::Object(boxes)) = o.get("mailboxIds") else {
        return Err(bad("mailboxIds", "an email needs at least one mailbox"));
    };
    let mut targets = Vec::new();
    for (b, v) in boxes {
        if *v != Value::Bool(true) {
            return Err(bad("mailboxIds", "mailbox values must be true"));
        }
        let id = ctx
            .resolve(b)
            .and_then(ids::parse_mailbox)
            .filter(|m| view.mailbox(*m).is_some())
            .ok_or_else(|| bad("mailboxIds", format!("no mailbox {b}")))?;
        targets.push(id);
    }
    let Some((&first, rest)) = targets.split_first() else {
        return Err(bad("mailboxIds", "an email needs at least one mailbox"));
    };
    let received = match o.get("receivedAt") {
        None | Some(Value::Null) => None,
        Some(v) => Some(Timestamp(date("receivedAt", v)?.timestamp_millis())),
    };
    let stored = ctx.core.append_message(ctx.who, first, raw, keywords(o)?, received).await?;
    let uid = stored.memberships.first().map(|m| m.uid).ok_or_else(SetError::not_found)?;
    for b in rest {
        ctx.core.file_messages(ctx.who, first, &[uid], *b, false).await?;
    }
    let m = &stored.message;
    Ok(json!({
        "id": ids::email(m.id),
        "blobId": m.blob.as_str(),
        "threadId": ids::thread(m.thread),
        "size": m.size,
    }))
}

/// Email/set create.
pub async fn create(ctx: &Ctx<'_>, account: AccountId, o: &Map<String, Value>) -> Result<Value, SetError> {
    if let Some(k) = o.keys().find(|k| !SETTABLE.contains(&k.as_str()) && !k.starts_with("header:")) {
        return Err(bad(k, format!("{k} cannot be set on a new email")));
    }
    let raw = build(ctx, account, o).await?;
    store(ctx, account, o, &raw).await
}

/// One Email/import entry: an uploaded message into mailboxes.
pub async fn import(ctx: &Ctx<'_>, account: AccountId, o: &Map<String, Value>) -> Result<Value, SetError> {
    if let Some(k) = o.keys().find(|k| !["blobId", "mailboxIds", "keywords", "receivedAt"].contains(&k.as_str())) {
        return Err(bad(k, format!("{k} is not an import property")));
    }
    let Some(Value::String(blob)) = o.get("blobId") else { return Err(bad("blobId", "an import needs a blobId")) };
    let blob = ctx.resolve(blob).unwrap_or(blob);
    let (bytes, _) = crate::blob::read(ctx.core, ctx.who, account, blob)
        .await?
        .ok_or_else(|| SetError::new("blobNotFound", format!("no blob {blob}")))?;
    store(ctx, account, o, &bytes).await
}

/// Email/copy (RFC 8621 §4.7): a message the caller may read in `from`, stored into mailboxes
/// of `account`, keeping its keywords and receivedAt unless the entry gives others.
pub async fn copy(
    ctx: &Ctx<'_>,
    from: AccountId,
    account: AccountId,
    id: &str,
    overrides: &Map<String, Value>,
) -> Result<Value, SetError> {
    if let Some(k) = overrides.keys().find(|k| !["mailboxIds", "keywords", "receivedAt"].contains(&k.as_str())) {
        return Err(bad(k, format!("{k} cannot be given to Email/copy")));
    }
    let view = ctx.core.mail_view(ctx.who, from).await?;
    let n = crate::ids::parse_email(id).ok_or_else(SetError::not_found)?;
    let (message, _) = ctx.core.view_messages(&view, &[n]).await?.into_iter().next().ok_or_else(SetError::not_found)?;
    let raw = ctx.core.view_message_bytes(&view, &message).await?;
    let mut o = overrides.clone();
    if !o.contains_key("keywords") {
        let k: Map<String, Value> = message.keywords.iter().map(|k| (k.to_owned(), Value::Bool(true))).collect();
        o.insert("keywords".into(), Value::Object(k));
    }
    if !o.contains_key("receivedAt") {
        o.insert("receivedAt".into(), json!(message.received_at.rfc3339()));
    }
    store(ctx, account, &o, &raw).await
}
