//! JMAP for Calendars (draft-ietf-jmap-calendars): Calendar over the calendars CalDAV serves.
//! Name, description, colour and time zone are those CalDAV clients see (the display name and
//! the `calendar-description`, `calendar-color` and `calendar-timezone-id` properties).

use async_trait::async_trait;
use kontor_domain::Access;
use kontor_domain::changes::ObjectType as Obj;
use kontor_domain::ids::AccountId;
use kontor_domain::rights::{Rights, Role};
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::error::{MethodError, SetError};
use crate::generic::{Changes, ObjectType, QueryOut, Window};
use crate::groupware::{self as gw, CALENDARS};
use crate::ids;

pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
const APPLE: &str = "http://apple.com/ns/ical/";

pub struct Calendar;

/// The draft's CalendarRights from the domain's rights (DESIGN.md's table).
pub fn calendar_rights(r: Rights) -> Value {
    let write_all = r.contains(Rights::CREATE | Rights::MODIFY | Rights::DELETE);
    let write_own = write_all || r.contains(Rights::CREATE | Rights::MODIFY_OWN | Rights::DELETE_OWN);
    json!({
        "mayReadFreeBusy": r.intersects(Rights::READ | Rights::FREE_BUSY),
        "mayReadItems": r.contains(Rights::READ),
        "mayWriteAll": write_all,
        "mayWriteOwn": write_own,
        "mayUpdatePrivate": r.contains(Rights::FLAG),
        "mayRSVP": write_own,
        "mayShare": r.contains(Rights::SHARE),
        "mayAdmin": r.contains(Rights::SHARE),
        "mayDelete": r.contains(Rights::DELETE_COLLECTION),
    })
}

/// The role a CalendarRights object asks for: share → owner, write all → editor, write own →
/// author, read → reviewer, free/busy → free/busy; `mayDelete` adds deleting the calendar.
fn rights_of_calendar(m: &Map<String, Value>) -> Rights {
    let on = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut r = if on("mayShare") || on("mayAdmin") {
        Role::Owner.rights()
    } else if on("mayWriteAll") {
        Role::Editor.rights()
    } else if on("mayWriteOwn") || on("mayRSVP") {
        Role::Author.rights()
    } else if on("mayReadItems") {
        Role::Reviewer.rights()
    } else if on("mayReadFreeBusy") {
        Role::FreeBusy.rights()
    } else {
        Rights::NONE
    };
    if on("mayDelete") && !r.is_empty() {
        r |= Rights::DELETE_COLLECTION;
    }
    r
}

/// The time zone floating times of a calendar are read in, if it has one.
pub async fn zone(ctx: &Ctx<'_>, a: &Access) -> Option<String> {
    match gw::text_property(ctx, a, CALDAV, "calendar-timezone-id").await {
        Some(z) if !z.trim().is_empty() => Some(z),
        _ => gw::text_property(ctx, a, CALDAV, "calendar-timezone").await.filter(|z| !z.trim().is_empty()),
    }
}

async fn calendar_json(ctx: &Ctx<'_>, list: &[Access], a: &Access, props: &[String]) -> Result<Value, MethodError> {
    let mut out = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!(ids::collection(CALENDARS.coll, a.collection.id)),
            "name" => json!(gw::display_name(a)),
            "description" => json!(gw::text_property(ctx, a, CALDAV, "calendar-description").await),
            "color" => json!(gw::text_property(ctx, a, APPLE, "calendar-color").await),
            "timeZone" => json!(gw::text_property(ctx, a, CALDAV, "calendar-timezone-id").await),
            "sortOrder" => json!(0),
            "isDefault" => json!(gw::is_default(list, a)),
            "isSubscribed" | "isVisible" => json!(true),
            "includeInAvailability" => json!("all"),
            "defaultAlertsWithTime" | "defaultAlertsWithoutTime" => Value::Null,
            "shareWith" => gw::share_with(ctx, a, calendar_rights).await?,
            "myRights" => calendar_rights(a.rights),
            _ => continue,
        };
        out.insert(p.clone(), v);
    }
    Ok(Value::Object(out))
}

/// Properties a client may send back unchanged but not change.
fn unchanged_ok(list: &[Access], a: &Access, k: &str, v: &Value) -> bool {
    match k {
        "sortOrder" => v.as_u64() == Some(0),
        "isSubscribed" | "isVisible" => v.as_bool() == Some(true),
        "isDefault" => v.as_bool() == Some(gw::is_default(list, a)),
        "includeInAvailability" => v.as_str() == Some("all"),
        "defaultAlertsWithTime" | "defaultAlertsWithoutTime" => v.is_null(),
        "myRights" => *v == calendar_rights(a.rights),
        "id" => v.as_str() == Some(ids::collection(CALENDARS.coll, a.collection.id).as_str()),
        _ => false,
    }
}

/// The dead properties a create or update sets: (namespace, name, value or removal).
fn text_props(object: &Map<String, Value>) -> Result<Vec<gw::TextProp>, SetError> {
    let mut out = Vec::new();
    for (k, ns, name) in [
        ("description", CALDAV, "calendar-description"),
        ("color", APPLE, "calendar-color"),
        ("timeZone", CALDAV, "calendar-timezone-id"),
    ] {
        if object.contains_key(k) {
            let v = gw::opt_string(object, k)?.map(str::to_owned);
            if k == "timeZone" && v.as_deref().is_some_and(|z| kontor_domain::recurrence::resolve_zone(z).is_none()) {
                return Err(SetError::invalid_properties(&["timeZone"], "unknown time zone"));
            }
            out.push((ns, name, v));
        }
    }
    Ok(out)
}

