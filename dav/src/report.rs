//! REPORT: calendar-multiget and addressbook-multiget (RFC 4791 §7.9, RFC 6352 §8.7),
//! calendar-query and addressbook-query (filters in `filter.rs`; time ranges narrowed by the
//! item index, then tested per instance), free-busy-query (RFC 4791 §7.10), `expand` and
//! `limit-recurrence-set`, and sync-collection (RFC 6578) from the domain's change log.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kontor_domain::changes::{ChangedObject, ObjectType};
use kontor_domain::model::{CollectionKind, Item, find_item};
use kontor_domain::recurrence::{self, BusyType, Window};
use kontor_domain::{Access, Error, Node};

use std::borrow::Cow;

use crate::filter::{self, Query};
use crate::partial::Spec;

use crate::paths;
use crate::propfind::multistatus;
use crate::props::{self, CALDAV, CARDDAV, Res, Wanted};
use crate::xml::{DAV, Element, MultiStatus, QName, escape};
use crate::{Ctx, DavError, DavResult, body_bytes, parse_xml};

const MAX_SYNC_LIMIT: usize = 10_000;

pub async fn report(ctx: &Ctx, body: Body) -> DavResult {
    let doc = parse_xml(&body_bytes(body).await?)?;
    let Node::Collection(access) = ctx.node(&ctx.path).await? else {
        return Err(DavError::new(StatusCode::FORBIDDEN, "reports run on a collection"));
    };
    if doc.is(CALDAV, "free-busy-query") {
        return free_busy(ctx, &doc, &access).await;
    }
    let prop = doc.child(DAV, "prop");
    let names: Vec<QName> = prop.map(|p| p.elements().map(|e| e.name.clone()).collect()).unwrap_or_default();
    let asked = Asked::new(&names);
    // Members' hrefs: the collection's, then the encoded name.
    let base = ctx.path.href(true);
    let mut ms = MultiStatus::new();
    if doc.is(CALDAV, "calendar-multiget") || doc.is(CARDDAV, "addressbook-multiget") {
        let view = View::of(ctx, prop, &access, None, false).await?;
        let listing = ctx.core.list_items(&access).await?;
        for h in doc.elements().filter(|e| e.is(DAV, "href")) {
            let text = h.text();
            let target = match paths::parse(&text) {
                Ok(Some(p)) if p.parent().as_ref() == Some(&ctx.path) => p,
                _ => {
                    ms.status(&text, 404);
                    continue;
                }
            };
            match find_item(&listing, target.segments.last().map_or("", String::as_str)) {
                Some(item) => respond(ctx, &mut ms, &access, item, &base, &asked, &view, None).await?,
                None => ms.status(&text, 404),
            }
        }
    } else if doc.is(CALDAV, "calendar-query") || doc.is(CARDDAV, "addressbook-query") {
        let filter = doc.child(CALDAV, "filter").or_else(|| doc.child(CARDDAV, "filter"));
        if let Some(f) = filter {
            filter::validate(f)?;
        }
        let limit = doc
            .child(CARDDAV, "limit")
            .and_then(|l| l.child(CARDDAV, "nresults"))
            .and_then(|n| n.text().parse::<usize>().ok())
            .unwrap_or(usize::MAX);
        let query_zone = doc
            .child(CALDAV, "timezone")
            .map(Element::text)
            .or_else(|| doc.child(CALDAV, "timezone-id").map(Element::text));
        let view = View::of(ctx, prop, &access, query_zone, filter.is_some_and(filter::has_time_range)).await?;
        let query = filter.map(|f| Query::new(f, view.zone.as_deref()).with_objects(&ctx.objects));
        let items = match query.as_ref().and_then(Query::window) {
            Some(w) => std::sync::Arc::new(ctx.core.items_in(&access, w).await?),
            None => ctx.core.list_items(&access).await?,
        };
        // A "contains" search over a big collection reads only the items its text names.
        let candidates = match query.as_ref().and_then(Query::needle) {
            Some(needle) if items.len() >= crate::search::MIN_ITEMS => {
                let listing = ctx.core.list_items(&access).await?;
                let mut ids = crate::search::corpus(ctx, &access, &listing).await?.containing(needle);
                ids.sort_unstable();
                Some(ids)
            }
            _ => None,
        };
        let mut n = 0;
        for item in items.iter() {
            if candidates.as_ref().is_some_and(|ids| ids.binary_search(&item.id.0).is_err()) {
                continue;
            }
            let data = ctx.core.content_of(&access, item).await?;
            let text = match std::str::from_utf8(&data) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) => String::from_utf8_lossy(&data),
            };
            if query.as_ref().is_some_and(|q| !q.matches_blob(&text, Some(&item.blob))) {
                continue;
            }
            if n == limit {
                ms.status(&ctx.path.href(true), 507);
                break;
            }
            n += 1;
            respond(ctx, &mut ms, &access, item, &base, &asked, &view, Some(&text)).await?;
        }
    } else if doc.is(DAV, "sync-collection") {
        sync_collection(ctx, &doc, &access, &asked, &mut ms).await?;
    } else {
        return Err(DavError::condition(
            StatusCode::FORBIDDEN,
            "<D:supported-report/>",
            "this report is not supported here",
        ));
    }
    Ok(multistatus(ms))
}

