//! The composition root: command line, configuration, listeners, HTTP router, background
//! jobs. The only crate that names the storage implementation.

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod http;
pub mod https;
pub mod listen;
pub mod serve;
pub mod tls;

use clap::Parser;

/// An error that ends the command, with the one line to print.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Fatal(pub String);

impl From<kontor_domain::Error> for Fatal {
    fn from(e: kontor_domain::Error) -> Self {
        Self(match e {
            kontor_domain::Error::Internal(d) => format!("internal error: {d}"),
            other => other.to_string(),
        })
    }
}

impl From<config::ConfigError> for Fatal {
    fn from(e: config::ConfigError) -> Self {
        Self(e.to_string())
    }
}

fn init_tracing(cfg: &config::Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KONTOR_LOG").unwrap_or_else(|_| EnvFilter::new(&cfg.log.level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    let _ = if cfg.log.format == "json" { builder.json().try_init() } else { builder.try_init() };
}

/// Runs the `kontor` command line; returns the process exit code.
pub fn main_entry() -> i32 {
    let cli = cli::Cli::parse();
    let cfg = match flags(&cli).and_then(|f| config::Config::load(cli.config.as_deref(), std::env::vars(), &f)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    init_tracing(&cfg);
    // Few blocking threads: each one that allocates gets a malloc arena of its own, which keeps
    // its memory after bursts (blob writes and file reads are short).
    let rt = match tokio::runtime::Builder::new_multi_thread().max_blocking_threads(32).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            cli::Command::Serve(_) => serve::run(cfg).await,
            other => admin::run(&cfg, other).await,
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// The flags that set configuration keys, in order (a later one wins).
fn flags(cli: &cli::Cli) -> Result<Vec<(String, Option<String>)>, config::ConfigError> {
    let mut f: Vec<(String, Option<String>)> = Vec::new();
    for kv in &cli.set {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            config::ConfigError(format!("--set {kv}: expected KEY=VALUE, e.g. http.listen=127.0.0.1:8080"))
        })?;
        f.push((k.trim().to_owned(), Some(v.to_owned())));
    }
    let mut named = vec![("data", cli.data.clone()), ("database.url", cli.database_url.clone())];
    if let cli::Command::Serve(s) = &cli.command {
        named.extend([
            ("http.listen", s.http.clone()),
            ("imap.listen", s.imap.clone()),
            ("pop3.listen", s.pop3.clone()),
            ("smtp.listen", s.smtp.clone()),
            ("submission.listen", s.submission.clone()),
            ("domain", s.domain.clone()),
        ]);
    }
    f.extend(named.into_iter().map(|(k, v)| (k.to_owned(), v)));
    Ok(f)
}
