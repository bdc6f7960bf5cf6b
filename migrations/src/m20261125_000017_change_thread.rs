//! The thread of a message in its change-log rows, so that JMAP's Thread/changes can name the
//! thread a removed message was in (the message row is gone by then). Rows of messages still
//! stored get theirs here; older tombstones stay without one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer_null;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("changes").add_column(big_integer_null("thread_id")).take()).await?;
        // Object type 3: a message's place in a mailbox.
        m.get_connection()
            .execute_unprepared(
                "UPDATE changes SET thread_id = (SELECT m.thread_id FROM messages m WHERE m.id = changes.object_id) \
                 WHERE object_type = 3",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("changes").drop_column("thread_id").take()).await
    }
}
