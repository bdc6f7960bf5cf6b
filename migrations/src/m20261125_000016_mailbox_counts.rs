//! Mailbox counts kept as they change instead of counted on every read (JMAP Mailbox/get's
//! totalEmails, unreadEmails, totalThreads, unreadThreads): per mailbox and thread how many of
//! the thread's messages are in the mailbox and how many of those are unread (no `$seen`, no
//! `$draft`), and the four sums in the mailbox's row. Every write that files, removes or
//! re-flags a message changes them in its own transaction. Existing mail is counted here once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::helpers::fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COUNTERS: [&str; 4] = ["total_emails", "unread_emails", "total_threads", "unread_threads"];

const BACKFILL: &[&str] = &[
    "INSERT INTO mailbox_threads (mailbox_id, thread_id, emails, unread) \
     SELECT mm.mailbox_id, m.thread_id, count(*), \
     sum(CASE WHEN (' ' || m.keywords || ' ') NOT LIKE '% $seen %' \
     AND (' ' || m.keywords || ' ') NOT LIKE '% $draft %' THEN 1 ELSE 0 END) \
     FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id GROUP BY mm.mailbox_id, m.thread_id",
    "UPDATE mailboxes SET \
     total_emails = COALESCE((SELECT sum(t.emails) FROM mailbox_threads t \
     WHERE t.mailbox_id = mailboxes.collection_id), 0), \
     unread_emails = COALESCE((SELECT sum(t.unread) FROM mailbox_threads t \
     WHERE t.mailbox_id = mailboxes.collection_id), 0), \
     total_threads = (SELECT count(*) FROM mailbox_threads t WHERE t.mailbox_id = mailboxes.collection_id), \
     unread_threads = (SELECT count(*) FROM mailbox_threads t \
     WHERE t.mailbox_id = mailboxes.collection_id AND t.unread > 0)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for c in COUNTERS {
            // One column per ALTER (SQLite).
            m.alter_table(Table::alter().table("mailboxes").add_column(big_integer(c).default(0)).take()).await?;
        }
        m.create_table(
            Table::create()
                .table("mailbox_threads")
                .col(big_integer("mailbox_id"))
                .col(big_integer("thread_id"))
                .col(big_integer("emails"))
                .col(big_integer("unread"))
                .primary_key(Index::create().col("mailbox_id").col("thread_id"))
                .foreign_key(&mut fk("mailbox_threads", "mailbox_id", "collections", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        let db = m.get_connection();
        for sql in BACKFILL {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("mailbox_threads").take()).await?;
        for c in COUNTERS.iter().rev() {
            m.alter_table(Table::alter().table("mailboxes").drop_column(*c).take()).await?;
        }
        Ok(())
    }
}
