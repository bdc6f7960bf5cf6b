//! "Delete mail that POP3 downloaded after N days": when a message was first downloaded over
//! POP3, and each account's choice of N.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, integer_null};

use crate::helpers::fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("messages").add_column(big_integer_null("pop3_retrieved_at")).take())
            .await?;
        m.create_table(
            Table::create()
                .table("mail_settings")
                .col(big_integer("account_id").primary_key())
                .col(integer_null("pop3_keep_days"))
                .foreign_key(&mut fk("mail_settings", "account_id", "principals", ForeignKeyAction::Cascade))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("mail_settings").take()).await?;
        m.alter_table(Table::alter().table("messages").drop_column("pop3_retrieved_at").take()).await
    }
}
