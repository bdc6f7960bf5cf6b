//! Identity (RFC 8621 §6, read-only: the addresses the user may send from) and Quota
//! (RFC 9425: the account's storage use).

use async_trait::async_trait;
use kontor_domain::SendAs;
use kontor_domain::ids::AccountId;
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::error::MethodError;
use crate::generic::{ObjectType, QueryOut, Window};
use crate::ids;

pub struct Identity;

#[async_trait]
impl ObjectType for Identity {
    const NAME: &'static str = "Identity";
    const PROPERTIES: &'static [&'static str] =
        &["id", "name", "email", "replyTo", "bcc", "textSignature", "htmlSignature", "mayDelete"];

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        own(ctx, account)?;
        // Identities change with aliases and delegations, which the log does not carry: the
        // state is what the list holds.
        let list = ctx.core.identities(ctx.who).await?;
        let text: Vec<String> = list.iter().map(|(a, n, _)| format!("{a}|{}", n.as_deref().unwrap_or(""))).collect();
        Ok(crate::generic::state_of(&text.join("\n")))
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        ids: Option<Vec<String>>,
        props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        own(ctx, account)?;
        let all: Vec<(String, Value)> = ctx
            .core
            .identities(ctx.who)
            .await?
            .into_iter()
            .enumerate()
            .map(|(n, (address, name, how))| {
                let id = ids::identity(ctx.who.id, n);
                let name = name.unwrap_or_default();
                let mut o = Map::new();
                for p in props {
                    let v = match p.as_str() {
                        "id" => json!(id),
                        "name" => json!(name),
                        "email" => json!(address.to_string()),
                        "replyTo" | "bcc" => Value::Null,
                        "textSignature" | "htmlSignature" => json!(""),
                        "mayDelete" => json!(false),
                        _ => continue,
                    };
                    o.insert(p.clone(), v);
                }
                let _ = matches!(how, SendAs::Own);
                (id, Value::Object(o))
            })
            .collect();
        Ok(pick(all, ids))
    }
}

/// JMAP Calendars' ParticipantIdentity: the addresses the user takes part in events as (its
/// own address first, the default, then its aliases), read-only.
pub struct ParticipantIdentity;

#[async_trait]
impl ObjectType for ParticipantIdentity {
    const NAME: &'static str = "ParticipantIdentity";
    const PROPERTIES: &'static [&'static str] = &["id", "name", "calendarAddress", "isDefault"];

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        own(ctx, account)?;
        let list = ctx.core.identities(ctx.who).await?;
        let text: Vec<String> = list
            .iter()
            .filter(|(_, _, how)| matches!(how, SendAs::Own))
            .map(|(a, n, _)| format!("{a}|{}", n.as_deref().unwrap_or("")))
            .collect();
        Ok(crate::generic::state_of(&text.join("\n")))
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        ids: Option<Vec<String>>,
        props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        own(ctx, account)?;
        let mine = ctx.core.identities(ctx.who).await?.into_iter().filter(|(_, _, how)| matches!(how, SendAs::Own));
        let all: Vec<(String, Value)> = mine
            .enumerate()
            .map(|(n, (address, name, _))| {
                let id = ids::identity(ctx.who.id, n);
                let mut o = Map::new();
                for p in props {
                    let v = match p.as_str() {
                        "id" => json!(id),
                        "name" => json!(name.as_deref().unwrap_or_default()),
                        "calendarAddress" => json!(format!("mailto:{address}")),
                        "isDefault" => json!(n == 0),
                        _ => continue,
                    };
                    o.insert(p.clone(), v);
                }
                (id, Value::Object(o))
            })
            .collect();
        Ok(pick(all, ids))
    }
}

use crate::generic::own_account as own;

/// The objects asked for (all, with `None`) and the ids not found.
fn pick(all: Vec<(String, Value)>, ids: Option<Vec<String>>) -> (Vec<Value>, Vec<String>) {
    match ids {
        None => (all.into_iter().map(|(_, v)| v).collect(), Vec::new()),
        Some(wanted) => {
            let mut not_found = Vec::new();
            let mut list = Vec::new();
            for id in wanted {
                match all.iter().find(|(i, _)| *i == id) {
                    Some((_, v)) => list.push(v.clone()),
                    None => not_found.push(id),
                }
            }
            (list, not_found)
        }
    }
}

pub struct Quota;

#[async_trait]
impl ObjectType for Quota {
    const NAME: &'static str = "Quota";
    const PROPERTIES: &'static [&'static str] =
        &["id", "resourceType", "used", "hardLimit", "scope", "name", "types", "warnLimit", "softLimit", "description"];

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        own(ctx, account)?;
        let p = ctx.core.principal_by_address(&ctx.who.address.to_string()).await?;
        Ok(format!("{}-{}", p.quota.used_bytes, p.quota.limit_bytes.unwrap_or(0)))
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        ids: Option<Vec<String>>,
        props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        own(ctx, account)?;
        let p = ctx.core.principal_by_address(&ctx.who.address.to_string()).await?;
        let mut all = Vec::new();
        // An account without a limit has no quota to report.
        if let Some(limit) = p.quota.limit_bytes {
            let mut o = Map::new();
            for prop in props {
                let v = match prop.as_str() {
                    "id" => json!("storage"),
                    "resourceType" => json!("octets"),
                    "used" => json!(p.quota.used_bytes),
                    "hardLimit" => json!(limit),
                    "warnLimit" => json!(limit / 10 * 7),
                    "softLimit" => json!(limit / 10 * 9),
                    "scope" => json!("account"),
                    "name" => json!(format!("storage of {}", p.address)),
                    "description" => json!("mail, calendars, contacts and files together"),
                    "types" => json!(["Mail", "Calendar", "Contact"]),
                    _ => continue,
                };
                o.insert(prop.clone(), v);
            }
            all.push(("storage".to_owned(), Value::Object(o)));
        }
        Ok(pick(all, ids))
    }

    async fn query(
        ctx: &Ctx<'_>,
        account: AccountId,
        _args: &Map<String, Value>,
        window: &Window,
    ) -> Result<QueryOut, MethodError> {
        own(ctx, account)?;
        let p = ctx.core.principal_by_address(&ctx.who.address.to_string()).await?;
        window.apply(if p.quota.limit_bytes.is_some() { vec!["storage".into()] } else { Vec::new() })
    }
}
