//! REPORT: calendar-multiget and addressbook-multiget (RFC 4791 §7.9, RFC 6352 §8.7),
//! calendar-query and addressbook-query (component and property filters), and
//! sync-collection (RFC 6578) from the domain's change log.

use axum::body::Body;
use axum::http::StatusCode;
use kontor_domain::changes::ObjectType;
use kontor_domain::model::Item;
use kontor_domain::{Access, Error, Node};

use crate::paths::{self, DavPath};
use crate::propfind::multistatus;
use crate::props::{self, CALDAV, CARDDAV, Res, Wanted};
use crate::xml::{DAV, Element, MultiStatus, PropValue, QName, escape};
use crate::{Ctx, DavError, DavResult, body_bytes, parse_xml};

const MAX_SYNC_LIMIT: usize = 10_000;

pub async fn report(ctx: &Ctx, body: Body) -> DavResult {
    let doc = parse_xml(&body_bytes(body).await?)?;
    let Node::Collection(access) = ctx.node(&ctx.path).await? else {
        return Err(DavError::new(StatusCode::FORBIDDEN, "reports run on a collection"));
    };
    let names: Vec<QName> =
        doc.child(DAV, "prop").map(|p| p.elements().map(|e| e.name.clone()).collect()).unwrap_or_default();
    let mut ms = MultiStatus::new();
    if doc.is(CALDAV, "calendar-multiget") || doc.is(CARDDAV, "addressbook-multiget") {
        let items: std::collections::HashMap<String, Item> = ctx
            .core
            .list_items(&ctx.who, access.collection.id)
            .await?
            .into_iter()
            .map(|i| (i.name.clone(), i))
            .collect();
        for h in doc.elements().filter(|e| e.is(DAV, "href")) {
            let text = h.text();
            let target = match paths::parse(&text) {
                Ok(Some(p)) if p.parent().as_ref() == Some(&ctx.path) => p,
                _ => {
                    ms.status(&text, 404);
                    continue;
                }
            };
            match items.get(target.segments.last().map_or("", String::as_str)) {
                Some(item) => respond(ctx, &mut ms, &access, item, &target, &names).await?,
                None => ms.status(&text, 404),
            }
        }
    } else if doc.is(CALDAV, "calendar-query") || doc.is(CARDDAV, "addressbook-query") {
        let filter = doc.child(CALDAV, "filter").or_else(|| doc.child(CARDDAV, "filter"));
        let limit = doc
            .child(CARDDAV, "limit")
            .and_then(|l| l.child(CARDDAV, "nresults"))
            .and_then(|n| n.text().parse::<usize>().ok())
            .unwrap_or(usize::MAX);
        let mut n = 0;
        for item in ctx.core.list_items(&ctx.who, access.collection.id).await? {
            let data = ctx.core.content_of(&access, &item).await?;
            let text = String::from_utf8_lossy(&data);
            if filter.is_some_and(|f| !matches(f, &text)) {
                continue;
            }
            if n == limit {
                ms.status(&ctx.path.href(true), 507);
                break;
            }
            n += 1;
            let p = ctx.path.child(&item.name);
            respond(ctx, &mut ms, &access, &item, &p, &names).await?;
        }
    } else if doc.is(DAV, "sync-collection") {
        sync_collection(ctx, &doc, &access, &names, &mut ms).await?;
    } else {
        return Err(DavError::condition(
            StatusCode::FORBIDDEN,
            "<D:supported-report/>",
            "this report is not supported here",
        ));
    }
    Ok(multistatus(ms))
}

