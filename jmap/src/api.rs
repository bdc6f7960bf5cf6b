//! `POST /jmap/api` (RFC 8620 §3): the request object, its method calls in order, result
//! references (§3.7), creation ids across calls, and the response.

use std::collections::{HashMap, HashSet};

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use kontor_domain::Core;
use kontor_domain::auth::Authenticated;
use kontor_domain::ids::AccountId;
use kontor_domain::model::Principal;
use serde_json::{Map, Value, json};

use crate::error::{MethodError, MethodResult, RequestError};
use crate::{Jmap, Limits, generic, ids};

pub const CORE: &str = "urn:ietf:params:jmap:core";
pub const MAIL: &str = "urn:ietf:params:jmap:mail";
pub const QUOTA: &str = "urn:ietf:params:jmap:quota";
pub const SUBMISSION: &str = "urn:ietf:params:jmap:submission";
pub const VACATION: &str = "urn:ietf:params:jmap:vacationresponse";
pub const WEBSOCKET: &str = "urn:ietf:params:jmap:websocket";
pub const CONTACTS: &str = "urn:ietf:params:jmap:contacts";
pub const CALENDARS: &str = "urn:ietf:params:jmap:calendars";
pub const PRINCIPALS: &str = "urn:ietf:params:jmap:principals";
pub const PRINCIPALS_OWNER: &str = "urn:ietf:params:jmap:principals:owner";

/// The capabilities a request may name in `using`.
pub const KNOWN: [&str; 10] =
    [CORE, MAIL, QUOTA, SUBMISSION, VACATION, WEBSOCKET, CONTACTS, CALENDARS, PRINCIPALS, PRINCIPALS_OWNER];

/// What one request's method calls share.
pub struct Ctx<'a> {
    pub core: &'a Core,
    pub push: &'a crate::PushSettings,
    pub who: &'a Principal,
    pub limits: Limits,
    using: HashSet<String>,
    /// Creation id → the id the server gave the object.
    pub created: HashMap<String, String>,
    /// Responses a method adds after its own (EmailSubmission/set's implicit Email/set).
    pub implicit: Vec<(String, MethodResult)>,
    /// Submissions made in this request → their emails (for `onSuccessUpdateEmail`).
    submitted: std::sync::Mutex<HashMap<String, String>>,
}

impl Ctx<'_> {
    /// The account an `accountId` argument names, if the caller may use it at all (its own,
    /// or one shared with it); types check their own rights further.
    pub fn account(&self, args: &Map<String, Value>) -> Result<AccountId, MethodError> {
        let id = match args.get("accountId") {
            Some(Value::String(s)) => s,
            // RFC 8620 makes it required; accepting its absence as "the primary account" is
            // what lenient servers do, and no client is hurt by it.
            None | Some(Value::Null) => return Ok(self.who.id),
            Some(_) => return Err(MethodError::invalid_arguments("accountId must be a string")),
        };
        ids::parse_account(id).ok_or_else(MethodError::account_not_found)
    }

    /// An id argument that may be a creation reference (`#c1`) to an object made earlier in
    /// this request.
    pub fn resolve<'s>(&'s self, id: &'s str) -> Option<&'s str> {
        match id.strip_prefix('#') {
            Some(creation) => self.created.get(creation).map(String::as_str),
            None => Some(id),
        }
    }

    pub fn note_submission(&self, submission: &str, email: &str) {
        if let Ok(mut m) = self.submitted.lock() {
            m.insert(submission.to_owned(), email.to_owned());
        }
    }

    pub fn submitted_email(&self, submission: &str) -> Option<String> {
        self.submitted.lock().ok().and_then(|m| m.get(submission).cloned())
    }

    pub fn uses(&self, capability: &str) -> bool {
        self.using.contains(capability)
    }
}

/// Looks up a result reference: the response to `resultOf` (of method `name`), and in it the
/// value at `path` (a JSON pointer where `*` maps over an array and flattens arrays of arrays).
fn resolve_reference(reference: &Value, responses: &[(String, Value, String)]) -> Result<Value, MethodError> {
    let bad = |why: String| MethodError::new("invalidResultReference", why);
    let r = reference.as_object().ok_or_else(|| bad("a result reference must be an object".into()))?;
    let (Some(Value::String(of)), Some(Value::String(name)), Some(Value::String(path))) =
        (r.get("resultOf"), r.get("name"), r.get("path"))
    else {
        return Err(bad("a result reference needs resultOf, name and path strings".into()));
    };
    let (_, result, _) = responses
        .iter()
        .find(|(n, _, id)| id == of && n == name)
        .ok_or_else(|| bad(format!("no earlier response {name:?} with call id {of:?}")))?;
    pointer(result, path).ok_or_else(|| bad(format!("path {path:?} does not resolve in the {name} response")))
}

