//! \Seen kept per user on shared mail folders: a colleague's own seen state of a message of
//! someone else's account (the owner's stays in the message's keywords). `modseq` is the
//! owning account's change-log position of the colleague's last change, so CONDSTORE clients
//! see their own change as newer than anything they fetched before.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("message_seen")
                .col(big_integer("message_id"))
                .col(big_integer("principal_id"))
                .col(boolean("seen"))
                .col(big_integer("modseq"))
                .primary_key(Index::create().col("message_id").col("principal_id"))
                .foreign_key(&mut fk("message_seen", "message_id", "messages", ForeignKeyAction::Cascade))
                .foreign_key(&mut fk("message_seen", "principal_id", "principals", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("message_seen", "message_seen_principal", &["principal_id", "message_id"], true)).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("message_seen").take()).await
    }
}
