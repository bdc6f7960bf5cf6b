//! The full-text index of mail (migration 9): one row of normalized text per message, written
//! in the message's transaction (SQLite: removed by a trigger with the message; PostgreSQL: by
//! the foreign key's cascade).
//!
//! On SQLite a message's text is first written to `message_text_pending` (migration 19) in
//! the message's transaction, and [`SqlStore::index_pending_text_of`] moves it into the FTS5
//! table in batches (the server's indexer, a moment after deliveries): FTS5 writes a segment
//! per transaction, so one message per transaction costs it about twice the CPU, and that on
//! the delivery's path. Searches read the waiting rows too.
//!
//! Conditions are substrings of the normalized text ([`kontor_domain::mail::search`]), and
//! both stores answer them exactly, using the index where it can narrow the rows:
//! - SQLite: FTS5 with the trigram tokenizer, keeping only which rows hold a trigram (`detail =
//!   none`: the index is a twentieth of one with positions, see the migration). The rows holding
//!   all trigrams of the needles (those of three characters or more) are the candidates, which
//!   `instr` on the text then confirms; without such a needle, `instr` reads the account's rows.
//! - PostgreSQL: `LIKE '%needle%'` on the column, which a pg_trgm GIN index answers where the
//!   extension is installed; the word vector narrows the rows by the needle's whole words (all
//!   but a first word that may start inside a word of the text), so even without pg_trgm a
//!   needle with a space or punctuation in it is an index lookup.

use kontor_domain::error::{Error, Result};
use kontor_domain::ids::{AccountId, BlobId, CollectionId};
use kontor_domain::mail::search::{SearchText, TextCondition, TextField, TextQuery, header_matches, words};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

use super::statements::{Batch, MessageRef, Sql};
use super::{SqlStore, db_err};

/// Words longer than this are kept in the word vector by their first this many characters.
const MAX_WORD_CHARS: usize = 64;
/// At most this many trigrams of one needle are looked up (spread over it); the text check
/// of the candidates does the rest.
const MAX_TRIGRAMS: usize = 16;

/// The columns a field looks in.
fn columns(f: &TextField) -> &'static [&'static str] {
    match f {
        TextField::Text => &["subject", "from_addr", "to_addr", "cc_addr", "bcc_addr", "headers", "body"],
        TextField::Body => &["body"],
        TextField::Subject => &["subject"],
        TextField::From => &["from_addr"],
        TextField::To => &["to_addr"],
        TextField::Cc => &["cc_addr"],
        TextField::Bcc => &["bcc_addr"],
        TextField::Header(_) => &["headers"],
    }
}

/// The word vector's words of a message: every word once, long ones cut.
fn word_list(t: &SearchText) -> String {
    let mut all: Vec<&str> = [&t.subject, &t.from, &t.to, &t.cc, &t.bcc, &t.headers, &t.body]
        .into_iter()
        .flat_map(|s| words(s))
        .map(cut_word)
        .collect();
    all.sort_unstable();
    all.dedup();
    all.join(" ")
}

fn cut_word(w: &str) -> &str {
    w.char_indices().nth(MAX_WORD_CHARS).map_or(w, |(at, _)| &w[..at])
}

/// The word-vector query a needle implies, if any: each of its words that must begin a word
/// of the text (all but the first, unless the needle begins with a non-word character) as a
/// prefix, or as a whole word where the needle goes on after it.
fn word_query(needle: &str) -> Option<String> {
    let ws: Vec<&str> = words(needle).collect();
    let starts_inside = needle.starts_with(char::is_alphanumeric);
    let ends_inside = needle.ends_with(char::is_alphanumeric);
    let mut terms = Vec::new();
    for (i, w) in ws.iter().enumerate() {
        if i == 0 && starts_inside {
            continue;
        }
        let cut = cut_word(w);
        let whole = (i + 1 < ws.len() || !ends_inside) && cut.len() == w.len();
        terms.push(if whole { format!("'{w}'") } else { format!("'{cut}':*") });
    }
    (!terms.is_empty()).then(|| terms.join(" & "))
}

