//! The inbound (MX) listener: accepts connections, runs a [`Session`] per connection over the
//! socket, and asks the domain what the session needs (recipients, delivery).

use std::net::SocketAddr;
use std::time::Duration;

use kontor_domain::Core;
use smtp_proto::request::receiver::RequestReceiver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::session::{Limits, Mode, Session, Step};

/// What a listener's sessions share.
#[derive(Clone)]
pub struct Listener {
    pub mode: Mode,
    pub limits: Limits,
    /// For SPF/DKIM/DMARC checks of inbound mail; none: not checked.
    pub dns: Option<std::sync::Arc<mail_auth::MessageAuthenticator>>,
    /// TLS: offered with STARTTLS, or spoken from the start (`implicit`, port 465).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub implicit_tls: bool,
}

/// A connection, plain or encrypted.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// How long a client may stay silent.
const IDLE: Duration = Duration::from_mins(5);

/// A start for message ids (the Received: header's `id`): the clock, so ids of a restarted
/// server do not repeat; each connection then takes a block of 256.
pub fn serial_seed() -> u64 {
    u64::try_from(kontor_domain::ids::Timestamp::now().0).unwrap_or_default() << 16
}

/// Serves one connection: the greeting, then commands until QUIT, an error or shutdown.
pub async fn connection(
    socket: TcpStream,
    peer: SocketAddr,
    core: &Core,
    listener: &Listener,
    serial: u64,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let _ = socket.set_nodelay(true);
    let mut session = Session::new(listener.limits.clone(), listener.mode, peer.ip(), serial);
    let mut socket: Box<dyn Io> = match (&listener.tls, listener.implicit_tls) {
        (Some(tls), true) => {
            let s = tokio::time::timeout(IDLE, tls.accept(socket))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))??;
            session.tls_started();
            Box::new(s)
        }
        _ => Box::new(socket),
    };
    session.offer_tls(listener.tls.is_some());
    socket.write_all(session.greeting().as_bytes()).await?;
    let mut requests = RequestReceiver::default();
    let mut buf = vec![0u8; 64 << 10];
    let mut out = String::new();
    loop {
        let n = match tokio::time::timeout(IDLE, socket.read(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => {
                socket.write_all(b"421 4.4.2 Idle too long, closing connection\r\n").await?;
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        let input = &buf[..n];
        let mut at = 0;
        while at < input.len() {
            let step = if session.awaits_auth_line() {
                let (taken, step) = session.auth_line(&input[at..]);
                at += taken;
                match step {
                    Some(s) => s,
                    None => continue,
                }
            } else if session.in_data() {
                let (taken, step) = session.data(&input[at..]);
                at += taken;
                match step {
                    Some(s) => s,
                    None => continue,
                }
            } else {
                let mut it = input[at..].iter();
                let parsed = requests.ingest(&mut it);
                let taken = input.len() - at - it.as_slice().len();
                at += taken;
                match parsed {
                    Ok(r) => session.request(r),
                    Err(smtp_proto::Error::NeedsMoreData { .. }) => break,
                    Err(e) => session.parse_error(&e),
                }
            };
            let step = match step {
                Step::CheckRecipient(address) if listener.mode == Mode::Submission => {
                    let r = core.submission_route(&address).await;
                    session.route_checked(address, r)
                }
                Step::CheckRecipient(address) => {
                    let r = core.recipient(&address).await;
                    session.recipient_checked(address, &r)
                }
                Step::Authenticate { login, password } => {
                    let creds = kontor_domain::auth::Credentials::Password { login, password };
                    let r = core.authenticate(creds, peer.ip()).await.map(|a| a.principal);
                    session.authenticated(r)
                }
                Step::Deliver => deliver(core, listener, &mut session, peer).await,
                Step::StartTls(reply) => {
                    out.push_str(&reply);
                    socket.write_all(out.as_bytes()).await?;
                    out.clear();
                    let Some(tls) = &listener.tls else { return Ok(()) };
                    // What the client sent after STARTTLS in the clear is dropped (RFC 3207 §6).
                    let s = tokio::time::timeout(IDLE, tls.accept(socket))
                        .await
                        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))??;
                    socket = Box::new(s);
                    session.tls_started();
                    break;
                }
                other => other,
            };
            match step {
                Step::Reply(r) => out.push_str(&r),
                Step::Close(r) => {
                    out.push_str(&r);
                    socket.write_all(out.as_bytes()).await?;
                    return Ok(());
                }
                Step::CheckRecipient(_) | Step::Deliver | Step::Authenticate { .. } | Step::StartTls(_) => {
                    unreachable_step(&mut out);
                }
            }
        }
        // PIPELINING: replies go out together once the input at hand is used up.
        if !out.is_empty() {
            socket.write_all(out.as_bytes()).await?;
            out.clear();
        }
        let stopping = *stop.borrow();
        if stopping && !session.in_data() {
            socket.write_all(b"421 4.3.2 Server shutting down\r\n").await?;
            return Ok(());
        }
    }
}

/// Stores a complete message: for the MX, with its authentication results on top, into the
/// recipients' inboxes; for submission, through the domain's submission (Sent copy, local
/// delivery, outbound queue).
async fn deliver(core: &Core, listener: &Listener, session: &mut Session, peer: SocketAddr) -> Step {
    let now = chrono::Utc::now().to_rfc2822();
    let (recipients, mut message) = session.message(&now);
    match (listener.mode, session.user().cloned()) {
        (Mode::Submission, Some(user)) => {
            let (_, from) = session.envelope();
            let from = from.to_owned();
            let outcome =
                core.submit_with_dsn(&user, &from, &session.recipient_addresses(), session.dsn(), &message, true).await;
            session.submitted(&outcome)
        }
        (Mode::Submission, None) => Step::Reply("530 5.7.0 Authentication required\r\n".into()),
        (Mode::Mx, _) => {
            if let Some(clean) = kontor_domain::mail::parse::strip_forged_results(&message, &listener.limits.hostname) {
                message = clean;
            }
            if let Some(dns) = &listener.dns {
                let (helo, mail_from) = session.envelope();
                let t = crate::verify::Transaction { peer: peer.ip(), helo, mail_from };
                let header = crate::verify::authentication_results(dns, &listener.limits.hostname, &t, &message).await;
                let mut stamped = header.into_bytes();
                stamped.extend_from_slice(&message);
                message = stamped;
            }
            let outcome = core.deliver_from(session.envelope().1, &recipients, &message).await;
            // Stored for some and not for others: 250 goes out (a retry would deliver twice),
            // and the sender learns of the others from a DSN; of those stored, when it asked
            // (NOTIFY=SUCCESS).
            if let Ok(all) = &outcome
                && all.iter().any(|d| d.outcome.is_ok())
            {
                let (_, mail_from) = session.envelope();
                for d in all {
                    let (rcpt, rcpt_dsn) = session.recipient(d.recipient).unwrap_or_default();
                    let who = (rcpt.as_str(), &rcpt_dsn);
                    match &d.outcome {
                        Err(e) => core.bounce_inbound(mail_from, who, session.dsn(), &e.to_string(), &message).await,
                        Ok(_) => core.report_inbound_delivery(mail_from, who, session.dsn(), &message).await,
                    }
                }
            }
            session.delivered(&outcome)
        }
    }
}

/// A step that asks the domain again cannot come from an answer; say so rather than panic.
fn unreachable_step(out: &mut String) {
    tracing::error!("smtp session asked the domain twice for one command");
    out.push_str("451 4.3.0 Internal error\r\n");
}
