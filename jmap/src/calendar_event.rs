//! CalendarEvent (draft-ietf-jmap-calendars): the events of the calendars CalDAV serves, as
//! JSCalendar converted from the stored iCalendar objects (one UID per object: the master and
//! its overrides, which become `recurrenceOverrides`). An event written here is stored as
//! iCalendar, so CalDAV clients read it. `/query` by time range finds recurring events by
//! their instances, expanded by the domain's recurrence module (the one CalDAV uses); with
//! `expandRecurrences` it answers one id per instance (`v<item>-<UTC recurrence id>`), which
//! /get shows as the draft's instance objects and /set turns into overrides or exclusions of
//! the master.
//!
//! Tasks (VTODO) and journals are not CalendarEvents: they stay reachable over CalDAV only.

use async_trait::async_trait;
use kontor_domain::changes::ObjectType as Obj;
use kontor_domain::ids::{AccountId, ItemId};
use kontor_domain::recurrence::{self, CalendarObject, MAX_TIME, MIN_TIME, Window as Range};
use kontor_domain::rights::Rights;
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::calendars::zone;
use crate::convert;
use crate::error::{MethodError, SetError};
use crate::generic::{Changes, ObjectType, QueryOut, Window};
use crate::groupware::{self as gw, CALENDARS};
use crate::ids;

const ICS: &str = "text/calendar; charset=utf-8";

pub struct CalendarEvent;

/// Properties the draft adds to a JSCalendar Event; the server sets them.
const JMAP_ONLY: &[&str] = &[
    "id",
    "calendarIds",
    "isDraft",
    "isOrigin",
    "utcStart",
    "utcEnd",
    "baseEventId",
    "mayInviteSelf",
    "mayInviteOthers",
    "hideAttendees",
    "blobId",
];

/// JSCalendar Event properties (calcard's names: JSCalendar with the `iCalendar` conversion
/// property) and the draft's.
const EVENT_PROPERTIES: &[&str] = &[
    "id",
    "calendarIds",
    "isDraft",
    "isOrigin",
    "utcStart",
    "utcEnd",
    "baseEventId",
    "mayInviteSelf",
    "mayInviteOthers",
    "hideAttendees",
    "blobId",
    "@type",
    "uid",
    "relatedTo",
    "prodId",
    "created",
    "updated",
    "sequence",
    "method",
    "title",
    "description",
    "descriptionContentType",
    "showWithoutTime",
    "locations",
    "mainLocationId",
    "virtualLocations",
    "links",
    "locale",
    "keywords",
    "categories",
    "color",
    "recurrenceId",
    "recurrenceIdTimeZone",
    "recurrenceRule",
    "recurrenceOverrides",
    "excluded",
    "priority",
    "freeBusyStatus",
    "privacy",
    "replyTo",
    "sentBy",
    "participants",
    "organizerCalendarAddress",
    "requestStatus",
    "useDefaultAlerts",
    "alerts",
    "localizations",
    "timeZone",
    "start",
    "duration",
    "status",
    "iCalendar",
];

const STRINGS: &[&str] = &[
    "uid",
    "prodId",
    "created",
    "updated",
    "method",
    "title",
    "description",
    "descriptionContentType",
    "mainLocationId",
    "locale",
    "color",
    "recurrenceId",
    "recurrenceIdTimeZone",
    "freeBusyStatus",
    "privacy",
    "sentBy",
    "organizerCalendarAddress",
    "requestStatus",
    "duration",
    "status",
];

const OBJECTS: &[&str] = &[
    "relatedTo",
    "locations",
    "virtualLocations",
    "links",
    "keywords",
    "categories",
    "recurrenceRule",
    "recurrenceOverrides",
    "replyTo",
    "participants",
    "alerts",
    "localizations",
    "iCalendar",
];