/// `LIKE` pattern for a substring (backslash is PostgreSQL's default escape).
fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The FTS5 query for rows that hold the trigrams of the needles (each a string of one
/// trigram); none when no needle has three characters.
fn trigram_query(needles: &[&str]) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    for needle in needles {
        let chars: Vec<char> = needle.chars().collect();
        let mut all: Vec<String> = chars.windows(3).map(|w| w.iter().collect()).collect();
        all.sort_unstable();
        all.dedup();
        let step = all.len().div_ceil(MAX_TRIGRAMS).max(1);
        terms.extend(all.iter().step_by(step).map(|t| format!("\"{}\"", t.replace('"', "\"\""))));
    }
    terms.sort_unstable();
    terms.dedup();
    (!terms.is_empty()).then(|| terms.join(" AND "))
}

/// Writes a message's text into the index (as statements of the caller's batch); `replace`
/// first removes what it had.
pub(crate) fn push_put(batch: &mut Batch, message: MessageRef, t: &SearchText, replace: bool) {
    let fields = [&t.subject, &t.from, &t.to, &t.cc, &t.bcc, &t.headers, &t.body];
    if batch.backend() == DatabaseBackend::Sqlite {
        if replace {
            batch.add(|sql| {
                let id = message.sql(sql);
                sql.push(&format!("DELETE FROM message_text WHERE rowid = {id}"));
            });
        }
        // Waits for the indexer (see the module).
        batch.add(|sql| {
            sql.push(
                "INSERT OR REPLACE INTO message_text_pending \
                 (message_id, subject, from_addr, to_addr, cc_addr, bcc_addr, headers, body) VALUES (",
            );
            let mut ps = vec![message.sql(sql)];
            ps.extend(fields.iter().map(|f| sql.bind(f.as_str())));
            sql.push(&ps.join(", "));
            sql.push(")");
        });
    } else {
        batch.add(|sql| {
            sql.push("INSERT INTO message_text (message_id, subject, from_addr, to_addr, cc_addr, bcc_addr, headers, body, words) VALUES (");
            let mut ps = vec![message.sql(sql)];
            ps.extend(fields.iter().map(|f| sql.bind(f.as_str())));
            let w = sql.bind(word_list(t));
            sql.push(&ps.join(", "));
            sql.push(&format!(", array_to_tsvector(string_to_array({w}, ' ')))"));
            if replace {
                sql.push(
                    " ON CONFLICT (message_id) DO UPDATE SET subject = excluded.subject, from_addr = excluded.from_addr, \
                     to_addr = excluded.to_addr, cc_addr = excluded.cc_addr, bcc_addr = excluded.bcc_addr, \
                     headers = excluded.headers, body = excluded.body, words = excluded.words",
                );
            }
        });
    }
}

impl SqlStore {
    pub(super) async fn search_text_of(
        &self,
        account: AccountId,
        mailbox: Option<CollectionId>,
        query: &TextQuery,
    ) -> Result<Vec<i64>> {
        let sqlite = self.db.get_database_backend() == DatabaseBackend::Sqlite;
        let texts = query.all.iter().any(|c| !c.needle.is_empty() || matches!(c.field, TextField::Header(_)));
        let mut out = self.search_text_in(account, mailbox, query, TextSource::Indexed).await?;
        if sqlite && texts {
            // Text the indexer has not taken in yet (few rows: it does so a moment after).
            out.extend(self.search_text_in(account, mailbox, query, TextSource::Pending).await?);
            out.sort_unstable();
            out.dedup();
        }
        Ok(out)
    }

