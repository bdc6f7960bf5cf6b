//! Email (RFC 8621 §4): reading messages by id with any of their properties, querying the
//! account's messages in SQL, changes from the one log, and changing keywords and mailboxes
//! through the same domain calls IMAP's STORE, COPY, MOVE and EXPUNGE use.

mod compose;
mod filter;
pub mod render;
pub mod snippet;

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use kontor_domain::changes::ObjectType as Obj;
use kontor_domain::ids::{AccountId, CollectionId};
use kontor_domain::mail::query::MessageQuery;
use kontor_domain::mail::{KeywordOp, Keywords};
use kontor_domain::model::CollectionKind;
use serde_json::{Map, Value};

use crate::api::Ctx;
use crate::error::{MethodError, MethodResult, SetError};
use crate::generic::{self, Changes, ObjectType, QueryOut, Window};
use crate::ids;
use crate::mailbox::{mail_state, parse_state};

pub struct Email;

pub async fn dispatch(ctx: &mut Ctx<'_>, verb: &str, args: Map<String, Value>) -> MethodResult {
    if verb == "get"
        && let Some(props) = generic::string_list(&args, "properties")?
        && let Some(bad) = props.iter().find(|p| p.starts_with("header:") && !render::valid_header_property(p))
    {
        return Err(MethodError::invalid_arguments(format!("bad header property {bad:?}")));
    }
    match verb {
        "import" => import(ctx, &args).await,
        "parse" => parse(ctx, &args).await,
        _ => generic::dispatch::<Email>(ctx, verb, args).await,
    }
}

/// Email/import (RFC 8621 §4.8).
async fn import(ctx: &mut Ctx<'_>, args: &Map<String, Value>) -> MethodResult {
    generic::known_arguments(args, &["accountId", "ifInState", "emails"])?;
    let account = ctx.account(args)?;
    let old_state = mail_state(ctx, account).await?;
    match args.get("ifInState") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if *s == old_state => {}
        Some(_) => return Err(MethodError::state_mismatch()),
    }
    let Some(Value::Object(emails)) = args.get("emails") else {
        return Err(MethodError::invalid_arguments("emails must be an object"));
    };
    if emails.len() > ctx.limits.max_objects_in_set {
        return Err(MethodError::request_too_large(format!(
            "at most {} emails per call",
            ctx.limits.max_objects_in_set
        )));
    }
    let (mut created, mut not_created) = (Map::new(), Map::new());
    for (cid, e) in emails {
        let outcome = match e {
            Value::Object(o) => compose::import(ctx, account, o).await,
            _ => Err(SetError::invalid_properties(&[], "an EmailImport is an object")),
        };
        match outcome {
            Ok(v) => {
                if let Some(id) = v.get("id").and_then(Value::as_str) {
                    ctx.created.insert(cid.clone(), id.to_owned());
                }
                created.insert(cid.clone(), v);
            }
            Err(e) => {
                not_created.insert(cid.clone(), e.to_value());
            }
        }
    }
    let or_null = crate::generic::or_null;
    Ok(serde_json::json!({
        "accountId": ids::account(account),
        "oldState": old_state,
        "newState": mail_state(ctx, account).await?,
        "created": or_null(created),
        "notCreated": or_null(not_created),
    }))
}

/// Email/parse (RFC 8621 §4.9): blobs read as messages, without storing them.
async fn parse(ctx: &mut Ctx<'_>, args: &Map<String, Value>) -> MethodResult {
    let account = ctx.account(args)?;
    let blobs = generic::string_list(args, "blobIds")?.unwrap_or_default();
    if blobs.len() > ctx.limits.max_objects_in_get {
        return Err(MethodError::request_too_large(format!(
            "at most {} blobs per call",
            ctx.limits.max_objects_in_get
        )));
    }
    let props: Vec<String> = match generic::string_list(args, "properties")? {
        Some(p) => p,
        None => render::PARSE_DEFAULT.iter().map(|p| (*p).to_owned()).collect(),
    };
    if let Some(bad) = props.iter().find(|p| {
        !(render::PARSE_ALL.contains(&p.as_str()) || p.starts_with("header:") && render::valid_header_property(p))
    }) {
        return Err(MethodError::invalid_arguments(format!("{bad:?} cannot be parsed out of a blob")));
    }
    let body = body_options(args)?;
    let (mut parsed, mut not_parsable, mut not_found) = (Map::new(), Vec::new(), Vec::new());
    for b in blobs {
        match crate::blob::read(ctx.core, ctx.who, account, &b).await? {
            Some((bytes, _)) => match render::parse_blob(&bytes, &props, &body) {
                Some(v) => {
                    parsed.insert(b, v);
                }
                None => not_parsable.push(b),
            },
            None => not_found.push(b),
        }
    }
    Ok(serde_json::json!({
        "accountId": ids::account(account),
        "parsed": if parsed.is_empty() { Value::Null } else { Value::Object(parsed) },
        "notParsable": not_parsable,
        "notFound": not_found,
    }))
}

