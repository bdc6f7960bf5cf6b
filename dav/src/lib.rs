//! WebDAV (RFC 4918) over the domain: the file drive at `/dav/files/<user>/` today; CalDAV and
//! CardDAV build on the same pieces. One file per method; XML in [`xml`]; every access decision
//! is the domain's.
//!
//! The server authenticates requests and puts the [`Authenticated`] principal into the request
//! extensions before they reach [`router`].

mod acl;
mod copymove;
mod delete;
mod filter;
mod get;
mod lock;
pub mod locks;
mod mkcol;
mod options;
mod partial;
pub mod paths;
mod principals;
mod propfind;
mod proppatch;
mod props;
mod put;
mod report;
mod search;
pub mod tree;
pub mod xml;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use kontor_domain::auth::Authenticated;
use kontor_domain::model::Principal;
use kontor_domain::{Core, Error};

use locks::{IfHeader, Locks};
use paths::DavPath;

/// Shared by every DAV request.
#[derive(Clone)]
pub struct Dav {
    core: Arc<Core>,
    locks: Arc<Locks>,
    corpora: Arc<search::Corpora>,
    objects: Arc<filter::Objects>,
}

/// The DAV routes, for a router whose requests carry an [`Authenticated`] extension.
pub fn router(core: Arc<Core>) -> Router {
    let state = Dav { core, locks: Arc::new(Locks::default()), corpora: Arc::default(), objects: Arc::default() };
    Router::new()
        // Clients given only the server's URL ask its root for current-user-principal.
        .route("/", any(handle))
        .route("/dav", any(handle))
        .route("/dav/", any(handle))
        .route("/dav/{*rest}", any(handle))
        .with_state(state)
}

/// `/.well-known/caldav` and `/.well-known/carddav` (RFC 6764): to the DAV root, where
/// `current-user-principal` leads on. Needs no authentication.
pub fn well_known() -> Router {
    async fn to_root() -> Response {
        (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "/dav/")]).into_response()
    }
    Router::new().route("/.well-known/caldav", any(to_root)).route("/.well-known/carddav", any(to_root))
}

/// An error answer: a status, a text, and for WebDAV preconditions an XML body.
#[derive(Debug)]
pub struct DavError {
    pub status: StatusCode,
    pub message: String,
    /// The content of `<D:error>` (a precondition element), if any.
    pub condition: Option<String>,
}

impl DavError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), condition: None }
    }

    pub fn condition(status: StatusCode, condition: &str, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), condition: Some(condition.to_owned()) }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<Error> for DavError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(what) => Self::new(StatusCode::NOT_FOUND, format!("{what} not found")),
            Error::Forbidden { needed } => Self::condition(
                StatusCode::FORBIDDEN,
                "<D:need-privileges/>",
                format!("permission denied: {needed} needed"),
            ),
            Error::CrossDomainGrant(who) => Self::new(StatusCode::FORBIDDEN, format!("{who} is in another domain")),
            Error::Conflict(what) => Self::new(StatusCode::CONFLICT, format!("{what} already exists")),
            Error::Invalid(msg) => Self::bad_request(msg),
            Error::OverQuota { .. } => {
                Self::condition(StatusCode::INSUFFICIENT_STORAGE, "<D:quota-not-exceeded/>", e.to_string())
            }
            Error::TooLarge { .. } => {
                Self::condition(StatusCode::PAYLOAD_TOO_LARGE, "<D:max-resource-size/>", e.to_string())
            }
            Error::Rejected { message, .. } => Self::new(StatusCode::FORBIDDEN, message),
            Error::PreconditionFailed(msg) => Self::new(StatusCode::PRECONDITION_FAILED, msg),
            Error::AuthFailed => Self::new(StatusCode::UNAUTHORIZED, "authentication failed"),
            Error::RateLimited { .. } => Self::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
            Error::TokenExpired { .. } | Error::TokenInvalid(_) | Error::TokenWrongAccount => {
                Self::condition(StatusCode::FORBIDDEN, "<D:valid-sync-token/>", e.to_string())
            }
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error in DAV");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log")
            }
        }
    }
}

impl IntoResponse for DavError {
    fn into_response(self) -> Response {
        match self.condition {
            Some(c) => (
                self.status,
                [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
                format!(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\">{c}<D:responsedescription>{}</D:responsedescription></D:error>\n",
                    xml::escape(&self.message)
                ),
            )
                .into_response(),
            None => (self.status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.message + "\n").into_response(),
        }
    }
}

pub(crate) type DavResult = Result<Response, DavError>;

/// One request in progress.
pub(crate) struct Ctx {
    pub core: Arc<Core>,
    pub locks: Arc<Locks>,
    /// Collections' searchable text (address book searches).
    pub corpora: Arc<search::Corpora>,
    /// Calendar objects parsed for time-range queries.
    pub objects: Arc<filter::Objects>,
    pub who: Principal,
    pub path: DavPath,
    pub headers: HeaderMap,
    /// The parsed `If` header, if one was sent.
    pub if_header: Option<IfHeader>,
}

impl Ctx {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Checks the `If` header against the resource (`etag` its current ETag) and requires the
    /// tokens of the locks that cover it (with `deep`, also of locks below it).
    pub fn check_write(&self, p: &DavPath, etag: Option<&str>, deep: bool) -> Result<(), DavError> {
        self.check_if(p, etag)?;
        let locks = if deep { self.locks.touching(p) } else { self.locks.covering(p) };
        let submitted = self.if_header.as_ref().map(IfHeader::tokens).unwrap_or_default();
        if let Some(l) = locks.iter().find(|l| !submitted.contains(&l.token.as_str())) {
            return Err(DavError::condition(
                StatusCode::LOCKED,
                &format!(
                    "<D:lock-token-submitted><D:href>{}</D:href></D:lock-token-submitted>",
                    xml::escape(&l.root.href(false))
                ),
                "the resource is locked; submit its lock token in an If header",
            ));
        }
        Ok(())
    }

