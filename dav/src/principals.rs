//! The principal collection `/dav/principals/`: the colleagues of the caller's domain, and the
//! RFC 3744 reports clients use to look them up (principal-property-search,
//! principal-search-property-set).

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use kontor_domain::model::Principal;

use crate::paths::{Area, DavPath};
use crate::propfind::multistatus;
use crate::props::{self, CALDAV, Res, Wanted};
use crate::xml::{DAV, Element, MultiStatus};
use crate::{Ctx, DavError, DavResult, body_bytes, parse_xml};

fn href(p: &Principal) -> String {
    DavPath::home(Area::Principals, &p.address.to_string()).href(true)
}

/// PROPFIND on the principal collection: itself, and with Depth 1 every principal of the domain.
pub async fn propfind(ctx: &Ctx, body: Body) -> DavResult {
    let body = body_bytes(body).await?;
    let wanted = crate::propfind::wanted(&body)?;
    let mut ms = MultiStatus::new();
    ms.response(Area::Principals.prefix(), &props::propstats(ctx, &Res::Root, None, &wanted).await?);
    if ctx.header("depth").map(str::trim) == Some("1") {
        for p in ctx.core.directory(&ctx.who).await? {
            ms.response(&href(&p), &props::propstats(ctx, &Res::Principal(&p), None, &wanted).await?);
        }
    }
    Ok(multistatus(ms))
}

/// Whether a principal matches one `property-search` (case-insensitive substring).
fn matches(p: &Principal, search: &Element) -> bool {
    let needle = search.child(DAV, "match").map(|m| m.text().to_lowercase()).unwrap_or_default();
    let hay: Vec<String> = search
        .child(DAV, "prop")
        .into_iter()
        .flat_map(Element::elements)
        .filter_map(|q| match (q.name.ns.as_str(), q.name.name.as_str()) {
            (DAV, "displayname") => Some(p.display_name.clone().unwrap_or_else(|| p.address.to_string())),
            (CALDAV, "calendar-user-address-set") | (_, "email-address-set" | "email") => {
                Some(format!("mailto:{}", p.address))
            }
            _ => None,
        })
        .collect();
    hay.iter().any(|h| h.to_lowercase().contains(&needle))
}

/// REPORT on principals (or on one principal): principal-property-search and
/// principal-search-property-set.
pub async fn report(ctx: &Ctx, body: Body) -> DavResult {
    let doc = parse_xml(&body_bytes(body).await?)?;
    if doc.is(DAV, "principal-search-property-set") {
        let prop = |ns: &str, name: &str, what: &str| {
            format!(
                "<D:principal-search-property><D:prop>{}</D:prop><D:description xml:lang=\"en\">{what}</D:description></D:principal-search-property>",
                props::el(ns, name)
            )
        };
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:principal-search-property-set xmlns:D=\"DAV:\">{}{}</D:principal-search-property-set>\n",
            prop(DAV, "displayname", "Name"),
            prop(CALDAV, "calendar-user-address-set", "Email address")
        );
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], xml).into_response());
    }
    if !doc.is(DAV, "principal-property-search") {
        return Err(DavError::condition(
            StatusCode::FORBIDDEN,
            "<D:supported-report/>",
            "this report is not supported here",
        ));
    }
    let anyof = doc.attrs.iter().any(|(q, v)| q.name == "test" && v == "anyof");
    let searches: Vec<&Element> = doc.elements().filter(|e| e.is(DAV, "property-search")).collect();
    let mut names: Vec<_> =
        doc.child(DAV, "prop").map(|p| p.elements().map(|e| e.name.clone()).collect()).unwrap_or_default();
    // Some clients (python-caldav 3) put the wanted properties beside an empty <prop>.
    names.extend(
        doc.elements()
            .filter(|e| {
                !["property-search", "prop", "apply-to-principal-collection-set"].contains(&e.name.name.as_str())
            })
            .map(|e| e.name.clone()),
    );
    let wanted = Wanted::Props(names);
    let mut ms = MultiStatus::new();
    for p in ctx.core.directory(&ctx.who).await? {
        let hit = if anyof { searches.iter().any(|s| matches(&p, s)) } else { searches.iter().all(|s| matches(&p, s)) };
        // No property-search at all lists the caller's colleagues (the domain's directory).
        if hit {
            ms.response(&href(&p), &props::propstats(ctx, &Res::Principal(&p), None, &wanted).await?);
        }
    }
    Ok(multistatus(ms))
}
