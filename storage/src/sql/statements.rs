//! Statements built by hand ([`Sql`]) and runs of several in one go ([`Batch`]).
//!
//! sqlx's SQLite driver runs each statement on the connection's own thread and hands the
//! result back to the task: a write of ten statements is ten trips between threads, each a
//! wake-up and a context switch, and on a busy core they cost more than the statements. A
//! [`Batch`] on SQLite is sent as one text of `;`-separated statements with positional
//! placeholders (sqlx binds them in order across the statements): one command to the thread,
//! whose results come back together. PostgreSQL runs prepared statements one at a time, so
//! there the batch is run statement by statement, as before.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, QueryResult, Statement, Value};

use super::db_err;
use kontor_domain::error::Result;

/// A statement being built: SQL text and its values, with the backend's placeholders.
pub(super) struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub(super) fn new(backend: DatabaseBackend) -> Self {
        Self { backend, text: String::new(), values: Vec::new() }
    }

    pub(super) fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    /// A placeholder for `v`.
    pub(super) fn bind(&mut self, v: impl Into<Value>) -> String {
        self.values.push(v.into());
        if self.backend == DatabaseBackend::Sqlite { "?".to_owned() } else { format!("${}", self.values.len()) }
    }

    pub(super) fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    pub(super) fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// Statements of one transaction run in order; only the last may give rows.
pub(super) struct Batch {
    backend: DatabaseBackend,
    done: Vec<Statement>,
    /// SQLite: the whole batch, one text.
    joined: Option<Sql>,
}

impl Batch {
    pub(super) fn new(backend: DatabaseBackend) -> Self {
        let joined = (backend == DatabaseBackend::Sqlite).then(|| Sql::new(backend));
        Self { backend, done: Vec::new(), joined }
    }

    /// A new statement, written by `f` into its own [`Sql`] (placeholders as that backend
    /// wants them: SQLite's positional ones follow those of the statements before).
    pub(super) fn add(&mut self, f: impl FnOnce(&mut Sql)) {
        match &mut self.joined {
            Some(all) => f(next(all)),
            None => {
                let mut one = Sql::new(self.backend);
                f(&mut one);
                self.done.push(one.statement());
            }
        }
    }

    /// Adds a statement built elsewhere (by sea-query: SQLite's placeholders are positional).
    pub(super) fn add_statement(&mut self, st: Statement) {
        match &mut self.joined {
            Some(all) => {
                let all = next(all);
                all.text.push_str(&st.sql);
                if let Some(v) = st.values {
                    all.values.extend(v.0);
                }
            }
            None => self.done.push(st),
        }
    }

    pub(super) fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    /// Runs the statements in `txn`; gives the rows of the last one.
    pub(super) async fn run(self, txn: &DatabaseTransaction) -> std::result::Result<Vec<QueryResult>, sea_orm::DbErr> {
        if let Some(all) = self.joined {
            if all.text.is_empty() {
                return Ok(Vec::new());
            }
            return txn.query_all_raw(all.statement()).await;
        }
        let mut statements = self.done;
        let Some(last) = statements.pop() else { return Ok(Vec::new()) };
        for st in statements {
            txn.execute_raw(st).await?;
        }
        txn.query_all_raw(last).await
    }

    /// [`Self::run`] for statements that give no rows.
    pub(super) async fn execute(self, txn: &DatabaseTransaction) -> Result<()> {
        self.run(txn).await.map_err(db_err)?;
        Ok(())
    }
}

/// The joined text, ready for one more statement.
fn next(all: &mut Sql) -> &mut Sql {
    if !all.text.is_empty() {
        all.text.push_str(";\n");
    }
    all
}

/// The message a statement names: one by its id, or the one an earlier statement of the same
/// batch (and transaction) has just inserted.
#[derive(Clone, Copy, Debug)]
pub(super) enum MessageRef {
    Id(i64),
    New,
}

impl MessageRef {
    /// The message's id in SQL: a placeholder, or the new row's id. SQLite: the highest id (the
    /// table's ids only grow, and the transaction holds the write lock, so that is the row
    /// just inserted); PostgreSQL: the id sequence's value in this session, in a subquery of
    /// its own: `currval` is volatile, and compared to a column as it is, it is evaluated for
    /// every row and keeps the planner from the index (each filing scanned the tables).
    pub(super) fn sql(self, sql: &mut Sql) -> String {
        match self {
            Self::Id(id) => sql.bind(id),
            Self::New if sql.backend == DatabaseBackend::Sqlite => "(SELECT max(id) FROM messages)".to_owned(),
            Self::New => "(SELECT currval(pg_get_serial_sequence('messages', 'id')))".to_owned(),
        }
    }
}
