//! Operations endpoints: liveness, readiness (database reachable), Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;
use super::error::ApiError;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(s): State<AppState>) -> Result<&'static str, ApiError> {
    s.core
        .store
        .ping()
        .await
        .map(|()| "ready\n")
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database unreachable"))
}

pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}
