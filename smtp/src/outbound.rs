//! The outbound queue's worker: claims due entries, signs each message with its domain's DKIM
//! key, and hands it to the recipient domain's mail servers (MX lookup, or a configured relay,
//! signing in there when credentials are set), with STARTTLS as [`TlsPolicy`] says. What
//! happened goes back to the domain, which retries with backoff or bounces.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kontor_domain::Core;
use kontor_domain::address::DomainName;
use kontor_domain::mail::outbound::{Attempt, Queued};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mail_auth::MessageAuthenticator;
use tokio::sync::watch;

use crate::{dkim, dns};

/// How the worker uses TLS with the servers it hands mail to (`outbound.tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsPolicy {
    /// STARTTLS when the server offers it, its certificate not checked, and in the clear when
    /// it offers none or the handshake fails (RFC 7435: most MX certificates would not pass a
    /// check, and a check that fails would make mail undeliverable).
    May,
    /// STARTTLS or nothing: a server that offers none, or whose handshake fails, is tried again
    /// later; the certificate is not checked.
    Encrypt,
    /// STARTTLS with a certificate valid for the server's name (the MX host, or the relay as
    /// configured) from the built-in roots or `outbound.ca`; otherwise tried again later.
    Verify,
}

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
    pub tls: TlsPolicy,
    /// Signs in at the relay (AUTH PLAIN or LOGIN) with these (user, password). They are sent
    /// over TLS only (at least [`TlsPolicy::Encrypt`]), unless the relay is on this machine.
    pub relay_auth: Option<(String, String)>,
    /// More trusted certificates (PEM) for [`TlsPolicy::Verify`], e.g. a company CA.
    pub roots: Vec<u8>,
}

impl Settings {
    /// The TLS policy for a server: credentials raise it to at least [`TlsPolicy::Encrypt`]
    /// unless the relay is a loopback address.
    fn policy_for(&self, ip: std::net::IpAddr) -> TlsPolicy {
        if self.relay.is_some() && self.relay_auth.is_some() && !ip.is_loopback() {
            self.tls.max(TlsPolicy::Encrypt)
        } else {
            self.tls
        }
    }
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
    // What each host and address said, for the queue's last error.
    let mut errors: Vec<String> = Vec::new();
    let mut answered = false;
    for (host, port) in hosts {
        let addresses = match dns::addresses(dns, host).await {
            Ok(a) => a,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for ip in addresses {
            let policy = s.policy_for(ip);
            let params = match tls_parameters(s, host, policy) {
                Ok(p) => p,
                Err(e) => return (Attempt::Deferred(format!("TLS set-up for {host}: {e}")), false),
            };
            let transport = |tls: Option<Tls>| {
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ip.to_string())
                    .port(*port)
                    .hello_name(ClientId::Domain(s.hostname.clone()))
                    .timeout(Some(s.timeout));
                if let Some(tls) = tls {
                    builder = builder.tls(tls);
                }
                if let (Some(_), Some((user, password))) = (&s.relay, &s.relay_auth) {
                    builder = builder
                        .credentials(Credentials::new(user.clone(), password.clone()))
                        .authentication(vec![Mechanism::Plain, Mechanism::Login]);
                }
                builder.build()
            };
            let tls = if policy == TlsPolicy::May { Tls::Opportunistic(params) } else { Tls::Required(params) };
            let mut sent = transport(Some(tls)).send_raw(&envelope, message).await;
            // A server whose STARTTLS fails gets the message in the clear, as before TLS (RFC 3207
            // §4.1 leaves it to the client; opportunistic TLS must not make mail undeliverable).
            if policy == TlsPolicy::May
                && let Err(e) = &sent
                && e.is_tls()
            {
                tracing::info!(%host, error = %e, "STARTTLS failed; sending without TLS");
                sent = transport(None).send_raw(&envelope, message).await;
            }
            match sent {
                Ok(_) => return (Attempt::Delivered, false),
                // A refused sign-in at the relay is the configuration's fault, not the message's:
                // tried again (and bounced only after the retry window), not bounced at once.
                Err(e) if e.is_permanent() && !refused_sign_in(&e) => {
                    return (Attempt::Failed(format!("{host} ({ip}) said: {}", reply(&e))), false);
                }
                Err(e) => {
                    answered |= e.is_transient() || e.is_permanent();
                    errors.push(format!("{host} ({ip}): {}", reply(&e)));
                }
            }
        }
    }
    let mut last = if errors.is_empty() { String::from("no mail host") } else { errors.join("; ") };
    if last.len() > 2000 {
        let cut = (0..=2000).rev().find(|i| last.is_char_boundary(*i)).unwrap_or(0);
        last.truncate(cut);
    }
    (Attempt::Deferred(last), !answered)
}

/// TLS parameters for a server under a policy: certificates checked against the name (and the
/// extra roots) for [`TlsPolicy::Verify`], taken as they come otherwise.
fn tls_parameters(
    s: &Settings,
    host: &str,
    policy: TlsPolicy,
) -> Result<TlsParameters, lettre::transport::smtp::Error> {
    let mut b = TlsParameters::builder(host.to_owned());
    if policy == TlsPolicy::Verify {
        if !s.roots.is_empty() {
            b = b.add_root_certificate(Certificate::from_pem(&s.roots)?);
        }
    } else {
        b = b.dangerous_accept_invalid_certs(true).dangerous_accept_invalid_hostnames(true);
    }
    b.build_rustls()
}

/// Whether a refusal answered the sign-in (RFC 4954 §6: 530, 534, 535, 538).
fn refused_sign_in(e: &lettre::transport::smtp::Error) -> bool {
    e.status().is_some_and(|c| matches!(c.to_string().as_str(), "530" | "534" | "535" | "538"))
}

/// A server's refusal as it was sent (`550 5.1.1 …`), else the client's error.
fn reply(e: &lettre::transport::smtp::Error) -> String {
    let text = e.to_string();
    match (e.status(), text.split_once("): ")) {
        (Some(code), Some((_, said))) => format!("{code} {said}"),
        _ => text,
    }
}
