//! PROPFIND (RFC 4918 §9.1): Depth 0 and 1; infinity is refused with `propfind-finite-depth`.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kontor_domain::model::CollectionKind;
use kontor_domain::{Access, Node};

use crate::paths::{Area, DavPath};
use crate::props::{self, Res, Wanted};
use crate::tree::Target;
use crate::xml::{DAV, MultiStatus};
use crate::{Ctx, DavError, DavResult, body_bytes, parse_xml};

pub fn wanted(body: &[u8]) -> Result<Wanted, DavError> {
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

/// Reads the Depth header: 0 or 1; anything else is refused.
fn depth_one(ctx: &Ctx) -> Result<bool, DavError> {
    match ctx.header("depth").map(str::trim) {
        Some("0") => Ok(false),
        Some("1") => Ok(true),
        _ => Err(DavError::condition(
            StatusCode::FORBIDDEN,
            "<D:propfind-finite-depth/>",
            "Depth: infinity is not supported; use Depth 0 or 1",
        )),
    }
}

pub fn multistatus(ms: MultiStatus) -> Response {
    (StatusCode::MULTI_STATUS, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], ms.finish()).into_response()
}

/// A multistatus whose listing of members is made while it is sent.
type Rest = Box<dyn Iterator<Item = String> + Send>;

fn streamed(ms: MultiStatus, rest: Rest) -> Response {
    (StatusCode::MULTI_STATUS, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], ms.streamed(rest))
        .into_response()
}

/// PROPFIND on `/dav/`: where the principal is.
pub async fn propfind_root(ctx: &Ctx, body: Body) -> DavResult {
    let depth_one = depth_one(ctx)?;
    let wanted = wanted(&body_bytes(body).await?)?;
    let mut ms = MultiStatus::new();
    ms.response("/dav/", &props::propstats(ctx, &Res::Root, None, &wanted).await?);
    if depth_one {
        let me = ctx.who.address.to_string();
        for area in [Area::Principals, Area::Calendars, Area::AddressBooks, Area::Files] {
            let home = DavPath::home(area, &me);
            if area == Area::Principals {
                ms.response(&home.href(true), &props::propstats(ctx, &Res::Principal(&ctx.who), None, &wanted).await?);
            } else if area != Area::Files {
                ms.response(&home.href(true), &props::propstats(ctx, &Res::Home(&ctx.who), None, &wanted).await?);
            }
        }
    }
    Ok(multistatus(ms))
}

pub async fn propfind(ctx: &Ctx, body: Body) -> DavResult {
    let depth_one = depth_one(ctx)?;
    let wanted = wanted(&body_bytes(body).await?)?;
    let mut ms = MultiStatus::new();
    let path = &ctx.path;
    match ctx.resolve(path).await? {
        Target::Principal(p) => {
            ms.response(&path.href(true), &props::propstats(ctx, &Res::Principal(&p), None, &wanted).await?);
        }
        Target::Home(owner) => {
            ms.response(&path.href(true), &props::propstats(ctx, &Res::Home(&owner), None, &wanted).await?);
            if depth_one {
                for (name, access) in ctx.home_children(&owner, path.area).await? {
                    let p = path.child(&name);
                    ms.response(
                        &p.href(true),
                        &props::propstats(ctx, &Res::Collection(&access), Some(&p), &wanted).await?,
                    );
                }
            }
        }
        Target::MissingCollection { .. } | Target::Node(Node::Missing { .. }) => {
            return Err(DavError::new(StatusCode::NOT_FOUND, "no such resource"));
        }
        Target::Node(Node::Item { item, parent }) => {
            let res = Res::Item(&item, &parent);
            ms.response(&path.href(false), &props::propstats(ctx, &res, Some(path), &wanted).await?);
        }
        Target::Node(Node::Collection(access)) => {
            ms.response(
                &path.href(true),
                &props::propstats(ctx, &Res::Collection(&access), Some(path), &wanted).await?,
            );
            if depth_one && let Some(rest) = members(ctx, &access, path, &wanted, &mut ms).await? {
                return Ok(streamed(ms, rest));
            }
        }
    }
    Ok(multistatus(ms))
}

/// The members of a collection: sub-folders (file drive) and items. Items whose asked
/// properties the listing answers come back as the rest of the body, to be made as it is sent.
async fn members(
    ctx: &Ctx,
    access: &Access,
    path: &DavPath,
    wanted: &Wanted,
    ms: &mut MultiStatus,
) -> Result<Option<Rest>, DavError> {
    let c = &access.collection;
    if c.kind == CollectionKind::FileFolder {
        let children = ctx.core.list_collections(&ctx.who, c.account, Some(CollectionKind::FileFolder)).await?;
        for child in children.iter().filter(|a| a.collection.parent == Some(c.id)) {
            let p = path.child(&child.collection.name);
            ms.response(&p.href(true), &props::propstats(ctx, &Res::Collection(child), Some(&p), wanted).await?);
        }
        if c.parent.is_none() && c.account == ctx.who.id && path.segments.is_empty() {
            for shared in ctx.shared_in(crate::paths::Area::Files).await? {
                let p = path.child(&format!("{}{}", crate::tree::SHARED, shared.collection.id));
                ms.response(&p.href(true), &props::propstats(ctx, &Res::Collection(&shared), Some(&p), wanted).await?);
            }
        }
    }
    // Without read (a free/busy grant) the collection shows, its items do not.
    if !access.rights.contains(kontor_domain::rights::Rights::READ) {
        return Ok(None);
    }
    let items = ctx.core.list_items(access).await?;
    let base = path.href(true);
    if let Wanted::Props(names) = wanted
        && !wanted.needs_path()
        && let Some(rest) = props::item_listing(items.clone(), base.clone(), names)
    {
        return Ok(Some(Box::new(rest)));
    }
    ms.reserve(items.len() * 320);
    let mut href = String::new();
    // A member's path is made only for lock discovery; its href is the collection's plus its name.
    let needs_path = wanted.needs_path();
    for item in items.iter() {
        let p = needs_path.then(|| path.child(&item.name));
        href.clear();
        href.push_str(&base);
        crate::paths::encode_into(&mut href, &item.name);
        props::respond(ctx, ms, &href, &Res::Item(item, access), p.as_ref(), wanted, &[]).await?;
    }
    Ok(None)
}
