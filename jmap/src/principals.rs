//! Sharing (RFC 9670): Principal objects (the colleagues of the caller's domain, the people
//! one may share with) and ShareNotification objects (the domain's share notices: who gave
//! the caller which rights on what). Both live in the caller's own account, which carries the
//! `urn:ietf:params:jmap:principals` capability.

use std::cmp::Ordering;

use async_trait::async_trait;
use kontor_domain::ShareNotice;
use kontor_domain::ids::AccountId;
use kontor_domain::model::{CollectionKind, Principal as DomainPrincipal, PrincipalKind};
use kontor_domain::rights::Rights;
use serde_json::{Map, Value, json};

use crate::api::{CALENDARS, Ctx};
use crate::error::{MethodError, SetError};
use crate::generic::{self, Changes, ObjectType, QueryOut, Window};
use crate::groupware::{BOOKS, CALENDARS as CAL_SPEC};
use crate::ids;

pub struct Principal;

fn kind_name(k: PrincipalKind) -> &'static str {
    match k {
        PrincipalKind::User => "individual",
        PrincipalKind::Group => "group",
        PrincipalKind::Resource => "resource",
    }
}

fn name_of(p: &DomainPrincipal) -> String {
    p.display_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| p.address.to_string())
}

/// The caller's domain's directory, by principal id.
async fn directory(ctx: &Ctx<'_>) -> Result<Vec<DomainPrincipal>, MethodError> {
    let mut list = ctx.core.directory(ctx.who).await?;
    list.sort_by_key(|p| p.id.0);
    Ok(list)
}

fn principal_json(
    ctx: &Ctx<'_>,
    p: &DomainPrincipal,
    accounts: &Map<String, Value>,
    props: &[String],
) -> Map<String, Value> {
    let account = ids::account(p.id);
    let reachable = accounts.get(&account);
    let mut out = Map::new();
    for prop in props {
        let v = match prop.as_str() {
            "id" => json!(ids::principal(p.id)),
            "type" => json!(kind_name(p.kind)),
            "name" => json!(name_of(p)),
            "description" | "timeZone" => Value::Null,
            "email" => json!(p.address.to_string()),
            "capabilities" => {
                // JMAP Calendars: where the principal's calendars are, if the caller reaches them.
                let calendars = reachable.filter(|a| a["accountCapabilities"].get(CALENDARS).is_some());
                json!({ CALENDARS: {
                    "accountId": calendars.map(|_| account.clone()),
                    "mayGetAvailability": false,
                    "mayShareWith": ctx.who.id != p.id,
                    "calendarAddress": format!("mailto:{}", p.address),
                }})
            }
            "accounts" => reachable.map_or(Value::Null, |a| json!({ account.clone(): a })),
            _ => continue,
        };
        out.insert(prop.clone(), v);
    }
    out
}

fn text_matches(p: &DomainPrincipal, needle: &str) -> bool {
    let needle = needle.to_lowercase();
    name_of(p).to_lowercase().contains(&needle) || p.address.to_string().to_lowercase().contains(&needle)
}

/// Whether a principal matches a Principal/query filter (a FilterOperator or condition).
fn matches(p: &DomainPrincipal, f: &Map<String, Value>, accounts: &Map<String, Value>) -> Result<bool, MethodError> {
    if let Some(Value::String(op)) = f.get("operator") {
        let Some(Value::Array(conds)) = f.get("conditions") else {
            return Err(MethodError::invalid_arguments("a FilterOperator needs conditions"));
        };
        let mut results = Vec::with_capacity(conds.len());
        for c in conds {
            let Value::Object(c) = c else { return Err(MethodError::invalid_arguments("conditions are objects")) };
            results.push(matches(p, c, accounts)?);
        }
        return match op.as_str() {
            "AND" => Ok(results.iter().all(|r| *r)),
            "OR" => Ok(results.iter().any(|r| *r)),
            "NOT" => Ok(!results.iter().any(|r| *r)),
            _ => Err(MethodError::invalid_arguments(format!("unknown operator {op:?}"))),
        };
    }
    let text = |name: &str| -> Result<Option<String>, MethodError> {
        match f.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.to_lowercase())),
            Some(_) => Err(MethodError::invalid_arguments(format!("filter {name} must be a string"))),
        }
    };
    for k in f.keys() {
        if !matches!(k.as_str(), "accountIds" | "email" | "name" | "text" | "type" | "timeZone") {
            return Err(MethodError::new("unsupportedFilter", format!("no Principal filter {k:?}")));
        }
    }
    if let Some(list) = generic::string_list(f, "accountIds")? {
        let account = ids::account(p.id);
        if !accounts.contains_key(&account) || !list.contains(&account) {
            return Ok(false);
        }
    }
    if let Some(e) = text("email")?
        && !p.address.to_string().to_lowercase().contains(&e)
    {
        return Ok(false);
    }
    if let Some(n) = text("name")?
        && !name_of(p).to_lowercase().contains(&n)
    {
        return Ok(false);
    }
    if let Some(t) = text("text")?
        && !text_matches(p, &t)
    {
        return Ok(false);
    }
    if let Some(t) = text("type")?
        && kind_name(p.kind) != t
    {
        return Ok(false);
    }
    // Kontor keeps no time zone on principals: a time-zone condition matches none.
    if text("timeZone")?.is_some() {
        return Ok(false);
    }
    Ok(true)
}

