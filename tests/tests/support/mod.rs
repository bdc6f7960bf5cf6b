//! Starts the real `kontor` binary on a fresh store (SQLite in a temporary directory, or a
//! fresh PostgreSQL database) on an ephemeral loopback port, and runs its admin commands on
//! the same store.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

pub mod dns;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The server binary (`kontor`'s `main`, built by cargo for this package).
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kontor-under-test"))
}

pub fn pg_base() -> String {
    std::env::var("KONTOR_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn with_db(base: &str, db: &str) -> String {
    let (head, query) = base.split_once('?').map_or((base, None), |(h, q)| (h, Some(q)));
    let (prefix, _) = head.rsplit_once('/').expect("database URL has a path");
    query.map_or_else(|| format!("{prefix}/{db}"), |q| format!("{prefix}/{db}?{q}"))
}

/// A fresh store: a data directory, and for PostgreSQL a database of its own.
pub struct Store {
    pub db: Db,
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
    pg_name: Option<String>,
}

impl Store {
    pub async fn new(db: Db) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (database_url, pg_name) = match db {
            Db::Sqlite => (None, None),
            Db::Postgres => {
                let base = pg_base();
                let name = format!("kontor_test_{:016x}", rand::random::<u64>());
                let pool = sqlx::PgPool::connect(&base)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {base} is needed for this test: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&pool)
                    .await
                    .expect("create database");
                pool.close().await;
                (Some(with_db(&base, &name)), Some(name))
            }
        };
        Self { db, dir, database_url, pg_name }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A `kontor` command on this store (configured through the environment).
    pub fn command(&self) -> Command {
        let mut c = Command::new(binary());
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KONTOR_DATA", self.data())
            .env("KONTOR_LOG", "warn")
            .current_dir(self.dir.path());
        if let Some(url) = &self.database_url {
            c.env("KONTOR_DATABASE_URL", url);
        }
        c
    }

    /// Runs an admin command; `stdin` is written to its standard input.
    pub fn kontor(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = self.command();
        c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn kontor");
        if let Some(input) = stdin {
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("kontor output")
    }

    /// Runs an admin command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kontor(args, stdin);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "kontor {args:?} failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
        text
    }

    /// Runs an admin command that must fail; returns its standard error.
    pub fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kontor(args, stdin);
        assert!(!out.status.success(), "kontor {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub async fn drop_database(&self) {
        if let Some(name) = &self.pg_name
            && let Ok(pool) = sqlx::PgPool::connect(&pg_base()).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&pool)
                .await;
            pool.close().await;
        }
    }
}

/// A running server.
pub struct Server {
    pub child: Child,
    pub url: String,
    /// What it printed on standard output before listening (bootstrap lines).
    pub banner: Vec<String>,
    rest: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `kontor serve` on the store with extra environment variables.
    #[allow(clippy::zombie_processes)] // the child is owned by `Server`, whose `Drop` reaps it
    pub fn start(store: &Store, env: &[(&str, &str)]) -> Self {
        let mut c = store.command();
        c.args(["serve", "--http", "127.0.0.1:0", "--domain", "example.com"])
            .env("KONTOR_SMTP", "127.0.0.1:0")
            .env("KONTOR_POP3", "127.0.0.1:0")
            .env("KONTOR_IMAP", "127.0.0.1:0")
            .env("KONTOR_SUBMISSION", "127.0.0.1:0")
            // No DNS checks of inbound mail unless a test points the server at its own DNS.
            .env("KONTOR_MAIL_VERIFY_INBOUND", "false")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn kontor serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_mins(1))
                .unwrap_or_else(|_| panic!("server did not start; printed {banner:?}"));
            if let Some(addr) = line.strip_prefix("HTTP listening on ") {
                return Self { child, url: addr.to_owned(), banner, rest: rx };
            }
            banner.push(line);
        }
    }

    /// Where the server listens for a mail protocol, from its `<LABEL> listening on …` line.
    fn listening(&self, label: &str) -> std::net::SocketAddr {
        let prefix = format!("{label} listening on ");
        self.banner
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("the server printed its {label} address"))
    }

    /// The HTTPS listener (`KONTOR_HTTPS` and a certificate given).
    pub fn https_addr(&self) -> std::net::SocketAddr {
        self.listening("HTTPS")
    }

    pub fn imap_addr(&self) -> std::net::SocketAddr {
        self.listening("IMAP")
    }

    pub fn pop3_addr(&self) -> std::net::SocketAddr {
        self.listening("POP3")
    }

    pub fn smtp_addr(&self) -> std::net::SocketAddr {
        self.listening("SMTP")
    }

    pub fn submission_addr(&self) -> std::net::SocketAddr {
        self.listening("SUBMISSION")
    }

    /// The administrator password printed on the first start, if it was printed.
    pub fn admin_password(&self) -> Option<String> {
        self.banner.iter().find_map(|l| l.strip_prefix("Administrator password (shown once): ")).map(str::to_owned)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new().get(format!("{}{path}", self.url))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new().post(format!("{}{path}", self.url))
    }

    /// Sends SIGTERM and waits (bounded) for the process to end; returns its exit code and the
    /// rest of what it printed.
    pub fn stop(mut self) -> (Option<i32>, Vec<String>) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                let rest = self.rest.try_iter().collect();
                return (status.code(), rest);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("server did not stop within 30 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs each named async test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let store = $crate::support::Store::new($crate::support::Db::Sqlite).await;
                super::$name(&store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let store = $crate::support::Store::new($crate::support::Db::Postgres).await;
                super::$name(&store).await;
                store.drop_database().await;
            })*
        }
    };
}

/// Delivers each message (text without the final dot) to `to` over the MX port, one SMTP
/// transaction each, from `x@elsewhere.org`; every reply must be positive.
pub async fn deliver(server: &Server, to: &str, messages: &[&str]) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let s = tokio::net::TcpStream::connect(server.smtp_addr()).await.unwrap();
    let (r, mut w) = s.into_split();
    let mut r = tokio::io::BufReader::new(r);
    let mut line = String::new();
    let mut cmd = async |w: &mut tokio::net::tcp::OwnedWriteHalf, text: &str| {
        w.write_all(text.as_bytes()).await.unwrap();
        line.clear();
        r.read_line(&mut line).await.unwrap();
        line.clone()
    };
    assert!(cmd(&mut w, "").await.starts_with("220"));
    assert!(cmd(&mut w, "HELO t\r\n").await.starts_with("250"));
    for m in messages {
        assert!(cmd(&mut w, "MAIL FROM:<x@elsewhere.org>\r\n").await.starts_with("250"));
        assert!(cmd(&mut w, &format!("RCPT TO:<{to}>\r\n")).await.starts_with("250"));
        assert!(cmd(&mut w, "DATA\r\n").await.starts_with("354"));
        assert!(cmd(&mut w, &format!("{m}\r\n.\r\n")).await.starts_with("250"));
    }
}
