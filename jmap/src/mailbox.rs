//! Mailbox (RFC 8621 §2): the account's mail folders as the caller may see them, with counts
//! and the caller's rights (DESIGN.md's table maps the domain's rights to `myRights`).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use kontor_domain::changes::ObjectType as Obj;
use kontor_domain::ids::{AccountId, CollectionId, Modseq};
use kontor_domain::mail::MailboxRole;
use kontor_domain::mail::query::MailboxCounts;
use kontor_domain::model::CollectionKind;
use kontor_domain::rights::Rights;
use kontor_domain::{Core, MailView};
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::error::{MethodError, SetError};
use crate::generic::{Changes, ObjectType, QueryOut, Window};
use crate::ids;

pub struct Mailbox;

/// The state of an account's mail (Mailbox, Email and Thread share it).
pub async fn mail_state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
    if account != ctx.who.id {
        ctx.core.mail_view(ctx.who, account).await?;
    }
    Ok(ctx.core.kind_state(account, CollectionKind::MailFolder).await?.0.to_string())
}

/// A state string handed out earlier, as a modseq.
pub fn parse_state(s: &str) -> Result<Modseq, MethodError> {
    s.parse::<i64>().ok().filter(|n| *n >= 0).map(Modseq).ok_or_else(MethodError::cannot_calculate_changes)
}

pub fn my_rights(r: Rights) -> Value {
    json!({
        "mayReadItems": r.contains(Rights::READ),
        "mayAddItems": r.contains(Rights::CREATE),
        "mayRemoveItems": r.contains(Rights::DELETE),
        "maySetSeen": r.contains(Rights::SEEN),
        "maySetKeywords": r.contains(Rights::FLAG),
        "mayCreateChild": r.contains(Rights::CREATE_CHILD),
        "mayRename": r.contains(Rights::DELETE_COLLECTION),
        "mayDelete": r.contains(Rights::DELETE_COLLECTION),
        "maySubmit": r.contains(Rights::ALL),
        "mayShare": r.contains(Rights::SHARE),
    })
}

/// The rights a MailboxRights object in `shareWith` grants: each `may…` is its right
/// (`mayRename`/`mayDelete` both mean deleting and renaming; `mayShare` or `mayAdmin`, managing
/// the grants).
fn rights_of_mailbox(m: &Map<String, Value>) -> Rights {
    let on = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut r = Rights::NONE;
    for (key, right) in [
        ("mayReadItems", Rights::READ),
        ("maySetSeen", Rights::SEEN),
        ("maySetKeywords", Rights::FLAG),
        ("mayAddItems", Rights::CREATE),
        ("mayRemoveItems", Rights::DELETE),
        ("mayCreateChild", Rights::CREATE_CHILD),
        ("mayRename", Rights::DELETE_COLLECTION),
        ("mayDelete", Rights::DELETE_COLLECTION),
        ("mayShare", Rights::SHARE),
        ("mayAdmin", Rights::SHARE),
    ] {
        if on(key) {
            r |= right;
        }
    }
    r
}

fn access(b: &kontor_domain::mail::Mailbox, rights: Rights) -> kontor_domain::Access {
    kontor_domain::Access { collection: b.collection.clone(), rights }
}

fn sort_order(role: Option<MailboxRole>) -> u32 {
    match role {
        Some(MailboxRole::Inbox) => 1,
        Some(MailboxRole::Drafts) => 2,
        Some(MailboxRole::Sent) => 3,
        Some(MailboxRole::Archive) => 4,
        Some(MailboxRole::Junk) => 5,
        Some(MailboxRole::Trash) => 6,
        None => 10,
    }
}

fn to_json(
    view: &MailView,
    b: &kontor_domain::mail::Mailbox,
    rights: Rights,
    counts: MailboxCounts,
    props: &[String],
) -> Value {
    let parent = b.collection.parent.filter(|id| view.mailbox(*id).is_some());
    let mut out = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!(ids::mailbox(b.id())),
            "name" => json!(b.collection.name),
            "parentId" => json!(parent.map(ids::mailbox)),
            "role" => json!(b.role.map(MailboxRole::as_str)),
            "sortOrder" => json!(sort_order(b.role)),
            "totalEmails" => json!(counts.total_emails),
            "unreadEmails" => json!(counts.unread_emails),
            "totalThreads" => json!(counts.total_threads),
            "unreadThreads" => json!(counts.unread_threads),
            "myRights" => my_rights(rights),
            "isSubscribed" => json!(b.subscribed),
            _ => continue,
        };
        out.insert(p.clone(), v);
    }
    Value::Object(out)
}

