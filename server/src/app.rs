//! Opening the store: database (with migrations), blobs, event bus, and the domain core.

use std::sync::Arc;

use kontor_domain::Core;
use kontor_domain::events::EventBus;
use kontor_storage::{Backend, FsBlobStore, LocalBus, PgBus, SqlStore};

use crate::Fatal;
use crate::config::Config;

/// An open installation.
pub struct App {
    pub core: Arc<Core>,
    pub store: SqlStore,
    bus: Arc<dyn EventBus>,
}

/// Whether the event bus must reach other nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusMode {
    /// This process only (admin commands).
    Local,
    /// Every node on the database (the server, on PostgreSQL).
    Cluster,
}

impl App {
    pub async fn open(cfg: &Config, bus: BusMode) -> Result<Self, Fatal> {
        let url = cfg.database_url();
        let backend = Backend::of_url(&url).ok_or_else(|| Fatal(format!("database.url: unsupported URL {url:?}")))?;
        if backend == Backend::Sqlite {
            std::fs::create_dir_all(cfg.data_dir())
                .map_err(|e| Fatal(format!("cannot create data directory {}: {e}", cfg.data_dir().display())))?;
        }
        let pool = match (u32::try_from(cfg.database.max_connections).unwrap_or(0), backend) {
            (0, Backend::Sqlite) => 4,
            (0, Backend::Postgres) => 16,
            (n, _) => n,
        };
        let store = SqlStore::open(&url, pool).await?;
        let ran = kontor_storage::migrate(store.connection()).await?;
        if ran > 0 {
            tracing::info!(migrations = ran, "database migrated");
        }
        let blobs = FsBlobStore::open(cfg.blob_dir())?.with_cache(cfg.blob_cache());
        let bus: Arc<dyn EventBus> = match (backend, bus) {
            (Backend::Postgres, BusMode::Cluster) => {
                Arc::new(PgBus::start(store.connection().get_postgres_connection_pool().clone()).await?)
            }
            _ => Arc::new(LocalBus::new()),
        };
        let core = Core::new(Arc::new(store.clone()), Arc::new(blobs), bus.clone(), cfg.settings()).await?;
        Ok(Self { core: Arc::new(core), store, bus })
    }

    /// Closes the database cleanly. Connections still open (an idle IMAP or SMTP client) hold
    /// the core until they end; the bus lets go of the store now, so closing does not wait for
    /// them.
    pub async fn close(self) -> Result<(), Fatal> {
        self.bus.close();
        drop(self.core);
        self.store.close().await?;
        Ok(())
    }
}