/// One item's response: the asked properties, `calendar-data` / `address-data` being its content.
async fn respond(
    ctx: &Ctx,
    ms: &mut MultiStatus,
    access: &Access,
    item: &Item,
    path: &DavPath,
    names: &[QName],
) -> Result<(), DavError> {
    let (data_props, others): (Vec<QName>, Vec<QName>) =
        names.iter().cloned().partition(|q| q.is(CALDAV, "calendar-data") || q.is(CARDDAV, "address-data"));
    let mut stats = props::propstats(ctx, &Res::Item(item, access), Some(path), &Wanted::Props(others)).await?;
    if !data_props.is_empty() {
        let data = ctx.core.content_of(access, item).await?;
        let text = escape(&String::from_utf8_lossy(&data));
        for q in data_props {
            stats[0].1.push(PropValue { name: q, value: Some(text.clone()) });
        }
    }
    ms.response(&path.href(false), &stats);
    Ok(())
}

/// RFC 6578: what changed in the collection since the token (empty: everything, no tombstones).
async fn sync_collection(
    ctx: &Ctx,
    doc: &Element,
    access: &Access,
    names: &[QName],
    ms: &mut MultiStatus,
) -> Result<(), DavError> {
    let invalid = || {
        DavError::condition(
            StatusCode::FORBIDDEN,
            "<D:valid-sync-token/>",
            "unknown or expired sync token; sync again from scratch",
        )
    };
    let token = doc.child(DAV, "sync-token").map(Element::text).unwrap_or_default();
    let token = if token.is_empty() {
        None
    } else {
        Some(token.strip_prefix("urn:kontor:sync:").ok_or_else(invalid)?.to_owned())
    };
    if doc.child(DAV, "sync-level").is_some_and(|l| l.text() != "1") {
        return Err(DavError::new(StatusCode::FORBIDDEN, "only sync-level 1 is supported"));
    }
    let limit = doc
        .child(DAV, "limit")
        .and_then(|l| l.child(DAV, "nresults"))
        .and_then(|n| n.text().parse::<usize>().ok())
        .unwrap_or(MAX_SYNC_LIMIT)
        .clamp(1, MAX_SYNC_LIMIT);
    let c = &access.collection;
    let changes = match ctx.core.changes_since(&ctx.who, c.account, Some(c.id), token.as_deref(), limit).await {
        Ok(ch) => ch,
        Err(Error::TokenExpired { .. } | Error::TokenInvalid(_) | Error::TokenWrongAccount) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    let items: std::collections::HashMap<String, Item> =
        ctx.core.list_items(&ctx.who, c.id).await?.into_iter().map(|i| (i.name.clone(), i)).collect();
    for o in changes.created.iter().chain(&changes.updated).filter(|o| o.object == ObjectType::Item) {
        let p = ctx.path.child(&o.name);
        match items.get(&o.name) {
            Some(item) => respond(ctx, ms, access, item, &p, names).await?,
            // Gone again since the log was read: the next sync reports it.
            None => ms.status(&p.href(false), 404),
        }
    }
    for o in changes.destroyed.iter().filter(|o| o.object == ObjectType::Item) {
        ms.status(&ctx.path.child(&o.name).href(false), 404);
    }
    if changes.has_more {
        ms.status(&ctx.path.href(true), 507);
    }
    if let Some(t) = changes.new_token {
        ms.raw(&format!("<D:sync-token>{}</D:sync-token>", escape(&props::sync_token(&t))));
    }
    Ok(())
}

/// Whether an object's text passes a calendar-query or addressbook-query filter. Component
/// filters test the component type; property filters test presence and a case-insensitive
/// substring (`text-match`, with `negate-condition`). Time ranges are not evaluated yet: such a
/// filter matches every object of the component type (a superset the client narrows).
fn matches(filter: &Element, text: &str) -> bool {
    let unfolded = text.replace("\r\n ", "").replace("\n ", "").replace("\r\n\t", "");
    let lines: Vec<&str> = unfolded.lines().collect();
    let anyof = filter.attrs.iter().any(|(q, v)| q.name == "test" && v == "anyof");
    let tests: Vec<bool> = filter
        .elements()
        .map(|f| {
            if f.is(CALDAV, "comp-filter") {
                comp_matches(f, &lines)
            } else if f.is(CARDDAV, "prop-filter") {
                prop_matches(f, &lines)
            } else {
                true
            }
        })
        .collect();
    if anyof { tests.iter().any(|t| *t) } else { tests.iter().all(|t| *t) }
}

fn attr<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    e.attrs.iter().find(|(q, _)| q.name == name).map(|(_, v)| v.as_str())
}

