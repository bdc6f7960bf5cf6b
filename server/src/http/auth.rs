//! The HTTP face of authentication: reads Basic or Bearer credentials and the client address,
//! and asks the domain. Adapters never decide access; this only says who is asking.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use kontor_domain::Core;
use kontor_domain::auth::{Authenticated, Credentials};

use super::error::ApiError;

/// Parses an `Authorization` header value.
pub fn credentials(value: &str) -> Option<Credentials> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (login, password) = text.split_once(':')?;
        Some(Credentials::Password { login: login.to_owned(), password: password.to_owned() })
    } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Some(Credentials::Bearer(rest.to_owned()))
    } else {
        None
    }
}

/// The authenticated principal of a request; rejects with 401 (or 429) otherwise.
pub struct Auth(pub Authenticated);

impl<S> FromRequestParts<S> for Auth
where
    Arc<Core>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let core = Arc::<Core>::from_ref(state);
        let source = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        let creds = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(credentials)
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Self(core.authenticate(creds, source).await?))
    }
}

/// Middleware for protocol routers (WebDAV, JMAP): authenticates the request and hands the
/// principal on as an [`Authenticated`] extension; 401/429 otherwise.
pub async fn require_auth(
    axum::extract::State(core): axum::extract::State<Arc<Core>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (mut parts, body) = req.into_parts();
    match Auth::from_request_parts(&mut parts, &core).await {
        Ok(Auth(who)) => {
            parts.extensions.insert(who);
            next.run(axum::extract::Request::from_parts(parts, body)).await
        }
        Err(e) => {
            // Clients send their first request without credentials and repeat it on the same
            // connection after the 401. An unread body makes the server close that connection,
            // racing the client's retry ("connection closed without response"): read small
            // bodies to the end, and say so when the connection will close.
            let drained = axum::body::to_bytes(body, DRAIN_BEFORE_401).await.is_ok();
            let mut response = e.into_response();
            if !drained {
                response
                    .headers_mut()
                    .insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
            }
            response
        }
    }
}

/// Request bodies up to this size are read before a refusal, so the connection stays usable.
const DRAIN_BEFORE_401: usize = 256 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_and_bearer() {
        let b = base64::engine::general_purpose::STANDARD.encode("a@x.org:p:w");
        match credentials(&format!("Basic {b}")) {
            Some(Credentials::Password { login, password }) => {
                assert_eq!((login.as_str(), password.as_str()), ("a@x.org", "p:w"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(credentials("bearer abc"), Some(Credentials::Bearer(t)) if t == "abc"));
        for bad in ["", "Basic", "Basic !!!", "Digest x", "Bearer ", "Basic bm9jb2xvbg=="] {
            assert!(credentials(bad).is_none(), "{bad}");
        }
    }
}
