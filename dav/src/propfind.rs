//! PROPFIND (RFC 4918 §9.1): Depth 0 and 1; infinity is refused with `propfind-finite-depth`.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use kontor_domain::Node;
use kontor_domain::model::CollectionKind;

use crate::props::{self, Res, Wanted};
use crate::xml::{DAV, MultiStatus};
use crate::{Ctx, DavError, DavResult, body_bytes, parse_xml};

fn wanted(body: &[u8]) -> Result<Wanted, DavError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Wanted::All(Vec::new()));
    }
    let doc = parse_xml(body)?;
    if !doc.is(DAV, "propfind") {
        return Err(DavError::new(StatusCode::BAD_REQUEST, "expected a DAV:propfind document"));
    }
    if let Some(p) = doc.child(DAV, "prop") {
        return Ok(Wanted::Props(p.elements().map(|e| e.name.clone()).collect()));
    }
    if doc.child(DAV, "propname").is_some() {
        return Ok(Wanted::Names);
    }
    if doc.child(DAV, "allprop").is_some() {
        let include =
            doc.child(DAV, "include").map(|i| i.elements().map(|e| e.name.clone()).collect()).unwrap_or_default();
        return Ok(Wanted::All(include));
    }
    Err(DavError::new(StatusCode::BAD_REQUEST, "propfind needs prop, propname or allprop"))
}

pub async fn propfind(ctx: &Ctx, body: Body) -> DavResult {
    let depth_one = match ctx.header("depth").map(str::trim) {
        Some("0") => false,
        Some("1") => true,
        _ => {
            return Err(DavError::condition(
                StatusCode::FORBIDDEN,
                "<D:propfind-finite-depth/>",
                "Depth: infinity is not supported; use Depth 0 or 1",
            ));
        }
    };
    let wanted = wanted(&body_bytes(body).await?)?;
    let node = ctx.node(&ctx.path).await?;
    let mut ms = MultiStatus::new();
    match node {
        Node::Missing { .. } => return Err(DavError::new(StatusCode::NOT_FOUND, "no such resource")),
        Node::Item { item, .. } => {
            let res = Res::Item(&item);
            ms.response(&ctx.path.href(false), &props::propstats(ctx, &res, &ctx.path, &wanted).await?);
        }
        Node::Collection(access) => {
            let c = &access.collection;
            let res = Res::Collection(c);
            ms.response(&ctx.path.href(true), &props::propstats(ctx, &res, &ctx.path, &wanted).await?);
            if depth_one {
                let children = ctx.core.list_collections(&ctx.who, c.account, Some(CollectionKind::FileFolder)).await?;
                for child in children.iter().filter(|a| a.collection.parent == Some(c.id)) {
                    let p = ctx.path.child(&child.collection.name);
                    let res = Res::Collection(&child.collection);
                    ms.response(&p.href(true), &props::propstats(ctx, &res, &p, &wanted).await?);
                }
                for item in ctx.core.list_items(&ctx.who, c.id).await? {
                    let p = ctx.path.child(&item.name);
                    let res = Res::Item(&item);
                    ms.response(&p.href(false), &props::propstats(ctx, &res, &p, &wanted).await?);
                }
            }
        }
    }
    Ok((StatusCode::MULTI_STATUS, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], ms.finish())
        .into_response())
}
