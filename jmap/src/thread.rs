//! Thread (RFC 8621 §3): the messages of a conversation, oldest first.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use kontor_domain::changes::ObjectType as Obj;
use kontor_domain::ids::AccountId;
use kontor_domain::model::CollectionKind;
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::error::MethodError;
use crate::generic::{Changes, ObjectType};
use crate::ids;
use crate::mailbox::{mail_state, parse_state};

pub struct Thread;

#[async_trait]
impl ObjectType for Thread {
    const NAME: &'static str = "Thread";
    const PROPERTIES: &'static [&'static str] = &["id", "emailIds"];

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        mail_state(ctx, account).await
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        ids: Option<Vec<String>>,
        _props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        let Some(wanted) = ids else {
            return Err(MethodError::request_too_large("ask for threads by id"));
        };
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let threads: Vec<i64> = wanted.iter().filter_map(|t| ids::parse_thread(t)).collect();
        let members = ctx.core.view_threads(&view, &threads).await?;
        let (mut list, mut not_found) = (Vec::new(), Vec::new());
        for id in wanted {
            let emails: Vec<String> = match ids::parse_thread(&id) {
                Some(t) => members.iter().filter(|(th, _)| *th == t).map(|(_, m)| ids::email(*m)).collect(),
                None => Vec::new(),
            };
            if emails.is_empty() {
                not_found.push(id);
            } else {
                list.push(json!({ "id": id, "emailIds": emails }));
            }
        }
        Ok((list, not_found))
    }

    /// The threads of the messages that changed (a thread is named by its first message).
    async fn changes(ctx: &Ctx<'_>, account: AccountId, since: &str, max: usize) -> Result<Changes, MethodError> {
        let since = parse_state(since)?;
        let view = ctx.core.mail_view(ctx.who, account).await?;
        let page = ctx
            .core
            .kind_changes(ctx.who, account, CollectionKind::MailFolder, since, max)
            .await?
            .ok_or_else(MethodError::cannot_calculate_changes)?;
        let touched: BTreeSet<i64> =
            page.rows.iter().filter(|r| r.object == Obj::Message).map(|r| r.object_id).collect();
        // The thread each message was in, as the log says (a removed message's is only there).
        let logged: HashMap<i64, i64> = page
            .rows
            .iter()
            .filter(|r| r.object == Obj::Message)
            .filter_map(|r| r.thread.map(|t| (r.object_id, t)))
            .collect();
        let ids_now: Vec<i64> = touched.iter().copied().collect();
        let living = ctx.core.view_messages(&view, &ids_now).await?;
        let mut out = Changes { new_state: page.until.0.to_string(), has_more: page.has_more, ..Changes::default() };
        let mut threads: BTreeSet<i64> = BTreeSet::new();
        for (m, _) in &living {
            threads.insert(m.thread);
        }
        // A removed message's thread is in its log rows; rows logged before threads were
        // recorded name none, and then the thread the message began, if it began one.
        for id in touched.iter().filter(|id| !living.iter().any(|(m, _)| m.id == **id)) {
            threads.insert(logged.get(id).copied().unwrap_or(*id));
        }
        let current = ctx.core.view_threads(&view, &threads.iter().copied().collect::<Vec<_>>()).await?;
        for t in threads {
            let members: Vec<i64> = current.iter().filter(|(th, _)| *th == t).map(|(_, m)| *m).collect();
            if members.is_empty() {
                out.destroyed.push(ids::thread(t));
            } else if living.iter().any(|(m, _)| m.id == t && m.created_modseq > since) {
                out.created.push(ids::thread(t));
            } else {
                out.updated.push(ids::thread(t));
            }
        }
        Ok(out)
    }
}
