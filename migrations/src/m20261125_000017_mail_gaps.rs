//! Mail gaps of issue 4: a colleague's own subscription state on mailboxes shared with it
//! (IMAP SUBSCRIBE/UNSUBSCRIBE/LSUB on `Shared/<owner>/…`: shared mailboxes count as
//! subscribed, a row says this principal unsubscribed from this mailbox).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer;

use crate::helpers::fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("shared_unsubscribed")
                .col(big_integer("principal_id"))
                .col(big_integer("collection_id"))
                .primary_key(Index::create().col("principal_id").col("collection_id"))
                .foreign_key(&mut fk("shared_unsubscribed", "principal_id", "principals", ForeignKeyAction::Cascade))
                .foreign_key(&mut fk("shared_unsubscribed", "collection_id", "collections", ForeignKeyAction::Cascade))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("shared_unsubscribed").take()).await
    }
}