/// How `calendar-data` is returned: as stored, or expanded / limited to a window (RFC 4791
/// §9.6.5, §9.6.6), with floating times in `zone`.
#[derive(Default)]
struct View {
    expand: Option<Window>,
    limit: Option<Window>,
    zone: Option<String>,
    /// The vCard version `address-data` asked for (RFC 6352 §10.4).
    card_version: Option<String>,
    /// The components and properties `calendar-data` names (RFC 4791 §9.6.1).
    calendar_parts: Option<Spec>,
    /// The properties `address-data` names (RFC 6352 §10.4.2).
    card_parts: Option<Spec>,
}

impl View {
    async fn of(
        ctx: &Ctx,
        prop: Option<&Element>,
        access: &Access,
        query_zone: Option<String>,
        filter_times: bool,
    ) -> Result<View, DavError> {
        let data = prop.and_then(|p| p.child(CALDAV, "calendar-data"));
        let window = |name: &str| -> Result<Option<Window>, DavError> {
            data.and_then(|d| d.child(CALDAV, name)).map(filter::time_range).transpose()
        };
        let card = prop.and_then(|p| p.child(CARDDAV, "address-data"));
        let attr = |name: &str| card.and_then(|c| c.attrs.iter().find(|(q, _)| q.name == name).map(|(_, v)| v.trim()));
        let card_version = attr("version").map(str::to_owned);
        if attr("content-type").is_some_and(|t| !t.eq_ignore_ascii_case("text/vcard"))
            || card_version.as_deref().is_some_and(|v| v != "3.0" && v != "4.0")
        {
            return Err(DavError::condition(
                StatusCode::FORBIDDEN,
                "<CR:supported-address-data-conversion/>",
                "address data is available as text/vcard, version 3.0 or 4.0",
            ));
        }
        let mut view = View {
            expand: window("expand")?,
            limit: window("limit-recurrence-set")?,
            zone: query_zone,
            card_version,
            calendar_parts: data.map(Spec::of_calendar_data).transpose()?.flatten(),
            card_parts: card.map(Spec::of_address_data).transpose()?.flatten(),
        };
        // The zone is one more query: only when something reads times.
        if view.zone.is_none() && (filter_times || view.expand.is_some() || view.limit.is_some()) {
            view.zone = collection_zone(ctx, access).await;
        }
        Ok(view)
    }
}

/// The collection's time zone (`calendar-timezone` or `calendar-timezone-id`), if set.
async fn collection_zone(ctx: &Ctx, access: &Access) -> Option<String> {
    if !matches!(access.collection.kind, CollectionKind::Calendar | CollectionKind::TaskList) {
        return None;
    }
    let dead = ctx.core.zone_properties(access).await.ok()?;
    dead.iter()
        .filter(|d| d.namespace == CALDAV && (d.name == "calendar-timezone" || d.name == "calendar-timezone-id"))
        .find_map(|d| crate::xml::parse(format!("<z>{}</z>", d.value).as_bytes()).ok().map(|e| e.text()))
        .filter(|z| !z.trim().is_empty())
}

