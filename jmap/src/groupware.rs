//! What address books and calendars share over JMAP: they are the domain's collections of one
//! kind (the ones CardDAV and CalDAV serve), their cards and events are the items in them, the
//! state of both types is the kind's position in the one change log, and `shareWith` and
//! `myRights` are the one permission model's grants and rights.

use std::collections::{HashMap, HashSet};

use kontor_domain::Access;
use kontor_domain::changes::ObjectType as Obj;
use kontor_domain::error::Error;
use kontor_domain::ids::{AccountId, CollectionId, ItemId, Modseq};
use kontor_domain::model::{CollectionKind, Item};
use kontor_domain::ports::{CollectionPatch, DeadProperty, PropTarget};
use kontor_domain::rights::Rights;
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::error::{MethodError, SetError};
use crate::generic::Changes;
use crate::ids;

/// One kind of collection as JMAP shows it: its domain kind and the letters of its ids.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub kind: CollectionKind,
    /// The letter of the collections' ids.
    pub coll: char,
    /// The letter of the items' ids.
    pub item: char,
}

pub const BOOKS: Spec = Spec { kind: CollectionKind::AddressBook, coll: 'b', item: 'c' };
pub const CALENDARS: Spec = Spec { kind: CollectionKind::Calendar, coll: 'k', item: 'v' };

/// The collections of the kind the caller may see in the account, with its rights on each;
/// `accountNotFound` for another's account where it sees none.
pub async fn collections(ctx: &Ctx<'_>, account: AccountId, spec: Spec) -> Result<Vec<Access>, MethodError> {
    let mut list = ctx.core.list_collections(ctx.who, account, Some(spec.kind)).await?;
    if account != ctx.who.id && list.is_empty() {
        return Err(MethodError::account_not_found());
    }
    list.sort_by_key(|a| a.collection.id);
    Ok(list)
}

/// The state of the kind's collections and items in the account.
pub async fn state(ctx: &Ctx<'_>, account: AccountId, spec: Spec) -> Result<String, MethodError> {
    if account != ctx.who.id {
        collections(ctx, account, spec).await?;
    }
    Ok(ctx.core.kind_state(account, spec.kind).await?.0.to_string())
}

/// A state string handed out earlier, as a modseq.
pub fn parse_state(s: &str) -> Result<Modseq, MethodError> {
    s.parse::<i64>().ok().filter(|n| *n >= 0).map(Modseq).ok_or_else(MethodError::cannot_calculate_changes)
}

/// An item read for JMAP: the row and its text.
pub struct Loaded {
    pub item: Item,
    pub text: String,
}

/// Items of readable collections by JMAP id (`None`: every one), with the ids not found.
pub async fn load_items(
    ctx: &Ctx<'_>,
    account: AccountId,
    spec: Spec,
    wanted: Option<Vec<String>>,
) -> Result<(Vec<Loaded>, Vec<String>), MethodError> {
    let readable: Vec<Access> =
        collections(ctx, account, spec).await?.into_iter().filter(|a| a.rights.contains(Rights::READ)).collect();
    let Some(wanted) = wanted else {
        let mut out = Vec::new();
        for access in &readable {
            for item in ctx.core.list_items(access).await?.iter() {
                let data = ctx.core.content_of(access, item).await?;
                let text = String::from_utf8_lossy(&data).into_owned();
                out.push(Loaded { item: item.clone(), text });
            }
        }
        return Ok((out, Vec::new()));
    };
    let rights: HashMap<CollectionId, Rights> = readable.iter().map(|a| (a.collection.id, a.rights)).collect();
    let (mut out, mut not_found) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    for id in wanted {
        if !seen.insert(id.clone()) {
            continue;
        }
        match read_one(ctx, account, spec, &rights, &id).await? {
            Some(l) => out.push(l),
            None => not_found.push(id),
        }
    }
    Ok((out, not_found))
}