/// Checks the shape of an event a client sent (what calcard would silently drop is refused).
fn check_event(e: &Map<String, Value>) -> Result<(), SetError> {
    for (k, v) in e {
        let ok = match k.as_str() {
            "@type" => v.as_str() == Some("Event"),
            "start" => {
                v.as_str().is_some_and(|s| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok())
            }
            "timeZone" => {
                v.is_null() || v.as_str().is_some_and(|z| recurrence::resolve_zone(z).is_some() || z == "Etc/UTC")
            }
            "duration" => v.as_str().is_some_and(|d| {
                let d = d.strip_prefix('-').unwrap_or(d);
                d.starts_with('P') && d.len() > 1 && d.bytes().all(|b| b"PTWDHMS0123456789".contains(&b))
            }),
            "sequence" | "priority" => v.is_i64(),
            "showWithoutTime" | "excluded" | "useDefaultAlerts" => v.is_boolean(),
            k if STRINGS.contains(&k) => v.is_string(),
            k if OBJECTS.contains(&k) => v.is_object(),
            k if k.contains(':') => true,
            _ => return Err(SetError::invalid_properties(&[k], format!("unknown property {k}"))),
        };
        if !ok {
            return Err(SetError::invalid_properties(&[k], format!("{k} has the wrong type or form")));
        }
    }
    Ok(())
}

fn utc_date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map_or_else(String::new, |d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn parse_utc_date(v: &Value, name: &str) -> Result<i64, MethodError> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.timestamp())
        .ok_or_else(|| MethodError::invalid_arguments(format!("{name} must be a UTCDate (2026-01-31T09:00:00Z)")))
}

/// The first instance of an object from about `from` on (the index span's start, which is
/// padded by a day), so unbounded rules are not expanded far.
fn first_instance(object: &CalendarObject, from: Option<i64>) -> Option<recurrence::Instance> {
    let w = match from {
        Some(s) => Range { start: MIN_TIME, end: s.saturating_add(3 * 86_400) },
        None => Range::ALL,
    };
    object
        .instances("VEVENT", w)
        .into_iter()
        .next()
        .or_else(|| object.instances("VEVENT", Range::ALL).into_iter().next())
}

/// An instance of a recurring event (`expandRecurrences`): the event's id, `-`, and the
/// instance's recurrence id in UTC (`v12-20260105T090000Z`).
fn instance_id(item: ItemId, rid: i64) -> String {
    format!("{}-{}", ids::item(CALENDARS.item, item), recurrence::format_utc(rid))
}

/// The event id and recurrence id of an instance id.
fn parse_instance(s: &str) -> Option<(String, i64)> {
    let (base, rid) = s.split_once('-')?;
    ids::parse_item(base, CALENDARS.item)?;
    Some((base.to_owned(), recurrence::parse_utc(rid)?))
}

/// A UTC time as a JSCalendar LocalDateTime in a zone (UTC when it has none).
fn local_time(t: i64, zone: Option<&str>) -> Option<String> {
    use chrono::TimeZone as _;
    let tz = zone.and_then(recurrence::resolve_zone).unwrap_or(calcard::common::timezone::Tz::UTC);
    let d = tz.timestamp_opt(t, 0).single()?;
    Some(d.naive_local().format("%Y-%m-%dT%H:%M:%S").to_string())
}

/// The recurrence id of an instance as the master's `recurrenceOverrides` key: local time in
/// the event's zone (a floating event's, the calendar's). `None` when `rid` is no instance.
fn instance_key(master: &Map<String, Value>, text: &str, rid: i64, cal_zone: Option<&str>) -> Option<String> {
    let zone = master.get("timeZone").and_then(Value::as_str).or(cal_zone);
    let local = local_time(rid, zone)?;
    let moved = master.get("recurrenceOverrides").and_then(|o| o.get(&local)).is_some();
    let at_rid = CalendarObject::parse(text, cal_zone).is_some_and(|o| {
        o.instances("VEVENT", Range { start: rid, end: rid.saturating_add(1) })
            .iter()
            .any(|i| i.recurrence_id == Some(rid))
    });
    (moved || at_rid).then_some(local)
}

/// The draft's instance object: the master without its rule, at its recurrence id, with the
/// override's patch applied. `None` for an excluded instance.
fn instance_json(master: &Map<String, Value>, id: &str, key: &str) -> Option<Map<String, Value>> {
    let mut e = master.clone();
    let overrides = e.remove("recurrenceOverrides");
    e.remove("recurrenceRule");
    e.insert("recurrenceId".into(), json!(key));
    e.insert("start".into(), json!(key));
    if let Some(tz) = master.get("timeZone").filter(|v| v.is_string()) {
        e.insert("recurrenceIdTimeZone".into(), tz.clone());
    }
    e.insert("baseEventId".into(), master.get("id").cloned().unwrap_or(Value::Null));
    e.insert("id".into(), json!(id));
    if let Some(Value::Object(p)) = overrides.as_ref().and_then(|o| o.get(key)) {
        if p.get("excluded") == Some(&Value::Bool(true)) {
            return None;
        }
        gw::apply_patch(&mut e, p).ok()?;
    }
    Some(e)
}

