//! The standard methods of RFC 8620 §5, written once for every object type: argument checks,
//! limits, creation ids, states and the shape of the answers. An [`ObjectType`] supplies only
//! what differs: how its objects are read, listed, changed and found.

use async_trait::async_trait;
use kontor_domain::ids::AccountId;
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::error::{MethodError, MethodResult, SetError};
use crate::ids;

/// What a `/changes` call found.
#[derive(Debug, Default)]
pub struct Changes {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub destroyed: Vec<String>,
    pub new_state: String,
    pub has_more: bool,
    /// Mailbox/changes: only these properties of the updated objects changed.
    pub updated_properties: Option<Vec<String>>,
}

/// The window of results a `/query` asks for (RFC 8620 §5.5).
#[derive(Debug, Clone)]
pub struct Window {
    pub position: i64,
    pub anchor: Option<String>,
    pub anchor_offset: i64,
    pub limit: Option<usize>,
    pub calculate_total: bool,
}

/// What a `/query` answers.
#[derive(Debug, Default)]
pub struct QueryOut {
    pub ids: Vec<String>,
    pub position: usize,
    pub total: Option<usize>,
    pub can_calculate_changes: bool,
}

impl Window {
    /// The window over a whole result list; `anchorNotFound` when the anchor is not in it.
    pub fn apply(&self, all: Vec<String>) -> Result<QueryOut, MethodError> {
        let len = all.len() as i64;
        let start = if let Some(anchor) = &self.anchor {
            let at = all
                .iter()
                .position(|id| id == anchor)
                .ok_or_else(|| MethodError::new("anchorNotFound", "the anchor is not in the results"))?;
            (at as i64 + self.anchor_offset).max(0)
        } else if self.position < 0 {
            (len + self.position).max(0)
        } else {
            self.position
        };
        let start = start.min(len) as usize;
        let end = self.limit.map_or(all.len(), |l| start.saturating_add(l).min(all.len()));
        let total = self.calculate_total.then_some(all.len());
        let ids = all.into_iter().skip(start).take(end - start).collect();
        Ok(QueryOut { ids, position: start, total, can_calculate_changes: false })
    }
}

/// One object type's own part of the standard methods.
#[async_trait]
pub trait ObjectType: Send + Sync {
    const NAME: &'static str;
    /// Every property /get knows (`id` included).
    const PROPERTIES: &'static [&'static str];
    /// What /get returns when `properties` is null (`None`: all of them).
    const DEFAULT_PROPERTIES: Option<&'static [&'static str]> = None;

    /// The state of all objects of this type in the account.
    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError>;

    /// The objects with these ids (`None`: all), with the given properties; and the ids not
    /// found.
    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        ids: Option<Vec<String>>,
        properties: &[String],
        args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError>;

    async fn changes(ctx: &Ctx<'_>, account: AccountId, since: &str, max: usize) -> Result<Changes, MethodError> {
        let _ = (ctx, account, since, max);
        Err(MethodError::cannot_calculate_changes())
    }

    /// Creates one object; returns its server-set properties, `id` among them.
    async fn create(ctx: &Ctx<'_>, account: AccountId, object: &Map<String, Value>) -> Result<Value, SetError> {
        let _ = (ctx, account, object);
        Err(SetError::forbidden(format!("{} objects cannot be created", Self::NAME)))
    }

    /// Changes one object; returns properties the server changed besides those patched.
    async fn update(
        ctx: &Ctx<'_>,
        account: AccountId,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Option<Value>, SetError> {
        let _ = (ctx, account, id, patch);
        Err(SetError::forbidden(format!("{} objects cannot be changed", Self::NAME)))
    }

    async fn destroy(ctx: &Ctx<'_>, account: AccountId, id: &str, args: &Map<String, Value>) -> Result<(), SetError> {
        let _ = (ctx, account, id, args);
        Err(SetError::forbidden(format!("{} objects cannot be destroyed", Self::NAME)))
    }

    /// Whether the type has `/copy` (RFC 8620 §5.4).
    const COPY: bool = false;
    /// Properties `/copy` does not carry over: the server sets them on the copy.
    const SERVER_SET: &'static [&'static str] = &["id"];

    /// Copies object `id` of account `from` into `account`, `overrides` replacing properties
    /// of the original: by default the original's every property, the overrides on top, and a
    /// create.
    async fn copy(
        ctx: &Ctx<'_>,
        from: AccountId,
        account: AccountId,
        id: &str,
        overrides: &Map<String, Value>,
    ) -> Result<Value, SetError> {
        let all: Vec<String> = Self::PROPERTIES.iter().map(|p| (*p).to_owned()).collect();
        let (list, _) = Self::get(ctx, from, Some(vec![id.to_owned()]), &all, &Map::new())
            .await
            .map_err(|e| SetError::new(e.kind, e.description.unwrap_or_default()))?;
        let Some(Value::Object(mut object)) = list.into_iter().next() else { return Err(SetError::not_found()) };
        object.retain(|k, _| !Self::SERVER_SET.contains(&k.as_str()));
        object.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        Self::create(ctx, account, &object).await
    }

    async fn query(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        window: &Window,
    ) -> Result<QueryOut, MethodError> {
        let _ = (ctx, account, args, window);
        Err(MethodError::unknown_method(&format!("{}/query", Self::NAME)))
    }

    /// Whether `/queryChanges` may follow RFC 8620 §5.6's simple way (see
    /// [`simple_query_changes`]): the query state is the type's state and `/changes` is exact.
    const SIMPLE_QUERY_CHANGES: bool = false;

    /// `/queryChanges` (RFC 8620 §5.6): `removed` and `added` (id, index) since the query state.
    async fn query_changes(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        since: &str,
    ) -> Result<(Vec<String>, Vec<(String, usize)>, Option<usize>), MethodError> {
        if Self::SIMPLE_QUERY_CHANGES {
            return simple_query_changes::<Self>(ctx, account, args, since).await;
        }
        Err(MethodError::cannot_calculate_changes())
    }
}

