//! Builds a `Core` over a real store: SQLite in a temporary directory, or a fresh PostgreSQL
//! database (from `KONTOR_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`).

#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;

use kontor_domain::events::Event;
use kontor_domain::model::{Principal, PrincipalKind};
use kontor_domain::{Actor, Core, NewUser, Settings};
use kontor_storage::{FsBlobStore, LocalBus, SqlStore};
use sea_orm::ConnectionTrait;

pub struct Env {
    pub core: Arc<Core>,
    pub events: tokio::sync::broadcast::Receiver<Event>,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
    url: String,
}

#[derive(Debug, Clone, Copy)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub fn pg_base() -> String {
    std::env::var("KONTOR_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `base` with its database name replaced.
pub fn with_db(base: &str, db: &str) -> String {
    let (head, query) = base.split_once('?').map_or((base, None), |(h, q)| (h, Some(q)));
    let (prefix, _) = head.rsplit_once('/').expect("database URL has a path");
    match query {
        Some(q) => format!("{prefix}/{db}?{q}"),
        None => format!("{prefix}/{db}"),
    }
}

impl Env {
    pub async fn new(db: Db) -> Self {
        Self::with_settings(db, Settings::default()).await
    }

    pub async fn with_settings(db: Db, settings: Settings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg) = match db {
            Db::Sqlite => (format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display()), None),
            Db::Postgres => {
                let base = pg_base();
                let name = format!("kontor_test_{:016x}", rand::random::<u64>());
                let admin = sea_orm::Database::connect(base.clone())
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {base} is needed for this test: {e}"));
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
                admin.close().await.unwrap();
                (with_db(&base, &name), Some((base, name)))
            }
        };
        let store = SqlStore::open(&url, 8).await.unwrap();
        kontor_storage::migrate(store.connection()).await.unwrap();
        let blobs = FsBlobStore::open(dir.path().join("blobs")).unwrap();
        let bus = Arc::new(LocalBus::new());
        let events = kontor_domain::events::EventBus::subscribe(bus.as_ref());
        let core = Core::new(Arc::new(store), Arc::new(blobs), bus, settings).await.unwrap();
        Self { core: Arc::new(core), events, dir, pg, url }
    }

    /// Another node: a core with its own pool (and caches) on the same database and blobs.
    pub async fn second_core(&self) -> Arc<Core> {
        let store = SqlStore::open(&self.url, 4).await.unwrap();
        let blobs = FsBlobStore::open(self.dir.path().join("blobs")).unwrap();
        Arc::new(
            Core::new(Arc::new(store), Arc::new(blobs), Arc::new(LocalBus::new()), Settings::default()).await.unwrap(),
        )
    }

    /// The database's URL (for a connection of a test's own).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the PostgreSQL database (left behind if the test failed before; the test
    /// script removes leftovers).
    pub async fn finish(self) {
        let Self { core, pg, .. } = self;
        drop(core);
        if let Some((base, name)) = pg
            && let Ok(admin) = sea_orm::Database::connect(base).await
        {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }

    pub async fn user(&self, address: &str) -> Principal {
        let domain = address.split('@').nth(1).unwrap();
        if self
            .core
            .store
            .find_domain(&kontor_domain::address::DomainName::parse(domain).unwrap())
            .await
            .unwrap()
            .is_none()
        {
            self.core.add_domain(Actor::System, domain).await.unwrap();
        }
        self.core
            .add_user(
                Actor::System,
                NewUser {
                    address: kontor_domain::address::Address::parse(address).unwrap(),
                    kind: PrincipalKind::User,
                    password: Some("password-of-".to_owned() + address),
                    display_name: None,
                    is_admin: false,
                    quota: None,
                },
            )
            .await
            .unwrap()
            .0
    }

    /// Events published so far.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }
}

/// Runs one async test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::support::Env::new(super::support::Db::Sqlite).await).await; })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::support::Env::new(super::support::Db::Postgres).await).await; })*
        }
    };
}
