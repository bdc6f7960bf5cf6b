//! The sea-orm store. One type implements every store port; each port lives in its own file.

mod collections;
mod counts;
mod directory;
mod documents;
mod fulltext;
mod grants;
mod log;
mod mail;
mod mail_append;
mod mail_list;
mod mail_query;
mod properties;
mod queue;
mod seen;
mod statements;
mod uploads;

use std::sync::Arc;
use std::time::Duration;

use kontor_domain::error::{Error, Result};
use kontor_domain::model::{Collection, Item};
use kontor_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Opens a pool. SQLite gets server pragmas: WAL, a busy timeout, foreign keys on, and full
/// fsync on commit (a mail server must not lose a message it acknowledged).
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection> {
    connect_with_cache(url, max_connections, WRITER_CACHE_KIB).await
}

/// The page cache of the SQLite connection that writes: 1 MiB instead of SQLite's 2. A
/// delivery touches the B-tree pages of messages, mailbox membership, threads, the change log
/// and the text index; they stay between writes (see [`SqlStore::open`]).
const WRITER_CACHE_KIB: u32 = 1024;

/// The page cache of each SQLite connection that only reads: a quarter of the writer's. WAL
/// mode empties a reader's cache whenever another connection has written since it last read,
/// and the pool hands its connections out in turn, so every reader fills its cache sooner or
/// later; with a mailbox scan (FETCH of every envelope) they all outgrow any size. Interior
/// pages of the indexes fit; the rest comes from the operating system's cache, which all
/// connections share. Three readers at 1 MiB held 3 MB more of the mail benchmark's peak
/// memory, for no measurable speed.
const READER_CACHE_KIB: u32 = 256;

async fn connect_with_cache(url: &str, max_connections: u32, cache_kib: u32) -> Result<DatabaseConnection> {
    let backend = Backend::of_url(url)
        .ok_or_else(|| Error::invalid(format!("database URL must start with sqlite: or postgres://, got {url:?}")))?;
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections.max(1))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        // KONTOR_SQL_LOG=1 logs every statement (target `sqlx::query`, level info): for
        // counting what a command costs in round trips to the database.
        .sqlx_logging(std::env::var_os("KONTOR_SQL_LOG").is_some_and(|v| v == "1"));
    // A ping on every checkout is one more round trip per query: SQLite files do not drop
    // connections, and PostgreSQL ones are pinged only after they sat idle (when a proxy or
    // firewall may have dropped them).
    if backend == Backend::Sqlite {
        opts.test_before_acquire(false);
    } else {
        opts.test_before_acquire_if_idle_for(Duration::from_mins(1));
    }
    if backend == Backend::Sqlite {
        opts.map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(15))
                .foreign_keys(true)
                // A negative size is in KiB.
                .pragma("cache_size", format!("-{cache_kib}"))
        });
    }
    Database::connect(opts).await.map_err(|e| Error::internal(format!("cannot open database: {e}")))
}

/// Runs pending migrations; returns how many ran.
pub async fn migrate(db: &DatabaseConnection) -> Result<usize> {
    let pending = Migrator::get_pending_migrations(db).await.map_err(db_err)?.len();
    Migrator::up(db, None).await.map_err(db_err)?;
    Ok(pending)
}

/// A collection's items.
type Listing = Arc<Vec<Item>>;

#[derive(Clone)]
struct ListingWeight;

impl quick_cache::Weighter<i64, (i64, Listing)> for ListingWeight {
    fn weight(&self, _key: &i64, val: &(i64, Listing)) -> u64 {
        val.1.len() as u64 + 1
    }
}

/// Item listings kept per collection; weighed in items.
const LISTING_CACHE_ITEMS: u64 = 200_000;

/// Accounts whose collection sets are kept.
const ACCOUNT_CACHE_ENTRIES: usize = 10_000;

/// Values cached by key under the modseq their reader held: a value filed at a modseq was
/// read after that modseq was, so it is that state or a newer one (see [`SqlStore`]).
struct ByModseq<V, W = quick_cache::UnitWeighter>(quick_cache::sync::Cache<i64, (i64, V), W>);

impl<V: Clone, W: quick_cache::Weighter<i64, (i64, V)> + Clone> ByModseq<V, W> {
    /// The value of `key` filed at exactly `at`.
    fn get(&self, key: i64, at: i64) -> Option<V> {
        self.0.get(&key).filter(|(filed, _)| *filed == at).map(|(_, v)| v)
    }

    /// Files `value`, read after `at` was read; a reader holding an older modseq never
    /// displaces a value filed at a newer one.
    fn put(&self, key: i64, at: i64, value: V) {
        if self.0.get(&key).is_none_or(|(filed, _)| filed < at) {
            self.0.insert(key, (at, value));
        }
    }
}