/// RFC 8620 §5.6's simple answer: every object changed since the state counts as removed, and
/// those of them in the current results as added at their index. Exact for any filter and sort,
/// at the price of naming more ids than moved.
pub async fn simple_query_changes<T: ObjectType + ?Sized>(
    ctx: &Ctx<'_>,
    account: AccountId,
    args: &Map<String, Value>,
    since: &str,
) -> Result<(Vec<String>, Vec<(String, usize)>, Option<usize>), MethodError> {
    let max = match uint(args, "maxChanges")? {
        Some(0) => return Err(MethodError::invalid_arguments("maxChanges must be positive")),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX).min(5000),
        None => 5000,
    };
    let c = T::changes(ctx, account, since, max).await?;
    if c.has_more {
        return Err(MethodError::new("tooManyChanges", "more changes than maxChanges"));
    }
    let mut changed: Vec<String> = c.created.into_iter().chain(c.updated).chain(c.destroyed).collect();
    changed.sort_unstable();
    changed.dedup();
    let whole = Window { position: 0, anchor: None, anchor_offset: 0, limit: None, calculate_total: false };
    let all = T::query(ctx, account, args, &whole).await?;
    let moved: std::collections::HashSet<&String> = changed.iter().collect();
    let added =
        all.ids.iter().enumerate().filter(|(_, id)| moved.contains(id)).map(|(at, id)| (id.clone(), at)).collect();
    let total = boolean(args, "calculateTotal")?.then_some(all.ids.len());
    Ok((changed, added, total))
}

/// Runs `Type/verb` for a type.
pub async fn dispatch<T: ObjectType>(ctx: &mut Ctx<'_>, verb: &str, args: Map<String, Value>) -> MethodResult {
    match verb {
        "get" => get::<T>(ctx, &args).await,
        "changes" => changes::<T>(ctx, &args).await,
        "set" => set::<T>(ctx, &args).await,
        "query" => query::<T>(ctx, &args).await,
        "queryChanges" => query_changes::<T>(ctx, &args).await,
        "copy" if T::COPY => copy::<T>(ctx, &args).await,
        _ => Err(MethodError::unknown_method(&format!("{}/{verb}", T::NAME))),
    }
}

/// A state for small values that are not in the change log: a hash (FNV-1a) of their text.
pub fn state_of(text: &str) -> String {
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{h:016x}")
}

