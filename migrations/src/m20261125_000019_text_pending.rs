//! Mail text waiting for the SQLite full-text index. A message's text is written here in the
//! message's transaction and moved into the FTS5 table in batches by the server's indexer:
//! FTS5 writes a segment of its index at the end of every transaction, so indexing messages one
//! transaction each cost about 0.95 ms of CPU per message of the benchmark corpus, and in
//! batches of 50 about 0.56 ms, off the delivery's path. Searches read these rows as well, so
//! a message is found from the moment it is stored. The row goes with its message (foreign key
//! cascade). PostgreSQL indexes in the message's transaction (its GIN index batches itself)
//! and has no such table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DatabaseBackend::Sqlite {
            db.execute_unprepared(
                "CREATE TABLE message_text_pending (\
                 message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE, \
                 subject TEXT NOT NULL, from_addr TEXT NOT NULL, to_addr TEXT NOT NULL, cc_addr TEXT NOT NULL, \
                 bcc_addr TEXT NOT NULL, headers TEXT NOT NULL, body TEXT NOT NULL)",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DatabaseBackend::Sqlite {
            // What waited is indexed first, so nothing is lost going down.
            db.execute_unprepared(
                "INSERT INTO message_text (rowid, subject, from_addr, to_addr, cc_addr, bcc_addr, headers, body) \
                 SELECT message_id, subject, from_addr, to_addr, cc_addr, bcc_addr, headers, body \
                 FROM message_text_pending",
            )
            .await?;
            db.execute_unprepared("DROP TABLE message_text_pending").await?;
        }
        Ok(())
    }
}
