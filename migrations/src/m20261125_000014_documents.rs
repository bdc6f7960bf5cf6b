//! Small per-account documents the domain and the protocols keep as JSON: the vacation
//! response and whom it answered, JMAP's EmailSubmission records and push subscriptions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto, text};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("documents")
                .col(big_pk_auto("id"))
                .col(big_integer("account_id"))
                .col(text("kind"))
                .col(text("data"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .foreign_key(&mut fk("documents", "account_id", "principals", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("documents", "documents_kind", &["account_id", "kind", "id"], false)).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("documents").take()).await
    }
}
