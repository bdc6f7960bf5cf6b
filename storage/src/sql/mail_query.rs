//! Reading messages by id and by query (JMAP's Email/get and Email/query), mailbox counts,
//! threads, and the newest log row per kind (JMAP states).
//!
//! Queries are one SQL statement over `messages`: the condition tree becomes a WHERE clause
//! (full-text conditions are answered by the index first and come in as id lists), the sort
//! keys an ORDER BY with the id as the last key, so equal keys keep one stable order. Without
//! thread collapsing the window is the statement's LIMIT/OFFSET; with it, the ids of all
//! matches come back (two integers a row) and the first of each thread is kept here.

use std::collections::HashMap;

use kontor_domain::error::Result;
use kontor_domain::ids::{AccountId, CollectionId, Modseq};
use kontor_domain::mail::query::{Condition, MessageQuery, QueryAnswer, SortKey};
use kontor_domain::mail::search::TextQuery;
use kontor_domain::mail::{Membership, Message};
use kontor_domain::model::CollectionKind;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::mail::{to_membership, to_message};
use super::statements::Sql;
use super::{SqlStore, db_err};
use crate::entities::{mailbox, mailbox_message, message};

/// Ids per IN list (SQLite allows 32,766 parameters; these are written inline anyway).
const CHUNK: usize = 10_000;

/// `t.keywords` holds `word`: keywords are stored sorted, space-separated, lower case.
fn keyword_match(sql: &mut Sql, table: &str, word: &str) -> String {
    let escaped: String = word
        .to_ascii_lowercase()
        .chars()
        .flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] })
        .collect();
    let p = sql.bind(format!("% {escaped} %"));
    format!("(' ' || {table}.keywords || ' ') LIKE {p} ESCAPE '\\'")
}

fn id_list(ids: &[i64]) -> String {
    ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// The text conditions of the tree, in the order [`where_clause`] meets them.
fn text_queries<'a>(c: &'a Condition, out: &mut Vec<&'a TextQuery>) {
    match c {
        Condition::All(v) | Condition::Any(v) | Condition::None(v) => v.iter().for_each(|c| text_queries(c, out)),
        Condition::Text(q) => out.push(q),
        _ => {}
    }
}

/// The condition as SQL over `m` (a `messages` row); `hits` are the answers of the text
/// conditions, consumed in order. With a `driver`, the rows are that mailbox's messages, so
/// being in it holds for each of them.
fn where_clause(
    sql: &mut Sql,
    account: AccountId,
    driver: Option<CollectionId>,
    c: &Condition,
    hits: &mut std::vec::IntoIter<Vec<i64>>,
) -> String {
    let join = |sql: &mut Sql, v: &[Condition], op: &str, hits: &mut std::vec::IntoIter<Vec<i64>>| {
        let parts: Vec<String> = v.iter().map(|c| where_clause(sql, account, driver, c, hits)).collect();
        format!("({})", parts.join(op))
    };
    let thread_with = |sql: &mut Sql, word: &str, negate: bool| {
        let kw = keyword_match(sql, "t", word);
        let not = if negate { "NOT " } else { "" };
        format!("SELECT t.thread_id FROM messages t WHERE t.account_id = {} AND {not}{kw}", account.0)
    };
    match c {
        Condition::All(v) if v.is_empty() => "1=1".into(),
        Condition::Any(v) if v.is_empty() => "1=0".into(),
        Condition::None(v) if v.is_empty() => "1=1".into(),
        Condition::All(v) => join(sql, v, " AND ", hits),
        Condition::Any(v) => join(sql, v, " OR ", hits),
        Condition::None(v) => format!("NOT {}", join(sql, v, " OR ", hits)),
        Condition::InMailbox(b) if Some(*b) == driver => "1=1".into(),
        // A probe of the (message, mailbox) key per row: no list of the mailbox's ids is made.
        Condition::InMailbox(b) => {
            format!("EXISTS (SELECT 1 FROM mailbox_messages x WHERE x.message_id = m.id AND x.mailbox_id = {})", b.0)
        }
        Condition::InMailboxOtherThan(bs) => {
            let ids: Vec<i64> = bs.iter().map(|b| b.0).collect();
            let other =
                if ids.is_empty() { String::new() } else { format!(" AND x.mailbox_id NOT IN ({})", id_list(&ids)) };
            format!("EXISTS (SELECT 1 FROM mailbox_messages x WHERE x.message_id = m.id{other})")
        }
        Condition::Before(t) => format!("m.received_at < {}", t.0),
        Condition::After(t) => format!("m.received_at >= {}", t.0),
        Condition::MinSize(n) => format!("m.size >= {}", i64::try_from(*n).unwrap_or(i64::MAX)),
        Condition::MaxSize(n) => format!("m.size < {}", i64::try_from(*n).unwrap_or(i64::MAX)),
        Condition::HasKeyword(w) => keyword_match(sql, "m", w),
        Condition::SomeInThreadHaveKeyword(w) => format!("m.thread_id IN ({})", thread_with(sql, w, false)),
        Condition::NoneInThreadHaveKeyword(w) => format!("m.thread_id NOT IN ({})", thread_with(sql, w, false)),
        Condition::AllInThreadHaveKeyword(w) => format!("m.thread_id NOT IN ({})", thread_with(sql, w, true)),
        Condition::HasAttachment(b) => {
            let p = sql.bind(*b);
            format!("m.has_attachment = {p}")
        }
        Condition::Text(_) => match hits.next() {
            Some(ids) if !ids.is_empty() => format!("m.id IN ({})", id_list(&ids)),
            _ => "1=0".into(),
        },
        Condition::SeenBy(p) => {
            let yes = sql.bind(true);
            format!(
                "EXISTS (SELECT 1 FROM message_seen s WHERE s.message_id = m.id AND s.principal_id = {} AND s.seen = {yes})",
                p.0
            )
        }
        Condition::False => "1=0".into(),
    }
}