/// RFC 4791 §7.10: the busy time of the calendar in the range, as a VFREEBUSY. Needs read or
/// read-free-busy; a free/busy grant sees this and nothing else.
async fn free_busy(ctx: &Ctx, doc: &Element, access: &Access) -> DavResult {
    let range = doc
        .child(CALDAV, "time-range")
        .ok_or_else(|| DavError::new(StatusCode::BAD_REQUEST, "free-busy-query needs a time-range"))?;
    let w = filter::time_range(range)?;
    let zone = collection_zone(ctx, access).await;
    let busy = ctx.core.busy_times(&ctx.who, access.collection.id, w, zone.as_deref()).await?;
    let mut out = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Kontor//Kontor//EN\r\nBEGIN:VFREEBUSY\r\n");
    let now = kontor_domain::ids::Timestamp::now().0 / 1000;
    out.push_str(&format!(
        "DTSTAMP:{}\r\nDTSTART:{}\r\nDTEND:{}\r\n",
        recurrence::format_utc(now),
        recurrence::format_utc(w.start),
        recurrence::format_utc(w.end)
    ));
    for (s, e, kind) in busy {
        let fb = match kind {
            BusyType::Busy => "",
            BusyType::Tentative => ";FBTYPE=BUSY-TENTATIVE",
        };
        out.push_str(&format!("FREEBUSY{fb}:{}/{}\r\n", recurrence::format_utc(s), recurrence::format_utc(e)));
    }
    out.push_str("END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
    Ok(([(axum::http::header::CONTENT_TYPE, "text/calendar; charset=utf-8")], out).into_response())
}

/// What a report asks of each item: properties, and the content ones (`calendar-data`,
/// `address-data`) apart, since they come through the view.
struct Asked {
    props: Wanted,
    data: Vec<QName>,
}

impl Asked {
    fn new(names: &[QName]) -> Self {
        let (data, props): (Vec<QName>, Vec<QName>) =
            names.iter().cloned().partition(|q| q.is(CALDAV, "calendar-data") || q.is(CARDDAV, "address-data"));
        Self { props: Wanted::Props(props), data }
    }
}

/// One item's response: the asked properties, `calendar-data` / `address-data` being its
/// content (through the view). `text` is the content when the caller read it already.
#[allow(clippy::too_many_arguments)]
async fn respond(
    ctx: &Ctx,
    ms: &mut MultiStatus,
    access: &Access,
    item: &Item,
    base: &str,
    asked: &Asked,
    view: &View,
    text: Option<&str>,
) -> Result<(), DavError> {
    let mut extra = Vec::new();
    if !asked.data.is_empty() {
        let owned;
        let text = match text {
            Some(t) => t,
            None => {
                owned = String::from_utf8_lossy(&ctx.core.content_of(access, item).await?).into_owned();
                &owned
            }
        };
        for q in &asked.data {
            let calendar = q.is(CALDAV, "calendar-data");
            let shown = if calendar && (view.expand.is_some() || view.limit.is_some()) {
                // Through the parsed-object cache the filter may have filled already.
                let shown = match ctx.objects.parsed(&item.blob, text, view.zone.as_deref()) {
                    Some(o) => match (view.expand, view.limit) {
                        (Some(w), _) => o.expanded(w),
                        (None, Some(w)) => o.limited(w),
                        (None, None) => text.to_owned(),
                    },
                    None => text.to_owned(),
                };
                Cow::Owned(shown)
            } else if let (false, Some(v)) = (calendar, view.card_version.as_deref()) {
                kontor_domain::objects::vcard_in_version(text, v).map_or(Cow::Borrowed(text), Cow::Owned)
            } else {
                Cow::Borrowed(text)
            };
            let parts = if calendar { view.calendar_parts.as_ref() } else { view.card_parts.as_ref() };
            let escaped = match parts {
                Some(spec) => escape(&spec.apply(&shown)),
                None => escape(&shown),
            };
            extra.push((q, escaped));
        }
    }
    let mut href = String::with_capacity(base.len() + item.name.len() + 8);
    href.push_str(base);
    paths::encode_into(&mut href, &item.name);
    let path = asked.props.needs_path().then(|| ctx.path.child(&item.name));
    props::respond(ctx, ms, &href, &Res::Item(item, access), path.as_ref(), &asked.props, &extra).await
}

/// RFC 6578: what changed in the collection since the token (empty: everything, no tombstones).
async fn sync_collection(
    ctx: &Ctx,
    doc: &Element,
    access: &Access,
    asked: &Asked,
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
    // The owner's log position came with its principal at the start of this request.
    let known = (access.collection.account == ctx.who.id).then_some(ctx.who.log);
    let changes = match ctx.core.changes_in(access, token.as_deref(), limit, known).await {
        Ok(ch) => ch,
        Err(Error::TokenExpired { .. } | Error::TokenInvalid(_) | Error::TokenWrongAccount) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    let listing = ctx.core.list_items(access).await?;
    let base = ctx.path.href(true);
    // A whole first sync is every item there is: the listing itself, without lookups (the
    // order of responses carries no meaning, RFC 6578 §3.2), unless it grew past the limit.
    let whole = token.is_none() && !changes.has_more && listing.len() <= limit;
    let looked_up: Vec<&ChangedObject> = changes
        .created
        .iter()
        .filter(|_| !whole)
        .chain(&changes.updated)
        .filter(|o| o.object == ObjectType::Item)
        .collect();
    ms.reserve((if whole { listing.len() } else { looked_up.len() }) * 300);
    if whole {
        for item in listing.iter() {
            respond(ctx, ms, access, item, &base, asked, &View::default(), None).await?;
        }
    }
    // Many names: one hash map beats that many binary searches.
    let by_name: Option<foldhash::HashMap<&str, &Item>> =
        (looked_up.len() > 32).then(|| listing.iter().map(|i| (i.name.as_str(), i)).collect());
    for o in looked_up {
        let found = match &by_name {
            Some(m) => m.get(o.name.as_str()).copied(),
            None => find_item(&listing, &o.name),
        };
        match found {
            Some(item) => respond(ctx, ms, access, item, &base, asked, &View::default(), None).await?,
            // Gone again since the log was read: the next sync reports it.
            None => ms.status(&format!("{base}{}", paths::encode(&o.name)), 404),
        }
    }
    for o in changes.destroyed.iter().filter(|o| o.object == ObjectType::Item) {
        ms.status(&format!("{base}{}", paths::encode(&o.name)), 404);
    }
    if changes.has_more {
        ms.status(&ctx.path.href(true), 507);
    }
    if let Some(t) = changes.new_token {
        ms.raw(&format!("<D:sync-token>{}</D:sync-token>", escape(&props::sync_token(&t))));
    }
    Ok(())
}
