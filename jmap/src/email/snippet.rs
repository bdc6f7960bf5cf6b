//! SearchSnippet/get (RFC 8621 §5): where a message matched the text of a filter, with the
//! matches marked (`<mark>`), in its subject and in a part of its text.

use kontor_domain::ids::AccountId;
use kontor_domain::mail::search::normalize;
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::error::{MethodError, MethodResult};
use crate::{generic, ids};

/// The words of the filter's text conditions (text, subject, body), lower case.
fn terms(filter: Option<&Value>, out: &mut Vec<String>) {
    let Some(Value::Object(o)) = filter else { return };
    if let Some(Value::Array(conds)) = o.get("conditions") {
        if o.get("operator").and_then(Value::as_str) != Some("NOT") {
            for c in conds {
                terms(Some(c), out);
            }
        }
        return;
    }
    for k in ["text", "subject", "body"] {
        if let Some(Value::String(s)) = o.get(k) {
            let n = normalize(s, 256);
            if !n.is_empty() && !out.contains(&n) {
                out.push(n);
            }
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `text` with each occurrence of a term marked; `None` when no term occurs. Around the
/// first match at most `width` characters are kept.
fn mark(text: &str, terms: &[String], width: Option<usize>) -> Option<String> {
    let lower = text.to_lowercase();
    // Lower-casing may change lengths; mark only where offsets agree.
    if lower.len() != text.len() {
        return None;
    }
    let mut hits: Vec<(usize, usize)> = Vec::new();
    for t in terms {
        let mut from = 0;
        while let Some(at) = lower[from..].find(t.as_str()) {
            hits.push((from + at, from + at + t.len()));
            from += at + t.len().max(1);
        }
    }
    if hits.is_empty() {
        return None;
    }
    hits.sort_unstable();
    let (start, end) = match width {
        Some(w) => {
            let mut s = hits[0].0.saturating_sub(w / 4);
            while !text.is_char_boundary(s) {
                s -= 1;
            }
            let mut e = (s + w).min(text.len());
            while !text.is_char_boundary(e) {
                e -= 1;
            }
            (s, e)
        }
        None => (0, text.len()),
    };
    let mut out = String::new();
    let mut at = start;
    for (a, b) in hits {
        if a < at || b > end {
            continue;
        }
        out.push_str(&escape(&text[at..a]));
        out.push_str("<mark>");
        out.push_str(&escape(&text[a..b]));
        out.push_str("</mark>");
        at = b;
    }
    out.push_str(&escape(&text[at..end]));
    Some(out)
}

pub async fn get(ctx: &mut Ctx<'_>, args: &Map<String, Value>) -> MethodResult {
    generic::known_arguments(args, &["accountId", "filter", "emailIds"])?;
    let account: AccountId = ctx.account(args)?;
    let wanted = generic::string_list(args, "emailIds")?.unwrap_or_default();
    if wanted.len() > ctx.limits.max_objects_in_get {
        return Err(MethodError::request_too_large(format!("at most {} emails", ctx.limits.max_objects_in_get)));
    }
    let mut words = Vec::new();
    terms(args.get("filter"), &mut words);
    let view = ctx.core.mail_view(ctx.who, account).await?;
    let numbers: Vec<i64> = wanted.iter().filter_map(|i| ids::parse_email(i)).collect();
    let found = ctx.core.view_messages(&view, &numbers).await?;
    let mut list = Vec::new();
    for (m, _) in &found {
        let subject = mark(&m.envelope.subject, &words, None);
        let mut preview = None;
        if !words.is_empty() {
            let raw = ctx.core.view_message_bytes(&view, m).await?;
            if let Some(msg) = mail_parser::MessageParser::default().parse(&raw) {
                let text: String =
                    msg.body_text(0).map(|t| t.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap_or_default();
                preview = mark(&text, &words, Some(255));
            }
        }
        list.push(json!({ "emailId": ids::email(m.id), "subject": subject, "preview": preview }));
    }
    let have: Vec<String> = found.iter().map(|(m, _)| ids::email(m.id)).collect();
    let not_found: Vec<&String> = wanted.iter().filter(|w| !have.contains(w)).collect();
    Ok(json!({
        "accountId": ids::account(account),
        "list": list,
        "notFound": if not_found.is_empty() { Value::Null } else { json!(not_found) },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_terms_and_escapes() {
        let t = vec!["zebra".to_owned()];
        assert_eq!(
            mark("A Zebra <b> and a zebra", &t, None).unwrap(),
            "A <mark>Zebra</mark> &lt;b&gt; and a <mark>zebra</mark>"
        );
        assert_eq!(mark("nothing here", &t, None), None);
    }
}