/// A patch of an instance as a patch of its master: under `recurrenceOverrides/<key>/`.
fn instance_patch(
    master: &mut Map<String, Value>,
    key: &str,
    patch: &Map<String, Value>,
) -> Result<Map<String, Value>, SetError> {
    let overrides = master.entry("recurrenceOverrides").or_insert_with(|| json!({}));
    let Value::Object(overrides) = overrides else {
        return Err(SetError::new("serverFail", "the stored overrides cannot be read"));
    };
    overrides.entry(key.to_owned()).or_insert_with(|| json!({}));
    let mut out = Map::new();
    for (k, v) in patch {
        let top = k.split('/').next().unwrap_or_default();
        if JMAP_ONLY.contains(&top) || matches!(top, "uid" | "recurrenceId" | "recurrenceRule" | "recurrenceOverrides")
        {
            return Err(SetError::invalid_properties(&[k], format!("{k} cannot be changed on one instance")));
        }
        out.insert(format!("recurrenceOverrides/{key}/{k}"), v.clone());
    }
    Ok(out)
}

fn event_json(ctx_zone: Option<&str>, l: &gw::Loaded, props: Option<&[String]>) -> Option<Map<String, Value>> {
    let mut e = convert::event_to_json(&l.text)?;
    if e.get("@type").and_then(Value::as_str) != Some("Event") {
        return None;
    }
    let wants = |p: &str| props.is_none_or(|list| list.iter().any(|x| x == p));
    e.insert("id".into(), json!(ids::item(CALENDARS.item, l.item.id)));
    e.insert("calendarIds".into(), gw::collection_ids(CALENDARS, l.item.collection));
    for (k, v) in [("isDraft", false), ("isOrigin", true), ("mayInviteSelf", false), ("mayInviteOthers", false)] {
        e.insert(k.into(), json!(v));
    }
    e.insert("hideAttendees".into(), json!(false));
    e.insert("baseEventId".into(), Value::Null);
    // The UTC times cost an expansion: only when asked for by name.
    if props.is_some() && (wants("utcStart") || wants("utcEnd")) {
        let first = CalendarObject::parse(&l.text, ctx_zone).and_then(|o| first_instance(&o, l.item.span.start));
        e.insert("utcStart".into(), json!(first.map(|i| utc_date(i.start))));
        e.insert("utcEnd".into(), json!(first.map(|i| utc_date(i.end.max(i.start)))));
    }
    if let Some(props) = props {
        e.retain(|k, _| props.iter().any(|p| p == k));
    }
    Some(e)
}

/// The event a client wants stored, as iCalendar text.
fn event_text(e: &mut Map<String, Value>, original: Option<&str>) -> Result<String, SetError> {
    for k in ["utcStart", "utcEnd"] {
        if e.get(k).is_some_and(|v| !v.is_null()) {
            return Err(SetError::invalid_properties(&[k], "set start and timeZone instead"));
        }
    }
    if e.get("isDraft").is_some_and(|v| *v == Value::Bool(true)) {
        return Err(SetError::invalid_properties(&["isDraft"], "drafts are not kept"));
    }
    e.retain(|k, _| !JMAP_ONLY.contains(&k.as_str()));
    e.entry("@type").or_insert_with(|| json!("Event"));
    check_event(e)?;
    convert::json_to_event(e, original)
        .ok_or_else(|| SetError::invalid_properties(&[], "the event cannot be converted"))
}