/// A map of answers, or null when it is empty (the `created`/`notCreated`… arguments).
pub fn or_null(m: Map<String, Value>) -> Value {
    if m.is_empty() { Value::Null } else { Value::Object(m) }
}

/// Objects kept only in the user's own account (identities, quotas, submissions).
pub fn own_account(ctx: &Ctx<'_>, account: AccountId) -> Result<(), MethodError> {
    if account == ctx.who.id { Ok(()) } else { Err(MethodError::account_not_found()) }
}

/// Checks the arguments are among `known` (RFC 8620: unknown arguments are invalid).
pub fn known_arguments(args: &Map<String, Value>, known: &[&str]) -> Result<(), MethodError> {
    match args.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(MethodError::invalid_arguments(format!("unknown argument {k:?}"))),
        None => Ok(()),
    }
}

/// A list of strings, or null.
pub fn string_list(args: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, MethodError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| MethodError::invalid_arguments(format!("{name} must be an array of strings"))),
        Some(_) => Err(MethodError::invalid_arguments(format!("{name} must be an array of strings or null"))),
    }
}

/// An unsigned integer argument, or its default.
pub fn uint(args: &Map<String, Value>, name: &str) -> Result<Option<u64>, MethodError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| MethodError::invalid_arguments(format!("{name} must be an unsigned integer"))),
    }
}

pub fn boolean(args: &Map<String, Value>, name: &str) -> Result<bool, MethodError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(MethodError::invalid_arguments(format!("{name} must be a boolean"))),
    }
}

/// The properties asked for (`id` always included), checked against the type's.
pub fn properties<T: ObjectType>(args: &Map<String, Value>, name: &str) -> Result<Vec<String>, MethodError> {
    let asked = string_list(args, name)?;
    let mut props: Vec<String> = match asked {
        None => T::DEFAULT_PROPERTIES.unwrap_or(T::PROPERTIES).iter().map(|p| (*p).to_owned()).collect(),
        Some(list) => {
            if let Some(bad) = list.iter().find(|p| !T::PROPERTIES.contains(&p.as_str()) && !p.starts_with("header:")) {
                return Err(MethodError::invalid_arguments(format!("unknown property {bad:?}")));
            }
            list
        }
    };
    if name == "properties" && !props.iter().any(|p| p == "id") {
        props.insert(0, "id".into());
    }
    Ok(props)
}

async fn get<T: ObjectType>(ctx: &mut Ctx<'_>, args: &Map<String, Value>) -> MethodResult {
    let account = ctx.account(args)?;
    let asked = string_list(args, "ids")?;
    if let Some(list) = &asked
        && list.len() > ctx.limits.max_objects_in_get
    {
        return Err(MethodError::request_too_large(format!(
            "{} ids; at most {} per call",
            list.len(),
            ctx.limits.max_objects_in_get
        )));
    }
    let props = properties::<T>(args, "properties")?;
    // Creation references become the ids they stand for; unknown ones are simply not found.
    let mut unresolved = Vec::new();
    let ids = asked.map(|list| {
        list.into_iter()
            .filter_map(|id| match ctx.resolve(&id) {
                Some(r) => Some(r.to_owned()),
                None => {
                    unresolved.push(id);
                    None
                }
            })
            .collect::<Vec<_>>()
    });
    let state = T::state(ctx, account).await?;
    let (list, mut not_found) = T::get(ctx, account, ids, &props, args).await?;
    not_found.extend(unresolved);
    Ok(json!({ "accountId": ids::account(account), "state": state, "list": list, "notFound": not_found }))
}

async fn changes<T: ObjectType>(ctx: &mut Ctx<'_>, args: &Map<String, Value>) -> MethodResult {
    known_arguments(args, &["accountId", "sinceState", "maxChanges"])?;
    let account = ctx.account(args)?;
    let Some(Value::String(since)) = args.get("sinceState") else {
        return Err(MethodError::invalid_arguments("sinceState must be a string"));
    };
    let max = match uint(args, "maxChanges")? {
        Some(0) => return Err(MethodError::invalid_arguments("maxChanges must be positive")),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX).min(5000),
        None => 5000,
    };
    let c = T::changes(ctx, account, since, max).await?;
    let mut out = json!({
        "accountId": ids::account(account),
        "oldState": since,
        "newState": c.new_state,
        "hasMoreChanges": c.has_more,
        "created": c.created,
        "updated": c.updated,
        "destroyed": c.destroyed,
    });
    if T::NAME == "Mailbox" {
        out["updatedProperties"] = json!(c.updated_properties);
    }
    Ok(out)
}

