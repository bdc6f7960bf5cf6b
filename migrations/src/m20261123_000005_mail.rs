//! The mail store: mailbox state beside mail-folder collections, messages (parsed once on
//! delivery, bytes in the blob store) and their membership in mailboxes with per-mailbox UIDs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, big_pk_auto, boolean, text, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

use crate::helpers::{fk, index};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One row per mail-folder collection: its special use, UIDVALIDITY and next UID.
        m.create_table(
            Table::create()
                .table("mailboxes")
                .col(big_integer("collection_id").primary_key())
                .col(big_integer("account_id"))
                .col(text_null("role"))
                .col(big_integer("uidvalidity"))
                .col(big_integer("uidnext"))
                .col(boolean("subscribed"))
                .foreign_key(&mut fk("mailboxes", "collection_id", "collections", ForeignKeyAction::Cascade))
                .foreign_key(&mut fk("mailboxes", "account_id", "principals", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        // NULL roles are distinct: one mailbox per role, any number without.
        m.create_index(index("mailboxes", "mailboxes_role", &["account_id", "role"], true)).await?;

        m.create_table(
            Table::create()
                .table("messages")
                .col(big_pk_auto("id"))
                .col(big_integer("account_id"))
                .col(text("blob_id"))
                .col(big_integer("size"))
                .col(big_integer("received_at"))
                .col(big_integer_null("sent_at"))
                .col(text_null("message_id"))
                .col(text_null("in_reply_to"))
                .col(text_null("refs"))
                .col(text("subject"))
                .col(text("base_subject"))
                .col(text("from_addr"))
                .col(text("to_addr"))
                .col(text("cc_addr"))
                .col(text("preview"))
                .col(text("structure"))
                .col(boolean("has_attachment"))
                .col(text("keywords"))
                .col(big_integer("thread_id"))
                .col(big_integer("modseq"))
                .col(big_integer("created_modseq"))
                .foreign_key(&mut fk("messages", "account_id", "principals", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("messages", "messages_message_id", &["account_id", "message_id"], false)).await?;
        m.create_index(index("messages", "messages_base_subject", &["account_id", "base_subject"], false)).await?;
        m.create_index(index("messages", "messages_thread", &["account_id", "thread_id"], false)).await?;

        m.create_table(
            Table::create()
                .table("mailbox_messages")
                .col(big_integer("mailbox_id"))
                .col(big_integer("uid"))
                .col(big_integer("message_id"))
                .col(big_integer("modseq"))
                .primary_key(Index::create().col("mailbox_id").col("uid"))
                .foreign_key(&mut fk("mailbox_messages", "mailbox_id", "collections", ForeignKeyAction::Cascade))
                .foreign_key(&mut fk("mailbox_messages", "message_id", "messages", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("mailbox_messages", "mailbox_messages_message", &["message_id", "mailbox_id"], true))
            .await?;
        m.create_index(index("mailbox_messages", "mailbox_messages_modseq", &["mailbox_id", "modseq"], false)).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["mailbox_messages", "messages", "mailboxes"] {
            m.drop_table(Table::drop().table(t).take()).await?;
        }
        Ok(())
    }
}