#[async_trait]
impl ObjectType for CalendarEvent {
    const NAME: &'static str = "CalendarEvent";
    const COPY: bool = true;
    /// A copy goes to the target account's default collection unless the entry names one.
    const SERVER_SET: &'static [&'static str] = &["id", "calendarIds"];
    const PROPERTIES: &'static [&'static str] = EVENT_PROPERTIES;

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        gw::state(ctx, account, CALENDARS).await
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        wanted: Option<Vec<String>>,
        props: &[String],
        args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        let all = matches!(args.get("properties"), None | Some(Value::Null));
        let explicit = !all;
        // Instance ids (from an expanded query) are read through their master events.
        let (mut plain, mut instances) = (None, Vec::new());
        if let Some(w) = wanted {
            let mut p = Vec::new();
            for id in w {
                match parse_instance(&id) {
                    Some((base, rid)) => instances.push((id, base, rid)),
                    None => p.push(id),
                }
            }
            plain = Some(p);
        }
        let (items, mut not_found) = match &plain {
            Some(p) if p.is_empty() => (Vec::new(), Vec::new()),
            _ => gw::load_items(ctx, account, CALENDARS, plain.clone()).await?,
        };
        let zones = if !instances.is_empty() || (explicit && props.iter().any(|p| p.starts_with("utc"))) {
            zones(ctx, account).await?
        } else {
            Vec::new()
        };
        let zone_of = |l: &gw::Loaded| zones.iter().find(|(c, _)| *c == l.item.collection).and_then(|(_, z)| z.clone());
        let mut out = Vec::with_capacity(items.len() + instances.len());
        for l in &items {
            match event_json(zone_of(l).as_deref(), l, explicit.then_some(props)) {
                Some(v) => out.push(Value::Object(v)),
                // Tasks and journals are not events; asked for by id, they are not found.
                None if args.get("ids").is_some_and(|v| !v.is_null()) => {
                    not_found.push(ids::item(CALENDARS.item, l.item.id));
                }
                None => {}
            }
        }
        if !instances.is_empty() {
            let bases: Vec<String> = instances.iter().map(|(_, b, _)| b.clone()).collect();
            let (masters, _) = gw::load_items(ctx, account, CALENDARS, Some(bases)).await?;
            for (id, base, rid) in instances {
                let l = masters.iter().find(|l| ids::item(CALENDARS.item, l.item.id) == base);
                let found = l.and_then(|l| {
                    let master = event_json(None, l, None)?;
                    let key = instance_key(&master, &l.text, rid, zone_of(l).as_deref())?;
                    instance_json(&master, &id, &key)
                });
                match found {
                    Some(mut e) => {
                        if explicit {
                            e.retain(|k, _| props.iter().any(|p| p == k));
                        }
                        out.push(Value::Object(e));
                    }
                    None => not_found.push(id),
                }
            }
        }
        Ok((out, not_found))
    }

    async fn changes(ctx: &Ctx<'_>, account: AccountId, since: &str, max: usize) -> Result<Changes, MethodError> {
        gw::changes(ctx, account, CALENDARS, Obj::Item, since, max).await
    }

    async fn create(ctx: &Ctx<'_>, account: AccountId, object: &Map<String, Value>) -> Result<Value, SetError> {
        let list = gw::collections(ctx, account, CALENDARS).await.map_err(|_| SetError::forbidden("no calendar"))?;
        let cal = match object.get("calendarIds") {
            None => list.first().ok_or_else(|| SetError::invalid_properties(&["calendarIds"], "no calendar"))?,
            v => gw::one_collection(ctx, &list, CALENDARS, "calendarIds", v)?,
        };
        let mut e = object.clone();
        let generated = if gw::opt_string(&e, "uid")?.is_none() {
            let uid = gw::random_id();
            e.insert("uid".into(), json!(uid));
            Some(uid)
        } else {
            None
        };
        let text = event_text(&mut e, None)?;
        let name = gw::resource_name(e.get("uid").and_then(Value::as_str), ".ics");
        let item = ctx.core.create_item(ctx.who, cal.collection.id, &name, ICS, text.as_bytes()).await?;
        let mut out = json!({ "id": ids::item(CALENDARS.item, item.id) });
        if let Some(uid) = generated {
            out["uid"] = json!(uid);
        }
        if object.get("calendarIds").is_none() {
            out["calendarIds"] = gw::collection_ids(CALENDARS, cal.collection.id);
        }
        Ok(out)
    }

    async fn update(
        ctx: &Ctx<'_>,
        account: AccountId,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Option<Value>, SetError> {
        if let Some((base, rid)) = parse_instance(id) {
            return update_instance(ctx, account, &base, rid, InstanceChange::Patch(patch)).await;
        }
        let l = gw::item_for_update(ctx, account, CALENDARS, id).await?;
        let mut e = event_json(None, &l, None).ok_or_else(SetError::not_found)?;
        let mut cals = gw::collection_ids(CALENDARS, l.item.collection);
        let mut rest = Map::new();
        for (k, v) in patch {
            if k == "calendarIds" {
                cals = v.clone();
            } else if let Some(c) = k.strip_prefix("calendarIds/") {
                if let Value::Object(m) = &mut cals {
                    if v.is_null() {
                        m.remove(c);
                    } else {
                        m.insert(c.to_owned(), v.clone());
                    }
                }
            } else if JMAP_ONLY.contains(&k.split('/').next().unwrap_or_default()) {
                if e.get(k.as_str()) != Some(v) {
                    return Err(SetError::invalid_properties(&[k], format!("{k} is set by the server")));
                }
            } else {
                rest.insert(k.clone(), v.clone());
            }
        }
        let uid = e.get("uid").cloned();
        gw::apply_patch(&mut e, &rest)?;
        if e.get("uid") != uid.as_ref() {
            return Err(SetError::invalid_properties(&["uid"], "uid cannot be changed"));
        }
        if !rest.is_empty() {
            let text = event_text(&mut e, Some(&l.text))?;
            ctx.core.replace_item(ctx.who, l.item.id, ICS, text.as_bytes(), Some(l.item.modseq)).await?;
        }
        let list = gw::collections(ctx, account, CALENDARS).await.map_err(|_| SetError::not_found())?;
        let to = gw::one_collection(ctx, &list, CALENDARS, "calendarIds", Some(&cals))?;
        if to.collection.id != l.item.collection {
            ctx.core.move_item(ctx.who, l.item.id, to.collection.id, &l.item.name).await?;
        }
        Ok(None)
    }

    async fn destroy(ctx: &Ctx<'_>, account: AccountId, id: &str, _args: &Map<String, Value>) -> Result<(), SetError> {
        if let Some((base, rid)) = parse_instance(id) {
            return update_instance(ctx, account, &base, rid, InstanceChange::Exclude).await.map(|_| ());
        }
        let l = gw::item_for_update(ctx, account, CALENDARS, id).await?;
        if event_json(None, &l, Some(&[])).is_none() {
            return Err(SetError::not_found());
        }
        ctx.core.remove_item(ctx.who, l.item.id, None).await?;
        Ok(())
    }

    async fn query(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        window: &Window,
    ) -> Result<QueryOut, MethodError> {
        let expand = crate::generic::boolean(args, "expandRecurrences")?;
        let filter = args.get("filter").filter(|f| !f.is_null());
        if let Some(f) = filter {
            gw::check_filter(f, EVENT_FILTERS, "events")?;
        }
        let query_zone = match args.get("timeZone") {
            None | Some(Value::Null) => None,
            Some(Value::String(z)) if recurrence::resolve_zone(z).is_some() => Some(z.clone()),
            Some(_) => return Err(MethodError::invalid_arguments("timeZone must be a known time zone id")),
        };
        // A time range at the top narrows the items through the index first.
        let range = match filter {
            Some(Value::Object(f)) if !f.contains_key("operator") => {
                let start = f.get("after").map(|v| parse_utc_date(v, "after")).transpose()?;
                let end = f.get("before").map(|v| parse_utc_date(v, "before")).transpose()?;
                (start.is_some() || end.is_some())
                    .then(|| Range { start: start.unwrap_or(MIN_TIME), end: end.unwrap_or(MAX_TIME) })
            }
            _ => None,
        };
        let range = match (expand, range) {
            (false, r) => r,
            (true, Some(r)) if r.start > MIN_TIME && r.end < MAX_TIME => Some(r),
            (true, _) => {
                return Err(MethodError::invalid_arguments(
                    "expandRecurrences needs a filter condition with both after and before",
                ));
            }
        };
        let readable: Vec<_> = gw::collections(ctx, account, CALENDARS)
            .await?
            .into_iter()
            .filter(|a| a.rights.contains(Rights::READ))
            .collect();
        let mut found: Vec<(i64, String, String)> = Vec::new();
        for a in &readable {
            let items = match range {
                Some(w) => ctx.core.items_in(a, w).await?,
                None => ctx.core.list_items(a).await?.to_vec(),
            };
            let z = match &query_zone {
                Some(z) => Some(z.clone()),
                None => zone(ctx, a).await,
            };
            for item in items {
                let data = ctx.core.content_of(a, &item).await?;
                let l = gw::Loaded { text: String::from_utf8_lossy(&data).into_owned(), item };
                let Some(e) = event_json(None, &l, None) else { continue };
                let Some(object) = CalendarObject::parse(&l.text, z.as_deref()) else { continue };
                if let Some(f) = filter
                    && !matches_event(f, &e, &object, &l)?
                {
                    continue;
                }
                let uid = e.get("uid").and_then(Value::as_str).unwrap_or_default().to_owned();
                if let (true, Some(w)) = (expand, range) {
                    for i in object.instances("VEVENT", w) {
                        let id = match i.recurrence_id {
                            Some(rid) => instance_id(l.item.id, rid),
                            None => ids::item(CALENDARS.item, l.item.id),
                        };
                        found.push((i.start, uid.clone(), id));
                    }
                    continue;
                }
                let start = match range {
                    Some(w) => object.instances("VEVENT", w).first().map(|i| i.start),
                    None => first_instance(&object, l.item.span.start).map(|i| i.start),
                };
                found.push((start.unwrap_or(MAX_TIME), uid, ids::item(CALENDARS.item, l.item.id)));
            }
        }
        sort_events(&mut found, args.get("sort"))?;
        let mut out = window.apply(found.into_iter().map(|(_, _, id)| id).collect())?;
        // Instances are not in the change log: expanded results cannot be followed.
        out.can_calculate_changes = !expand;
        Ok(out)
    }

    async fn query_changes(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        since: &str,
    ) -> Result<(Vec<String>, Vec<(String, usize)>, Option<usize>), MethodError> {
        if crate::generic::boolean(args, "expandRecurrences")? {
            return Err(MethodError::cannot_calculate_changes());
        }
        crate::generic::simple_query_changes::<Self>(ctx, account, args, since).await
    }
}