/// The ORDER BY terms; with a driving mailbox, arrival time and id come from its rows (then a
/// sort by arrival alone is the order of its index).
fn order_by(sql: &mut Sql, account: AccountId, q: &MessageQuery, driven: bool) -> String {
    let mut terms = Vec::new();
    let dir = |asc: bool| if asc { "ASC" } else { "DESC" };
    let (received, id) = if driven { ("mm.received_at", "mm.message_id") } else { ("m.received_at", "m.id") };
    for s in &q.sort {
        let expr = match &s.key {
            SortKey::ReceivedAt => received.to_owned(),
            SortKey::SentAt => "COALESCE(m.sent_at, m.received_at)".to_owned(),
            SortKey::Size => "m.size".to_owned(),
            SortKey::From => "lower(m.from_addr)".to_owned(),
            SortKey::To => "lower(m.to_addr)".to_owned(),
            SortKey::Subject => "m.base_subject".to_owned(),
            SortKey::HasKeyword(w) => format!("CASE WHEN {} THEN 1 ELSE 0 END", keyword_match(sql, "m", w)),
            SortKey::SomeInThreadHaveKeyword(w) | SortKey::AllInThreadHaveKeyword(w) => {
                let all = matches!(s.key, SortKey::AllInThreadHaveKeyword(_));
                let kw = keyword_match(sql, "t", w);
                let not = if all { "NOT " } else { "" };
                let (yes, no) = if all { (0, 1) } else { (1, 0) };
                format!(
                    "CASE WHEN m.thread_id IN (SELECT t.thread_id FROM messages t WHERE t.account_id = {} AND {not}{kw}) \
                     THEN {yes} ELSE {no} END",
                    account.0
                )
            }
        };
        terms.push(format!("{expr} {}", dir(s.ascending)));
    }
    let last = q.sort.first().is_some_and(|s| s.ascending);
    if q.sort.is_empty() {
        terms.push(format!("{received} DESC"));
    }
    terms.push(format!("{id} {}", dir(last)));
    terms.join(", ")
}

/// Whether a text condition must hold for every match (then its hits, few as a rule, are the
/// rows to start from).
fn text_required(c: &Condition) -> bool {
    match c {
        Condition::Text(_) => true,
        Condition::All(v) => v.iter().any(text_required),
        _ => false,
    }
}

/// Whether the condition says only "in `mailbox`".
fn only_in(c: &Condition, mailbox: CollectionId) -> bool {
    match c {
        Condition::InMailbox(b) => *b == mailbox,
        Condition::All(v) => v.iter().all(|c| only_in(c, mailbox)),
        _ => false,
    }
}

/// Where a query's rows come from.
#[derive(Clone, Copy)]
enum Plan {
    /// The account's messages (or the text hits among them).
    Messages,
    /// One mailbox's rows, joined to their messages; ordered by arrival, its index is the order.
    /// `only`: no other condition.
    Mailbox { mailbox: CollectionId, only: bool },
}

