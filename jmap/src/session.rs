//! The session resource (RFC 8620 §2): capabilities with the limits the API enforces, the
//! user's own account and the accounts colleagues shared with it, and where the API lives.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use kontor_domain::Core;
use kontor_domain::auth::Authenticated;
use kontor_domain::model::{CollectionKind, Principal};
use serde_json::{Map, Value, json};

use crate::api::{
    CALENDARS, CONTACTS, CORE, MAIL, PRINCIPALS, PRINCIPALS_OWNER, QUOTA, SUBMISSION, VACATION, WEBSOCKET,
};
use crate::error::RequestError;
use crate::{Jmap, Limits, ids};

/// The accounts the user sees: (id, name, personal, capabilities).
async fn accounts(
    core: &Core,
    who: &Principal,
) -> kontor_domain::Result<Vec<(String, String, bool, Vec<&'static str>)>> {
    let mut out = vec![(
        ids::account(who.id),
        who.address.to_string(),
        true,
        vec![MAIL, QUOTA, SUBMISSION, VACATION, CONTACTS, CALENDARS, PRINCIPALS],
    )];
    for (owner, kinds) in core.shared_accounts(who).await? {
        let mut caps = Vec::new();
        if kinds.contains(&CollectionKind::MailFolder) {
            caps.push(MAIL);
        }
        if kinds.contains(&CollectionKind::AddressBook) {
            caps.push(CONTACTS);
        }
        if kinds.contains(&CollectionKind::Calendar) {
            caps.push(CALENDARS);
        }
        if !caps.is_empty() {
            out.push((ids::account(owner.id), owner.address.to_string(), false, caps));
        }
    }
    Ok(out)
}

/// The session's state: changes when the set of accounts does.
pub async fn state(core: &Core, who: &Principal) -> kontor_domain::Result<String> {
    let list = accounts(core, who).await?;
    let text: String = list.iter().map(|(id, name, _, caps)| format!("{id}:{name}:{};", caps.join(","))).collect();
    Ok(crate::generic::state_of(&text))
}

fn mail_capability(limits: &Limits) -> Value {
    json!({
        "maxMailboxesPerEmail": null,
        "maxMailboxDepth": 64,
        "maxSizeMailboxName": 255,
        "maxSizeAttachmentsPerEmail": limits.max_size_upload,
        "emailQuerySortOptions": [
            "receivedAt", "sentAt", "size", "from", "to", "subject",
            "hasKeyword", "allInThreadHaveKeyword", "someInThreadHaveKeyword"
        ],
        "mayCreateTopLevelMailbox": true,
    })
}

/// The draft's account capability of `urn:ietf:params:jmap:calendars`.
fn calendars_capability(personal: bool) -> Value {
    json!({
        "maxCalendarsPerEvent": 1,
        "minDateTime": "0001-01-01T00:00:00Z",
        "maxDateTime": "9999-12-31T23:59:59Z",
        "maxExpandedQueryDuration": "P366D",
        "maxParticipantsPerEvent": null,
        "mayCreateCalendar": personal,
    })
}

/// Where the client reaches us: the scheme and host it used (behind a proxy, the forwarded
/// ones).
fn base_url(headers: &HeaderMap) -> String {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let host = get("x-forwarded-host").or_else(|| get(header::HOST.as_str())).unwrap_or("localhost");
    let scheme = get("x-forwarded-proto").filter(|p| *p == "https" || *p == "http").unwrap_or("http");
    // A host header is a client's word: keep only what a host and port may hold.
    let host: String = host.chars().filter(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(*c)).collect();
    format!("{scheme}://{host}")
}

pub async fn handle(State(j): State<Jmap>, Extension(who): Extension<Authenticated>, headers: HeaderMap) -> Response {
    match session(&j, &who.principal, &headers).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "JMAP session failed");
            RequestError::status(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "the server failed; it was logged")
                .into_response()
        }
    }
}

/// The Account objects (RFC 8620 §2) of the accounts the user sees, by account id.
pub(crate) async fn account_objects(
    core: &Core,
    who: &Principal,
    l: &Limits,
) -> kontor_domain::Result<Map<String, Value>> {
    let mut accounts_json = Map::new();
    for (id, name, personal, caps) in accounts(core, who).await? {
        let mut account_caps = Map::new();
        for c in caps {
            let cap = match c {
                MAIL => mail_capability(l),
                SUBMISSION => json!({ "maxDelayedSend": 0, "submissionExtensions": {} }),
                CONTACTS => json!({ "maxAddressBooksPerCard": 1, "mayCreateAddressBook": personal }),
                CALENDARS => calendars_capability(personal),
                PRINCIPALS => json!({ "currentUserPrincipalId": ids::principal(who.id) }),
                _ => json!({}),
            };
            account_caps.insert(c.to_owned(), cap);
        }
        // RFC 9670 §2: whose account it is, and where that principal's Principal object is.
        let owner = ids::parse_account(&id).map_or_else(String::new, ids::principal);
        account_caps.insert(
            PRINCIPALS_OWNER.to_owned(),
            json!({ "accountIdForPrincipal": ids::account(who.id), "principalId": owner }),
        );
        accounts_json.insert(
            id,
            json!({ "name": name, "isPersonal": personal, "isReadOnly": false, "accountCapabilities": account_caps }),
        );
    }
    Ok(accounts_json)
}

async fn session(j: &Jmap, who: &Principal, headers: &HeaderMap) -> kontor_domain::Result<Value> {
    let l = j.limits;
    let base = base_url(headers);
    let accounts_json = account_objects(&j.core, who, &l).await?;
    let me = ids::account(who.id);
    Ok(json!({
        "capabilities": {
            CORE: {
                "maxSizeUpload": l.max_size_upload,
                "maxConcurrentUpload": l.max_concurrent_upload,
                "maxSizeRequest": l.max_size_request,
                "maxConcurrentRequests": l.max_concurrent_requests,
                "maxCallsInRequest": l.max_calls_in_request,
                "maxObjectsInGet": l.max_objects_in_get,
                "maxObjectsInSet": l.max_objects_in_set,
                "collationAlgorithms": ["i;ascii-casemap", "i;unicode-casemap"],
            },
            MAIL: {},
            QUOTA: {},
            SUBMISSION: {},
            VACATION: {},
            WEBSOCKET: {
                "url": format!("{}/jmap/ws", base.replacen("http", "ws", 1)),
                "supportsPush": true,
            },
            CONTACTS: {},
            CALENDARS: {},
            PRINCIPALS: {},
            PRINCIPALS_OWNER: {},
        },
        "accounts": accounts_json,
        "primaryAccounts": {
            MAIL: me, QUOTA: me, SUBMISSION: me, VACATION: me, CONTACTS: me, CALENDARS: me, PRINCIPALS: me,
        },
        "username": who.address.to_string(),
        "apiUrl": format!("{base}/jmap/api/"),
        "downloadUrl": format!("{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?type={{type}}"),
        "uploadUrl": format!("{base}/jmap/upload/{{accountId}}/"),
        "eventSourceUrl": format!("{base}/jmap/eventsource?types={{types}}&closeafter={{closeafter}}&ping={{ping}}"),
        "state": state(&j.core, who).await?,
    }))
}
