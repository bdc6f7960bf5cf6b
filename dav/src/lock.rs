//! LOCK and UNLOCK (RFC 4918 §9.10–9.11): write locks, exclusive or shared, depth 0 or
//! infinity; a LOCK on an unmapped URL creates an empty resource.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use kontor_domain::Node;

use crate::locks::timeout;
use crate::xml::DAV;
use crate::{Ctx, DavError, DavResult, body_bytes, parse_xml};

fn discovery(xml: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:prop xmlns:D=\"DAV:\"><D:lockdiscovery>{xml}</D:lockdiscovery></D:prop>\n"
    )
}

pub async fn lock(ctx: &Ctx, body: Body) -> DavResult {
    let body = body_bytes(body).await?;
    let secs = timeout(ctx.header("timeout"));
    if body.iter().all(u8::is_ascii_whitespace) {
        // A refresh: the token comes in the If header.
        let tokens = ctx.if_header.as_ref().map(crate::locks::IfHeader::tokens).unwrap_or_default();
        let lock = tokens.iter().find_map(|t| ctx.locks.refresh(t, &ctx.path, secs)).ok_or_else(|| {
            DavError::new(StatusCode::PRECONDITION_FAILED, "no lock of the submitted token covers this resource")
        })?;
        let xml = lock.xml(&lock.root.href(false));
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], discovery(&xml))
            .into_response());
    }
    let doc = parse_xml(&body)?;
    if !doc.is(DAV, "lockinfo") {
        return Err(DavError::new(StatusCode::BAD_REQUEST, "expected a DAV:lockinfo document"));
    }
    let exclusive = match doc.child(DAV, "lockscope") {
        Some(s) if s.child(DAV, "exclusive").is_some() => true,
        Some(s) if s.child(DAV, "shared").is_some() => false,
        _ => return Err(DavError::new(StatusCode::BAD_REQUEST, "lockscope must be exclusive or shared")),
    };
    if doc.child(DAV, "locktype").and_then(|t| t.child(DAV, "write")).is_none() {
        return Err(DavError::new(StatusCode::BAD_REQUEST, "only write locks exist"));
    }
    let owner = doc.child(DAV, "owner").map(crate::xml::Element::inner_xml).unwrap_or_default();
    let infinite = match ctx.header("depth").map(str::trim) {
        None | Some("infinity") => true,
        Some("0") => false,
        _ => return Err(DavError::new(StatusCode::BAD_REQUEST, "Depth must be 0 or infinity")),
    };
    let mut created = false;
    match ctx.target(&ctx.path).await? {
        Node::Missing { parent, name } => {
            ctx.check_write(&ctx.path, None, false)?;
            ctx.core.create_item(&ctx.who, parent.collection.id, &name, "application/octet-stream", b"").await?;
            created = true;
        }
        // Locking is writing: it keeps others from changing the resource. Conflicting locks are
        // found below; an If header must still hold.
        Node::Item { item, parent } => {
            if !parent.rights.may_modify_item(item.created_by, ctx.who.id) {
                return Err(DavError::condition(
                    StatusCode::FORBIDDEN,
                    "<D:need-privileges/>",
                    "write-content needed to lock",
                ));
            }
            ctx.check_if(&ctx.path, Some(&item.etag()))?;
        }
        Node::Collection(a) => {
            if !a.rights.contains(kontor_domain::rights::Rights::CREATE) {
                return Err(DavError::condition(StatusCode::FORBIDDEN, "<D:need-privileges/>", "bind needed to lock"));
            }
            ctx.check_if(&ctx.path, None)?;
        }
    }
    let lock = ctx.locks.lock(ctx.path.clone(), infinite, exclusive, owner, secs).ok_or_else(|| {
        DavError::condition(StatusCode::LOCKED, "<D:no-conflicting-lock/>", "a conflicting lock exists")
    })?;
    let xml = lock.xml(&lock.root.href(false));
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let mut r = (status, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], discovery(&xml)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>", lock.token)) {
        r.headers_mut().insert("lock-token", v);
    }
    Ok(r)
}

pub fn unlock(ctx: &Ctx) -> DavResult {
    let token = ctx
        .header("lock-token")
        .map(|t| t.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
        .ok_or_else(|| DavError::new(StatusCode::BAD_REQUEST, "Lock-Token header missing"))?;
    if ctx.locks.unlock(&token, &ctx.path) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(DavError::condition(
            StatusCode::CONFLICT,
            "<D:lock-token-matches-request-uri/>",
            "no such lock on this resource",
        ))
    }
}