const EVENT_FILTERS: &[&str] =
    &["inCalendars", "after", "before", "uid", "title", "description", "location", "owner", "attendee", "text"];

fn sort_events(found: &mut [(i64, String, String)], sort: Option<&Value>) -> Result<(), MethodError> {
    let mut keys = vec![("start".to_owned(), true)];
    if let Some(Value::Array(sort)) = sort {
        keys.clear();
        for s in sort {
            let prop = s.get("property").and_then(Value::as_str).unwrap_or_default();
            if !matches!(prop, "start" | "uid") {
                return Err(MethodError::new("unsupportedSort", format!("cannot sort events by {prop:?}")));
            }
            keys.push((prop.to_owned(), s.get("isAscending").and_then(Value::as_bool).unwrap_or(true)));
        }
    }
    found.sort_by(|a, b| {
        for (prop, asc) in &keys {
            let o = if prop == "start" { a.0.cmp(&b.0) } else { a.1.cmp(&b.1) };
            if o != std::cmp::Ordering::Equal {
                return if *asc { o } else { o.reverse() };
            }
        }
        a.2.cmp(&b.2)
    });
    Ok(())
}

fn text_in(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.to_lowercase().contains(needle),
        Value::Array(a) => a.iter().any(|x| text_in(x, needle)),
        Value::Object(o) => o.values().any(|x| text_in(x, needle)),
        _ => false,
    }
}

