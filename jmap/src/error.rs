//! JMAP's two kinds of errors: request-level problems (RFC 8620 §3.6.1, an HTTP status with
//! a problem-details JSON body) and method-level errors (an `error` response in place of a
//! method's answer, §3.6.2), plus per-object SetErrors (§5.3).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kontor_domain::Error;
use serde_json::{Map, Value, json};

/// A request the server refuses as a whole.
#[derive(Debug)]
pub struct RequestError {
    status: StatusCode,
    kind: &'static str,
    detail: String,
    limit: Option<&'static str>,
}

impl RequestError {
    pub fn not_json(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "urn:ietf:params:jmap:error:notJSON",
            detail: detail.into(),
            limit: None,
        }
    }
    pub fn not_request(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "urn:ietf:params:jmap:error:notRequest",
            detail: detail.into(),
            limit: None,
        }
    }
    pub fn unknown_capability(cap: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "urn:ietf:params:jmap:error:unknownCapability",
            detail: format!("the server does not know the capability {cap:?}"),
            limit: None,
        }
    }
    pub fn limit(which: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "urn:ietf:params:jmap:error:limit",
            detail: detail.into(),
            limit: Some(which),
        }
    }
    pub fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self { status, kind: "about:blank", detail: detail.into(), limit: None }
    }
}

impl RequestError {
    /// The problem details object.
    pub fn to_value(&self) -> Value {
        let mut body = json!({ "type": self.kind, "status": self.status.as_u16(), "detail": self.detail });
        if let Some(l) = self.limit {
            body["limit"] = json!(l);
        }
        body
    }
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let body = self.to_value();
        let mut r = (self.status, axum::Json(body)).into_response();
        r.headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/problem+json"));
        r
    }
}

/// A method call that failed; its answer is `["error", {type, description}, callId]`.
#[derive(Debug, Clone)]
pub struct MethodError {
    pub kind: &'static str,
    pub description: Option<String>,
    pub extra: Map<String, Value>,
}

impl MethodError {
    pub fn new(kind: &'static str, description: impl Into<String>) -> Self {
        Self { kind, description: Some(description.into()), extra: Map::new() }
    }
    pub fn invalid_arguments(description: impl Into<String>) -> Self {
        Self::new("invalidArguments", description)
    }
    pub fn account_not_found() -> Self {
        Self::new("accountNotFound", "no such account, or not one the user may see")
    }
    pub fn unknown_method(name: &str) -> Self {
        Self::new("unknownMethod", format!("no method {name:?}"))
    }
    pub fn cannot_calculate_changes() -> Self {
        Self::new("cannotCalculateChanges", "the state is too old or unknown; get everything again")
    }
    pub fn state_mismatch() -> Self {
        Self::new("stateMismatch", "ifInState does not match the current state")
    }
    pub fn request_too_large(description: impl Into<String>) -> Self {
        Self::new("requestTooLarge", description)
    }
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new("forbidden", description)
    }
    pub fn server_fail() -> Self {
        Self::new("serverFail", "the server failed; the failure was logged")
    }
    pub fn to_value(&self) -> Value {
        let mut o = self.extra.clone();
        o.insert("type".into(), json!(self.kind));
        if let Some(d) = &self.description {
            o.insert("description".into(), json!(d));
        }
        Value::Object(o)
    }
}

impl From<Error> for MethodError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(m) => Self::invalid_arguments(m),
            Error::NotFound(_) => Self::account_not_found(),
            Error::Forbidden { needed } => Self::forbidden(format!("permission denied: {needed} needed")),
            Error::TokenExpired { .. } | Error::TokenInvalid(_) | Error::TokenWrongAccount => {
                Self::cannot_calculate_changes()
            }
            Error::TooLarge { .. } => Self::request_too_large(e.to_string()),
            Error::Internal(ref m) => {
                tracing::error!(error = %m, "JMAP method failed");
                Self::server_fail()
            }
            other => Self::new("invalidArguments", other.to_string()),
        }
    }
}

/// Why one object of a /set call was not created, updated or destroyed.
#[derive(Debug, Clone)]
pub struct SetError {
    pub kind: &'static str,
    pub description: String,
    pub properties: Vec<String>,
}

impl SetError {
    pub fn new(kind: &'static str, description: impl Into<String>) -> Self {
        Self { kind, description: description.into(), properties: Vec::new() }
    }
    pub fn invalid_properties(props: &[&str], description: impl Into<String>) -> Self {
        Self {
            kind: "invalidProperties",
            description: description.into(),
            properties: props.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
    pub fn not_found() -> Self {
        Self::new("notFound", "no such object")
    }
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new("forbidden", description)
    }
    pub fn to_value(&self) -> Value {
        let mut v = json!({ "type": self.kind, "description": self.description });
        if !self.properties.is_empty() {
            v["properties"] = json!(self.properties);
        }
        v
    }
}

impl From<Error> for SetError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(_) => Self::not_found(),
            Error::Forbidden { needed } => Self::forbidden(format!("permission denied: {needed} needed")),
            Error::OverQuota { .. } => Self::new("overQuota", e.to_string()),
            Error::TooLarge { .. } => Self::new("tooLarge", e.to_string()),
            Error::Conflict(m) => Self::new("alreadyExists", format!("{m} already exists")),
            Error::Invalid(m) | Error::Rejected { message: m, .. } => Self::new("invalidProperties", m),
            Error::PreconditionFailed(m) => Self::new("stateMismatch", m),
            Error::Internal(ref m) => {
                tracing::error!(error = %m, "JMAP set failed");
                Self::new("serverFail", "the server failed; the failure was logged")
            }
            other => Self::new("forbidden", other.to_string()),
        }
    }
}

/// The answer of a method: its response arguments, or an error.
pub type MethodResult = Result<Value, MethodError>;