    /// Checks the `If` header only (412 when no list holds).
    pub fn check_if(&self, p: &DavPath, etag: Option<&str>) -> Result<(), DavError> {
        match &self.if_header {
            Some(h) if !self.if_holds(h, p, etag) => {
                Err(DavError::new(StatusCode::PRECONDITION_FAILED, "the If header does not match"))
            }
            _ => Ok(()),
        }
    }

    fn if_holds(&self, h: &IfHeader, p: &DavPath, etag: Option<&str>) -> bool {
        h.lists.iter().any(|(tag, conds)| {
            let (target, etag) = match tag.as_deref().map(paths::parse) {
                Some(Ok(Some(t))) if t != *p => (t, None),
                _ => (p.clone(), etag),
            };
            let tokens: Vec<String> = self.locks.covering(&target).into_iter().map(|l| l.token).collect();
            conds.iter().all(|c| match c {
                locks::Cond::Token { not, token } => tokens.contains(token) != *not,
                locks::Cond::ETag { not, etag: want } => (etag == Some(want.as_str())) != *not,
            })
        })
    }
}

/// Reads the whole body (the HTTP layer limits its size).
pub(crate) async fn body_bytes(body: Body) -> Result<Vec<u8>, DavError> {
    axum::body::to_bytes(body, usize::MAX).await.map(|b| b.to_vec()).map_err(|_| {
        DavError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large for this server (http.max_body)")
    })
}

/// Parses an XML body, mapping errors to 400.
pub(crate) fn parse_xml(body: &[u8]) -> Result<xml::Element, DavError> {
    xml::parse(body).map_err(|e| DavError::bad_request(e.0))
}

async fn handle(State(dav): State<Dav>, req: Request) -> Response {
    let Some(who) = req.extensions().get::<Authenticated>().map(|a| a.principal.clone()) else {
        return DavError::new(StatusCode::UNAUTHORIZED, "authentication required").into_response();
    };
    let root = matches!(req.uri().path(), "/" | "/dav" | "/dav/");
    let principals = matches!(req.uri().path(), "/dav/principals" | "/dav/principals/");
    let path = match paths::parse(req.uri().path()) {
        Ok(Some(p)) => p,
        Ok(None) if root => paths::DavPath::home(paths::Area::Principals, &who.address.to_string()),
        Err(_) if principals => paths::DavPath::home(paths::Area::Principals, &who.address.to_string()),
        Ok(None) => return DavError::new(StatusCode::NOT_FOUND, "no such resource").into_response(),
        Err(e) => return DavError::bad_request(e.0).into_response(),
    };
    let if_header = match req.headers().get("if").map(|v| v.to_str().ok().and_then(IfHeader::parse)) {
        None => None,
        Some(Some(h)) => Some(h),
        Some(None) => return DavError::bad_request("malformed If header").into_response(),
    };
    let (parts, body) = req.into_parts();
    let ctx = Ctx {
        core: dav.core,
        locks: dav.locks,
        corpora: dav.corpora,
        objects: dav.objects,
        who,
        path,
        headers: parts.headers,
        if_header,
    };
    let result = match parts.method.as_str() {
        "OPTIONS" => Ok(options::options()),
        "PROPFIND" if root => propfind::propfind_root(&ctx, body).await,
        "PROPFIND" if principals => principals::propfind(&ctx, body).await,
        "REPORT" if principals || ctx.path.area == paths::Area::Principals => principals::report(&ctx, body).await,
        // RFC 6764 clients (libdav, pimsync) GET the context path a well-known URL led to.
        "GET" | "HEAD" if root || principals => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Kontor CalDAV/CardDAV: point a client at this address with your user name and password.\n",
        )
            .into_response()),
        _ if root || principals => {
            Err(DavError::new(StatusCode::METHOD_NOT_ALLOWED, "only OPTIONS, PROPFIND and REPORT here"))
        }
        "GET" => get::get(&ctx, false).await,
        "HEAD" => get::get(&ctx, true).await,
        "PUT" => put::put(&ctx, body).await,
        "DELETE" => delete::delete(&ctx).await,
        "MKCOL" => mkcol::mkcol(&ctx, body, false).await,
        "MKCALENDAR" => mkcol::mkcol(&ctx, body, true).await,
        "REPORT" => report::report(&ctx, body).await,
        "PROPFIND" => propfind::propfind(&ctx, body).await,
        "PROPPATCH" => proppatch::proppatch(&ctx, body).await,
        "COPY" => copymove::copy_move(&ctx, false).await,
        "MOVE" => copymove::copy_move(&ctx, true).await,
        "LOCK" => lock::lock(&ctx, body).await,
        "UNLOCK" => lock::unlock(&ctx),
        "ACL" => acl::acl(&ctx, body).await,
        m if m == Method::POST.as_str() || m == Method::PATCH.as_str() => {
            Err(DavError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{m} is not supported here")))
        }
        m => Err(DavError::new(StatusCode::METHOD_NOT_ALLOWED, format!("unknown method {m}"))),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}
