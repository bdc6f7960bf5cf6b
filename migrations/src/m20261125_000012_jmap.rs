//! JMAP: indexes its reads need (the newest log row per kind for states, messages by arrival
//! for Email/query, by blob for downloads) and uploaded blobs waiting to be used.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto, text};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index("changes", "changes_kind", &["account_id", "kind", "modseq"], false)).await?;
        m.create_index(index("messages", "messages_received", &["account_id", "received_at"], false)).await?;
        m.create_index(index("messages", "messages_blob", &["account_id", "blob_id"], false)).await?;
        // A blob a client uploaded (RFC 8620 §6.1): it holds a blob reference until it expires.
        m.create_table(
            Table::create()
                .table("uploads")
                .col(big_pk_auto("id"))
                .col(big_integer("account_id"))
                .col(text("blob_id"))
                .col(text("content_type"))
                .col(big_integer("size"))
                .col(big_integer("created_at"))
                .foreign_key(&mut fk("uploads", "account_id", "principals", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("uploads", "uploads_blob", &["account_id", "blob_id"], false)).await?;
        m.create_index(index("uploads", "uploads_created", &["created_at"], false)).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("uploads").take()).await?;
        for (t, i) in [("messages", "messages_blob"), ("messages", "messages_received"), ("changes", "changes_kind")] {
            m.drop_index(Index::drop().name(i).table(t).to_owned()).await?;
        }
        Ok(())
    }
}
