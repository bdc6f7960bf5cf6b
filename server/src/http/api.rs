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
    if who.method == AuthMethod::Token {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "log in with a password to get a new token"));
    }
    let (token, ttl) = s.core.issue_token(&who)?;
    Ok(Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": ttl })))
}