/// RFC 8620 §3.7's JSON pointer: RFC 6901 plus `*` over arrays.
fn pointer(v: &Value, path: &str) -> Option<Value> {
    let Some(rest) = path.strip_prefix('/') else {
        return path.is_empty().then(|| v.clone());
    };
    let (token, tail) = match rest.split_once('/') {
        Some((t, tail)) => (t, format!("/{tail}")),
        None => (rest, String::new()),
    };
    let token = token.replace("~1", "/").replace("~0", "~");
    match v {
        Value::Array(items) if token == "*" => {
            let mut out = Vec::new();
            for item in items {
                match pointer(item, &tail)? {
                    Value::Array(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            Some(Value::Array(out))
        }
        Value::Array(items) => pointer(items.get(token.parse::<usize>().ok()?)?, &tail),
        Value::Object(o) => pointer(o.get(&token)?, &tail),
        _ => None,
    }
}

/// The arguments with every `#name` result reference replaced by its value.
fn with_references(
    mut args: Map<String, Value>,
    responses: &[(String, Value, String)],
) -> Result<Map<String, Value>, MethodError> {
    let refs: Vec<String> = args.keys().filter(|k| k.starts_with('#')).cloned().collect();
    for key in refs {
        let plain = key[1..].to_owned();
        if args.contains_key(&plain) {
            return Err(MethodError::invalid_arguments(format!("both {plain} and #{plain} given")));
        }
        let reference = args.remove(&key).unwrap_or(Value::Null);
        let value = resolve_reference(&reference, responses)?;
        args.insert(plain, value);
    }
    Ok(args)
}

pub async fn handle(
    State(j): State<Jmap>,
    Extension(who): Extension<Authenticated>,
    body: axum::body::Body,
) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, j.limits.max_size_request).await else {
        return RequestError::limit(
            "maxSizeRequest",
            format!("the request is larger than {} bytes", j.limits.max_size_request),
        )
        .into_response();
    };
    let request: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return RequestError::not_json(format!("the body is not JSON: {e}")).into_response(),
    };
    match run(&j, &who.principal, request).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Runs a request object; the response object, or a request-level error.
pub(crate) async fn run(j: &Jmap, who: &Principal, request: Value) -> Result<Value, RequestError> {
    let Value::Object(mut request) = request else {
        return Err(RequestError::not_request("the request must be a JSON object"));
    };
    let using: HashSet<String> = match request.remove("using") {
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| RequestError::not_request("using must be an array of strings"))?,
        _ => return Err(RequestError::not_request("the request needs a using array")),
    };
    if let Some(unknown) = using.iter().find(|c| !KNOWN.contains(&c.as_str())) {
        return Err(RequestError::unknown_capability(unknown));
    }
    let Some(Value::Array(calls)) = request.remove("methodCalls") else {
        return Err(RequestError::not_request("the request needs a methodCalls array"));
    };
    if calls.len() > j.limits.max_calls_in_request {
        return Err(RequestError::limit(
            "maxCallsInRequest",
            format!("{} method calls; at most {} per request", calls.len(), j.limits.max_calls_in_request),
        ));
    }
    let mut parsed = Vec::with_capacity(calls.len());
    for c in calls {
        match c {
            Value::Array(mut parts) if parts.len() == 3 => {
                let id = parts.pop();
                let args = parts.pop();
                let name = parts.pop();
                match (name, args, id) {
                    (Some(Value::String(n)), Some(Value::Object(a)), Some(Value::String(i))) => parsed.push((n, a, i)),
                    _ => {
                        return Err(RequestError::not_request("each method call is [name, arguments object, call id]"));
                    }
                }
            }
            _ => return Err(RequestError::not_request("each method call is [name, arguments object, call id]")),
        }
    }
    let had_created = request.contains_key("createdIds");
    let created = match request.remove("createdIds") {
        Some(Value::Object(m)) => m.into_iter().filter_map(|(k, v)| Some((k, v.as_str()?.to_owned()))).collect(),
        _ => HashMap::new(),
    };
    let mut ctx = Ctx {
        core: &j.core,
        push: &j.push,
        who,
        limits: j.limits,
        using,
        created,
        implicit: Vec::new(),
        submitted: std::sync::Mutex::default(),
    };

    let mut responses: Vec<(String, Value, String)> = Vec::with_capacity(parsed.len());
    for (name, args, call_id) in parsed {
        let outcome = match with_references(args, &responses) {
            Ok(args) => call(&mut ctx, &name, args).await,
            Err(e) => Err(e),
        };
        for (n, r) in std::iter::once((name, outcome)).chain(std::mem::take(&mut ctx.implicit)) {
            match r {
                Ok(v) => responses.push((n, v, call_id.clone())),
                Err(e) => responses.push(("error".into(), e.to_value(), call_id.clone())),
            }
        }
    }
    let session_state = crate::session::state(&j.core, who).await.unwrap_or_default();
    let mut out = json!({
        "methodResponses": responses.into_iter().map(|(n, v, id)| json!([n, v, id])).collect::<Vec<_>>(),
        "sessionState": session_state,
    });
    if had_created {
        out["createdIds"] = json!(ctx.created);
    }
    Ok(out)
}

