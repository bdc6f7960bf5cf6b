//! The time a calendar object may touch (UTC seconds, NULL = unbounded), so calendar-query and
//! free-busy read only the items near the asked range. Rows written before this migration keep
//! NULLs, which every range selects: correct, only slower until the object is written again.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("items").add_column(big_integer_null("time_start")).take()).await?;
        m.alter_table(Table::alter().table("items").add_column(big_integer_null("time_end")).take()).await?;
        m.create_index(Index::create().name("items_time").table("items").col("collection_id").col("time_start").take())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("items_time").table("items").to_owned()).await?;
        m.alter_table(Table::alter().table("items").drop_column("time_end").take()).await?;
        m.alter_table(Table::alter().table("items").drop_column("time_start").take()).await
    }
}