#[async_trait]
impl ObjectType for Calendar {
    const NAME: &'static str = "Calendar";
    const SIMPLE_QUERY_CHANGES: bool = true;
    const PROPERTIES: &'static [&'static str] = &[
        "id",
        "name",
        "description",
        "color",
        "sortOrder",
        "isSubscribed",
        "isVisible",
        "isDefault",
        "includeInAvailability",
        "defaultAlertsWithTime",
        "defaultAlertsWithoutTime",
        "timeZone",
        "shareWith",
        "myRights",
    ];

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        gw::state(ctx, account, CALENDARS).await
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        wanted: Option<Vec<String>>,
        props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        let list = gw::collections(ctx, account, CALENDARS).await?;
        let (mut out, mut not_found) = (Vec::new(), Vec::new());
        match wanted {
            None => {
                for a in &list {
                    out.push(calendar_json(ctx, &list, a, props).await?);
                }
            }
            Some(wanted) => {
                for id in wanted {
                    match gw::find(&list, CALENDARS, &id) {
                        Some(a) => out.push(calendar_json(ctx, &list, a, props).await?),
                        None => not_found.push(id),
                    }
                }
            }
        }
        Ok((out, not_found))
    }

    async fn changes(ctx: &Ctx<'_>, account: AccountId, since: &str, max: usize) -> Result<Changes, MethodError> {
        gw::changes(ctx, account, CALENDARS, Obj::Collection, since, max).await
    }

    async fn create(ctx: &Ctx<'_>, account: AccountId, object: &Map<String, Value>) -> Result<Value, SetError> {
        for (k, v) in object {
            let settable = matches!(k.as_str(), "name" | "description" | "color" | "timeZone" | "shareWith");
            // What every calendar here has anyway may be sent.
            let harmless = match k.as_str() {
                "sortOrder" => v.as_u64() == Some(0),
                "isSubscribed" | "isVisible" => v.as_bool() == Some(true),
                "includeInAvailability" => v.as_str() == Some("all"),
                "defaultAlertsWithTime" | "defaultAlertsWithoutTime" => v.is_null(),
                _ => false,
            };
            if !settable && !harmless {
                return Err(SetError::invalid_properties(&[k], format!("{k} cannot be set")));
            }
        }
        let name = gw::opt_string(object, "name")?
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| SetError::invalid_properties(&["name"], "a calendar needs a name"))?;
        let props = text_props(object)?;
        let made = ctx
            .core
            .create_collection(ctx.who, account, None, CALENDARS.kind, &gw::random_id(), Some(name.to_owned()))
            .await?;
        let a = ctx.core.access(ctx.who, made.id).await?;
        gw::set_text_properties(ctx, &a, props).await?;
        if let Some(share) = object.get("shareWith") {
            gw::set_share_with(ctx, &a, Some(share), Vec::new(), rights_of_calendar).await?;
        }
        Ok(json!({
            "id": ids::collection(CALENDARS.coll, made.id),
            "sortOrder": 0, "isSubscribed": true, "isVisible": true, "isDefault": false,
            "includeInAvailability": "all",
            "myRights": calendar_rights(a.rights),
        }))
    }

    async fn update(
        ctx: &Ctx<'_>,
        account: AccountId,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Option<Value>, SetError> {
        let list = gw::collections(ctx, account, CALENDARS).await.map_err(|_| SetError::not_found())?;
        let a = gw::find(&list, CALENDARS, id).ok_or_else(SetError::not_found)?;
        let (plain, shares) = gw::split_share_patches(patch);
        for (k, v) in &plain {
            match k.as_str() {
                "name" => {
                    let name = gw::opt_string(&plain, "name")?
                        .filter(|n| !n.trim().is_empty())
                        .ok_or_else(|| SetError::invalid_properties(&["name"], "a name cannot be empty"))?;
                    let patch = kontor_domain::ports::CollectionPatch {
                        display_name: Some(Some(name.to_owned())),
                        ..Default::default()
                    };
                    ctx.core.update_collection(ctx.who, a.collection.id, patch).await?;
                }
                "description" | "color" | "timeZone" | "shareWith" => {}
                _ if unchanged_ok(&list, a, k, v) => {}
                _ => return Err(SetError::invalid_properties(&[k], format!("{k} cannot be changed"))),
            }
        }
        gw::set_text_properties(ctx, a, text_props(&plain)?).await?;
        if plain.contains_key("shareWith") || !shares.is_empty() {
            gw::set_share_with(ctx, a, plain.get("shareWith"), shares, rights_of_calendar).await?;
        }
        Ok(None)
    }

    async fn destroy(ctx: &Ctx<'_>, account: AccountId, id: &str, args: &Map<String, Value>) -> Result<(), SetError> {
        let list = gw::collections(ctx, account, CALENDARS).await.map_err(|_| SetError::not_found())?;
        let a = gw::find(&list, CALENDARS, id).ok_or_else(SetError::not_found)?;
        a.require(Rights::DELETE_COLLECTION)?;
        let remove_events = args.get("onDestroyRemoveEvents").and_then(Value::as_bool).unwrap_or(false);
        if !remove_events && a.rights.contains(Rights::READ) && !ctx.core.list_items(a).await?.is_empty() {
            return Err(SetError::new("calendarHasEvent", "the calendar holds events"));
        }
        ctx.core.remove_collection(ctx.who, a.collection.id).await?;
        Ok(())
    }

    async fn query(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        window: &Window,
    ) -> Result<QueryOut, MethodError> {
        if let Some(Value::Object(f)) = args.get("filter")
            && let Some(k) = f.keys().next()
        {
            return Err(MethodError::new("unsupportedFilter", format!("cannot filter calendars by {k}")));
        }
        let list = gw::collections(ctx, account, CALENDARS).await?;
        window.apply(list.iter().map(|a| ids::collection(CALENDARS.coll, a.collection.id)).collect())
    }
}