/// One method call.
async fn call(ctx: &mut Ctx<'_>, name: &str, args: Map<String, Value>) -> MethodResult {
    let Some((object, verb)) = name.split_once('/') else { return Err(MethodError::unknown_method(name)) };
    let needs = match object {
        "Core" | "Blob" | "PushSubscription" => CORE,
        "Quota" => QUOTA,
        "EmailSubmission" | "Identity" => SUBMISSION,
        "VacationResponse" => VACATION,
        "AddressBook" | "ContactCard" => CONTACTS,
        "Calendar" | "CalendarEvent" | "ParticipantIdentity" => CALENDARS,
        "Principal" | "ShareNotification" => PRINCIPALS,
        _ => MAIL,
    };
    if !ctx.uses(needs) {
        return Err(MethodError::new(
            "unknownMethod",
            format!("{name} needs the capability {needs:?} in the request's using"),
        ));
    }
    match (object, verb) {
        ("Core", "echo") => Ok(Value::Object(args)),
        ("Blob", "copy") => crate::blob::copy(ctx, &args).await,
        ("Mailbox", v) => generic::dispatch::<crate::mailbox::Mailbox>(ctx, v, args).await,
        ("Email", v) => crate::email::dispatch(ctx, v, args).await,
        ("Thread", v) => generic::dispatch::<crate::thread::Thread>(ctx, v, args).await,
        ("Identity", v) => generic::dispatch::<crate::misc::Identity>(ctx, v, args).await,
        ("Quota", v) => generic::dispatch::<crate::misc::Quota>(ctx, v, args).await,
        ("PushSubscription", v @ ("get" | "set")) => {
            generic::dispatch::<crate::push_sub::PushSubscription>(ctx, v, args).await
        }
        ("SearchSnippet", "get") => crate::email::snippet::get(ctx, &args).await,
        ("EmailSubmission", "set") => crate::submission::set(ctx, args).await,
        ("EmailSubmission", v) => generic::dispatch::<crate::submission::EmailSubmission>(ctx, v, args).await,
        ("VacationResponse", v @ ("get" | "set")) => {
            generic::dispatch::<crate::submission::VacationResponse>(ctx, v, args).await
        }
        ("AddressBook", v) => generic::dispatch::<crate::contacts::AddressBook>(ctx, v, args).await,
        ("ContactCard", v) => generic::dispatch::<crate::contacts::ContactCard>(ctx, v, args).await,
        ("Calendar", v) => generic::dispatch::<crate::calendars::Calendar>(ctx, v, args).await,
        ("CalendarEvent", v) => generic::dispatch::<crate::calendar_event::CalendarEvent>(ctx, v, args).await,
        ("ParticipantIdentity", v @ ("get" | "set" | "changes")) => {
            generic::dispatch::<crate::misc::ParticipantIdentity>(ctx, v, args).await
        }
        ("Principal", v @ ("get" | "changes" | "query" | "queryChanges" | "set")) => {
            generic::dispatch::<crate::principals::Principal>(ctx, v, args).await
        }
        ("ShareNotification", v @ ("get" | "changes" | "query" | "queryChanges" | "set")) => {
            generic::dispatch::<crate::principals::ShareNotification>(ctx, v, args).await
        }
        _ => Err(MethodError::unknown_method(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_map_over_arrays() {
        let v = json!({"list": [{"id": "a", "t": ["x", "y"]}, {"id": "b", "t": ["z"]}], "ids": ["1"]});
        assert_eq!(pointer(&v, "/list/*/id"), Some(json!(["a", "b"])));
        assert_eq!(pointer(&v, "/list/*/t"), Some(json!(["x", "y", "z"])));
        assert_eq!(pointer(&v, "/ids"), Some(json!(["1"])));
        assert_eq!(pointer(&v, "/list/1/id"), Some(json!("b")));
        assert_eq!(pointer(&v, "/nope"), None);
        assert_eq!(pointer(&v, "/list/9/id"), None);
    }
}
