//! EmailSubmission (RFC 8621 §7): sending an email the user stored, through the same domain
//! path SMTP submission takes (send-as and send-on-behalf rules, outbound queue, local
//! delivery), then `onSuccessUpdateEmail` / `onSuccessDestroyEmail` as an implicit Email/set.
//! Mail goes out at once: every submission is `final`. The records are kept as documents of
//! the account; VacationResponse (§8) is the account's one vacation response.

use async_trait::async_trait;
use kontor_domain::Vacation;
use kontor_domain::ids::{AccountId, Timestamp};
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::error::{MethodError, MethodResult, SetError};
use crate::generic::{self, Changes, ObjectType, QueryOut, Window};
use crate::ids;

const KIND: &str = "jmap-submission";

pub struct EmailSubmission;

use generic::own_account as own;

fn submission_id(doc: i64) -> String {
    format!("s{doc}")
}

async fn records(ctx: &Ctx<'_>) -> Result<Vec<(String, Map<String, Value>)>, MethodError> {
    Ok(ctx
        .core
        .client_documents(ctx.who, KIND)
        .await?
        .into_iter()
        .filter_map(|d| match serde_json::from_str(&d.data) {
            Ok(Value::Object(mut o)) => {
                o.insert("id".into(), json!(submission_id(d.id)));
                Some((submission_id(d.id), o))
            }
            _ => None,
        })
        .collect())
}

/// The addresses of the message's To, Cc and Bcc fields.
fn recipients(raw: &[u8]) -> Vec<String> {
    let Some(m) = mail_parser::MessageParser::default().parse_headers(raw) else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    for a in [m.to(), m.cc(), m.bcc()].into_iter().flatten() {
        for x in a.iter() {
            if let Some(addr) = x.address.as_deref()
                && !out.iter().any(|o| o.eq_ignore_ascii_case(addr))
            {
                out.push(addr.to_owned());
            }
        }
    }
    out
}

fn envelope_address(v: &Value) -> Option<String> {
    v.get("email").and_then(Value::as_str).filter(|e| e.is_empty() || e.contains('@')).map(str::to_owned)
}