impl SqlStore {
    pub(super) async fn kind_modseq_of(&self, account: AccountId, kind: CollectionKind) -> Result<Option<Modseq>> {
        let mut sql = Sql::new(self.db.get_database_backend());
        let a = sql.bind(account.0);
        let k = sql.bind(kind.code());
        sql.push(&format!("SELECT max(modseq) FROM changes WHERE account_id = {a} AND kind = {k}"));
        let row = self.db.query_one_raw(sql.statement()).await.map_err(db_err)?;
        Ok(row.and_then(|r| r.try_get_by_index::<Option<i64>>(0).ok().flatten()).map(Modseq))
    }

    pub(super) async fn messages_by_id_of(
        &self,
        account: AccountId,
        ids: &[i64],
    ) -> Result<Vec<(Message, Vec<Membership>)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            // By primary key only, the account checked on the rows: with `account_id = ?` in the
            // WHERE clause SQLite (no statistics) walks the account's index instead of looking
            // up the ids, a scan of every message of the account (30 ms at 100,000 messages).
            let mut rows = message::Entity::find()
                .filter(message::Column::Id.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await
                .map_err(db_err)?;
            rows.retain(|m| m.account_id == account.0);
            let members = mailbox_message::Entity::find()
                .filter(mailbox_message::Column::MessageId.is_in(rows.iter().map(|m| m.id)))
                .order_by_asc(mailbox_message::Column::MailboxId)
                .all(&self.db)
                .await
                .map_err(db_err)?;
            let mut by_message: HashMap<i64, Vec<Membership>> = HashMap::new();
            for m in &members {
                by_message.entry(m.message_id).or_default().push(to_membership(m)?);
            }
            for r in rows {
                let ms = by_message.remove(&r.id).unwrap_or_default();
                out.push((to_message(r)?, ms));
            }
        }
        // In the order asked for.
        let at: HashMap<i64, usize> = ids.iter().enumerate().map(|(n, id)| (*id, n)).collect();
        out.sort_by_key(|(m, _)| at.get(&m.id).copied().unwrap_or(usize::MAX));
        Ok(out)
    }

    pub(super) async fn query_messages_of(&self, q: &MessageQuery) -> Result<QueryAnswer> {
        // Inside one mailbox and without a text condition every match must meet: start from the
        // mailbox's rows. The mailbox's row says whose it is (and, for "only in it", how many).
        let mut plan = Plan::Messages;
        let mut kept: Option<mailbox::Model> = None;
        if let Some(b) = q.filter.required_mailbox() {
            let Some(row) = mailbox::Entity::find_by_id(b.0)
                .one(&self.db)
                .await
                .map_err(db_err)?
                .filter(|row| row.account_id == q.account.0)
            else {
                return Ok(QueryAnswer { ids: Vec::new(), total: q.count.then_some(0) });
            };
            if !text_required(&q.filter) {
                plan = Plan::Mailbox { mailbox: b, only: only_in(&q.filter, b) };
            }
            kept = Some(row);
        }
        let mut texts = Vec::new();
        text_queries(&q.filter, &mut texts);
        let mut answers = Vec::with_capacity(texts.len());
        // Every match is in the required mailbox: hits elsewhere do not matter.
        let within = q.filter.required_mailbox();
        for t in texts {
            answers.push(self.search_text_of(q.account, within, t).await?);
        }
        let backend = self.db.get_database_backend();
        let by_arrival = q.sort.iter().all(|s| s.key == SortKey::ReceivedAt);
        let text = text_required(&q.filter);
        // `window`: (limit, offset) of the ordered rows; `None`: a count.
        let build = |select: &str, window: Option<(Option<usize>, usize)>| {
            let mut sql = Sql::new(backend);
            let mut hits = answers.clone().into_iter();
            let (driver, from) = match plan {
                // The text hits are the rows to read: `+` keeps SQLite (which has no statistics)
                // from walking the account's index in the sort order and testing every message
                // against the hit list instead.
                Plan::Messages if text => (None, format!("messages m WHERE +m.account_id = {}", q.account.0)),
                Plan::Messages => (None, format!("messages m WHERE m.account_id = {}", q.account.0)),
                Plan::Mailbox { mailbox: b, .. } => (
                    Some(b),
                    format!(
                        "mailbox_messages mm JOIN messages m ON m.id = mm.message_id WHERE mm.mailbox_id = {}",
                        b.0
                    ),
                ),
            };
            let cond = where_clause(&mut sql, q.account, driver, &q.filter, &mut hits);
            let Some((limit, offset)) = window else {
                sql.push(&format!("SELECT {select} FROM {from} AND {cond}"));
                return sql.statement();
            };
            let order = order_by(&mut sql, q.account, q, driver.is_some());
            let mut range = String::new();
            if let Some(limit) = limit {
                range.push_str(&format!(" LIMIT {limit}"));
            } else if offset > 0 {
                // SQLite needs a LIMIT before an OFFSET; PostgreSQL takes ALL.
                range.push_str(if backend == sea_orm::DatabaseBackend::Sqlite { " LIMIT -1" } else { " LIMIT ALL" });
            }
            if offset > 0 {
                range.push_str(&format!(" OFFSET {offset}"));
            }
            sql.push(&match plan {
                // The window out of the index alone (an OFFSET skips index entries, not
                // messages), then the messages of the window only. (No placeholders: the
                // order is by arrival and the condition is the mailbox alone.)
                Plan::Mailbox { mailbox: b, only: true } if by_arrival && limit.is_some() => format!(
                    "SELECT {select} FROM (SELECT mm.message_id, mm.received_at FROM mailbox_messages mm \
                     WHERE mm.mailbox_id = {} ORDER BY {order}{range}) mm JOIN messages m ON m.id = mm.message_id \
                     ORDER BY {order}",
                    b.0
                ),
                _ => format!("SELECT {select} FROM {from} AND {cond} ORDER BY {order}{range}"),
            });
            sql.statement()
        };
        let fetch = async |window| -> Result<Vec<(i64, i64)>> {
            let rows = self.db.query_all_raw(build("m.id, m.thread_id", Some(window))).await.map_err(db_err)?;
            let mut ids = Vec::with_capacity(rows.len());
            for r in rows {
                ids.push((
                    r.try_get_by_index::<i64>(0).map_err(db_err)?,
                    r.try_get_by_index::<i64>(1).map_err(db_err)?,
                ));
            }
            Ok(ids)
        };
        let only = matches!(plan, Plan::Mailbox { only: true, .. });
        let mut total = None;
        let mut ids;
        if q.collapse_threads {
            // The first message of each thread, in order. In arrival order the rows come in
            // growing chunks until the window is full (the count of a whole mailbox's threads is
            // kept); otherwise all matches are read.
            let end = q.limit.map(|l| q.offset.saturating_add(l));
            let chunked = by_arrival && !text && end.is_some() && (!q.count || only);
            let mut seen = std::collections::HashSet::new();
            let (mut read, mut chunk) = (0, 256);
            ids = Vec::new();
            loop {
                let window = if chunked { (Some(chunk), read) } else { (None, 0) };
                let rows = fetch(window).await?;
                let last = !chunked || rows.len() < chunk;
                read += rows.len();
                ids.extend(rows.into_iter().filter(|(_, t)| seen.insert(*t)));
                if last || end.is_some_and(|e| ids.len() >= e) {
                    break;
                }
                chunk *= 4;
            }
            if q.count {
                total = Some(match &kept {
                    Some(b) if chunked => usize::try_from(b.total_threads).unwrap_or(0),
                    _ => ids.len(),
                });
            }
            let end = end.map_or(ids.len(), |e| e.min(ids.len()));
            ids = ids.get(q.offset.min(end)..end).map(<[_]>::to_vec).unwrap_or_default();
        } else {
            ids = fetch((q.limit, q.offset)).await?;
            if q.count {
                let unlimited = q.offset == 0 && q.limit.is_none_or(|l| ids.len() < l);
                total = Some(match &kept {
                    _ if unlimited => ids.len(),
                    // All of the mailbox: its count as kept.
                    Some(b) if only => usize::try_from(b.total_emails).unwrap_or(0),
                    _ => {
                        let row = self.db.query_one_raw(build("count(*)", None)).await.map_err(db_err)?;
                        row.map(|r| r.try_get_by_index::<i64>(0)).transpose().map_err(db_err)?.unwrap_or(0) as usize
                    }
                });
            }
        }
        Ok(QueryAnswer { ids, total })
    }

    pub(super) async fn thread_members_of(&self, account: AccountId, threads: &[i64]) -> Result<Vec<(i64, i64)>> {
        let mut out = Vec::new();
        for chunk in threads.chunks(CHUNK) {
            let rows: Vec<(i64, i64)> = message::Entity::find()
                .select_only()
                .column(message::Column::ThreadId)
                .column(message::Column::Id)
                .filter(message::Column::AccountId.eq(account.0))
                .filter(message::Column::ThreadId.is_in(chunk.iter().copied()))
                .order_by_asc(message::Column::ThreadId)
                .order_by_asc(message::Column::ReceivedAt)
                .order_by_asc(message::Column::Id)
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(db_err)?;
            out.extend(rows);
        }
        Ok(out)
    }
}