async fn set<T: ObjectType>(ctx: &mut Ctx<'_>, args: &Map<String, Value>) -> MethodResult {
    let account = ctx.account(args)?;
    let old_state = T::state(ctx, account).await?;
    match args.get("ifInState") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if *s == old_state => {}
        Some(Value::String(_)) => return Err(MethodError::state_mismatch()),
        Some(_) => return Err(MethodError::invalid_arguments("ifInState must be a string")),
    }
    let object_map = |name: &str| -> Result<Map<String, Value>, MethodError> {
        match args.get(name) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(MethodError::invalid_arguments(format!("{name} must be an object or null"))),
        }
    };
    let create = object_map("create")?;
    let update = object_map("update")?;
    let destroy = string_list(args, "destroy")?.unwrap_or_default();
    let count = create.len() + update.len() + destroy.len();
    if count > ctx.limits.max_objects_in_set {
        return Err(MethodError::request_too_large(format!(
            "{count} objects; at most {} per call",
            ctx.limits.max_objects_in_set
        )));
    }

    let (mut created, mut not_created) = (Map::new(), Map::new());
    // Objects may refer to others made in the same call (`#id`): make those first. What still
    // waits on a creation that failed, or on itself, is not created.
    let mut pending: Vec<(String, Value)> = create.into_iter().collect();
    while !pending.is_empty() {
        let waiting: Vec<String> = pending.iter().map(|(id, _)| id.clone()).collect();
        let (ready, later): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|(_, object)| !refers_to_any(object, &waiting));
        if ready.is_empty() {
            for (creation_id, _) in later {
                let e = SetError::invalid_properties(&[], "it refers to an object this call could not create first");
                not_created.insert(creation_id, e.to_value());
            }
            break;
        }
        pending = later;
        for (creation_id, object) in ready {
            let Value::Object(object) = object else {
                not_created.insert(creation_id, SetError::invalid_properties(&[], "not an object").to_value());
                continue;
            };
            if !ids::valid(&creation_id) {
                not_created.insert(creation_id, SetError::invalid_properties(&[], "bad creation id").to_value());
                continue;
            }
            match T::create(ctx, account, &object).await {
                Ok(value) => {
                    if let Some(id) = value.get("id").and_then(Value::as_str) {
                        ctx.created.insert(creation_id.clone(), id.to_owned());
                    }
                    created.insert(creation_id, value);
                }
                Err(e) => {
                    not_created.insert(creation_id, e.to_value());
                }
            }
        }
    }
    let (mut updated, mut not_updated) = (Map::new(), Map::new());
    for (id, patch) in update {
        let Some(real) = ctx.resolve(&id).map(str::to_owned) else {
            not_updated.insert(id, SetError::not_found().to_value());
            continue;
        };
        let Value::Object(patch) = patch else {
            not_updated.insert(real, SetError::invalid_properties(&[], "a patch must be an object").to_value());
            continue;
        };
        match T::update(ctx, account, &real, &patch).await {
            Ok(v) => {
                updated.insert(real, v.unwrap_or(Value::Null));
            }
            Err(e) => {
                not_updated.insert(real, e.to_value());
            }
        }
    }
    let (mut destroyed, mut not_destroyed) = (Vec::new(), Map::new());
    for id in destroy {
        let Some(real) = ctx.resolve(&id).map(str::to_owned) else {
            not_destroyed.insert(id, SetError::not_found().to_value());
            continue;
        };
        match T::destroy(ctx, account, &real, args).await {
            Ok(()) => destroyed.push(real),
            Err(e) => {
                not_destroyed.insert(real, e.to_value());
            }
        }
    }
    let new_state = T::state(ctx, account).await?;
    Ok(json!({
        "accountId": ids::account(account),
        "oldState": old_state,
        "newState": new_state,
        "created": or_null(created),
        "updated": or_null(updated),
        "destroyed": if destroyed.is_empty() { Value::Null } else { json!(destroyed) },
        "notCreated": or_null(not_created),
        "notUpdated": or_null(not_updated),
        "notDestroyed": or_null(not_destroyed),
    }))
}

