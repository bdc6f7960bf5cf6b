//! MKCOL (RFC 4918), extended MKCOL (RFC 5689) and MKCALENDAR (RFC 4791 §5.3.1): folders in
//! the drive, calendars and task lists in the calendar home, address books in theirs.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kontor_domain::Node;
use kontor_domain::model::CollectionKind;
use kontor_domain::ports::{DeadProperty, PropTarget};

use crate::paths::Area;
use crate::props::{CALDAV, CARDDAV};
use crate::tree::Target;
use crate::xml::{DAV, Element};
use crate::{Ctx, DavError, DavResult, body_bytes, parse_xml};

/// The properties a creating request sets: `DAV:set/DAV:prop` children.
fn set_props(doc: &Element) -> Vec<&Element> {
    doc.elements()
        .filter(|e| e.is(DAV, "set"))
        .flat_map(|s| s.elements().filter(|p| p.is(DAV, "prop")))
        .flat_map(Element::elements)
        .collect()
}

pub async fn mkcol(ctx: &Ctx, body: Body, calendar: bool) -> DavResult {
    let body = body_bytes(body).await?;
    let empty = body.iter().all(u8::is_ascii_whitespace);
    if ctx.path.area == Area::Files {
        if calendar {
            return Err(DavError::new(StatusCode::FORBIDDEN, "calendars live in the calendar home"));
        }
        let Node::Missing { parent, name } = ctx.target(&ctx.path).await? else {
            return Err(DavError::new(StatusCode::METHOD_NOT_ALLOWED, "something exists at this URL already"));
        };
        if !empty {
            return Err(DavError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "MKCOL with a body is not supported for folders",
            ));
        }
        ctx.check_write(&ctx.path, None, false)?;
        let c = &parent.collection;
        ctx.core.create_collection(&ctx.who, c.account, Some(c.id), CollectionKind::FileFolder, &name, None).await?;
        return Ok(StatusCode::CREATED.into_response());
    }

    let doc = if empty { None } else { Some(parse_xml(&body)?) };
    let (owner, name) = match ctx.resolve(&ctx.path).await? {
        Target::MissingCollection { owner, name } => (owner, name),
        Target::Node(Node::Missing { .. }) => {
            return Err(DavError::new(StatusCode::FORBIDDEN, "collections are created directly in the home"));
        }
        _ => return Err(DavError::new(StatusCode::METHOD_NOT_ALLOWED, "something exists at this URL already")),
    };
    if let Some(d) = &doc {
        let expected = if calendar { "mkcalendar" } else { "mkcol" };
        let ns = if calendar { CALDAV } else { DAV };
        if !d.is(ns, expected) {
            return Err(DavError::new(StatusCode::BAD_REQUEST, format!("expected a {expected} document")));
        }
    }
    let props = doc.as_ref().map(set_props).unwrap_or_default();
    let kind = match ctx.path.area {
        Area::Calendars => {
            let typed = props.iter().find(|p| p.is(DAV, "resourcetype"));
            if !calendar && typed.is_none_or(|t| t.child(CALDAV, "calendar").is_none()) {
                return Err(DavError::condition(
                    StatusCode::FORBIDDEN,
                    "<D:valid-resourcetype/>",
                    "the calendar home holds calendars only",
                ));
            }
            let comps: Vec<String> = props
                .iter()
                .filter(|p| p.is(CALDAV, "supported-calendar-component-set"))
                .flat_map(|p| {
                    p.elements().filter_map(|c| {
                        c.attrs.iter().find(|(q, _)| q.name == "name").map(|(_, v)| v.to_ascii_uppercase())
                    })
                })
                .collect();
            if comps.iter().any(|c| !matches!(c.as_str(), "VEVENT" | "VTODO" | "VJOURNAL")) {
                return Err(DavError::condition(
                    StatusCode::FORBIDDEN,
                    "<C:supported-calendar-component xmlns:C=\"urn:ietf:params:xml:ns:caldav\"/>",
                    "only VEVENT, VTODO and VJOURNAL calendars exist",
                ));
            }
            if !comps.is_empty() && comps.iter().all(|c| c == "VTODO") {
                CollectionKind::TaskList
            } else {
                CollectionKind::Calendar
            }
        }
        Area::AddressBooks => {
            if let Some(t) = props.iter().find(|p| p.is(DAV, "resourcetype"))
                && t.child(CARDDAV, "addressbook").is_none()
            {
                return Err(DavError::condition(
                    StatusCode::FORBIDDEN,
                    "<D:valid-resourcetype/>",
                    "the address book home holds address books only",
                ));
            }
            CollectionKind::AddressBook
        }
        Area::Files | Area::Principals => return Err(DavError::new(StatusCode::FORBIDDEN, "no collections here")),
    };
    let display = props.iter().find(|p| p.is(DAV, "displayname")).map(|p| p.text());
    let c = ctx.core.create_collection(&ctx.who, owner.id, None, kind, &name, display).await?;
    let dead: Vec<DeadProperty> = props
        .iter()
        .filter(|p| {
            !p.is(DAV, "displayname") && !p.is(DAV, "resourcetype") && !p.is(CALDAV, "supported-calendar-component-set")
        })
        .map(|p| DeadProperty { namespace: p.name.ns.clone(), name: p.name.name.clone(), value: p.inner_xml() })
        .collect();
    if !dead.is_empty() {
        ctx.core.update_dead_properties(&ctx.who, PropTarget::Collection(c.id), dead, Vec::new()).await?;
    }
    Ok(StatusCode::CREATED.into_response())
}
