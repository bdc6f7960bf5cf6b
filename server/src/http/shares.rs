//! `/api/shares` and `/api/collections`: the JSON face of the permission model, for the webmail
//! and scripts. Owners (and delegates with the share right) grant a role on a collection to a
//! colleague of the same domain; the domain enforces who may do what.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use kontor_domain::address::Address;
use kontor_domain::ids::CollectionId;
use kontor_domain::model::Collection;
use kontor_domain::rights::{Rights, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Auth;
use super::error::ApiError;

fn collection_json(c: &Collection) -> Value {
    json!({ "id": c.id, "kind": c.kind, "name": c.name, "displayName": c.display_name, "account": c.account })
}

/// `GET /api/collections`: the caller's own collections (ids for `/api/shares`).
pub async fn collections(State(s): State<AppState>, Auth(who): Auth) -> Result<Json<Value>, ApiError> {
    let p = &who.principal;
    let list = s.core.list_collections(p, p.id, None).await?;
    Ok(Json(Value::Array(list.iter().map(|a| collection_json(&a.collection)).collect())))
}

async fn grant_json(s: &AppState, g: &kontor_domain::model::Grant) -> Value {
    let grantee = s.core.store.principal(g.grantee).await.ok().flatten().map(|p| p.address.to_string());
    let owner = s.core.store.principal(g.account).await.ok().flatten().map(|p| p.address.to_string());
    json!({
        "owner": owner,
        "collection": g.collection,
        "grantee": grantee,
        "role": Role::ALL.into_iter().find(|r| r.rights() == g.rights).map(Role::name),
        "rights": g.rights.names(),
    })
}

/// `GET /api/shares`: what the caller shared, and what was shared with it.
pub async fn list(State(s): State<AppState>, Auth(who): Auth) -> Result<Json<Value>, ApiError> {
    let p = &who.principal;
    let mut given = Vec::new();
    for g in s.core.grants_on(p, p.id).await? {
        given.push(grant_json(&s, &g).await);
    }
    let mut received = Vec::new();
    for g in s.core.shared_with(p).await? {
        received.push(grant_json(&s, &g).await);
    }
    Ok(Json(json!({ "given": given, "received": received })))
}

/// What `POST /api/shares` takes: the collection (id, DAV URL, or the full name of one of the
/// caller's mailboxes, `*` for the whole mailbox), the colleague, and a role (or a
/// comma-separated list of rights; `none` revokes).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    pub collection: Option<i64>,
    pub url: Option<String>,
    pub mailbox: Option<String>,
    pub grantee: String,
    pub role: String,
}

/// The collection a request names; `None`: the caller's whole account (mailbox `*`).
async fn target(
    s: &AppState,
    p: &kontor_domain::model::Principal,
    collection: Option<i64>,
    url: Option<&str>,
    mailbox: Option<&str>,
) -> Result<Option<Collection>, ApiError> {
    Ok(match (collection, url, mailbox) {
        (Some(id), None, None) => Some(s.core.access(p, CollectionId(id)).await?.collection),
        (None, Some(url), None) => Some(
            kontor_dav::tree::collection_at(s.core.clone(), p.clone(), url)
                .await
                .map_err(|e| ApiError::new(e.status, e.message))?,
        ),
        (None, None, Some("*")) => None,
        (None, None, Some(name)) => Some(s.core.own_mailbox(p, name).await?.collection),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "give one of collection (an id), url, or mailbox (a mailbox name, * for the whole mailbox)",
            ));
        }
    })
}

/// `POST /api/shares`: sets the colleague's role on the collection.
pub async fn set(
    State(s): State<AppState>,
    Auth(who): Auth,
    Json(req): Json<ShareRequest>,
) -> Result<Json<Value>, ApiError> {
    let p = &who.principal;
    let collection = target(&s, p, req.collection, req.url.as_deref(), req.mailbox.as_deref()).await?;
    let rights = if req.role.trim() == "none" {
        Rights::NONE
    } else {
        Rights::parse(&req.role).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "role: use free-busy, reviewer, author, editor, owner, or none")
        })?
    };
    let grantee = Address::parse(&req.grantee)?;
    let (account, id) = collection.map_or((p.id, None), |c| (c.account, Some(c.id)));
    let g = s.core.share(p, account, id, &grantee, rights).await?;
    Ok(Json(match g {
        Some(g) => grant_json(&s, &g).await,
        None => json!({ "revoked": true }),
    }))
}

#[derive(Debug, Deserialize)]
pub struct RevokeQuery {
    pub collection: Option<i64>,
    pub mailbox: Option<String>,
    pub grantee: String,
}

/// `DELETE /api/shares?collection=ID&grantee=ADDRESS` (or `mailbox=NAME`, `*` for the whole
/// mailbox, instead of the id).
pub async fn revoke(
    State(s): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<RevokeQuery>,
) -> Result<StatusCode, ApiError> {
    let p = &who.principal;
    let c = target(&s, p, q.collection, None, q.mailbox.as_deref()).await?;
    let (account, id) = c.map_or((p.id, None), |c| (c.account, Some(c.id)));
    s.core.share(p, account, id, &Address::parse(&q.grantee)?, Rights::NONE).await?;
    Ok(StatusCode::NO_CONTENT)
}