/// `/copy` (RFC 8620 §5.4): objects of one account created in another, and with
/// `onSuccessDestroyOriginal` an implicit `/set` destroying the originals.
async fn copy<T: ObjectType>(ctx: &mut Ctx<'_>, args: &Map<String, Value>) -> MethodResult {
    known_arguments(
        args,
        &[
            "fromAccountId",
            "ifFromInState",
            "accountId",
            "ifInState",
            "create",
            "onSuccessDestroyOriginal",
            "destroyFromIfInState",
        ],
    )?;
    let from = match args.get("fromAccountId") {
        Some(Value::String(s)) => ids::parse_account(s).ok_or_else(MethodError::account_not_found)?,
        _ => return Err(MethodError::invalid_arguments("fromAccountId must be a string")),
    };
    let account = ctx.account(args)?;
    if from == account {
        return Err(MethodError::invalid_arguments("fromAccountId and accountId must differ"));
    }
    let if_state = |name: &str, state: &str| match args.get(name) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s == state => Ok(()),
        Some(Value::String(_)) => Err(MethodError::state_mismatch()),
        Some(_) => Err(MethodError::invalid_arguments(format!("{name} must be a string"))),
    };
    if_state("ifFromInState", &T::state(ctx, from).await?)?;
    let old_state = T::state(ctx, account).await?;
    if_state("ifInState", &old_state)?;
    let create = match args.get("create") {
        Some(Value::Object(m)) => m.clone(),
        _ => return Err(MethodError::invalid_arguments("create must be an object")),
    };
    if create.len() > ctx.limits.max_objects_in_set {
        return Err(MethodError::request_too_large(format!(
            "{} objects; at most {} per call",
            create.len(),
            ctx.limits.max_objects_in_set
        )));
    }
    let destroy_original = boolean(args, "onSuccessDestroyOriginal")?;
    let (mut created, mut not_created, mut originals) = (Map::new(), Map::new(), Vec::new());
    for (creation_id, object) in create {
        let Value::Object(mut object) = object else {
            not_created.insert(creation_id, SetError::invalid_properties(&[], "not an object").to_value());
            continue;
        };
        let source = match object.remove("id") {
            Some(Value::String(s)) => ctx.resolve(&s).map(str::to_owned),
            _ => None,
        };
        let Some(source) = source.filter(|_| ids::valid(&creation_id)) else {
            let e = SetError::invalid_properties(
                &["id"],
                "each entry needs the id of the original (and a valid creation id)",
            );
            not_created.insert(creation_id, e.to_value());
            continue;
        };
        match T::copy(ctx, from, account, &source, &object).await {
            Ok(value) => {
                if let Some(id) = value.get("id").and_then(Value::as_str) {
                    ctx.created.insert(creation_id.clone(), id.to_owned());
                }
                created.insert(creation_id, value);
                originals.push(Value::String(source));
            }
            Err(e) => {
                not_created.insert(creation_id, e.to_value());
            }
        }
    }
    let new_state = T::state(ctx, account).await?;
    if destroy_original && !originals.is_empty() {
        let mut destroy = Map::new();
        destroy.insert("accountId".into(), json!(ids::account(from)));
        destroy.insert("destroy".into(), Value::Array(originals));
        if let Some(s) = args.get("destroyFromIfInState").filter(|v| !v.is_null()) {
            destroy.insert("ifInState".into(), s.clone());
        }
        let outcome = set::<T>(ctx, &destroy).await;
        ctx.implicit.push((format!("{}/set", T::NAME), outcome));
    }
    Ok(json!({
        "fromAccountId": ids::account(from),
        "accountId": ids::account(account),
        "oldState": old_state,
        "newState": new_state,
        "created": or_null(created),
        "notCreated": or_null(not_created),
    }))
}