async fn read_one(
    ctx: &Ctx<'_>,
    account: AccountId,
    spec: Spec,
    rights: &HashMap<CollectionId, Rights>,
    id: &str,
) -> Result<Option<Loaded>, MethodError> {
    let Some(item_id) = ids::parse_item(id, spec.item) else { return Ok(None) };
    match ctx.core.read_item(ctx.who, item_id).await {
        Ok((item, data)) => {
            if item.account != account {
                return Ok(None);
            }
            if !rights.contains_key(&item.collection) {
                return Ok(None);
            }
            Ok(Some(Loaded { text: String::from_utf8_lossy(&data).into_owned(), item }))
        }
        Err(Error::NotFound(_) | Error::Forbidden { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The item behind a JMAP id, for a change: `notFound` unless it is one the caller may read
/// in a collection of the kind in this account.
pub async fn item_for_update(ctx: &Ctx<'_>, account: AccountId, spec: Spec, id: &str) -> Result<Loaded, SetError> {
    let readable: HashMap<CollectionId, Rights> = collections(ctx, account, spec)
        .await
        .map_err(|_| SetError::not_found())?
        .into_iter()
        .filter(|a| a.rights.contains(Rights::READ))
        .map(|a| (a.collection.id, a.rights))
        .collect();
    read_one(ctx, account, spec, &readable, id)
        .await
        .map_err(|e| SetError::new("serverFail", e.description.unwrap_or_default()))?
        .ok_or_else(SetError::not_found)
}

/// `/changes` of the collections (`Obj::Collection`) or of the items (`Obj::Item`) of a kind.
pub async fn changes(
    ctx: &Ctx<'_>,
    account: AccountId,
    spec: Spec,
    object: Obj,
    since: &str,
    max: usize,
) -> Result<Changes, MethodError> {
    if account != ctx.who.id {
        collections(ctx, account, spec).await?;
    }
    let since = parse_state(since)?;
    let page = ctx
        .core
        .kind_changes(ctx.who, account, spec.kind, since, max)
        .await?
        .ok_or_else(MethodError::cannot_calculate_changes)?;
    let rows: Vec<_> = page.rows.into_iter().filter(|r| r.object == object).collect();
    let (created, updated, destroyed) = kontor_domain::changes::fold(&rows);
    let id = |n: i64| match object {
        Obj::Collection => ids::collection(spec.coll, CollectionId(n)),
        _ => ids::item(spec.item, ItemId(n)),
    };
    let c: HashSet<i64> = created.iter().map(|o| o.id).collect();
    let d: HashSet<i64> = destroyed.iter().map(|o| o.id).collect();
    let mut out = Changes { new_state: page.until.0.to_string(), has_more: page.has_more, ..Changes::default() };
    let mut done = HashSet::new();
    // A move with a rename folds into a removal and a creation of the same object: a change.
    for o in created.iter().chain(&updated).chain(&destroyed) {
        if !done.insert(o.id) {
            continue;
        }
        match (c.contains(&o.id), d.contains(&o.id)) {
            (true, false) => out.created.push(id(o.id)),
            (false, true) => out.destroyed.push(id(o.id)),
            _ => out.updated.push(id(o.id)),
        }
    }
    Ok(out)
}

/// Applies a JMAP PatchObject (RFC 8620 §5.3: JSON pointers without the leading slash, null
/// removes) to an object. A path may not go through arrays or missing objects.
pub fn apply_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<(), SetError> {
    for (path, value) in patch {
        let parts: Vec<String> = path.split('/').map(|p| p.replace("~1", "/").replace("~0", "~")).collect();
        let bad = || SetError::invalid_properties(&[path], format!("the patch path {path:?} does not exist"));
        let (last, through) = parts.split_last().ok_or_else(bad)?;
        let mut at = &mut *target;
        for p in through {
            at = match at.get_mut(p) {
                Some(Value::Object(o)) => o,
                _ => return Err(bad()),
            };
        }
        if last.is_empty() {
            return Err(bad());
        }
        if value.is_null() {
            at.remove(last);
        } else {
            at.insert(last.clone(), value.clone());
        }
    }
    Ok(())
}

/// A name for a new collection or item: its UID when that is a safe path segment, else random.
pub fn resource_name(uid: Option<&str>, extension: &str) -> String {
    let safe = |u: &str| {
        !u.is_empty()
            && u.len() <= 200
            && !u.starts_with('.')
            && u.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
    };
    match uid {
        Some(u) if safe(u) => format!("{u}{extension}"),
        _ => format!("{}{extension}", random_id()),
    }
}

/// 32 random hex digits (UIDs and resource names the server makes).
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random (version 4) UUID, for the `urn:uuid:` UIDs of new cards.
pub fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The collection an id names, of those the caller sees (`None` when not one of them).
pub fn find<'a>(list: &'a [Access], spec: Spec, id: &str) -> Option<&'a Access> {
    let c = ids::parse_collection(id, spec.coll)?;
    list.iter().find(|a| a.collection.id == c)
}

/// The display name a collection shows (its display name, else its path name).
pub fn display_name(a: &Access) -> String {
    a.collection.display_name.clone().unwrap_or_else(|| a.collection.name.clone())
}

/// The default collection of the kind: the account's oldest one.
pub fn is_default(list: &[Access], a: &Access) -> bool {
    list.first().is_some_and(|f| f.collection.id == a.collection.id)
}

/// A text dead property (DAV stores its XML content), unescaped.
pub async fn text_property(ctx: &Ctx<'_>, a: &Access, namespace: &str, name: &str) -> Option<String> {
    if !a.rights.contains(Rights::READ) {
        return None;
    }
    let props = ctx.core.dead_properties(ctx.who, PropTarget::Collection(a.collection.id)).await.ok()?;
    let p = props.into_iter().find(|p| p.namespace == namespace && p.name == name)?;
    let v = p.value.trim();
    let v = v.strip_prefix("<![CDATA[").and_then(|v| v.strip_suffix("]]>")).map_or_else(
        || {
            v.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        },
        str::to_owned,
    );
    Some(v)
}

/// A text dead property to set: namespace, name, and the value (`None`: remove it).
pub type TextProp = (&'static str, &'static str, Option<String>);

/// Sets (or with `None` removes) text dead properties of a collection, where CalDAV/CardDAV
/// clients keep them too, and logs a change of the collection so its state moves.
pub async fn set_text_properties(ctx: &Ctx<'_>, a: &Access, values: Vec<TextProp>) -> Result<(), SetError> {
    if values.is_empty() {
        return Ok(());
    }
    let (mut set, mut remove) = (Vec::new(), Vec::new());
    for (namespace, name, value) in values {
        match value {
            Some(v) => set.push(DeadProperty {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                value: v.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"),
            }),
            None => remove.push((namespace.to_owned(), name.to_owned())),
        }
    }
    let target = PropTarget::Collection(a.collection.id);
    ctx.core.update_dead_properties(ctx.who, target, set, remove).await?;
    let patch = CollectionPatch { display_name: Some(a.collection.display_name.clone()), ..CollectionPatch::default() };
    ctx.core.update_collection(ctx.who, a.collection.id, patch).await?;
    Ok(())
}

/// `shareWith` (RFC 9670): the grants on the collection by principal id, for a caller that
/// may manage them (else null: RFC 9670 shows them only to those).
pub async fn share_with(ctx: &Ctx<'_>, a: &Access, to_json: fn(Rights) -> Value) -> Result<Value, MethodError> {
    if !a.rights.contains(Rights::SHARE) {
        return Ok(Value::Null);
    }
    let grants = ctx.core.grants_on(ctx.who, a.collection.account).await?;
    let mut out = Map::new();
    for g in grants.into_iter().filter(|g| g.collection == Some(a.collection.id) && !g.rights.is_empty()) {
        out.insert(ids::principal(g.grantee), to_json(g.rights));
    }
    Ok(Value::Object(out))
}

/// Changes grants from a whole `shareWith` value or from `shareWith/<principal>` patches:
/// (principal id, rights object or null) pairs; a whole value revokes what it leaves out.
pub async fn set_share_with(
    ctx: &Ctx<'_>,
    a: &Access,
    whole: Option<&Value>,
    patches: Vec<(String, Value)>,
    from_json: fn(&Map<String, Value>) -> Rights,
) -> Result<(), SetError> {
    let bad = |m: &str| SetError::invalid_properties(&["shareWith"], m);
    a.require(Rights::SHARE)?;
    let mut changes: Vec<(String, Rights)> = Vec::new();
    if let Some(whole) = whole {
        let wanted = match whole {
            Value::Null => Map::new(),
            Value::Object(m) => m.clone(),
            _ => return Err(bad("shareWith must be an object or null")),
        };
        let current = ctx.core.grants_on(ctx.who, a.collection.account).await?;
        for g in current.iter().filter(|g| g.collection == Some(a.collection.id)) {
            let id = ids::principal(g.grantee);
            if !wanted.contains_key(&id) {
                changes.push((id, Rights::NONE));
            }
        }
        for (id, v) in wanted {
            let Value::Object(r) = v else { return Err(bad("each principal maps to a rights object")) };
            changes.push((id, from_json(&r)));
        }
    }
    for (id, v) in patches {
        match v {
            Value::Null => changes.push((id, Rights::NONE)),
            Value::Object(r) => changes.push((id, from_json(&r))),
            _ => return Err(bad("each principal maps to a rights object or null")),
        }
    }
    for (id, rights) in changes {
        let grantee = match ids::parse_principal(&id) {
            Some(p) => ctx.core.store.principal(p).await?,
            None => None,
        };
        let Some(grantee) = grantee else { return Err(bad(&format!("no principal {id}"))) };
        ctx.core.share(ctx.who, a.collection.account, Some(a.collection.id), &grantee.address, rights).await.map_err(
            |e| match e {
                Error::Invalid(m) | Error::CrossDomainGrant(m) => bad(&m),
                other => SetError::from(other),
            },
        )?;
    }
    Ok(())
}

/// Splits a patch into its plain properties and the `shareWith/<principal>` entries.
pub fn split_share_patches(patch: &Map<String, Value>) -> (Map<String, Value>, Vec<(String, Value)>) {
    let (mut plain, mut shares) = (Map::new(), Vec::new());
    for (k, v) in patch {
        match k.strip_prefix("shareWith/") {
            Some(p) if !p.contains('/') => shares.push((p.to_owned(), v.clone())),
            _ => {
                plain.insert(k.clone(), v.clone());
            }
        }
    }
    (plain, shares)
}

/// A string property of a /set object (`Ok(None)` when absent or null).
pub fn opt_string<'a>(object: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, SetError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SetError::invalid_properties(&[name], format!("{name} must be a string"))),
    }
}

