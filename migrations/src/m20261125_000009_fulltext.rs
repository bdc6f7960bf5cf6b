//! The full-text index of mail: each message's normalized text (subject, addresses, other
//! header fields, decoded body text; see `kontor_domain::mail::search`), written in the
//! message's transaction and gone with it.
//!
//! - SQLite: an FTS5 table with the trigram tokenizer (rowid = message id): the rows holding
//!   the trigrams of a needle of three or more characters are an index lookup, the text check
//!   of those rows is exact. `detail = none` keeps no positions: on 5,000 messages (44 MB of
//!   text) its index took 6 MB where positions took 107 MB, and a rare word is found as fast;
//!   only very common words get slower (about 40 ms instead of 5 ms, the text check of most
//!   rows). A trigger removes the row with its message (also when an account's messages go by
//!   cascade).
//! - PostgreSQL: a table with the text and a word vector (`tsvector`, the index's own words),
//!   GIN-indexed; with the pg_trgm extension (trusted since PostgreSQL 13, so a database owner
//!   may create it), a trigram GIN index makes `LIKE '%…%'` an index lookup too. Without it,
//!   searches still answer, by the word index where the needle has whole words, else by
//!   reading the account's rows.
//!
//! Messages stored before this migration are listed in `message_text_backlog`; the server
//! indexes them in the background at start (and `kontor mailbox reindex` does it at once).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::helpers::fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE message_text USING fts5(subject, from_addr, to_addr, cc_addr, bcc_addr, headers, body, \
     tokenize = 'trigram case_sensitive 1', detail = none)",
    "CREATE TRIGGER message_text_gone AFTER DELETE ON messages BEGIN \
     DELETE FROM message_text WHERE rowid = old.id; END",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE TABLE message_text (\
     message_id BIGINT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE, \
     subject TEXT NOT NULL, from_addr TEXT NOT NULL, to_addr TEXT NOT NULL, cc_addr TEXT NOT NULL, \
     bcc_addr TEXT NOT NULL, headers TEXT NOT NULL, body TEXT NOT NULL, words TSVECTOR NOT NULL)",
    "CREATE INDEX message_text_words ON message_text USING gin (words)",
    // Each in a block of its own: a failure (no extension available, no right to create it)
    // is rolled back to the block and the migration goes on.
    "DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm; \
     EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'pg_trgm not available: %', SQLERRM; END $$",
    // One index per column: the planner prices a scan of one seven-column GIN index above
    // reading the table (whose TOASTed text it does not count) and then reads 44 MB for a
    // word in 37 of 5,000 messages (240 ms); with one per column it takes the index (8 ms).
    "DO $$ DECLARE c TEXT; BEGIN IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN \
     FOREACH c IN ARRAY ARRAY['subject', 'from_addr', 'to_addr', 'cc_addr', 'bcc_addr', 'headers', 'body'] LOOP \
     EXECUTE format('CREATE INDEX message_text_trgm_%s ON message_text USING gin (%I gin_trgm_ops)', c, c); \
     END LOOP; END IF; EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'no trigram index: %', SQLERRM; END $$",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let statements = match db.get_database_backend() {
            DatabaseBackend::Sqlite => SQLITE_UP,
            _ => POSTGRES_UP,
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        m.create_table(
            Table::create()
                .table("message_text_backlog")
                .col(big_integer("message_id").primary_key())
                .foreign_key(&mut fk("message_text_backlog", "message_id", "messages", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        db.execute_unprepared("INSERT INTO message_text_backlog (message_id) SELECT id FROM messages").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("message_text_backlog").take()).await?;
        let db = m.get_connection();
        if db.get_database_backend() == DatabaseBackend::Sqlite {
            db.execute_unprepared("DROP TRIGGER IF EXISTS message_text_gone").await?;
        }
        // The pg_trgm extension stays: other schemas may use it.
        db.execute_unprepared("DROP TABLE IF EXISTS message_text").await?;
        Ok(())
    }
}