#[async_trait]
impl ObjectType for Principal {
    const NAME: &'static str = "Principal";
    const PROPERTIES: &'static [&'static str] =
        &["id", "type", "name", "description", "email", "timeZone", "capabilities", "accounts"];

    /// The directory changes rarely: its state is a hash of what Principal objects show.
    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        generic::own_account(ctx, account)?;
        let accounts = crate::session::account_objects(ctx.core, ctx.who, &ctx.limits).await?;
        let text: String = directory(ctx)
            .await?
            .iter()
            .map(|p| format!("{}:{}:{}:{:?};", p.id.0, p.address, name_of(p), p.kind))
            .chain(std::iter::once(Value::Object(accounts).to_string()))
            .collect();
        Ok(generic::state_of(&text))
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        wanted: Option<Vec<String>>,
        props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        generic::own_account(ctx, account)?;
        let all = directory(ctx).await?;
        let accounts = crate::session::account_objects(ctx.core, ctx.who, &ctx.limits).await?;
        let (mut list, mut not_found) = (Vec::new(), Vec::new());
        match wanted {
            None => {
                for p in &all {
                    list.push(Value::Object(principal_json(ctx, p, &accounts, props)));
                }
            }
            Some(wanted) => {
                for id in wanted {
                    match ids::parse_principal(&id).and_then(|n| all.iter().find(|p| p.id == n)) {
                        Some(p) => list.push(Value::Object(principal_json(ctx, p, &accounts, props))),
                        None => not_found.push(id),
                    }
                }
            }
        }
        Ok((list, not_found))
    }

    /// Without a log of the directory, only "nothing changed" can be told.
    async fn changes(ctx: &Ctx<'_>, account: AccountId, since: &str, _max: usize) -> Result<Changes, MethodError> {
        let now = Self::state(ctx, account).await?;
        if since != now {
            return Err(MethodError::cannot_calculate_changes());
        }
        Ok(Changes { new_state: now, ..Changes::default() })
    }

    async fn query(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        window: &Window,
    ) -> Result<QueryOut, MethodError> {
        generic::own_account(ctx, account)?;
        let accounts = crate::session::account_objects(ctx.core, ctx.who, &ctx.limits).await?;
        let mut list = directory(ctx).await?;
        match args.get("filter") {
            None | Some(Value::Null) => {}
            Some(Value::Object(f)) => {
                let mut kept = Vec::with_capacity(list.len());
                for p in list {
                    if matches(&p, f, &accounts)? {
                        kept.push(p);
                    }
                }
                list = kept;
            }
            Some(_) => return Err(MethodError::invalid_arguments("filter must be an object or null")),
        }
        sort(&mut list, args.get("sort"))?;
        window.apply(list.iter().map(|p| ids::principal(p.id)).collect())
    }
}

