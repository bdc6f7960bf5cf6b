//! PUT: create or replace an item, honouring If-Match / If-None-Match and locks.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use kontor_domain::error::Rejection;
use kontor_domain::{Error, Node};

use crate::paths::{Area, DavPath};
use crate::props::{CALDAV, CARDDAV};
use crate::xml::escape;

use crate::get::with_etag;
use crate::{Ctx, DavError, DavResult, body_bytes};

/// Checks `If-Match` and `If-None-Match` against the current ETag (`None`: no resource).
pub fn preconditions(ctx: &Ctx, current: Option<&str>) -> Result<(), DavError> {
    let failed = || DavError::new(StatusCode::PRECONDITION_FAILED, "the resource does not match the condition");
    if let Some(m) = ctx.header("if-match") {
        let ok = current.is_some_and(|e| m.split(',').any(|t| t.trim() == "*" || t.trim() == e));
        if !ok {
            return Err(failed());
        }
    }
    if let Some(m) = ctx.header("if-none-match") {
        let hit = current.is_some_and(|e| m.split(',').any(|t| t.trim() == "*" || t.trim() == e));
        if hit {
            return Err(failed());
        }
    }
    Ok(())
}

/// CalDAV / CardDAV preconditions for content the domain rejected.
fn rejected(area: Area, path: &DavPath, e: Error) -> DavError {
    let Error::Rejected { reason, message } = e else { return e.into() };
    let (ns, data) = match area {
        Area::AddressBooks => (CARDDAV, "valid-address-data"),
        _ => (CALDAV, "valid-calendar-data"),
    };
    let condition = match reason {
        Rejection::InvalidData => format!("<{data} xmlns=\"{ns}\"/>"),
        Rejection::UnsupportedComponent => format!("<supported-calendar-component xmlns=\"{CALDAV}\"/>"),
        Rejection::UidConflict { existing } => {
            let href = path.parent().map(|p| p.child(&existing).href(false)).unwrap_or_default();
            format!("<no-uid-conflict xmlns=\"{ns}\"><D:href>{}</D:href></no-uid-conflict>", escape(&href))
        }
        Rejection::UidChanged => format!("<no-uid-conflict xmlns=\"{ns}\"/>"),
    };
    DavError::condition(StatusCode::FORBIDDEN, &condition, message)
}

pub async fn put(ctx: &Ctx, body: Body) -> DavResult {
    let node = ctx.target(&ctx.path).await?;
    let content_type = match ctx.path.area {
        Area::Calendars => "text/calendar; charset=utf-8".to_owned(),
        Area::AddressBooks => "text/vcard; charset=utf-8".to_owned(),
        _ => ctx.header("content-type").unwrap_or("application/octet-stream").to_owned(),
    };
    let area = ctx.path.area;
    match node {
        Node::Collection(_) => Err(DavError::new(StatusCode::METHOD_NOT_ALLOWED, "cannot PUT to a collection")),
        Node::Missing { parent, name } => {
            preconditions(ctx, None)?;
            ctx.check_write(&ctx.path, None, false)?;
            let data = body_bytes(body).await?;
            let item = ctx
                .core
                .create_item(&ctx.who, parent.collection.id, &name, &content_type, &data)
                .await
                .map_err(|e| rejected(area, &ctx.path, e))?;
            Ok(with_etag(StatusCode::CREATED.into_response(), &item.etag()))
        }
        Node::Item { item, .. } => {
            let etag = item.etag();
            preconditions(ctx, Some(&etag))?;
            ctx.check_write(&ctx.path, Some(&etag), false)?;
            let data = body_bytes(body).await?;
            let item = ctx
                .core
                .replace_item(&ctx.who, item.id, &content_type, &data, Some(item.modseq))
                .await
                .map_err(|e| rejected(area, &ctx.path, e))?;
            let mut r = StatusCode::NO_CONTENT.into_response();
            r.headers_mut().remove(header::CONTENT_TYPE);
            Ok(with_etag(r, &item.etag()))
        }
    }
}
