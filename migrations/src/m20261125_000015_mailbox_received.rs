//! A message's arrival time beside its place in each mailbox, so that a mailbox's messages in
//! arrival order (JMAP's Email/query `inMailbox` sorted by `receivedAt`, the webmail's list) are
//! one index range: `(mailbox_id, received_at, message_id)` gives the order, the window and the
//! ids without reading the messages. A message's arrival time never changes, so the copy never
//! goes stale; existing rows get theirs from the messages.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table("mailbox_messages").add_column(big_integer("received_at").default(0)).take(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE mailbox_messages SET received_at = \
                 (SELECT m.received_at FROM messages m WHERE m.id = mailbox_messages.message_id)",
            )
            .await?;
        m.create_index(index(
            "mailbox_messages",
            "mailbox_messages_received",
            &["mailbox_id", "received_at", "message_id"],
            false,
        ))
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("mailbox_messages_received").table("mailbox_messages").to_owned()).await?;
        m.alter_table(Table::alter().table("mailbox_messages").drop_column("received_at").take()).await
    }
}
