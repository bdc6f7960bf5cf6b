//! Mail gaps of issue 4: a colleague's own subscription state on mailboxes shared with it
//! (IMAP SUBSCRIBE/UNSUBSCRIBE/LSUB on `Shared/<owner>/…`: shared mailboxes count as
//! subscribed, a row says this principal unsubscribed from this mailbox), and the DSN requests
//! of RFC 3461 kept with each outbound queue entry (NOTIFY as bits, ORCPT, RET=FULL, ENVID).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean_null, small_integer_null, text_null};

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
        .await?;
        // One column per ALTER (SQLite).
        for col in
            [small_integer_null("dsn_notify"), text_null("dsn_orcpt"), boolean_null("dsn_full"), text_null("dsn_envid")]
        {
            m.alter_table(Table::alter().table("outbound_queue").add_column(col).take()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in ["dsn_envid", "dsn_full", "dsn_orcpt", "dsn_notify"] {
            m.alter_table(Table::alter().table("outbound_queue").drop_column(col).take()).await?;
        }
        m.drop_table(Table::drop().table("shared_unsubscribed").take()).await
    }
}