#[async_trait]
impl ObjectType for EmailSubmission {
    const NAME: &'static str = "EmailSubmission";
    const PROPERTIES: &'static [&'static str] = &[
        "id",
        "identityId",
        "emailId",
        "threadId",
        "envelope",
        "sendAt",
        "undoStatus",
        "deliveryStatus",
        "dsnBlobIds",
        "mdnBlobIds",
    ];

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        own(ctx, account)?;
        let docs = ctx.core.client_documents(ctx.who, KIND).await?;
        Ok(format!("{}.{}", docs.last().map_or(0, |d| d.id), docs.len()))
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        ids: Option<Vec<String>>,
        props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        own(ctx, account)?;
        let all = records(ctx).await?;
        let pick = |o: &Map<String, Value>| {
            Value::Object(props.iter().filter_map(|p| o.get(p).map(|v| (p.clone(), v.clone()))).collect())
        };
        match ids {
            None => Ok((all.iter().map(|(_, o)| pick(o)).collect(), Vec::new())),
            Some(wanted) => {
                let (mut list, mut not_found) = (Vec::new(), Vec::new());
                for w in wanted {
                    match all.iter().find(|(id, _)| *id == w) {
                        Some((_, o)) => list.push(pick(o)),
                        None => not_found.push(w),
                    }
                }
                Ok((list, not_found))
            }
        }
    }

    async fn changes(ctx: &Ctx<'_>, account: AccountId, since: &str, max: usize) -> Result<Changes, MethodError> {
        own(ctx, account)?;
        let (last, count) = since
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<usize>().ok()?)))
            .ok_or_else(MethodError::cannot_calculate_changes)?;
        let docs = ctx.core.client_documents(ctx.who, KIND).await?;
        // Records are only ever added or removed; a removal of one the client knew is not kept.
        if docs.iter().filter(|d| d.id <= last).count() != count {
            return Err(MethodError::cannot_calculate_changes());
        }
        let new: Vec<_> = docs.iter().filter(|d| d.id > last).collect();
        let has_more = new.len() > max;
        let taken: Vec<_> = new.into_iter().take(max).collect();
        let until = taken.last().map_or(last, |d| d.id);
        let known = docs.iter().filter(|d| d.id <= until).count();
        Ok(Changes {
            created: taken.iter().map(|d| submission_id(d.id)).collect(),
            new_state: format!("{until}.{known}"),
            has_more,
            ..Changes::default()
        })
    }

    async fn create(ctx: &Ctx<'_>, account: AccountId, object: &Map<String, Value>) -> Result<Value, SetError> {
        let o = object;
        if account != ctx.who.id {
            return Err(SetError::forbidden("mail is sent from one's own account"));
        }
        if let Some(k) = o.keys().find(|k| !["identityId", "emailId", "envelope"].contains(&k.as_str())) {
            return Err(SetError::invalid_properties(&[k], format!("{k} cannot be set")));
        }
        let identities = ctx.core.identities(ctx.who).await?;
        let identity = o.get("identityId").and_then(Value::as_str).unwrap_or_default();
        let Some((index, _)) = identities.iter().enumerate().find(|(i, _)| ids::identity(ctx.who.id, *i) == identity)
        else {
            return Err(SetError::invalid_properties(&["identityId"], "no such identity"));
        };
        let email = o.get("emailId").and_then(Value::as_str).and_then(|e| ctx.resolve(e)).and_then(ids::parse_email);
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let Some((message, _)) =
            ctx.core.view_messages(&view, &email.into_iter().collect::<Vec<_>>()).await?.into_iter().next()
        else {
            return Err(SetError::new("invalidEmail", "no such email"));
        };
        let raw = ctx.core.view_message_bytes(&view, &message).await?;
        let (mail_from, rcpts) = match o.get("envelope") {
            None | Some(Value::Null) => (identities[index].0.to_string(), recipients(&raw)),
            Some(e) => {
                let from = e.get("mailFrom").and_then(envelope_address);
                let to: Option<Vec<String>> =
                    e.get("rcptTo").and_then(Value::as_array).map(|l| l.iter().filter_map(envelope_address).collect());
                match (from, to) {
                    (Some(f), Some(t)) => (f, t),
                    _ => {
                        return Err(SetError::invalid_properties(
                            &["envelope"],
                            "envelope needs mailFrom and rcptTo addresses",
                        ));
                    }
                }
            }
        };
        if rcpts.is_empty() {
            return Err(SetError::new("noRecipients", "the email has no recipients"));
        }
        let sent = match ctx.core.submit_message(ctx.who, &mail_from, &rcpts, &raw, false).await {
            Ok(s) => s,
            Err(kontor_domain::Error::Forbidden { needed }) => {
                let kind = if needed.contains(&mail_from) && !mail_from.is_empty() {
                    "forbiddenMailFrom"
                } else {
                    "forbiddenFrom"
                };
                return Err(SetError::new(kind, format!("you may not {needed}")));
            }
            Err(kontor_domain::Error::Invalid(m)) => return Err(SetError::new("invalidEmail", m)),
            Err(e) => return Err(e.into()),
        };
        let mut delivery = Map::new();
        for r in &rcpts {
            delivery.insert(
                r.clone(),
                json!({ "smtpReply": "250 2.0.0 accepted", "delivered": "queued", "displayed": "unknown" }),
            );
        }
        let failed_local = sent.local.iter().filter(|d| d.outcome.is_err()).count();
        let now = Timestamp::now().rfc3339();
        let record = json!({
            "identityId": identity,
            "emailId": ids::email(message.id),
            "threadId": ids::thread(message.thread),
            "envelope": { "mailFrom": { "email": mail_from, "parameters": null },
                          "rcptTo": rcpts.iter().map(|r| json!({ "email": r, "parameters": null })).collect::<Vec<_>>() },
            "sendAt": now,
            "undoStatus": "final",
            "deliveryStatus": delivery,
            "dsnBlobIds": [],
            "mdnBlobIds": [],
        });
        if failed_local > 0 {
            tracing::info!(failed_local, "submission: some local recipients did not get the message (DSN sent)");
        }
        let doc = ctx.core.put_client_document(ctx.who, KIND, None, &record.to_string()).await?;
        let id = submission_id(doc);
        ctx.note_submission(&id, &ids::email(message.id));
        Ok(json!({ "id": id, "threadId": ids::thread(message.thread), "sendAt": now, "undoStatus": "final" }))
    }

    async fn update(
        _ctx: &Ctx<'_>,
        _account: AccountId,
        _id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Option<Value>, SetError> {
        if patch.get("undoStatus").and_then(Value::as_str) == Some("canceled") {
            return Err(SetError::new("cannotUnsend", "the message was sent at once; it cannot be called back"));
        }
        Err(SetError::invalid_properties(&["undoStatus"], "only undoStatus can change"))
    }

    async fn destroy(ctx: &Ctx<'_>, account: AccountId, id: &str, _args: &Map<String, Value>) -> Result<(), SetError> {
        if account != ctx.who.id {
            return Err(SetError::not_found());
        }
        let doc = id.strip_prefix('s').and_then(|n| n.parse::<i64>().ok()).ok_or_else(SetError::not_found)?;
        if ctx.core.remove_client_document(ctx.who, KIND, doc).await? { Ok(()) } else { Err(SetError::not_found()) }
    }

    async fn query(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        window: &Window,
    ) -> Result<QueryOut, MethodError> {
        own(ctx, account)?;
        let mut all = records(ctx).await?;
        if let Some(Value::Object(f)) = args.get("filter") {
            for (k, v) in f {
                let list = |v: &Value| -> Vec<String> {
                    v.as_array()
                        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                        .unwrap_or_default()
                };
                match k.as_str() {
                    "identityIds" | "emailIds" | "threadIds" => {
                        let field = &k[..k.len() - 1];
                        let want = list(v);
                        all.retain(|(_, o)| {
                            o.get(field).and_then(Value::as_str).is_some_and(|x| want.iter().any(|w| w == x))
                        });
                    }
                    "undoStatus" => all.retain(|(_, o)| o.get("undoStatus") == Some(v)),
                    "before" => all.retain(|(_, o)| o.get("sendAt").and_then(Value::as_str) < v.as_str()),
                    "after" => all.retain(|(_, o)| o.get("sendAt").and_then(Value::as_str) >= v.as_str()),
                    other => return Err(MethodError::new("unsupportedFilter", format!("cannot filter by {other}"))),
                }
            }
        }
        if let Some(Value::Array(sort)) = args.get("sort")
            && let Some(first) = sort.first()
        {
            let key = match first.get("property").and_then(Value::as_str) {
                Some("sentAt") => "sendAt",
                Some("emailId") => "emailId",
                Some("threadId") => "threadId",
                other => return Err(MethodError::new("unsupportedSort", format!("cannot sort by {other:?}"))),
            };
            all.sort_by(|a, b| a.1.get(key).and_then(Value::as_str).cmp(&b.1.get(key).and_then(Value::as_str)));
            if first.get("isAscending") == Some(&Value::Bool(false)) {
                all.reverse();
            }
        }
        window.apply(all.into_iter().map(|(id, _)| id).collect())
    }
}

