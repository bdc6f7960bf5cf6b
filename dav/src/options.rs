//! OPTIONS: what this server speaks.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub const ALLOW: &str =
    "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, MKCALENDAR, PROPFIND, PROPPATCH, REPORT, ACL, COPY, MOVE, LOCK, UNLOCK";

pub fn options() -> Response {
    let mut r = StatusCode::OK.into_response();
    let h = r.headers_mut();
    h.insert("dav", HeaderValue::from_static("1, 2, 3, access-control, calendar-access, addressbook, extended-mkcol"));
    h.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
    h.insert("ms-author-via", HeaderValue::from_static("DAV"));
    r
}
