//! `kontor serve`: migrate, bootstrap an empty store, listen, run background jobs, and shut
//! down gracefully on SIGINT/SIGTERM (in-flight requests finish, then the database closes).

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::IntoFuture;

use tokio::sync::watch;

use crate::Fatal;
use crate::app::{App, BusMode};
use crate::config::Config;
use crate::http::{self, AppState, Limits};
use crate::listen;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long in-flight requests get after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(30);

fn metrics_handle() -> Result<PrometheusHandle, Fatal> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let h = PrometheusBuilder::new().install_recorder().map_err(|e| Fatal(format!("metrics: {e}")))?;
    metrics::gauge!("kontor_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(HANDLE.get_or_init(|| h).clone())
}

/// Listens for SIGINT and SIGTERM from now on (registered before the server says it is
/// listening, so an early signal is never the default "terminate at once").
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, Fatal> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Fatal(format!("cannot handle SIGINT: {e}")))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| Fatal(format!("cannot handle SIGTERM: {e}")))?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
    })
}

/// Runs the server until a shutdown signal.
pub async fn run(cfg: Config) -> Result<(), Fatal> {
    let metrics = metrics_handle()?;
    let signalled = shutdown_signal()?;
    let app = App::open(&cfg, BusMode::Cluster).await?;
    if let Some((address, password)) = app.core.bootstrap(&cfg.domain).await? {
        // Printed once, on the first start of an empty store; never logged.
        println!("Created domain {} and administrator {address}", address.domain);
        println!("Administrator password (shown once): {password}");
    }

    let listener = tokio::net::TcpListener::bind(cfg.http_addr())
        .await
        .map_err(|e| Fatal(format!("http.listen: cannot listen on {}: {e}", cfg.http.listen)))?;
    let local = listener.local_addr().map_err(|e| Fatal(e.to_string()))?;
    let smtp_listener = bind_mail("smtp", "SMTP", cfg.smtp_addr(), &cfg.smtp.listen).await?;
    let pop3_listener = bind_mail("pop3", "POP3", cfg.pop3_addr(), &cfg.pop3.listen).await?;
    let imap_listener = bind_mail("imap", "IMAP", cfg.imap_addr(), &cfg.imap.listen).await?;
    let submission_listener =
        bind_mail("submission", "SUBMISSION", cfg.submission_addr(), &cfg.submission.listen).await?;
    let tls = crate::tls::acceptor(&cfg)?;
    let imaps_listener = bind_implicit("imaps", "IMAPS", &cfg.imaps).await?;
    let pop3s_listener = bind_implicit("pop3s", "POP3S", &cfg.pop3s).await?;
    let submissions_listener = bind_implicit("submissions", "SUBMISSIONS", &cfg.submissions).await?;
    let https_listener = bind_implicit("https", "HTTPS", &cfg.https).await?;
    let https_tls = crate::tls::https_acceptor(&cfg)?;
    // Last: tests and scripts wait for this line.
    println!("HTTP listening on http://{local}");
    tracing::info!(%local, "http listening");
    // One resolver for MX lookups and SPF/DKIM/DMARC. Without one, inbound mail is not checked
    // and outbound mail waits in the queue until it is there.
    let dns = match kontor_smtp::dns::resolver(&cfg.dns_servers()?, cfg.dns_timeout()) {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            tracing::error!(error = %e, "no DNS: inbound mail is not checked, outbound mail waits");
            None
        }
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let jobs = tokio::spawn(background_jobs(app.core.clone(), stop_rx.clone()));
    let connections = |total: usize, per_address: u32, refusal: &'static [u8]| listen::Limits {
        total,
        per_address: per_address as usize,
        refusal,
    };
    let smtp_limits =
        connections(512, cfg.smtp.max_per_address, b"421 4.7.0 Too many connections from your address\r\n");
    let pop3_limits =
        connections(512, cfg.pop3.max_per_address, b"-ERR [SYS/TEMP] Too many connections from your address\r\n");
    let imap_limits = connections(1024, cfg.imap.max_per_address, b"* BYE Too many connections from your address\r\n");
    let submission_limits =
        connections(512, cfg.submission.max_per_address, b"421 4.7.0 Too many connections from your address\r\n");
    let serial = Arc::new(AtomicU64::new(kontor_smtp::server::serial_seed()));
    let smtp_on = |name: &'static str, listener, limits, smtp: kontor_smtp::server::Listener| {
        let (core, stop, serial) = (app.core.clone(), stop_rx.clone(), serial.clone());
        tokio::spawn(listen::accept(name, listener, limits, stop_rx.clone(), move |socket, peer| {
            let (core, smtp, stop) = (core.clone(), smtp.clone(), stop.clone());
            let first = serial.fetch_add(1 << 8, Ordering::Relaxed);
            async move { kontor_smtp::connection(socket, peer, &core, &smtp, first, stop).await }
        }))
    };
    let smtp = smtp_on(
        "smtp",
        smtp_listener,
        smtp_limits,
        kontor_smtp::server::Listener {
            mode: kontor_smtp::Mode::Mx,
            limits: cfg.smtp_limits(),
            dns: dns.clone().filter(|_| cfg.mail.verify_inbound),
            tls: tls.clone(),
            implicit_tls: false,
        },
    );
    let submission_on = |implicit_tls| kontor_smtp::server::Listener {
        mode: kontor_smtp::Mode::Submission,
        limits: cfg.smtp_limits(),
        dns: None,
        tls: tls.clone(),
        implicit_tls,
    };
    let submission = smtp_on("submission", submission_listener, submission_limits, submission_on(false));
    let submissions = submissions_listener.map(|l| {
        let limits =
            connections(512, cfg.submissions.max_per_address, b"421 4.7.0 Too many connections from your address\r\n");
        smtp_on("submissions", l, limits, submission_on(true))
    });
    let outbound = dns.map(|dns| {
        tokio::spawn(kontor_smtp::outbound::run(app.core.clone(), dns, cfg.outbound_settings(), stop_rx.clone()))
    });
    let pop3_locks = Arc::new(kontor_pop3::server::Locks::default());
    let pop3_on = |name: &'static str, listener, limits, implicit: bool| {
        let (core, locks) = (app.core.clone(), pop3_locks.clone());
        let tls = tls.clone().map(|acceptor| Arc::new(kontor_pop3::server::Tls { acceptor, implicit }));
        tokio::spawn(listen::accept(name, listener, limits, stop_rx.clone(), move |socket, peer| {
            let (core, locks, tls) = (core.clone(), locks.clone(), tls.clone());
            async move { kontor_pop3::connection(socket, peer, &core, &locks, tls.as_deref()).await }
        }))
    };
    let pop3 = pop3_on("pop3", pop3_listener, pop3_limits, false);
    let pop3s = pop3s_listener.map(|l| {
        let limits =
            connections(512, cfg.pop3s.max_per_address, b"-ERR [SYS/TEMP] Too many connections from your address\r\n");
        pop3_on("pop3s", l, limits, true)
    });
    let imap_on = |name: &'static str, listener, limits, implicit: bool| {
        let core = app.core.clone();
        let tls = tls.clone().map(|acceptor| Arc::new(kontor_imap::server::Tls { acceptor, implicit }));
        tokio::spawn(listen::accept(name, listener, limits, stop_rx.clone(), move |socket, peer| {
            let (core, tls) = (core.clone(), tls.clone());
            async move { kontor_imap::connection(socket, peer, &core, tls.as_deref()).await }
        }))
    };
    let imap = imap_on("imap", imap_listener, imap_limits, false);
    let imaps = imaps_listener.map(|l| {
        let limits = connections(1024, cfg.imaps.max_per_address, b"* BYE Too many connections from your address\r\n");
        imap_on("imaps", l, limits, true)
    });
    let warnings = tokio::spawn(quota_warnings(app.core.clone(), stop_rx));

    let router = http::router(
        AppState { core: app.core.clone(), metrics },
        Limits { max_body: cfg.max_body(), request_timeout: cfg.request_timeout() },
        kontor_jmap::PushSettings {
            allowed: cfg
                .jmap
                .push_allowed
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        },
    );
    let (signal_tx, mut signal_rx) = watch::channel(false);
    tokio::spawn(async move {
        signalled.await;
        let _ = signal_tx.send(true);
    });
    let https = match (https_listener, https_tls) {
        (Some(l), Some(acceptor)) => {
            Some(tokio::spawn(crate::https::serve(l, acceptor, router.clone(), signal_rx.clone())))
        }
        _ => None,
    };
    let mut graceful = signal_rx.clone();
    let mut server = tokio::spawn(
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = graceful.wait_for(|s| *s).await;
            })
            .into_future(),
    );
    tokio::select! {
        r = &mut server => report(r),
        _ = signal_rx.wait_for(|s| *s) => {
            tracing::info!("shutting down: finishing in-flight requests");
            match tokio::time::timeout(DRAIN, &mut server).await {
                Ok(r) => report(r),
                Err(_) => {
                    tracing::warn!("requests still running after {DRAIN:?}; closing anyway");
                    server.abort();
                }
            }
        }
    }
    if let Some(mut h) = https {
        match tokio::time::timeout(DRAIN, &mut h).await {
            Ok(r) => report(r),
            Err(_) => h.abort(),
        }
    }
    let _ = stop_tx.send(true);
    let _ = jobs.await;
    let _ = smtp.await;
    let _ = submission.await;
    if let Some(s) = submissions {
        let _ = s.await;
    }
    if let Some(o) = outbound {
        let _ = o.await;
    }
    let _ = pop3.await;
    if let Some(p) = pop3s {
        let _ = p.await;
    }
    let _ = imap.await;
    if let Some(i) = imaps {
        let _ = i.await;
    }
    let _ = warnings.await;
    app.close().await?;
    tracing::info!("stopped");
    println!("Kontor stopped");
    Ok(())
}