/// EmailSubmission/set, and the Email/set its `onSuccess…` arguments ask for (its response
/// follows in the same request).
pub async fn set(ctx: &mut Ctx<'_>, args: Map<String, Value>) -> MethodResult {
    let mut plain = args.clone();
    let on_update = plain.remove("onSuccessUpdateEmail");
    let on_destroy = plain.remove("onSuccessDestroyEmail");
    let response = generic::dispatch::<EmailSubmission>(ctx, "set", plain).await?;
    // Submission ids (or "#creation ids") that succeeded → their emails.
    let mut done: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(created)) = response.get("created") {
        for (cid, v) in created {
            if let Some(id) = v.get("id").and_then(Value::as_str)
                && let Some(email) = ctx.submitted_email(id)
            {
                done.push((format!("#{cid}"), email.clone()));
                done.push((id.to_owned(), email));
            }
        }
    }
    let email_of = |key: &str| done.iter().find(|(k, _)| k == key).map(|(_, e)| e.clone());
    let mut update = Map::new();
    if let Some(Value::Object(u)) = on_update {
        for (k, patch) in u {
            if let Some(e) = email_of(&k) {
                update.insert(e, patch);
            }
        }
    }
    let mut destroy = Vec::new();
    if let Some(Value::Array(d)) = on_destroy {
        for k in d.iter().filter_map(Value::as_str) {
            if let Some(e) = email_of(k) {
                destroy.push(json!(e));
            }
        }
    }
    if !update.is_empty() || !destroy.is_empty() {
        let mut email_args = Map::new();
        email_args.insert("accountId".into(), response["accountId"].clone());
        if !update.is_empty() {
            email_args.insert("update".into(), Value::Object(update));
        }
        if !destroy.is_empty() {
            email_args.insert("destroy".into(), Value::Array(destroy));
        }
        let implicit = generic::dispatch::<crate::email::Email>(ctx, "set", email_args).await;
        ctx.implicit.push(("Email/set".into(), implicit));
    }
    Ok(response)
}