/// The store over one connection pool.
///
/// Listings of a collection's items are cached with the modseq of the collection: every write
/// to an item raises it in the same transaction, so a listing is current exactly while the
/// collection's modseq is unchanged — on every node that shares the database. A caller that
/// has read the collection (every caller: access checks read it) then lists thousands of
/// items without a query. An account's set of collections is cached the same way, under the
/// account's modseq (every collection change is an account transaction that raises it).
#[derive(Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
    listings: Arc<ByModseq<Listing, ListingWeight>>,
    /// An account's collections, by account modseq.
    collections: Arc<ByModseq<Arc<Vec<Collection>>>>,
    /// Told when mail text was written for the full-text index to take in (SQLite; see
    /// [`fulltext`]).
    text_waiting: Arc<tokio::sync::Notify>,
    /// SQLite: whose turn it is to write. SQLite lets one writer in at a time and makes the
    /// others poll, sleeping 1, 2, 5, 10, 20… ms between tries; a delivery that met the
    /// full-text indexer's transaction slept well past its end. Writers of this process wait
    /// here instead and go on the moment the one before commits. (Other processes, such as
    /// the CLI, still meet SQLite's own wait.)
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
    /// SQLite: the connection every write transaction runs on ([`SqlStore::open`]).
    writer: Option<DatabaseConnection>,
}

/// A turn to write ([`SqlStore::write`]): held until the transaction is over.
pub(crate) type Turn = Option<tokio::sync::OwnedMutexGuard<()>>;

impl SqlStore {
    pub fn new(db: DatabaseConnection) -> Self {
        let listings =
            Arc::new(ByModseq(quick_cache::sync::Cache::with_weighter(4096, LISTING_CACHE_ITEMS, ListingWeight)));
        let collections = Arc::new(ByModseq(quick_cache::sync::Cache::new(ACCOUNT_CACHE_ENTRIES)));
        let write_turn = (db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite)
            .then(|| Arc::new(tokio::sync::Mutex::new(())));
        Self { db, listings, collections, text_waiting: Arc::new(tokio::sync::Notify::new()), write_turn, writer: None }
    }

    /// Opens the store: on SQLite, `max_connections - 1` connections for reads (at least one)
    /// and one that runs every write transaction. SQLite in WAL mode empties a connection's
    /// page cache whenever another connection has written since it last read; with writes
    /// spread over the pool, each write began with a cold cache and read its B-tree pages
    /// again (about 45 reads per delivery). The one writer keeps its pages between writes.
    /// PostgreSQL: one pool of `max_connections`.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        if Backend::of_url(url) != Some(Backend::Sqlite) {
            return Ok(Self::new(connect(url, max_connections).await?));
        }
        let reads = connect_with_cache(url, max_connections.saturating_sub(1).max(1), READER_CACHE_KIB).await?;
        let writer = connect(url, 1).await?;
        Ok(Self { writer: Some(writer), ..Self::new(reads) })
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> Backend {
        match self.db.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => Backend::Sqlite,
            _ => Backend::Postgres,
        }
    }

    /// Closes the pool (after in-flight work is done).
    pub async fn close(self) -> Result<()> {
        if let Some(w) = self.writer {
            w.close().await.map_err(db_err)?;
        }
        self.db.close().await.map_err(db_err)
    }

    /// A write transaction, with this process's turn to write (keep it until the transaction
    /// is over: `let (_turn, txn) = …`). On SQLite it takes the write lock at BEGIN
    /// (IMMEDIATE), so a transaction never fails half-way on a lock upgrade; PostgreSQL locks
    /// rows as it goes.
    pub(crate) async fn write(&self) -> Result<(Turn, DatabaseTransaction)> {
        let turn = match &self.write_turn {
            Some(m) => Some(m.clone().lock_owned().await),
            None => None,
        };
        let txn = self
            .writer
            .as_ref()
            .unwrap_or(&self.db)
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(db_err)?;
        Ok((turn, txn))
    }
}

/// Logs a database failure and hides its details from clients.
pub(crate) fn db_err(e: DbErr) -> Error {
    tracing::error!(error = %e, "database error");
    Error::internal(e)
}

/// Maps a unique-constraint violation to `Conflict(what)`, anything else to an internal error.
pub(crate) fn unique(what: impl Into<String>) -> impl FnOnce(DbErr) -> Error {
    let what = what.into();
    move |e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(what),
        _ => db_err(e),
    }
}

pub(crate) async fn commit(txn: DatabaseTransaction) -> Result<()> {
    txn.commit().await.map_err(db_err)
}

/// `u64` for byte counts read from the store (never negative there).
pub(crate) fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// `i64` for byte counts written to the store.
pub(crate) fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