/// Whether a value (keys included) names one of these creation ids as `#id`.
fn refers_to_any(v: &Value, creation_ids: &[String]) -> bool {
    let named = |s: &str| s.strip_prefix('#').is_some_and(|id| creation_ids.iter().any(|c| c == id));
    match v {
        Value::String(s) => named(s),
        Value::Array(a) => a.iter().any(|x| refers_to_any(x, creation_ids)),
        Value::Object(o) => {
            o.iter().any(|(k, x)| named(k.rsplit('/').next().unwrap_or(k)) || refers_to_any(x, creation_ids))
        }
        _ => false,
    }
}

/// The window arguments of a `/query`.
pub fn window(args: &Map<String, Value>) -> Result<Window, MethodError> {
    let int = |name: &str| -> Result<i64, MethodError> {
        match args.get(name) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v.as_i64().ok_or_else(|| MethodError::invalid_arguments(format!("{name} must be an integer"))),
        }
    };
    let anchor = match args.get("anchor") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(MethodError::invalid_arguments("anchor must be a string or null")),
    };
    Ok(Window {
        position: int("position")?,
        anchor,
        anchor_offset: int("anchorOffset")?,
        limit: uint(args, "limit")?.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        calculate_total: boolean(args, "calculateTotal")?,
    })
}

async fn query<T: ObjectType>(ctx: &mut Ctx<'_>, args: &Map<String, Value>) -> MethodResult {
    let account = ctx.account(args)?;
    let mut w = window(args)?;
    if let Some(a) = &w.anchor {
        w.anchor = ctx.resolve(a).map(str::to_owned);
        if w.anchor.is_none() {
            return Err(MethodError::new("anchorNotFound", "the anchor is not in the results"));
        }
    }
    let state = T::state(ctx, account).await?;
    let out = T::query(ctx, account, args, &w).await?;
    let mut v = json!({
        "accountId": ids::account(account),
        "queryState": state,
        "canCalculateChanges": out.can_calculate_changes || T::SIMPLE_QUERY_CHANGES,
        "position": out.position,
        "ids": out.ids,
    });
    if let Some(t) = out.total {
        v["total"] = json!(t);
    }
    // No `limit` in the answer: RFC 8620 §5.5 returns it only when the server set or changed
    // the limit, and the server takes the client's as given.
    Ok(v)
}

async fn query_changes<T: ObjectType>(ctx: &mut Ctx<'_>, args: &Map<String, Value>) -> MethodResult {
    let account = ctx.account(args)?;
    let Some(Value::String(since)) = args.get("sinceQueryState") else {
        return Err(MethodError::invalid_arguments("sinceQueryState must be a string"));
    };
    let state = T::state(ctx, account).await?;
    let (removed, added, total) = T::query_changes(ctx, account, args, since).await?;
    let mut v = json!({
        "accountId": ids::account(account),
        "oldQueryState": since,
        "newQueryState": state,
        "removed": removed,
        "added": added.into_iter().map(|(id, index)| json!({"id": id, "index": index})).collect::<Vec<_>>(),
    });
    if let Some(t) = total {
        v["total"] = json!(t);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(position: i64, anchor: Option<&str>, anchor_offset: i64, limit: Option<usize>) -> Window {
        Window { position, anchor: anchor.map(str::to_owned), anchor_offset, limit, calculate_total: true }
    }

    #[test]
    fn windows() {
        let all = || (1..=10).map(|n| n.to_string()).collect::<Vec<_>>();
        let out = w(2, None, 0, Some(3)).apply(all()).unwrap();
        assert_eq!((out.ids, out.position, out.total), (vec!["3".into(), "4".into(), "5".into()], 2, Some(10)));
        let out = w(-2, None, 0, None).apply(all()).unwrap();
        assert_eq!((out.ids.len(), out.position), (2, 8));
        let out = w(0, Some("5"), -1, Some(2)).apply(all()).unwrap();
        assert_eq!(out.ids, vec!["4".to_owned(), "5".to_owned()]);
        let out = w(50, None, 0, Some(2)).apply(all()).unwrap();
        assert_eq!((out.ids.len(), out.position), (0, 10));
        assert_eq!(w(0, Some("x"), 0, None).apply(all()).unwrap_err().kind, "anchorNotFound");
    }
}