pub struct VacationResponse;

fn vacation_json(v: &Vacation, props: &[String]) -> Value {
    let mut o = Map::new();
    for p in props {
        let value = match p.as_str() {
            "id" => json!("singleton"),
            "isEnabled" => json!(v.is_enabled),
            "fromDate" => json!(v.from_date.map(Timestamp::rfc3339)),
            "toDate" => json!(v.to_date.map(Timestamp::rfc3339)),
            "subject" => json!(v.subject),
            "textBody" => json!(v.text_body),
            "htmlBody" => json!(v.html_body),
            _ => continue,
        };
        o.insert(p.clone(), value);
    }
    Value::Object(o)
}

#[async_trait]
impl ObjectType for VacationResponse {
    const NAME: &'static str = "VacationResponse";
    const PROPERTIES: &'static [&'static str] =
        &["id", "isEnabled", "fromDate", "toDate", "subject", "textBody", "htmlBody"];

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        own(ctx, account)?;
        let v = ctx.core.vacation(ctx.who).await?;
        let text = serde_json::to_string(&vacation_json(
            &v,
            &Self::PROPERTIES.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>(),
        ))
        .unwrap_or_default();
        Ok(generic::state_of(&text))
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        ids: Option<Vec<String>>,
        props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        own(ctx, account)?;
        let v = ctx.core.vacation(ctx.who).await?;
        match ids {
            None => Ok((vec![vacation_json(&v, props)], Vec::new())),
            Some(wanted) => {
                let (found, missing): (Vec<String>, Vec<String>) = wanted.into_iter().partition(|w| w == "singleton");
                Ok((found.iter().map(|_| vacation_json(&v, props)).collect(), missing))
            }
        }
    }

    async fn update(
        ctx: &Ctx<'_>,
        account: AccountId,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Option<Value>, SetError> {
        if account != ctx.who.id || id != "singleton" {
            return Err(SetError::not_found());
        }
        let mut v = ctx.core.vacation(ctx.who).await?;
        let text = |k: &str, x: &Value| -> Result<Option<String>, SetError> {
            match x {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                _ => Err(SetError::invalid_properties(&[k], "must be a string or null")),
            }
        };
        let when = |k: &str, x: &Value| -> Result<Option<Timestamp>, SetError> {
            match x {
                Value::Null => Ok(None),
                Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                    .map(|d| Some(Timestamp(d.timestamp_millis())))
                    .map_err(|_| SetError::invalid_properties(&[k], "must be a UTCDate")),
                _ => Err(SetError::invalid_properties(&[k], "must be a UTCDate or null")),
            }
        };
        for (k, x) in patch {
            match k.as_str() {
                "isEnabled" => {
                    v.is_enabled =
                        x.as_bool().ok_or_else(|| SetError::invalid_properties(&["isEnabled"], "must be a boolean"))?;
                }
                "fromDate" => v.from_date = when(k, x)?,
                "toDate" => v.to_date = when(k, x)?,
                "subject" => v.subject = text(k, x)?,
                "textBody" => v.text_body = text(k, x)?,
                "htmlBody" => v.html_body = text(k, x)?,
                other => return Err(SetError::invalid_properties(&[other], format!("{other} cannot be set"))),
            }
        }
        ctx.core.set_vacation(ctx.who, &v).await?;
        Ok(None)
    }
}
