//! The HTTP listener: one axum router for every HTTP-based protocol, with the cross-cutting
//! layers (request ids, tracing, compression, body limit, timeout, panic catching, metrics).

mod api;
pub mod auth;
pub mod error;
mod ops;
mod shares;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRef, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use kontor_domain::Core;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub metrics: PrometheusHandle,
}

impl FromRef<AppState> for Arc<Core> {
    fn from_ref(s: &AppState) -> Self {
        s.core.clone()
    }
}

/// Limits of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body: usize,
    pub request_timeout: Duration,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: random, so ids from several nodes do not collide.
#[derive(Clone, Copy, Default)]
struct RandomId;

impl MakeRequestId for RandomId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = format!("{:016x}", rand::random::<u64>());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Counts requests and their duration per route and status.
async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let r = next.run(req).await;
    let labels = [("method", method), ("route", route), ("status", r.status().as_u16().to_string())];
    metrics::counter!("kontor_http_requests_total", &labels).increment(1);
    metrics::histogram!("kontor_http_request_duration_seconds", &labels[..2]).record(start.elapsed().as_secs_f64());
    r
}

/// The whole HTTP application.
pub fn router(state: AppState, limits: Limits, push: kontor_jmap::PushSettings) -> Router {
    let routes = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/api/me", get(api::me))
        .route("/api/token", post(api::token))
        .route("/api/collections", get(shares::collections))
        .route("/api/shares", get(shares::list).post(shares::set).delete(shares::revoke))
        .fallback(|| async { error::ApiError::new(StatusCode::NOT_FOUND, "no such resource") })
        .with_state(state.clone())
        .merge(kontor_dav::well_known())
        .merge(kontor_jmap::well_known())
        .merge(
            kontor_jmap::router(state.core.clone(), push)
                .route_layer(middleware::from_fn_with_state(state.core.clone(), auth::require_auth)),
        )
        .merge(
            kontor_dav::router(state.core.clone())
                .route_layer(middleware::from_fn_with_state(state.core.clone(), auth::require_auth)),
        );
    with_layers(routes, limits)
}

/// Bodies smaller than this go out as they are: they fit in one TCP segment, so compressing
/// them costs time and saves no round trip.
const COMPRESS_ABOVE: u16 = 1400;

/// The cross-cutting layers, innermost first: each wraps everything above it.
fn with_layers(routes: Router, limits: Limits) -> Router {
    routes
        .layer(RequestBodyLimitLayer::new(limits.max_body))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout))
        .layer(
            CompressionLayer::new()
                .quality(tower_http::CompressionLevel::Fastest)
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(COMPRESS_ABOVE))),
        )
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(middleware::from_fn(error::explain_layer_errors))
        .layer(middleware::from_fn(record_metrics))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::WARN)).make_span_with(
                |req: &axum::http::Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
                },
            ),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomId))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("secret internal detail")
    }

    fn app() -> Router {
        let routes = Router::new()
            .route("/boom", get(boom))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/echo", post(|body: String| async move { body }));
        with_layers(routes, Limits { max_body: 16, request_timeout: Duration::from_millis(200) })
    }

    async fn body(r: Response) -> String {
        String::from_utf8(axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn panics_become_500_without_details() {
        let r = app().oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.headers().contains_key("x-request-id"));
        let text = body(r).await;
        assert!(text.contains("internal error") && !text.contains("secret"), "{text}");
    }

    #[tokio::test]
    async fn oversized_bodies_get_413_with_a_message() {
        let r = app().oneshot(Request::post("/echo").body(Body::from("x".repeat(17))).unwrap()).await.unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body(r).await.contains("too large"));
        let r = app().oneshot(Request::post("/echo").body(Body::from("small")).unwrap()).await.unwrap();
        assert_eq!(body(r).await, "small");
    }

    #[tokio::test]
    async fn slow_requests_time_out_with_a_message() {
        let r = app().oneshot(Request::get("/slow").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(body(r).await.contains("took too long"));
    }
}
