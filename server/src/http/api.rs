//! The small JSON API: who am I, and access tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kontor_domain::auth::AuthMethod;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Auth;
use super::error::ApiError;

/// `GET /api/me`: the authenticated principal.
pub async fn me(Auth(who): Auth) -> Json<Value> {
    let p = &who.principal;
    Json(json!({
        "id": p.id,
        "address": p.address.to_string(),
        "kind": p.kind,
        "displayName": p.display_name,
        "admin": p.is_admin,
        "quota": { "used": p.quota.used_bytes, "limit": p.quota.limit_bytes },
        "authMethod": match who.method {
            AuthMethod::Password => "password",
            AuthMethod::AppPassword => "app-password",
            AuthMethod::Token => "token",
        },
    }))
}

/// `POST /api/token`: an access token for a password or app-password login.
pub async fn token(State(s): State<AppState>, Auth(who): Auth) -> Result<Json<Value>, ApiError> {
    // Tokens outlive what they were minted from; an app password is revocable on its own, so it
    // does not mint tokens (a revoked app password must stop working at once).
    if who.method != AuthMethod::Password {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "log in with the account password to get a token"));
    }
    let (token, ttl) = s.core.issue_token(&who)?;
    Ok(Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": ttl })))
}