fn comp_matches(f: &Element, lines: &[&str]) -> bool {
    let name = attr(f, "name").unwrap_or("").to_ascii_uppercase();
    let present = name == "VCALENDAR" || lines.iter().any(|l| l.eq_ignore_ascii_case(&format!("BEGIN:{name}")));
    if f.child(CALDAV, "is-not-defined").is_some() {
        return !present;
    }
    present
        && f.elements().all(|c| {
            if c.is(CALDAV, "comp-filter") {
                comp_matches(c, lines)
            } else if c.is(CALDAV, "prop-filter") {
                prop_matches(c, lines)
            } else {
                true
            }
        })
}

fn prop_matches(f: &Element, lines: &[&str]) -> bool {
    let name = attr(f, "name").unwrap_or("").to_ascii_uppercase();
    let values: Vec<&str> = lines
        .iter()
        .filter_map(|l| {
            let (head, value) = l.split_once(':')?;
            let prop = head.split(';').next()?.rsplit('.').next()?;
            prop.eq_ignore_ascii_case(&name).then_some(value)
        })
        .collect();
    if f.elements().any(|c| c.name.name == "is-not-defined") {
        return values.is_empty();
    }
    let Some(tm) = f.elements().find(|c| c.name.name == "text-match") else { return !values.is_empty() };
    let needle = tm.text().to_lowercase();
    let negate = attr(tm, "negate-condition") == Some("yes");
    let how = attr(tm, "match-type").unwrap_or("contains");
    let hit = values.iter().any(|v| {
        let v = v.to_lowercase();
        match how {
            "equals" => v == needle,
            "starts-with" => v.starts_with(&needle),
            "ends-with" => v.ends_with(&needle),
            _ => v.contains(&needle),
        }
    });
    hit != negate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_component_and_property() {
        let event =
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:Team meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let f = |xml: &str| crate::xml::parse(xml.as_bytes()).unwrap();
        let q = |body: &str| {
            f(&format!(
                "<C:filter xmlns:C=\"{CALDAV}\"><C:comp-filter name=\"VCALENDAR\">{body}</C:comp-filter></C:filter>"
            ))
        };
        assert!(matches(&q("<C:comp-filter name=\"VEVENT\"/>"), event));
        assert!(!matches(&q("<C:comp-filter name=\"VTODO\"/>"), event));
        assert!(matches(
            &q(
                "<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"SUMMARY\"><C:text-match>MEETING</C:text-match></C:prop-filter></C:comp-filter>"
            ),
            event
        ));
        assert!(!matches(
            &q(
                "<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"SUMMARY\"><C:text-match negate-condition=\"yes\">team</C:text-match></C:prop-filter></C:comp-filter>"
            ),
            event
        ));
        let card =
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Smith\r\nitem1.EMAIL;TYPE=work:ann@example.com\r\nEND:VCARD\r\n";
        let a = |body: &str| f(&format!("<R:filter xmlns:R=\"{CARDDAV}\" test=\"anyof\">{body}</R:filter>"));
        assert!(matches(
            &a(
                "<R:prop-filter name=\"EMAIL\"><R:text-match match-type=\"starts-with\">ANN@</R:text-match></R:prop-filter>"
            ),
            card
        ));
        assert!(!matches(
            &a("<R:prop-filter name=\"FN\"><R:text-match match-type=\"equals\">ann</R:text-match></R:prop-filter>"),
            card
        ));
        assert!(matches(&a("<R:prop-filter name=\"NICKNAME\"><R:is-not-defined/></R:prop-filter>"), card));
    }
}