/// The one collection of a `addressBookIds`/`calendarIds` map (`{id: true}`); creation
/// references are resolved. Kontor keeps an item in exactly one collection.
pub fn one_collection<'a>(
    ctx: &Ctx<'_>,
    list: &'a [Access],
    spec: Spec,
    property: &str,
    value: Option<&Value>,
) -> Result<&'a Access, SetError> {
    let bad = |m: &str| SetError::invalid_properties(&[property], m);
    let Some(Value::Object(m)) = value else { return Err(bad(&format!("{property} must name one collection"))) };
    let named: Vec<&String> = m.iter().filter(|(_, v)| **v == Value::Bool(true)).map(|(k, _)| k).collect();
    if named.len() != m.len() {
        return Err(bad(&format!("{property} values must be true")));
    }
    let [one] = named.as_slice() else {
        return Err(bad(&format!("{property} must name exactly one collection (maxPerItem is 1)")));
    };
    ctx.resolve(one).and_then(|id| find(list, spec, id)).ok_or_else(|| bad(&format!("no such collection {one:?}")))
}

/// The `{id: true}` map of an item's collection.
pub fn collection_ids(spec: Spec, c: CollectionId) -> Value {
    json!({ ids::collection(spec.coll, c): true })
}

/// Checks a `/query` filter before it runs: objects, AND/OR/NOT operators with conditions,
/// and condition properties among `known`.
pub fn check_filter(f: &Value, known: &[&str], what: &str) -> Result<(), MethodError> {
    let Value::Object(f) = f else { return Err(MethodError::invalid_arguments("a filter must be an object")) };
    if let Some(op) = f.get("operator") {
        if !matches!(op.as_str(), Some("AND" | "OR" | "NOT")) {
            return Err(MethodError::invalid_arguments("operator must be AND, OR or NOT"));
        }
        let Some(Value::Array(conds)) = f.get("conditions") else {
            return Err(MethodError::invalid_arguments("a filter operator needs conditions"));
        };
        return conds.iter().try_for_each(|c| check_filter(c, known, what));
    }
    match f.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(MethodError::new("unsupportedFilter", format!("cannot filter {what} by {k}"))),
        None => Ok(()),
    }
}
