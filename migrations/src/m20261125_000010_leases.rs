//! Named leases shared by every node on the database (e.g. a POP3 maildrop's exclusive lock):
//! who holds one and until when; an expired lease can be taken by anyone.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("leases")
                .col(text("name").primary_key())
                .col(text("holder"))
                .col(big_integer("expires_at"))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("leases").take()).await
    }
}
