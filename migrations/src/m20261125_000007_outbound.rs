//! Outbound mail: the durable queue of messages for other servers (one row per recipient,
//! retried with backoff, bounced after the retry window) and each domain's DKIM signing key.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, big_pk_auto, blob, integer, text, text_null};

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("outbound_queue")
                .col(big_pk_auto("id"))
                // The sending account, told of failures; NULL once the account is gone (the
                // mail was accepted, so it still goes out).
                .col(big_integer_null("account_id"))
                .col(text("blob_id"))
                .col(big_integer("size"))
                // Envelope sender; empty for bounces (the null reverse-path).
                .col(text("mail_from"))
                .col(text("rcpt"))
                .col(text("rcpt_domain"))
                .col(big_integer("created_at"))
                .col(big_integer("next_attempt_at"))
                .col(integer("attempts"))
                .col(text_null("last_error"))
                // A node working on the row holds it until then, under this token (its writes
                // to the row check it, so a node whose hold ran out changes nothing).
                .col(big_integer("claimed_until"))
                .col(text_null("claim"))
                .foreign_key(&mut fk("outbound_queue", "account_id", "principals", ForeignKeyAction::SetNull))
                .take(),
        )
        .await?;
        m.create_index(index("outbound_queue", "outbound_queue_due", &["next_attempt_at"], false)).await?;

        m.create_table(
            Table::create()
                .table("dkim_keys")
                .col(big_integer("domain_id").primary_key())
                .col(text("selector"))
                .col(text("algorithm"))
                .col(blob("private_key"))
                .col(blob("public_key"))
                .col(big_integer("created_at"))
                .foreign_key(&mut fk("dkim_keys", "domain_id", "domains", ForeignKeyAction::Cascade))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("dkim_keys").take()).await?;
        m.drop_table(Table::drop().table("outbound_queue").take()).await
    }
}