/// The full name (`Parent/Child`) of a mailbox of the view.
fn path(view: &MailView, id: CollectionId) -> String {
    let boxes: Vec<_> = view.mailboxes.iter().map(|(b, _)| b.clone()).collect();
    let paths = Core::mailbox_paths(&boxes);
    boxes.iter().zip(paths).find(|(b, _)| b.id() == id).map(|(_, (p, _))| p).unwrap_or_default()
}

const COUNTS: [&str; 4] = ["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"];

#[async_trait]
impl ObjectType for Mailbox {
    const NAME: &'static str = "Mailbox";
    const SIMPLE_QUERY_CHANGES: bool = true;
    const PROPERTIES: &'static [&'static str] = &[
        "id",
        "name",
        "parentId",
        "role",
        "sortOrder",
        "totalEmails",
        "unreadEmails",
        "totalThreads",
        "unreadThreads",
        "myRights",
        "isSubscribed",
        "shareWith",
    ];

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        mail_state(ctx, account).await
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        ids: Option<Vec<String>>,
        props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let counts = if props.iter().any(|p| COUNTS.contains(&p.as_str())) {
            ctx.core.view_counts(&view).await?
        } else {
            HashMap::new()
        };
        let share_with = props.iter().any(|p| p == "shareWith");
        let one = async |b: &kontor_domain::mail::Mailbox, r: Rights| -> Result<Value, MethodError> {
            let mut v = to_json(&view, b, r, counts.get(&b.id()).copied().unwrap_or_default(), props);
            if share_with {
                v["shareWith"] = crate::groupware::share_with(ctx, &access(b, r), my_rights).await?;
            }
            Ok(v)
        };
        let (mut list, mut not_found) = (Vec::new(), Vec::new());
        match ids {
            None => {
                for (b, r) in &view.mailboxes {
                    list.push(one(b, *r).await?);
                }
            }
            Some(wanted) => {
                for id in wanted {
                    match ids::parse_mailbox(&id).and_then(|m| view.mailboxes.iter().find(|(b, _)| b.id() == m)) {
                        Some((b, r)) => list.push(one(b, *r).await?),
                        None => not_found.push(id),
                    }
                }
            }
        }
        Ok((list, not_found))
    }

    async fn changes(ctx: &Ctx<'_>, account: AccountId, since: &str, max: usize) -> Result<Changes, MethodError> {
        let since = parse_state(since)?;
        let page = ctx
            .core
            .kind_changes(ctx.who, account, CollectionKind::MailFolder, since, max)
            .await?
            .ok_or_else(MethodError::cannot_calculate_changes)?;
        let folders: Vec<_> = page.rows.iter().filter(|r| r.object == Obj::Collection).cloned().collect();
        let (created, updated, destroyed) = kontor_domain::changes::fold(&folders);
        let mut seen: HashSet<i64> = HashSet::new();
        let mut out = Changes { new_state: page.until.0.to_string(), has_more: page.has_more, ..Changes::default() };
        for c in &created {
            if seen.insert(c.id) {
                out.created.push(ids::mailbox(CollectionId(c.id)));
            }
        }
        for d in &destroyed {
            if seen.insert(d.id) {
                out.destroyed.push(ids::mailbox(CollectionId(d.id)));
            }
        }
        let mut only_counts = true;
        for u in &updated {
            if seen.insert(u.id) {
                only_counts = false;
                out.updated.push(ids::mailbox(CollectionId(u.id)));
            }
        }
        for r in page.rows.iter().filter(|r| r.object == Obj::Message) {
            if seen.insert(r.collection_id.0) {
                out.updated.push(ids::mailbox(r.collection_id));
            }
        }
        if only_counts && !out.updated.is_empty() {
            out.updated_properties = Some(COUNTS.iter().map(|s| (*s).to_owned()).collect());
        }
        Ok(out)
    }

    async fn create(ctx: &Ctx<'_>, account: AccountId, object: &Map<String, Value>) -> Result<Value, SetError> {
        if account != ctx.who.id {
            return Err(SetError::forbidden("mailboxes are made in one's own account"));
        }
        for k in object.keys() {
            if !matches!(k.as_str(), "name" | "parentId" | "isSubscribed" | "role" | "sortOrder") {
                return Err(SetError::invalid_properties(&[k], format!("{k} cannot be set")));
            }
        }
        let Some(Value::String(name)) = object.get("name") else {
            return Err(SetError::invalid_properties(&["name"], "a mailbox needs a name"));
        };
        if name.contains('/') {
            return Err(SetError::invalid_properties(&["name"], "a name cannot contain '/'"));
        }
        if !matches!(object.get("role"), None | Some(Value::Null)) {
            return Err(SetError::invalid_properties(&["role"], "every special-use role has its mailbox already"));
        }
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let full = match parent_of(ctx, &view, object.get("parentId"))? {
            Some(p) => format!("{}/{name}", path(&view, p)),
            None => name.clone(),
        };
        if view.mailboxes.iter().any(|(b, _)| path(&view, b.id()) == full) {
            return Err(SetError::new("alreadyExists", format!("a mailbox {full:?} exists")));
        }
        let made = ctx.core.create_mailbox(ctx.who, &full).await?;
        if object.get("isSubscribed") == Some(&Value::Bool(false)) {
            ctx.core.subscribe(ctx.who, &made, false).await?;
        }
        Ok(json!({
            "id": ids::mailbox(made.id()),
            "sortOrder": sort_order(None),
            "totalEmails": 0, "unreadEmails": 0, "totalThreads": 0, "unreadThreads": 0,
            "myRights": my_rights(Rights::ALL),
            "isSubscribed": object.get("isSubscribed").and_then(Value::as_bool).unwrap_or(true),
            "role": null,
        }))
    }

    async fn update(
        ctx: &Ctx<'_>,
        account: AccountId,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Option<Value>, SetError> {
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let target = ids::parse_mailbox(id).and_then(|m| view.mailbox(m)).cloned().ok_or_else(SetError::not_found)?;
        let (patch, shares) = crate::groupware::split_share_patches(patch);
        if patch.contains_key("shareWith") || !shares.is_empty() {
            let rights = view.mailboxes.iter().find(|(b, _)| b.id() == target.id()).map_or(Rights::NONE, |(_, r)| *r);
            let a = access(&target, rights);
            crate::groupware::set_share_with(ctx, &a, patch.get("shareWith"), shares, rights_of_mailbox).await?;
        }
        let mut rename: Option<String> = None;
        for (k, v) in &patch {
            match k.as_str() {
                "isSubscribed" => {
                    let Value::Bool(on) = v else {
                        return Err(SetError::invalid_properties(&["isSubscribed"], "must be a boolean"));
                    };
                    if account != ctx.who.id {
                        return Err(SetError::forbidden("subscriptions to shared mailboxes are kept by the client"));
                    }
                    ctx.core.subscribe(ctx.who, &target, *on).await?;
                }
                "name" => {
                    let Value::String(n) = v else {
                        return Err(SetError::invalid_properties(&["name"], "must be a string"));
                    };
                    if n.contains('/') {
                        return Err(SetError::invalid_properties(&["name"], "a name cannot contain '/'"));
                    }
                    rename = Some(n.clone());
                }
                "parentId" | "shareWith" => {}
                // Unchanged values of properties the server sets are fine to send back.
                "sortOrder" if v.as_u64() == Some(u64::from(sort_order(target.role))) => {}
                "role" if v.as_str() == target.role.map(MailboxRole::as_str) => {}
                other => return Err(SetError::invalid_properties(&[other], format!("{other} cannot be changed"))),
            }
        }
        if rename.is_some() || patch.contains_key("parentId") {
            let name = rename.unwrap_or_else(|| target.collection.name.clone());
            let parent = if patch.contains_key("parentId") {
                parent_of(ctx, &view, patch.get("parentId"))?
            } else {
                target.collection.parent
            };
            if parent == Some(target.id()) {
                return Err(SetError::invalid_properties(&["parentId"], "a mailbox cannot be its own parent"));
            }
            let full = match parent {
                Some(p) => {
                    let pp = path(&view, p);
                    let own = path(&view, target.id());
                    if pp == own || pp.starts_with(&format!("{own}/")) {
                        return Err(SetError::invalid_properties(&["parentId"], "a mailbox cannot move below itself"));
                    }
                    format!("{pp}/{name}")
                }
                None => name,
            };
            if full != path(&view, target.id()) {
                ctx.core.rename_mailbox(ctx.who, &target, &full).await?;
            }
        }
        Ok(None)
    }

    async fn destroy(ctx: &Ctx<'_>, account: AccountId, id: &str, args: &Map<String, Value>) -> Result<(), SetError> {
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let target = ids::parse_mailbox(id).and_then(|m| view.mailbox(m)).cloned().ok_or_else(SetError::not_found)?;
        if view.mailboxes.iter().any(|(b, _)| b.collection.parent == Some(target.id())) {
            return Err(SetError::new("mailboxHasChild", "the mailbox has child mailboxes"));
        }
        let remove_emails = args.get("onDestroyRemoveEmails").and_then(Value::as_bool).unwrap_or(false);
        if !remove_emails {
            let counts = ctx.core.view_counts(&view).await?;
            if counts.get(&target.id()).is_some_and(|c| c.total_emails > 0) {
                return Err(SetError::new(
                    "mailboxHasEmail",
                    "the mailbox holds mail (onDestroyRemoveEmails is false)",
                ));
            }
        }
        ctx.core.delete_mailbox(ctx.who, &target).await?;
        Ok(())
    }

    async fn query(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        window: &Window,
    ) -> Result<QueryOut, MethodError> {
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let mut boxes: Vec<_> = view.mailboxes.iter().map(|(b, _)| b).collect();
        if let Some(Value::Object(f)) = args.get("filter") {
            for (k, v) in f {
                match (k.as_str(), v) {
                    ("parentId", Value::Null) => {
                        boxes.retain(|b| b.collection.parent.is_none_or(|p| view.mailbox(p).is_none()));
                    }
                    ("parentId", Value::String(p)) => {
                        let p = ids::parse_mailbox(p);
                        boxes.retain(|b| b.collection.parent.is_some() && b.collection.parent == p);
                    }
                    ("name", Value::String(n)) => {
                        let n = n.to_lowercase();
                        boxes.retain(|b| b.collection.name.to_lowercase().contains(&n));
                    }
                    ("role", Value::Null) => boxes.retain(|b| b.role.is_none()),
                    ("role", Value::String(r)) => boxes.retain(|b| b.role.map(MailboxRole::as_str) == Some(r.as_str())),
                    ("hasAnyRole", Value::Bool(h)) => boxes.retain(|b| b.role.is_some() == *h),
                    ("isSubscribed", Value::Bool(s)) => boxes.retain(|b| b.subscribed == *s),
                    _ => return Err(MethodError::new("unsupportedFilter", format!("cannot filter mailboxes by {k}"))),
                }
            }
        }
        let mut keyed: Vec<(u32, String, CollectionId)> =
            boxes.iter().map(|b| (sort_order(b.role), path(&view, b.id()), b.id())).collect();
        if let Some(Value::Array(sort)) = args.get("sort") {
            for s in sort {
                match s.get("property").and_then(Value::as_str) {
                    Some("name" | "sortOrder" | "parentId") => {}
                    other => {
                        return Err(MethodError::new("unsupportedSort", format!("cannot sort mailboxes by {other:?}")));
                    }
                }
            }
            if sort.first().and_then(|s| s.get("property")).and_then(Value::as_str) == Some("name") {
                keyed.sort_by(|a, b| a.1.cmp(&b.1));
            } else {
                keyed.sort();
            }
        } else {
            keyed.sort();
        }
        window.apply(keyed.into_iter().map(|(_, _, id)| ids::mailbox(id)).collect())
    }
}

/// The parent a `parentId` value names (null: top level); a creation reference is resolved.
fn parent_of(ctx: &Ctx<'_>, view: &MailView, v: Option<&Value>) -> Result<Option<CollectionId>, SetError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(p)) => ctx
            .resolve(p)
            .and_then(ids::parse_mailbox)
            .filter(|id| view.mailbox(*id).is_some())
            .map(Some)
            .ok_or_else(|| SetError::invalid_properties(&["parentId"], "no such parent mailbox")),
        Some(_) => Err(SetError::invalid_properties(&["parentId"], "must be a mailbox id or null")),
    }
}