fn body_options(args: &Map<String, Value>) -> Result<render::BodyOptions, MethodError> {
    let properties = match generic::string_list(args, "bodyProperties")? {
        None => render::BODY_DEFAULT.iter().map(|p| (*p).to_owned()).collect(),
        Some(list) => {
            if let Some(bad) = list.iter().find(|p| !render::BODY_ALL.contains(&p.as_str())) {
                return Err(MethodError::invalid_arguments(format!("unknown body property {bad:?}")));
            }
            list
        }
    };
    Ok(render::BodyOptions {
        properties,
        fetch_text: generic::boolean(args, "fetchTextBodyValues")?,
        fetch_html: generic::boolean(args, "fetchHTMLBodyValues")?,
        fetch_all: generic::boolean(args, "fetchAllBodyValues")?,
        max_bytes: usize::try_from(generic::uint(args, "maxBodyValueBytes")?.unwrap_or(0)).unwrap_or(usize::MAX),
    })
}

/// The query an Email/query (or queryChanges) call describes, without its window.
fn message_query(ctx: &Ctx<'_>, account: AccountId, args: &Map<String, Value>) -> Result<MessageQuery, MethodError> {
    let resolve = |s: &str| ctx.resolve(s).map(str::to_owned);
    Ok(MessageQuery {
        account,
        filter: filter::filter(args.get("filter"), &resolve)?,
        sort: filter::sort(args.get("sort"))?,
        collapse_threads: generic::boolean(args, "collapseThreads")?,
        offset: 0,
        limit: None,
        count: false,
    })
}

