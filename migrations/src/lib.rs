//! The schema's history. One file per migration; every migration runs unchanged on SQLite and
//! PostgreSQL. On SQLite, keep to one operation per ALTER and rebuild a table to change a
//! column's type (sea-query cannot express the rest there).

pub use sea_orm_migration::prelude::*;

mod helpers;
mod m20261123_000001_initial;
mod m20261123_000002_properties;
mod m20261123_000003_item_uid;
mod m20261123_000004_item_time;
mod m20261123_000005_mail;
mod m20261123_000006_pop3_retention;
mod m20261125_000007_outbound;
mod m20261125_000008_shared_seen;
mod m20261125_000009_fulltext;
mod m20261125_000010_leases;
mod m20261125_000012_jmap;
mod m20261125_000014_documents;
mod m20261125_000015_mailbox_received;
mod m20261125_000016_mailbox_counts;
mod m20261125_000017_change_thread;
mod m20261125_000018_mail_gaps;
mod m20261125_000019_text_pending;

/// Runs the migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_properties::Migration),
            Box::new(m20261123_000003_item_uid::Migration),
            Box::new(m20261123_000004_item_time::Migration),
            Box::new(m20261123_000005_mail::Migration),
            Box::new(m20261123_000006_pop3_retention::Migration),
            Box::new(m20261125_000007_outbound::Migration),
            Box::new(m20261125_000008_shared_seen::Migration),
            Box::new(m20261125_000009_fulltext::Migration),
            Box::new(m20261125_000010_leases::Migration),
            Box::new(m20261125_000012_jmap::Migration),
            Box::new(m20261125_000014_documents::Migration),
            Box::new(m20261125_000015_mailbox_received::Migration),
            Box::new(m20261125_000016_mailbox_counts::Migration),
            Box::new(m20261125_000017_change_thread::Migration),
            Box::new(m20261125_000018_mail_gaps::Migration),
            Box::new(m20261125_000019_text_pending::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "kontor_migrations".into_iden()
    }
}
