//! Accounts, collections, items, grants, blobs and the change log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, boolean, integer, small_integer, text, text_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

use crate::helpers::{fk, index};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict, SetNull};

        m.create_table(
            Table::create().table("kontor_secrets").col(text("name").primary_key()).col(text("value")).take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("domains")
                .col(big_pk_auto("id"))
                .col(text("name").unique_key())
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;

        // A principal and its account (one-to-one): identity, credentials, quota use, and the
        // account's change-log counter (`modseq`) with the oldest position still answerable.
        m.create_table(
            Table::create()
                .table("principals")
                .col(big_pk_auto("id"))
                .col(big_integer("domain_id"))
                .col(text("local_part"))
                .col(text("kind"))
                .col(text_null("display_name"))
                .col(text_null("password_hash"))
                .col(boolean("is_admin"))
                .col(big_integer("credential_version"))
                .col(big_integer_null("quota_limit"))
                .col(big_integer("used_bytes"))
                .col(small_integer("quota_level"))
                .col(big_integer("modseq"))
                .col(big_integer("oldest_modseq"))
                .col(big_integer("created_at"))
                .foreign_key(&mut fk("principals", "domain_id", "domains", Restrict))
                .take(),
        )
        .await?;
        m.create_index(index("principals", "principals_address", &["domain_id", "local_part"], true)).await?;

        m.create_table(
            Table::create()
                .table("group_members")
                .col(big_integer("group_id"))
                .col(big_integer("member_id"))
                .primary_key(Index::create().col("group_id").col("member_id"))
                .foreign_key(&mut fk("group_members", "group_id", "principals", Cascade))
                .foreign_key(&mut fk("group_members", "member_id", "principals", Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("group_members", "group_members_member", &["member_id"], false)).await?;

        m.create_table(
            Table::create()
                .table("aliases")
                .col(big_pk_auto("id"))
                .col(big_integer("domain_id"))
                .col(text("local_part"))
                .col(big_integer("target_id"))
                .col(big_integer("created_at"))
                .foreign_key(&mut fk("aliases", "domain_id", "domains", Restrict))
                .foreign_key(&mut fk("aliases", "target_id", "principals", Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("aliases", "aliases_address", &["domain_id", "local_part"], true)).await?;
        m.create_index(index("aliases", "aliases_target", &["target_id"], false)).await?;

        m.create_table(
            Table::create()
                .table("app_passwords")
                .col(big_pk_auto("id"))
                .col(big_integer("principal_id"))
                .col(text("label"))
                .col(text("secret_hash").unique_key())
                .col(big_integer("created_at"))
                .col(big_integer_null("last_used_at"))
                .foreign_key(&mut fk("app_passwords", "principal_id", "principals", Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("app_passwords", "app_passwords_label", &["principal_id", "label"], true)).await?;

        // `parent_key` is the parent id or 0 at the top: NULLs are distinct in unique indexes,
        // so the sibling-name rule needs a non-null column.
        m.create_table(
            Table::create()
                .table("collections")
                .col(big_pk_auto("id"))
                .col(big_integer("account_id"))
                .col(big_integer_null("parent_id"))
                .col(big_integer("parent_key"))
                .col(small_integer("kind"))
                .col(text("name"))
                .col(text_null("display_name"))
                .col(big_integer("modseq"))
                .col(big_integer("created_modseq"))
                .col(big_integer("created_at"))
                .foreign_key(&mut fk("collections", "account_id", "principals", Cascade))
                .foreign_key(&mut fk("collections", "parent_id", "collections", Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("collections", "collections_name", &["account_id", "parent_key", "kind", "name"], true))
            .await?;

        m.create_table(
            Table::create()
                .table("blobs")
                .col(text("id").primary_key())
                .col(big_integer("size"))
                .col(big_integer("refcount"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        m.create_index(index("blobs", "blobs_refcount", &["refcount"], false)).await?;

        m.create_table(
            Table::create()
                .table("items")
                .col(big_pk_auto("id"))
                .col(big_integer("account_id"))
                .col(big_integer("collection_id"))
                .col(text("name"))
                .col(text("content_type"))
                .col(text("blob_id"))
                .col(big_integer("size"))
                .col(big_integer_null("created_by"))
                .col(big_integer("modseq"))
                .col(big_integer("created_modseq"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .foreign_key(&mut fk("items", "account_id", "principals", Cascade))
                .foreign_key(&mut fk("items", "collection_id", "collections", Cascade))
                .foreign_key(&mut fk("items", "created_by", "principals", SetNull))
                .take(),
        )
        .await?;
        m.create_index(index("items", "items_name", &["collection_id", "name"], true)).await?;
        m.create_index(index("items", "items_modseq", &["collection_id", "modseq"], false)).await?;

        // `collection_key` is the collection id or 0 for an account-wide grant (see parent_key).
        m.create_table(
            Table::create()
                .table("grants")
                .col(big_pk_auto("id"))
                .col(big_integer("account_id"))
                .col(big_integer_null("collection_id"))
                .col(big_integer("collection_key"))
                .col(big_integer("grantee_id"))
                .col(integer("rights"))
                .col(big_integer("created_at"))
                .foreign_key(&mut fk("grants", "account_id", "principals", Cascade))
                .foreign_key(&mut fk("grants", "collection_id", "collections", Cascade))
                .foreign_key(&mut fk("grants", "grantee_id", "principals", Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("grants", "grants_key", &["account_id", "collection_key", "grantee_id"], true)).await?;
        m.create_index(index("grants", "grants_grantee", &["grantee_id"], false)).await?;

        // The change log. Rows outlive the objects they name (tombstones), so no foreign keys
        // but the account's.
        m.create_table(
            Table::create()
                .table("changes")
                .col(big_pk_auto("id"))
                .col(big_integer("account_id"))
                .col(big_integer("modseq"))
                .col(small_integer("object_type"))
                .col(big_integer("object_id"))
                .col(big_integer("collection_id"))
                .col(small_integer("kind"))
                .col(small_integer("op"))
                .col(text("name"))
                .foreign_key(&mut fk("changes", "account_id", "principals", Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("changes", "changes_account", &["account_id", "modseq"], false)).await?;
        m.create_index(index("changes", "changes_collection", &["account_id", "collection_id", "modseq"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "changes",
            "grants",
            "items",
            "blobs",
            "collections",
            "app_passwords",
            "aliases",
            "group_members",
            "principals",
            "domains",
            "kontor_secrets",
        ] {
            m.drop_table(Table::drop().table(t).take()).await?;
        }
        Ok(())
    }
}
