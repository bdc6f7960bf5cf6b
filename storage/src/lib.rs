//! The storage: sea-orm implementation of `kontor_domain::ports` on SQLite and PostgreSQL,
//! the filesystem blob store, and the event buses (in-process, PostgreSQL LISTEN/NOTIFY).
//! The only crate that sees a database connection.

mod blobfs;
mod bus;
mod entities;
mod sql;

pub use blobfs::FsBlobStore;
pub use bus::{LocalBus, PgBus};
pub use sql::{Backend, SqlStore, connect, migrate};
