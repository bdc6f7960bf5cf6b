//! JMAP (RFC 8620 core, RFC 8621 mail, RFC 9425 quota): the session resource, the API
//! endpoint with method calls and back-references, blob upload and download, and push over
//! EventSource.
//!
//! Every method is one of the standard verbs (`/get`, `/changes`, `/set`, `/query`,
//! `/queryChanges`) written once in [`generic`] over the [`generic::ObjectType`] trait, which
//! each object type implements with what is its own (how to read, query, create, change). The
//! data is the domain's: states are positions in the one change log, so a change made over IMAP
//! or CalDAV shows up here and the other way round.
//!
//! The server authenticates requests and puts the [`Authenticated`] principal into the request
//! extensions; this crate answers only for what that principal may see.

mod api;
mod blob;
mod calendar_event;
mod calendars;
mod contacts;
mod convert;
mod email;
mod error;
mod generic;
mod groupware;
mod ids;
mod mailbox;
mod misc;
mod principals;
mod push;
mod push_sub;
mod session;
mod submission;
mod thread;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use kontor_domain::Core;
pub use kontor_domain::auth::Authenticated;
pub use push_sub::PushSettings;

/// Limits the session advertises and the API enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_size_request: usize,
    pub max_calls_in_request: usize,
    pub max_objects_in_get: usize,
    pub max_objects_in_set: usize,
    pub max_size_upload: u64,
    pub max_concurrent_upload: usize,
    pub max_concurrent_requests: usize,
}

impl Limits {
    pub fn for_core(core: &Core) -> Self {
        Self {
            max_size_request: 10 << 20,
            max_calls_in_request: 32,
            max_objects_in_get: 1000,
            max_objects_in_set: 1000,
            max_size_upload: core.settings.max_item_size,
            max_concurrent_upload: 4,
            max_concurrent_requests: 8,
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct Jmap {
    pub core: Arc<Core>,
    pub limits: Limits,
    pub push: Arc<PushSettings>,
}

/// The JMAP routes, for a router whose requests carry an [`Authenticated`] extension. Starts
/// the task that posts push notifications.
pub fn router(core: Arc<Core>, push: PushSettings) -> Router {
    let limits = Limits::for_core(&core);
    push_sub::spawn_dispatcher(&core);
    let state = Jmap { core, limits, push: Arc::new(push) };
    Router::new()
        .route("/jmap/session", get(session::handle))
        .route("/jmap/api", post(api::handle))
        .route("/jmap/api/", post(api::handle))
        .route("/jmap/upload/{account}", post(blob::upload))
        .route("/jmap/upload/{account}/", post(blob::upload))
        .route("/jmap/download/{account}/{blob}/{name}", get(blob::download))
        .route("/jmap/eventsource", get(push::eventsource))
        .route("/jmap/eventsource/", get(push::eventsource))
        .route("/jmap/ws", get(ws::upgrade))
        .route("/jmap/ws/", get(ws::upgrade))
        .with_state(state)
}

/// `/.well-known/jmap` (RFC 8620 §2.2): to the session resource. Needs no authentication.
pub fn well_known() -> Router {
    async fn to_session() -> Response {
        (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, "/jmap/session")]).into_response()
    }
    Router::new().route("/.well-known/jmap", any(to_session))
}
