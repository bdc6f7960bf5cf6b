//! The UID of calendar objects and vCards, unique per collection (CalDAV `no-uid-conflict`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("items").add_column(text_null("uid")).take()).await?;
        // NULLs are distinct in unique indexes on both databases: files have no UID.
        m.create_index(Index::create().name("items_uid").table("items").col("collection_id").col("uid").unique().take())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("items_uid").table("items").to_owned()).await?;
        m.alter_table(Table::alter().table("items").drop_column("uid").take()).await
    }
}
