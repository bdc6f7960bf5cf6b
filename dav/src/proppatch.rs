//! PROPPATCH (RFC 4918 §9.2): dead properties, all or nothing; live ones are protected.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use kontor_domain::Node;
use kontor_domain::ports::{DeadProperty, PropTarget};

use crate::props::is_protected;
use crate::xml::{DAV, MultiStatus, PropValue, QName};
use crate::{Ctx, DavError, DavResult, body_bytes, parse_xml};

pub async fn proppatch(ctx: &Ctx, body: Body) -> DavResult {
    let doc = parse_xml(&body_bytes(body).await?)?;
    if !doc.is(DAV, "propertyupdate") {
        return Err(DavError::new(StatusCode::BAD_REQUEST, "expected a DAV:propertyupdate document"));
    }
    let (target, etag, collection, live_name) = match ctx.node(&ctx.path).await? {
        Node::Missing { .. } => return Err(DavError::new(StatusCode::NOT_FOUND, "no such resource")),
        Node::Item { item, .. } => (PropTarget::Item(item.id), item.etag(), false, false),
        Node::Collection(a) => (
            PropTarget::Collection(a.collection.id),
            crate::props::collection_etag(&a),
            true,
            a.collection.kind != kontor_domain::model::CollectionKind::FileFolder,
        ),
    };
    ctx.check_write(&ctx.path, Some(&etag), false)?;

    // Instructions apply in document order: a later set or remove of the same name wins.
    let mut ops: Vec<(QName, Option<String>)> = Vec::new();
    for instr in doc.elements() {
        let set = if instr.is(DAV, "set") {
            true
        } else if instr.is(DAV, "remove") {
            false
        } else {
            continue;
        };
        for prop in instr.elements().filter(|e| e.is(DAV, "prop")) {
            for p in prop.elements() {
                ops.retain(|(q, _)| *q != p.name);
                ops.push((p.name.clone(), set.then(|| p.inner_xml())));
            }
        }
    }
    let refused: Vec<&QName> = ops.iter().map(|(q, _)| q).filter(|q| is_protected(q)).collect();
    let mut ms = MultiStatus::new();
    let href = ctx.path.href(collection);
    if refused.is_empty() {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        for (q, v) in &ops {
            // A calendar's or address book's name is the collection's own (JMAP shows it too).
            if live_name
                && q.is(DAV, "displayname")
                && let PropTarget::Collection(id) = target
            {
                let name = v
                    .as_deref()
                    .map(|x| crate::xml::parse(format!("<n>{x}</n>").as_bytes()).map(|e| e.text()).unwrap_or_default());
                let patch = kontor_domain::ports::CollectionPatch { display_name: Some(name), ..Default::default() };
                ctx.core.update_collection(&ctx.who, id, patch).await?;
                continue;
            }
            match v {
                Some(value) => {
                    set.push(DeadProperty { namespace: q.ns.clone(), name: q.name.clone(), value: value.clone() });
                }
                None => remove.push((q.ns.clone(), q.name.clone())),
            }
        }
        ctx.core.update_dead_properties(&ctx.who, target, set, remove).await?;
        let done = ops.iter().map(|(q, _)| PropValue { name: q.clone(), value: None }).collect();
        ms.response(&href, &[(200, done)]);
    } else {
        let (bad, others): (Vec<_>, Vec<_>) = ops.iter().map(|(q, _)| q.clone()).partition(is_protected);
        let as_props = |v: Vec<QName>| v.into_iter().map(|name| PropValue { name, value: None }).collect();
        ms.response(&href, &[(403, as_props(bad)), (424, as_props(others))]);
    }
    Ok((StatusCode::MULTI_STATUS, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], ms.finish())
        .into_response())
}
