//! The outbound queue's worker: claims due entries, signs each message with its domain's DKIM
//! key, and hands it to the recipient domain's mail servers (MX lookup, or a configured relay),
//! with STARTTLS where they offer it. What happened goes back to the domain, which retries
//! with backoff or bounces.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kontor_domain::Core;
use kontor_domain::address::DomainName;
use kontor_domain::mail::outbound::{Attempt, Queued};
use lettre::address::Envelope;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mail_auth::MessageAuthenticator;
use tokio::sync::watch;

use crate::{dkim, dns};

/// How the worker reaches other servers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The name given in EHLO.
    pub hostname: String,
    /// Send everything through this server (`host`, port) instead of looking up MX records.
    pub relay: Option<(String, u16)>,
    /// The port of MX hosts (25; tests point it at a loopback server).
    pub port: u16,
    /// Entries claimed at once.
    pub batch: usize,
    /// How often the queue is looked at when nothing wakes the worker (entries queued by other
    /// nodes, retries that came due).
    pub poll: Duration,
    /// Longest wait for a server's answer.
    pub timeout: Duration,
}

/// Recipient domains worked on at once; one slow domain does not hold up the others.
const DOMAINS_AT_ONCE: usize = 16;

/// Runs until `stop`: claims due entries while fewer than [`DOMAINS_AT_ONCE`] domains are being
/// worked on, delivers each domain's entries in a task of its own, and otherwise waits for new
/// mail, a finished domain, the next poll, or stop (which lets running deliveries finish for a
/// while).
pub async fn run(core: Arc<Core>, dns: Arc<MessageAuthenticator>, settings: Settings, mut stop: watch::Receiver<bool>) {
    let mut running = tokio::task::JoinSet::new();
    loop {
        let mut claimed_some = false;
        if running.len() < DOMAINS_AT_ONCE {
            match core.claim_outbound(settings.batch).await {
                Ok(batch) => {
                    claimed_some = !batch.is_empty();
                    let mut by_domain: BTreeMap<String, Vec<Queued>> = BTreeMap::new();
                    for q in batch {
                        by_domain.entry(q.rcpt_domain.clone()).or_default().push(q);
                    }
                    for (domain, entries) in by_domain {
                        let (core, dns, settings) = (core.clone(), dns.clone(), settings.clone());
                        running.spawn(async move { deliver_domain(&core, &dns, &settings, &domain, entries).await });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the outbound queue"),
            }
        }
        if claimed_some && running.len() < DOMAINS_AT_ONCE {
            continue;
        }
        tokio::select! {
            Some(_) = running.join_next(), if !running.is_empty() => {}
            () = core.outbound.notified() => {}
            () = tokio::time::sleep(settings.poll) => {}
            _ = stop.changed() => {
                let finish = async { while running.join_next().await.is_some() {} };
                if tokio::time::timeout(std::time::Duration::from_secs(20), finish).await.is_err() {
                    // Claims of what was cut off run out; another start sends it then.
                    running.abort_all();
                }
                return;
            }
        }
    }
}

/// Delivers the entries for one recipient domain, one after another, and records each outcome.
async fn deliver_domain(core: &Core, dns: &MessageAuthenticator, s: &Settings, domain: &str, entries: Vec<Queued>) {
    let hosts: Result<Vec<(String, u16)>, (bool, String)> = match &s.relay {
        Some((host, port)) => Ok(vec![(host.clone(), *port)]),
        None => dns::mail_hosts(dns, domain).await.map(|h| h.into_iter().map(|h| (h, s.port)).collect()),
    };
    // Once no host of the domain answers, the rest of its entries wait too (not one timeout each).
    let mut unreachable: Option<String> = None;
    for q in entries {
        // A domain's entries may wait behind each other for long: hold each anew before it is
        // tried, and leave it if another node took it over meanwhile.
        match core.renew_outbound(&q).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(id = q.id, error = %e, "cannot hold a queue entry");
                continue;
            }
        }
        let attempt = match (&hosts, &unreachable) {
            (Err((true, why)), _) => Attempt::Failed(why.clone()),
            (Err((false, why)), _) | (Ok(_), Some(why)) => Attempt::Deferred(why.clone()),
            (Ok(hosts), None) => match signed(core, &q).await {
                Ok(message) => {
                    let (attempt, down) = send(dns, s, hosts, &q, &message).await;
                    if down && let Attempt::Deferred(why) = &attempt {
                        unreachable = Some(why.clone());
                    }
                    attempt
                }
                Err(why) => Attempt::Deferred(why),
            },
        };
        if let Err(e) = core.outbound_attempted(&q, attempt).await {
            tracing::warn!(id = q.id, error = %e, "cannot record a delivery attempt");
        }
    }
}