    async fn search_text_in(
        &self,
        account: AccountId,
        mailbox: Option<CollectionId>,
        query: &TextQuery,
        source: TextSource,
    ) -> Result<Vec<i64>> {
        let backend = self.db.get_database_backend();
        let sqlite = backend == DatabaseBackend::Sqlite;
        let headers: Vec<(&str, &str)> = query
            .all
            .iter()
            .filter_map(|c| match &c.field {
                TextField::Header(name) => Some((name.as_str(), c.needle.as_str())),
                _ => None,
            })
            .collect();
        let conds: Vec<&TextCondition> = query.all.iter().filter(|c| !c.needle.is_empty()).collect();

        let mut sql = Sql::new(backend);
        sql.push(if headers.is_empty() { "SELECT m.id" } else { "SELECT m.id, t.headers" });
        sql.push(" FROM messages m");
        if let Some(b) = mailbox {
            let p = sql.bind(b.0);
            sql.push(&format!(" JOIN mailbox_messages mm ON mm.message_id = m.id AND mm.mailbox_id = {p}"));
        }
        if !headers.is_empty() || !conds.is_empty() {
            sql.push(match source {
                TextSource::Pending => " JOIN message_text_pending t ON t.message_id = m.id",
                TextSource::Indexed if sqlite => " JOIN message_text t ON t.rowid = m.id",
                TextSource::Indexed => " JOIN message_text t ON t.message_id = m.id",
            });
        }
        let p = sql.bind(account.0);
        sql.push(&format!(" WHERE m.account_id = {p}"));
        if sqlite
            && source == TextSource::Indexed
            && let Some(q) = trigram_query(&conds.iter().map(|c| c.needle.as_str()).collect::<Vec<_>>())
        {
            let p = sql.bind(q);
            sql.push(&format!(" AND m.id IN (SELECT rowid FROM message_text WHERE message_text MATCH {p})"));
        }
        for c in &conds {
            let alts: Vec<String> = if sqlite {
                columns(&c.field)
                    .iter()
                    .map(|col| format!("instr(t.{col}, {}) > 0", sql.bind(c.needle.as_str())))
                    .collect()
            } else {
                let pattern = like_pattern(&c.needle);
                columns(&c.field).iter().map(|col| format!("t.{col} LIKE {}", sql.bind(pattern.as_str()))).collect()
            };
            sql.push(&format!(" AND ({})", alts.join(" OR ")));
        }
        if !sqlite {
            let terms: Vec<String> = conds.iter().filter_map(|c| word_query(&c.needle)).collect();
            if !terms.is_empty() {
                let p = sql.bind(terms.join(" & "));
                sql.push(&format!(" AND t.words @@ {p}::tsquery"));
            }
        }
        sql.push(" ORDER BY m.id");
        let rows = self.db.query_all_raw(sql.statement()).await.map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.try_get_by_index(0).map_err(db_err)?;
            if !headers.is_empty() {
                let text: String = r.try_get_by_index(1).map_err(db_err)?;
                if !headers.iter().all(|(name, needle)| header_matches(&text, name, needle)) {
                    continue;
                }
            }
            out.push(id);
        }
        Ok(out)
    }

    /// Moves the text of up to `limit` messages (the oldest) from `message_text_pending` into
    /// the FTS5 index in one transaction (SQLite); returns how many. PostgreSQL indexes as it
    /// writes: none.
    pub(super) async fn index_pending_text_of(&self, limit: usize) -> Result<usize> {
        if self.db.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(0);
        }
        let (_turn, txn) = self.write().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let top = Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT max(message_id), count(*) FROM \
             (SELECT message_id FROM message_text_pending ORDER BY message_id LIMIT ?)",
            [Value::from(limit)],
        );
        let row = txn.query_one_raw(top).await.map_err(db_err)?;
        let (top, n): (Option<i64>, i64) = match row {
            Some(r) => (r.try_get_by_index(0).map_err(db_err)?, r.try_get_by_index(1).map_err(db_err)?),
            None => (None, 0),
        };
        let Some(top) = top else { return Ok(0) };
        for sql in [
            "INSERT INTO message_text (rowid, subject, from_addr, to_addr, cc_addr, bcc_addr, headers, body) \
             SELECT message_id, subject, from_addr, to_addr, cc_addr, bcc_addr, headers, body \
             FROM message_text_pending WHERE message_id <= ? ORDER BY message_id",
            "DELETE FROM message_text_pending WHERE message_id <= ?",
        ] {
            let st = Statement::from_sql_and_values(DatabaseBackend::Sqlite, sql, [Value::from(top)]);
            txn.execute_raw(st).await.map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Resolves once text was written for the index since the last call returned (at once if
    /// it was before); never on PostgreSQL.
    pub(super) async fn text_written_of(&self) {
        if self.db.get_database_backend() == DatabaseBackend::Sqlite {
            self.text_waiting.notified().await;
        } else {
            std::future::pending::<()>().await;
        }
    }

    /// Tells the indexer that text is waiting (SQLite).
    pub(super) fn text_put(&self) {
        self.text_waiting.notify_one();
    }

    pub(super) async fn text_backlog_of(&self, limit: usize) -> Result<Vec<(i64, BlobId)>> {
        let backend = self.db.get_database_backend();
        let mut sql = Sql::new(backend);
        let p = sql.bind(i64::try_from(limit).unwrap_or(i64::MAX));
        sql.push(&format!(
            "SELECT b.message_id, m.blob_id FROM message_text_backlog b JOIN messages m ON m.id = b.message_id \
             ORDER BY b.message_id LIMIT {p}"
        ));
        let rows = self.db.query_all_raw(sql.statement()).await.map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.try_get_by_index(0).map_err(db_err)?;
            let blob: String = r.try_get_by_index(1).map_err(db_err)?;
            out.push((
                id,
                BlobId::parse(&blob).ok_or_else(|| Error::internal(format!("bad blob id in message {id}")))?,
            ));
        }
        Ok(out)
    }

    pub(super) async fn index_text_of(&self, message: i64, text: &SearchText) -> Result<()> {
        let (_turn, txn) = self.write().await?;
        let backend = txn.get_database_backend();
        let mut sql = Sql::new(backend);
        let p = sql.bind(message);
        // Locks the message against a concurrent deletion until the row is in.
        let lock = if backend == DatabaseBackend::Sqlite { "" } else { " FOR SHARE" };
        sql.push(&format!("SELECT id FROM messages WHERE id = {p}{lock}"));
        if txn.query_one_raw(sql.statement()).await.map_err(db_err)?.is_some() {
            let mut batch = Batch::new(backend);
            push_put(&mut batch, MessageRef::Id(message), text, true);
            batch.execute(&txn).await?;
        }
        let mut sql = Sql::new(backend);
        let p = sql.bind(message);
        sql.push(&format!("DELETE FROM message_text_backlog WHERE message_id = {p}"));
        txn.execute_raw(sql.statement()).await.map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        self.text_put();
        Ok(())
    }
}

