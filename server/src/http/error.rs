//! Every HTTP error answer is made here: domain errors, auth failures, and the statuses the
//! tower layers produce (413, timeouts, caught panics) become `application/problem+json`
//! (RFC 9457) with a clear message and never an internal detail.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kontor_domain::Error;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into(), retry_after: None }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication required: use HTTP Basic with user@domain and a password, or a Bearer token",
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::Invalid(_) | Error::TokenInvalid(_) | Error::TokenWrongAccount => StatusCode::BAD_REQUEST,
            Error::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Forbidden { .. } | Error::CrossDomainGrant(_) => StatusCode::FORBIDDEN,
            Error::AuthFailed => return Self::new(StatusCode::UNAUTHORIZED, "authentication failed"),
            Error::RateLimited { retry_after_secs } => {
                return Self {
                    retry_after: Some(*retry_after_secs),
                    ..Self::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
                };
            }
            Error::OverQuota { .. } => StatusCode::INSUFFICIENT_STORAGE,
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::TokenExpired { .. } => StatusCode::GONE,
            Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                return Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log");
            }
        };
        Self::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut r =
            (self.status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let h = r.headers_mut();
            h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Kontor\", charset=\"UTF-8\""));
            h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"Kontor\""));
        }
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

/// Gives the bare answers of tower layers a body that says what happened.
pub async fn explain_layer_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let r = next.run(req).await;
    let explained =
        r.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let plain = r.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !explained => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large for this server (http.max_body)")
                .into_response()
        }
        StatusCode::REQUEST_TIMEOUT if !explained => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "request took too long (http.request_timeout)").into_response()
        }
        // The JSON API's own answers are problem+json; extractor rejections (bad JSON, missing
        // query parameters) come as plain text and are turned into the same shape here.
        s if api && plain && s.is_client_error() => {
            let status = r.status();
            let body = axum::body::to_bytes(r.into_body(), 64 << 10).await.unwrap_or_default();
            ApiError::new(status, String::from_utf8_lossy(&body).trim().to_owned()).into_response()
        }
        _ => r,
    }
}

/// The answer to a panic in a handler: 500 without the panic's text (it goes to the log).
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = msg, "handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log").into_response()
}