/// The queued message with a DKIM signature of the sender's domain on top (when the domain is
/// ours; its key is made on first use if `kontor domain add` did not make one).
async fn signed(core: &Core, q: &Queued) -> Result<Vec<u8>, String> {
    let raw = core.queued_bytes(q).await.map_err(|e| e.to_string())?;
    let from_domain = kontor_domain::mail::parse::submission_headers(&raw)
        .from
        .first()
        .and_then(|f| f.rsplit_once('@').map(|(_, d)| d.to_owned()))
        .or_else(|| q.mail_from.rsplit_once('@').map(|(_, d)| d.to_owned()));
    let key = match from_domain.as_deref().map(DomainName::parse) {
        Some(Ok(d)) => match core.dkim_key(&d).await {
            Ok(Some(k)) => Some(k),
            // Only for a domain of ours: another's key would be made and thrown away each time.
            Ok(None) if core.is_local_domain(&d).await.unwrap_or(false) => {
                match tokio::task::spawn_blocking(move || dkim::generate(&d)).await {
                    Ok(Ok(k)) => core.set_dkim_key(k).await.ok(),
                    _ => None,
                }
            }
            Ok(None) => None,
            Err(e) => return Err(e.to_string()),
        },
        _ => None,
    };
    let mut out = Vec::with_capacity(raw.len() + 1024);
    if let Some(key) = key {
        match dkim::sign(&key, &raw) {
            Ok(header) => out.extend_from_slice(header.as_bytes()),
            Err(e) => tracing::warn!(id = q.id, error = %e, "sending unsigned"),
        }
    }
    out.extend_from_slice(&raw);
    Ok(out)
}

/// Tries the hosts in order until one takes the message or refuses it for good; also says
/// whether no host could be talked to at all.
async fn send(
    dns: &MessageAuthenticator,
    s: &Settings,
    hosts: &[(String, u16)],
    q: &Queued,
    message: &[u8],
) -> (Attempt, bool) {
    let from = match q.mail_from.as_str() {
        "" => None,
        a => match a.parse::<lettre::Address>() {
            Ok(a) => Some(a),
            Err(_) => return (Attempt::Failed(format!("bad sender address: {a}")), false),
        },
    };
    let Ok(Ok(envelope)) = q.rcpt.parse::<lettre::Address>().map(|to| Envelope::new(from, vec![to])) else {
        return (Attempt::Failed(format!("bad address: {}", q.rcpt)), false);
    };
    let mut last = String::from("no mail host");
    let mut answered = false;
    for (host, port) in hosts {
        let addresses = match dns::addresses(dns, host).await {
            Ok(a) => a,
            Err(e) => {
                last = e;
                continue;
            }
        };
        for ip in addresses {
            let tls = TlsParameters::builder(host.clone())
                .dangerous_accept_invalid_certs(true)
                .dangerous_accept_invalid_hostnames(true)
                .build_rustls();
            let transport = |tls: Option<TlsParameters>| {
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ip.to_string())
                    .port(*port)
                    .hello_name(ClientId::Domain(s.hostname.clone()))
                    .timeout(Some(s.timeout));
                if let Some(tls) = tls {
                    builder = builder.tls(Tls::Opportunistic(tls));
                }
                builder.build()
            };
            let mut sent = transport(tls.ok()).send_raw(&envelope, message).await;
            // A server whose STARTTLS fails gets the message in the clear, as before TLS (RFC 3207
            // §4.1 leaves it to the client; opportunistic TLS must not make mail undeliverable).
            if let Err(e) = &sent
                && e.is_tls()
            {
                tracing::info!(%host, error = %e, "STARTTLS failed; sending without TLS");
                sent = transport(None).send_raw(&envelope, message).await;
            }
            match sent {
                Ok(_) => return (Attempt::Delivered, false),
                Err(e) if e.is_permanent() => {
                    return (Attempt::Failed(format!("{host} ({ip}) said: {}", reply(&e))), false);
                }
                Err(e) => {
                    answered |= e.is_transient();
                    last = format!("{host} ({ip}): {}", reply(&e));
                }
            }
        }
    }
    (Attempt::Deferred(last), !answered)
}

/// A server's refusal as it was sent (`550 5.1.1 …`), else the client's error.
fn reply(e: &lettre::transport::smtp::Error) -> String {
    let text = e.to_string();
    match (e.status(), text.split_once("): ")) {
        (Some(code), Some((_, said))) => format!("{code} {said}"),
        _ => text,
    }
}