/// Principal/query sorts: `name`, `email` or `type`, then the id.
fn sort(list: &mut [DomainPrincipal], spec: Option<&Value>) -> Result<(), MethodError> {
    let mut keys: Vec<(String, bool)> = Vec::new();
    match spec {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for c in a {
                let prop = c.get("property").and_then(Value::as_str).unwrap_or_default();
                if !matches!(prop, "name" | "email" | "type") {
                    return Err(MethodError::new("unsupportedSort", format!("no Principal sort on {prop:?}")));
                }
                keys.push((prop.to_owned(), c.get("isAscending").and_then(Value::as_bool).unwrap_or(true)));
            }
        }
        Some(_) => return Err(MethodError::invalid_arguments("sort must be an array")),
    }
    list.sort_by(|a, b| {
        for (prop, asc) in &keys {
            let o = match prop.as_str() {
                "name" => name_of(a).to_lowercase().cmp(&name_of(b).to_lowercase()),
                "email" => a.address.to_string().cmp(&b.address.to_string()),
                _ => kind_name(a.kind).cmp(kind_name(b.kind)),
            };
            let o = if *asc { o } else { o.reverse() };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.id.0.cmp(&b.id.0)
    });
    Ok(())
}

pub struct ShareNotification;

fn notification_id(doc: i64) -> String {
    format!("n{doc}")
}

fn parse_notification(s: &str) -> Option<i64> {
    s.strip_prefix('n').filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())).and_then(|d| d.parse().ok())
}

/// The JMAP type and id a notice's object has, and its rights as that type's rights object.
fn object_of(n: &ShareNotice) -> (&'static str, String, fn(Rights) -> Value) {
    match (n.kind, n.collection) {
        (Some(CollectionKind::MailFolder), Some(c)) => ("Mailbox", ids::mailbox(c), crate::mailbox::my_rights),
        (Some(CollectionKind::AddressBook), Some(c)) => {
            ("AddressBook", ids::collection(BOOKS.coll, c), crate::contacts::book_rights)
        }
        (Some(CollectionKind::Calendar | CollectionKind::TaskList), Some(c)) => {
            ("Calendar", ids::collection(CAL_SPEC.coll, c), crate::calendars::calendar_rights)
        }
        // Account-wide rights (delegation, send-as): the owner as a principal.
        _ => ("Principal", ids::principal(n.account), principal_rights),
    }
}

/// Account-wide rights by name (`{"send-as": true, …}`): RFC 9670 leaves their shape to the
/// object type, and principals have none of their own.
fn principal_rights(r: Rights) -> Value {
    Value::Object(r.names().into_iter().map(|n| (n.to_owned(), Value::Bool(true))).collect())
}

fn notification_json(id: i64, n: &ShareNotice, props: &[String]) -> Value {
    let (object_type, object_id, rights) = object_of(n);
    let rights_or_null = |r: Rights| if r.is_empty() { Value::Null } else { rights(r) };
    let mut out = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!(notification_id(id)),
            "created" => json!(n.created.rfc3339()),
            "changedBy" => json!({
                "name": n.changed_by_name,
                "email": n.changed_by_address,
                "principalId": ids::principal(n.changed_by),
            }),
            "objectType" => json!(object_type),
            "objectAccountId" => json!(ids::account(n.account)),
            "objectId" => json!(object_id),
            "oldRights" => rights_or_null(n.old_rights),
            "newRights" => rights_or_null(n.new_rights),
            "name" => json!(n.name),
            _ => continue,
        };
        out.insert(p.clone(), v);
    }
    Value::Object(out)
}