#[async_trait]
impl ObjectType for Email {
    const NAME: &'static str = "Email";
    const PROPERTIES: &'static [&'static str] = render::ALL;
    const DEFAULT_PROPERTIES: Option<&'static [&'static str]> = Some(render::DEFAULT);
    const COPY: bool = true;

    async fn copy(
        ctx: &Ctx<'_>,
        from: AccountId,
        account: AccountId,
        id: &str,
        overrides: &Map<String, Value>,
    ) -> Result<Value, SetError> {
        compose::copy(ctx, from, account, id, overrides).await
    }

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        mail_state(ctx, account).await
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        ids: Option<Vec<String>>,
        props: &[String],
        args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        let Some(wanted) = ids else {
            return Err(MethodError::request_too_large("ask for emails by id (Email/query finds them)"));
        };
        let body = body_options(args)?;
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let numbers: Vec<i64> = wanted.iter().filter_map(|i| ids::parse_email(i)).collect();
        let found = ctx.core.view_messages(&view, &numbers).await?;
        let needs = render::needs(props);
        let mut list = Vec::with_capacity(found.len());
        for (m, memberships) in &found {
            let raw = match needs {
                render::Needs::Row => None,
                render::Needs::Header => Some(ctx.core.view_message_head(&view, m).await?),
                render::Needs::Body => Some(ctx.core.view_message_bytes(&view, m).await?),
            };
            list.push(render::email(m, memberships, raw.as_deref(), props, &body));
        }
        let have: HashSet<String> = found.iter().map(|(m, _)| ids::email(m.id)).collect();
        let not_found = wanted.into_iter().filter(|w| !have.contains(w)).collect();
        Ok((list, not_found))
    }

    async fn changes(ctx: &Ctx<'_>, account: AccountId, since: &str, max: usize) -> Result<Changes, MethodError> {
        let since = parse_state(since)?;
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let page = ctx
            .core
            .kind_changes(ctx.who, account, CollectionKind::MailFolder, since, max)
            .await?
            .ok_or_else(MethodError::cannot_calculate_changes)?;
        let mut touched: Vec<i64> =
            page.rows.iter().filter(|r| r.object == Obj::Message).map(|r| r.object_id).collect();
        touched.sort_unstable();
        touched.dedup();
        let living = ctx.core.view_messages(&view, &touched).await?;
        let mut out = Changes { new_state: page.until.0.to_string(), has_more: page.has_more, ..Changes::default() };
        for id in touched {
            match living.iter().find(|(m, _)| m.id == id) {
                Some((m, _)) if m.created_modseq > since => out.created.push(ids::email(id)),
                Some(_) => out.updated.push(ids::email(id)),
                None => out.destroyed.push(ids::email(id)),
            }
        }
        Ok(out)
    }

    async fn create(ctx: &Ctx<'_>, account: AccountId, object: &Map<String, Value>) -> Result<Value, SetError> {
        compose::create(ctx, account, object).await
    }

    async fn update(
        ctx: &Ctx<'_>,
        account: AccountId,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Option<Value>, SetError> {
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let number = ids::parse_email(id).ok_or_else(SetError::not_found)?;
        let (message, memberships) =
            ctx.core.view_messages(&view, &[number]).await?.into_iter().next().ok_or_else(SetError::not_found)?;
        let mut keywords: BTreeMap<String, bool> = message.keywords.iter().map(|k| (k.to_owned(), true)).collect();
        let mut boxes: BTreeMap<CollectionId, bool> = memberships.iter().map(|m| (m.mailbox, true)).collect();
        for (path, v) in patch {
            if path == "keywords" {
                let Value::Object(o) = v else {
                    return Err(SetError::invalid_properties(&["keywords"], "keywords is an object"));
                };
                keywords.clear();
                for (k, t) in o {
                    if *t != Value::Bool(true) {
                        return Err(SetError::invalid_properties(&["keywords"], "keyword values must be true"));
                    }
                    keywords.insert(keyword(k)?, true);
                }
            } else if let Some(k) = path.strip_prefix("keywords/") {
                match v {
                    Value::Bool(true) => keywords.insert(keyword(k)?, true),
                    Value::Null | Value::Bool(false) => keywords.remove(&keyword(k)?),
                    _ => return Err(SetError::invalid_properties(&[path], "true or null")),
                };
            } else if path == "mailboxIds" {
                let Value::Object(o) = v else {
                    return Err(SetError::invalid_properties(&["mailboxIds"], "mailboxIds is an object"));
                };
                boxes.clear();
                for (b, t) in o {
                    if *t != Value::Bool(true) {
                        return Err(SetError::invalid_properties(&["mailboxIds"], "mailbox values must be true"));
                    }
                    boxes.insert(mailbox_id(ctx, &view, b)?, true);
                }
            } else if let Some(b) = path.strip_prefix("mailboxIds/") {
                let b = mailbox_id(ctx, &view, b)?;
                match v {
                    Value::Bool(true) => boxes.insert(b, true),
                    Value::Null | Value::Bool(false) => boxes.remove(&b),
                    _ => return Err(SetError::invalid_properties(&[path], "true or null")),
                };
            } else {
                let prop = path.split('/').next().unwrap_or(path);
                return Err(SetError::invalid_properties(&[prop], format!("{prop} cannot be changed")));
            }
        }
        if boxes.is_empty() {
            return Err(SetError::invalid_properties(&["mailboxIds"], "an email must be in at least one mailbox"));
        }
        // Keywords first (added, then removed), through a mailbox the message is in.
        let Some(first) = memberships.first() else { return Err(SetError::not_found()) };
        let old: HashSet<&str> = message.keywords.iter().collect();
        let added = Keywords::new(keywords.keys().filter(|k| !old.contains(k.as_str())));
        let removed = Keywords::new(old.iter().filter(|k| !keywords.contains_key(**k)));
        if added.iter().next().is_some() {
            ctx.core.change_keywords(ctx.who, first.mailbox, &[first.uid], KeywordOp::Add, &added).await?;
        }
        if removed.iter().next().is_some() {
            ctx.core.change_keywords(ctx.who, first.mailbox, &[first.uid], KeywordOp::Remove, &removed).await?;
        }
        // Then mailboxes: into the new ones first, so the message is never in none.
        for b in boxes.keys().filter(|b| !memberships.iter().any(|m| m.mailbox == **b)) {
            ctx.core.file_messages(ctx.who, first.mailbox, &[first.uid], *b, false).await?;
        }
        for m in memberships.iter().filter(|m| !boxes.contains_key(&m.mailbox)) {
            ctx.core.remove_messages(ctx.who, m.mailbox, &[m.uid]).await?;
        }
        Ok(None)
    }

    async fn destroy(ctx: &Ctx<'_>, account: AccountId, id: &str, _args: &Map<String, Value>) -> Result<(), SetError> {
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let number = ids::parse_email(id).ok_or_else(SetError::not_found)?;
        let (_, memberships) =
            ctx.core.view_messages(&view, &[number]).await?.into_iter().next().ok_or_else(SetError::not_found)?;
        for m in &memberships {
            if !view.rights(m.mailbox).is_some_and(|r| r.contains(kontor_domain::rights::Rights::DELETE)) {
                return Err(SetError::forbidden("the email is in a mailbox where you may not remove mail"));
            }
        }
        for m in &memberships {
            ctx.core.remove_messages(ctx.who, m.mailbox, &[m.uid]).await?;
        }
        Ok(())
    }

    async fn query(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        window: &Window,
    ) -> Result<QueryOut, MethodError> {
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let mut q = message_query(ctx, account, args)?;
        if window.anchor.is_some() {
            let all = ctx.core.view_query(&view, q).await?;
            let mut out = window.apply(all.ids.into_iter().map(|(id, _)| ids::email(id)).collect())?;
            out.can_calculate_changes = true;
            return Ok(out);
        }
        let mut position = window.position;
        if position < 0 {
            let mut count = q.clone();
            count.count = true;
            count.limit = Some(0);
            let total = ctx.core.view_query(&view, count).await?.total.unwrap_or(0) as i64;
            position = (total + position).max(0);
        }
        q.offset = usize::try_from(position).unwrap_or(usize::MAX);
        q.limit = window.limit;
        q.count = window.calculate_total;
        let answer = ctx.core.view_query(&view, q).await?;
        Ok(QueryOut {
            ids: answer.ids.into_iter().map(|(id, _)| ids::email(id)).collect(),
            position: usize::try_from(position).unwrap_or(0),
            total: answer.total,
            can_calculate_changes: true,
        })
    }

    /// RFC 8620 §5.6's simple way: every email that changed since the state is removed, and
    /// added again at its place if it matches now. Collapsed threads need the old
    /// representative of a thread, which the log does not keep, once an email was removed.
    async fn query_changes(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        since: &str,
    ) -> Result<(Vec<String>, Vec<(String, usize)>, Option<usize>), MethodError> {
        let since = parse_state(since)?;
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let max = usize::try_from(generic::uint(args, "maxChanges")?.unwrap_or(5000)).unwrap_or(5000);
        let page = ctx
            .core
            .kind_changes(ctx.who, account, CollectionKind::MailFolder, since, max)
            .await?
            .ok_or_else(MethodError::cannot_calculate_changes)?;
        if page.has_more {
            return Err(MethodError::new("tooManyChanges", "more changes than maxChanges"));
        }
        let mut changed: Vec<i64> =
            page.rows.iter().filter(|r| r.object == Obj::Message).map(|r| r.object_id).collect();
        changed.sort_unstable();
        changed.dedup();
        let q = message_query(ctx, account, args)?;
        let collapse = q.collapse_threads;
        let all = ctx.core.view_query(&view, q).await?;
        let mut removed: HashSet<i64> = changed.iter().copied().collect();
        if collapse {
            let living = ctx.core.view_messages(&view, &changed).await?;
            if living.len() < changed.len() {
                return Err(MethodError::cannot_calculate_changes());
            }
            let threads: Vec<i64> = living.iter().map(|(m, _)| m.thread).collect();
            removed.extend(ctx.core.view_threads(&view, &threads).await?.into_iter().map(|(_, m)| m));
        }
        let added: Vec<(String, usize)> = all
            .ids
            .iter()
            .enumerate()
            .filter(|(_, (id, _))| removed.contains(id))
            .map(|(at, (id, _))| (ids::email(*id), at))
            .collect();
        let total = generic::boolean(args, "calculateTotal")?.then_some(all.ids.len());
        let mut removed: Vec<i64> = removed.into_iter().collect();
        removed.sort_unstable();
        Ok((removed.into_iter().map(ids::email).collect(), added, total))
    }
}

/// Whether `k` may be a keyword (RFC 8621 §4.1.1: 1–255 printable ASCII, none of `( ) { ] % * " \`).
pub(crate) fn is_keyword(k: &str) -> bool {
    !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..=0x7e).contains(&b) && !b"(){]%*\"\\".contains(&b))
}

fn keyword(k: &str) -> Result<String, SetError> {
    if !is_keyword(k) {
        return Err(SetError::invalid_properties(&["keywords"], format!("{k:?} is not a keyword")));
    }
    if k.eq_ignore_ascii_case("$recent") {
        return Err(SetError::invalid_properties(&["keywords"], "$recent cannot be set"));
    }
    Ok(k.to_ascii_lowercase())
}

fn mailbox_id(ctx: &Ctx<'_>, view: &kontor_domain::MailView, s: &str) -> Result<CollectionId, SetError> {
    ctx.resolve(s)
        .and_then(ids::parse_mailbox)
        .filter(|b| view.mailbox(*b).is_some())
        .ok_or_else(|| SetError::invalid_properties(&["mailboxIds"], format!("no mailbox {s}")))
}