/// Where a search reads the text: the index, or the rows waiting for it (SQLite).
#[derive(Clone, Copy, PartialEq, Eq)]
enum TextSource {
    Indexed,
    Pending,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_queries() {
        // A needle's first word may start inside a word of the text: no condition on it.
        assert_eq!(word_query("ello"), None);
        assert_eq!(word_query("ello wor"), Some("'wor':*".into()));
        assert_eq!(word_query("sounds good"), Some("'good':*".into()));
        assert_eq!(word_query("a good day"), Some("'good' & 'day':*".into()));
        assert_eq!(word_query("@elsewhere.org"), Some("'elsewhere' & 'org':*".into()));
        assert_eq!(word_query("re: "), None);
        assert_eq!(word_query(" re:"), Some("'re'".into()));
    }

    #[test]
    fn patterns_and_phrases() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(trigram_query(&["ab"]), None);
        assert_eq!(trigram_query(&["a\"bcb", "bcb"]).unwrap(), "\"\"\"bc\" AND \"a\"\"b\" AND \"bcb\"");
        let long = "abcdefghijklmnopqrstuvwxyz0123456789";
        let terms = trigram_query(&[long]).unwrap().matches(" AND ").count() + 1;
        assert!((8..=MAX_TRIGRAMS).contains(&terms), "{terms}");
    }
}
