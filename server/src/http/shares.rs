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

/// What `POST /api/shares` takes: the collection (id or DAV URL), the colleague, and a role
/// (or a comma-separated list of rights; `none` revokes).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    pub collection: Option<i64>,
    pub url: Option<String>,
    pub grantee: String,
    pub role: String,
}

/// `POST /api/shares`: sets the colleague's role on the collection.
pub async fn set(
    State(s): State<AppState>,
    Auth(who): Auth,
    Json(req): Json<ShareRequest>,
) -> Result<Json<Value>, ApiError> {
    let p = &who.principal;
    let collection = match (req.collection, &req.url) {
        (Some(id), None) => s.core.access(p, CollectionId(id)).await?.collection,
        (None, Some(url)) => kontor_dav::tree::collection_at(s.core.clone(), p.clone(), url)
            .await
            .map_err(|e| ApiError::new(e.status, e.message))?,
        _ => return Err(ApiError::new(StatusCode::BAD_REQUEST, "give either collection (an id) or url")),
    };
    let rights = if req.role.trim() == "none" {
        Rights::NONE
    } else {
        Rights::parse(&req.role).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "role: use free-busy, reviewer, author, editor, owner, or none")
        })?
    };
    let grantee = Address::parse(&req.grantee)?;
    let g = s.core.share(p, collection.account, Some(collection.id), &grantee, rights).await?;
    Ok(Json(match g {
        Some(g) => grant_json(&s, &g).await,
        None => json!({ "revoked": true }),
    }))
}

#[derive(Debug, Deserialize)]
pub struct RevokeQuery {
    pub collection: i64,
    pub grantee: String,
}

/// `DELETE /api/shares?collection=ID&grantee=ADDRESS`.
pub async fn revoke(
    State(s): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<RevokeQuery>,
) -> Result<StatusCode, ApiError> {
    let p = &who.principal;
    let c = s.core.access(p, CollectionId(q.collection)).await?.collection;
    s.core.share(p, c.account, Some(c.id), &Address::parse(&q.grantee)?, Rights::NONE).await?;
    Ok(StatusCode::NO_CONTENT)
}