/// The draft's FilterCondition (and AND/OR/NOT operators) on one event.
fn matches_event(
    f: &Value,
    e: &Map<String, Value>,
    object: &CalendarObject,
    l: &gw::Loaded,
) -> Result<bool, MethodError> {
    let Value::Object(f) = f else { return Err(MethodError::invalid_arguments("a filter must be an object")) };
    if let Some(op) = f.get("operator") {
        let Some(Value::Array(conds)) = f.get("conditions") else {
            return Err(MethodError::invalid_arguments("a filter operator needs conditions"));
        };
        let mut results = Vec::with_capacity(conds.len());
        for c in conds {
            results.push(matches_event(c, e, object, l)?);
        }
        return match op.as_str() {
            Some("AND") => Ok(results.iter().all(|r| *r)),
            Some("OR") => Ok(results.iter().any(|r| *r)),
            Some("NOT") => Ok(!results.iter().any(|r| *r)),
            _ => Err(MethodError::invalid_arguments("operator must be AND, OR or NOT")),
        };
    }
    let start = f.get("after").map(|v| parse_utc_date(v, "after")).transpose()?;
    let end = f.get("before").map(|v| parse_utc_date(v, "before")).transpose()?;
    if (start.is_some() || end.is_some())
        && !object.overlaps("VEVENT", Range { start: start.unwrap_or(MIN_TIME), end: end.unwrap_or(MAX_TIME) })
    {
        return Ok(false);
    }
    let needle = |v: &Value| -> Result<String, MethodError> {
        v.as_str().map(str::to_lowercase).ok_or_else(|| MethodError::invalid_arguments("filter values are strings"))
    };
    let get = |k: &str| e.get(k).cloned().unwrap_or(Value::Null);
    for (k, v) in f {
        let ok = match k.as_str() {
            "after" | "before" => true,
            "inCalendars" => {
                let Value::Array(list) = v else {
                    return Err(MethodError::invalid_arguments("inCalendars must be an array of ids"));
                };
                list.iter()
                    .filter_map(Value::as_str)
                    .any(|c| ids::parse_collection(c, CALENDARS.coll) == Some(l.item.collection))
            }
            "uid" => e.get("uid") == Some(v),
            "title" => text_in(&get("title"), &needle(v)?),
            "description" => text_in(&get("description"), &needle(v)?),
            "location" => {
                let n = needle(v)?;
                text_in(&get("locations"), &n) || text_in(&get("virtualLocations"), &n)
            }
            "owner" | "attendee" => text_in(&get("participants"), &needle(v)?),
            "text" => {
                let n = needle(v)?;
                ["title", "description", "locations", "virtualLocations", "participants"]
                    .iter()
                    .any(|p| text_in(&get(p), &n))
            }
            _ => return Err(MethodError::new("unsupportedFilter", format!("cannot filter events by {k}"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The time zone of each calendar of the account the caller reads.
async fn zones(
    ctx: &Ctx<'_>,
    account: AccountId,
) -> Result<Vec<(kontor_domain::ids::CollectionId, Option<String>)>, MethodError> {
    let mut out = Vec::new();
    for a in gw::collections(ctx, account, CALENDARS).await? {
        out.push((a.collection.id, zone(ctx, &a).await));
    }
    Ok(out)
}

/// What a /set does to one instance of a recurring event.
enum InstanceChange<'a> {
    Patch(&'a Map<String, Value>),
    Exclude,
}

/// Changes one instance: an override (or, to destroy it, an exclusion) in its master.
async fn update_instance(
    ctx: &Ctx<'_>,
    account: AccountId,
    base: &str,
    rid: i64,
    change: InstanceChange<'_>,
) -> Result<Option<Value>, SetError> {
    let l = gw::item_for_update(ctx, account, CALENDARS, base).await?;
    let mut master = event_json(None, &l, None).ok_or_else(SetError::not_found)?;
    let access = gw::collections(ctx, account, CALENDARS)
        .await
        .map_err(|_| SetError::not_found())?
        .into_iter()
        .find(|a| a.collection.id == l.item.collection)
        .ok_or_else(SetError::not_found)?;
    let cal_zone = zone(ctx, &access).await;
    let key = instance_key(&master, &l.text, rid, cal_zone.as_deref()).ok_or_else(SetError::not_found)?;
    let patch = match change {
        InstanceChange::Patch(p) => instance_patch(&mut master, &key, p)?,
        InstanceChange::Exclude => {
            let mut p = Map::new();
            p.insert(format!("recurrenceOverrides/{key}"), json!({ "excluded": true }));
            instance_patch(&mut master, &key, &Map::new())?;
            p
        }
    };
    gw::apply_patch(&mut master, &patch)?;
    let text = event_text(&mut master, Some(&l.text))?;
    ctx.core.replace_item(ctx.who, l.item.id, ICS, text.as_bytes(), Some(l.item.modseq)).await?;
    Ok(None)
}