/// Binds a mail protocol's listener and says where it listens (`<LABEL> listening on …`).
async fn bind_mail(
    key: &str,
    label: &str,
    addr: SocketAddr,
    configured: &str,
) -> Result<tokio::net::TcpListener, Fatal> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Fatal(format!("{key}.listen: cannot listen on {configured}: {e}")))?;
    let local = listener.local_addr().map_err(|e| Fatal(e.to_string()))?;
    println!("{label} listening on {local}");
    tracing::info!(%local, "{key} listening");
    Ok(listener)
}

/// Binds an implicit-TLS listener when it is configured (its `listen` is not empty).
async fn bind_implicit(
    key: &str,
    label: &str,
    l: &crate::config::Listener,
) -> Result<Option<tokio::net::TcpListener>, Fatal> {
    match Config::tls_addr(l) {
        Some(addr) => Ok(Some(bind_mail(key, label, addr, &l.listen).await?)),
        None => Ok(None),
    }
}

fn report(r: Result<std::io::Result<()>, tokio::task::JoinError>) {
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "http server failed"),
        Err(e) => tracing::error!(error = %e, "http server task failed"),
    }
}

/// Periodic housekeeping: forget idle rate-limit keys, expire mail POP3 downloaded (per the
/// account's choice), delete unreferenced blobs.
async fn background_jobs(core: std::sync::Arc<kontor_domain::Core>, mut stop: watch::Receiver<bool>) {
    // Text of new mail goes into the full-text index in batches (SQLite), a moment after.
    let indexer = core.clone();
    let indexer_stop = stop.clone();
    tokio::spawn(async move { indexer.run_text_indexer(indexer_stop).await });
    // Messages stored before the full-text index existed get indexed once, meanwhile.
    let backlog = core.clone();
    tokio::spawn(async move {
        match backlog.index_text_backlog().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(messages = n, "messages added to the full-text index"),
            Err(e) => tracing::warn!(error = %e, "full-text backfill stopped; it goes on at the next start"),
        }
    });
    let mut tick = tokio::time::interval(Duration::from_mins(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                core.auth.limiter.housekeeping();
                match core.expire_pop3_downloads().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(messages = n, "mail downloaded over POP3 expired"),
                    Err(e) => tracing::warn!(error = %e, "POP3 retention job failed"),
                }
                match core.expire_uploads().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(uploads = n, "unused uploads expired"),
                    Err(e) => tracing::warn!(error = %e, "upload expiry failed"),
                }
                match core.collect_garbage().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(blobs = n, "unreferenced blobs deleted"),
                    Err(e) => tracing::warn!(error = %e, "blob collection failed"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Mails quota warnings as soon as a write that crossed a mark has committed on this node.
async fn quota_warnings(core: std::sync::Arc<kontor_domain::Core>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = core.quota_warnings.notify.notified() => {
                let n = core.send_quota_warnings().await;
                if n > 0 {
                    tracing::info!(warnings = n, "quota warnings mailed");
                }
            }
            _ = stop.changed() => return,
        }
    }
}