/// A ShareNotification/query filter condition.
fn notice_matches(n: &ShareNotice, f: &Map<String, Value>) -> Result<bool, MethodError> {
    for (k, v) in f {
        let ok = match (k.as_str(), v) {
            ("after", Value::String(s)) => n.created.0 >= utc(s)?,
            ("before", Value::String(s)) => n.created.0 < utc(s)?,
            ("objectType", Value::String(s)) => object_of(n).0 == s,
            ("objectAccountId", Value::String(s)) => ids::account(n.account) == *s,
            ("after" | "before" | "objectType" | "objectAccountId", _) => {
                return Err(MethodError::invalid_arguments(format!("filter {k} must be a string")));
            }
            _ => return Err(MethodError::new("unsupportedFilter", format!("no ShareNotification filter {k:?}"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn utc(s: &str) -> Result<i64, MethodError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .map_err(|_| MethodError::invalid_arguments(format!("{s:?} is not a UTCDate")))
}

#[async_trait]
impl ObjectType for ShareNotification {
    const NAME: &'static str = "ShareNotification";
    const SIMPLE_QUERY_CHANGES: bool = true;
    const PROPERTIES: &'static [&'static str] =
        &["id", "created", "changedBy", "objectType", "objectAccountId", "objectId", "oldRights", "newRights", "name"];

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        generic::own_account(ctx, account)?;
        Ok(ctx.core.share_notices(ctx.who).await?.position().to_string())
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        wanted: Option<Vec<String>>,
        props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        generic::own_account(ctx, account)?;
        let notices = ctx.core.share_notices(ctx.who).await?;
        let Some(wanted) = wanted else {
            return Ok((notices.live.iter().map(|(id, n)| notification_json(*id, n, props)).collect(), Vec::new()));
        };
        let (mut list, mut not_found) = (Vec::new(), Vec::new());
        for id in wanted {
            match parse_notification(&id).and_then(|d| notices.live.iter().find(|(x, _)| *x == d)) {
                Some((d, n)) => list.push(notification_json(*d, n, props)),
                None => not_found.push(id),
            }
        }
        Ok((list, not_found))
    }

    /// Notices are written once and only ever dismissed: what came after the state's
    /// document id is the change list (see the domain's share notices).
    async fn changes(ctx: &Ctx<'_>, account: AccountId, since: &str, max: usize) -> Result<Changes, MethodError> {
        generic::own_account(ctx, account)?;
        let since: i64 = since.parse().map_err(|_| MethodError::cannot_calculate_changes())?;
        let notices = ctx.core.share_notices(ctx.who).await?;
        if since > notices.position() {
            return Err(MethodError::cannot_calculate_changes());
        }
        // (document id, created notice or dismissed notice id)
        let mut news: Vec<(i64, Result<i64, i64>)> = notices
            .live
            .iter()
            .filter(|(id, _)| *id > since)
            .map(|(id, _)| (*id, Ok(*id)))
            .chain(notices.tombstones.iter().filter(|(t, _)| *t > since).map(|(t, of)| (*t, Err(*of))))
            .collect();
        news.sort_by_key(|(d, _)| *d);
        let has_more = news.len() > max;
        news.truncate(max);
        let new_state = news.last().map_or(since, |(d, _)| *d);
        let mut out = Changes { new_state: new_state.to_string(), has_more, ..Changes::default() };
        for (_, change) in news {
            match change {
                Ok(id) => out.created.push(notification_id(id)),
                // Made and dismissed after the client's state: it never knew it.
                Err(of) if of > since => out.created.retain(|c| *c != notification_id(of)),
                Err(of) => out.destroyed.push(notification_id(of)),
            }
        }
        Ok(out)
    }

    async fn destroy(ctx: &Ctx<'_>, account: AccountId, id: &str, _args: &Map<String, Value>) -> Result<(), SetError> {
        if account != ctx.who.id {
            return Err(SetError::not_found());
        }
        let doc = parse_notification(id).ok_or_else(SetError::not_found)?;
        if ctx.core.dismiss_share_notice(ctx.who, doc).await? { Ok(()) } else { Err(SetError::not_found()) }
    }

    async fn query(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        window: &Window,
    ) -> Result<QueryOut, MethodError> {
        generic::own_account(ctx, account)?;
        let notices = ctx.core.share_notices(ctx.who).await?;
        let mut list: Vec<&(i64, ShareNotice)> = Vec::new();
        let filter = match args.get("filter") {
            None | Some(Value::Null) => None,
            Some(Value::Object(f)) => Some(f),
            Some(_) => return Err(MethodError::invalid_arguments("filter must be an object or null")),
        };
        for entry in &notices.live {
            if filter.map_or(Ok(true), |f| notice_matches(&entry.1, f))? {
                list.push(entry);
            }
        }
        let mut ascending = true;
        match args.get("sort") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                for c in a {
                    if c.get("property").and_then(Value::as_str) != Some("created") {
                        return Err(MethodError::new("unsupportedSort", "ShareNotification sorts on created only"));
                    }
                    ascending = c.get("isAscending").and_then(Value::as_bool).unwrap_or(true);
                }
            }
            Some(_) => return Err(MethodError::invalid_arguments("sort must be an array")),
        }
        list.sort_by_key(|(id, n)| (n.created, *id));
        if !ascending {
            list.reverse();
        }
        window.apply(list.iter().map(|(id, _)| notification_id(*id)).collect())
    }
}
