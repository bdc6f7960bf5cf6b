//! Dead properties (WebDAV PROPPATCH) of collections and items.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto, small_integer, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // `object_type` 1 = collection, 2 = item (as in `changes`); rows are removed with their
        // object by the store, and with the account by the foreign key.
        m.create_table(
            Table::create()
                .table("properties")
                .col(big_pk_auto("id"))
                .col(big_integer("account_id"))
                .col(small_integer("object_type"))
                .col(big_integer("object_id"))
                .col(text("namespace"))
                .col(text("name"))
                .col(text("value"))
                .foreign_key(
                    ForeignKey::create()
                        .from("properties", "account_id")
                        .to("principals", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("properties_key")
                .table("properties")
                .col("object_type")
                .col("object_id")
                .col("namespace")
                .col("name")
                .unique()
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("properties").take()).await
    }
}
