//! The POP3 listener: a [`Session`] per connection over the socket, the maildrop (the INBOX)
//! read and locked at login, marked messages deleted at QUIT (the UPDATE state) only.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use kontor_domain::Dropped;
use kontor_domain::auth::Credentials;
use kontor_domain::ids::{AccountId, CollectionId};
use kontor_domain::mail::MailboxRole;
use kontor_domain::model::Principal;
use kontor_domain::{Core, Error};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::session::{Entry, LoginError, Session, Step};

/// RFC 1939 §3: at least ten minutes of inactivity before an autologout.
const IDLE: Duration = Duration::from_mins(10);
/// Longest command line accepted (RFC 2449: 255 octets; SASL responses are longer).
const MAX_LINE: u64 = 8192;

/// Accounts with a session in the transaction state on this node (RFC 1939's exclusive
/// maildrop lock); the lock in the database covers the other nodes.
#[derive(Default)]
pub struct Locks(Mutex<HashSet<AccountId>>);

pub struct Held<'a>(&'a Locks, AccountId);

impl Locks {
    fn take(&self, a: AccountId) -> Option<Held<'_>> {
        let mut set = self.0.lock().ok()?;
        // Lazily: a `Held` made and dropped here would unlock the account (and deadlock).
        set.insert(a).then(|| Held(self, a))
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.0.0.lock() {
            set.remove(&self.1);
        }
    }
}

/// The logged-in user's maildrop: the INBOX as it was at login.
struct Maildrop {
    who: Principal,
    inbox: CollectionId,
    /// The read right, checked once at login.
    reader: kontor_domain::MailboxReader,
    uidvalidity: u32,
    /// By UID.
    messages: Vec<Dropped>,
    /// Indexes of the messages downloaded (RETR) in this session, recorded at QUIT in one write.
    retrieved: Vec<usize>,
}

/// A connection, plain or encrypted.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// TLS for a listener: offered with STLS, or spoken from the start (`implicit`, port 995).
#[derive(Clone)]
pub struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub implicit: bool,
}

async fn handshake(tls: &Tls, io: Box<dyn Io>) -> std::io::Result<Box<dyn Io>> {
    let s = tokio::time::timeout(IDLE, tls.acceptor.accept(io))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))??;
    Ok(Box::new(s))
}

/// A message read ahead of its RETR.
struct Ahead {
    index: usize,
    read: tokio::task::JoinHandle<kontor_domain::Result<bytes::Bytes>>,
}

/// The maildrop lock this connection holds in the database: (account, holder, when renewed).
type Lease = Option<(AccountId, String, std::time::Instant)>;

/// How often a session's maildrop lock is renewed while the client is active.
const RENEW: Duration = Duration::from_mins(1);

/// Serves one connection; `locks` is shared by all connections of the process. The maildrop
/// lock is also taken in the database (every node sees it) and given back when the connection
/// ends, however it ends.
pub async fn connection(
    socket: TcpStream,
    peer: SocketAddr,
    core: &Core,
    locks: &Locks,
    tls: Option<&Tls>,
) -> std::io::Result<()> {
    let mut lease: Lease = None;
    let served = serve(socket, peer, core, locks, tls, &mut lease).await;
    if let Some((account, holder, _)) = lease
        && let Err(e) = core.unlock_maildrop(account, &holder).await
    {
        tracing::warn!(error = %e, "pop3: maildrop lock not released (it expires by itself)");
    }
    served
}

async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    core: &Core,
    locks: &Locks,
    tls: Option<&Tls>,
    lease: &mut Lease,
) -> std::io::Result<()> {
    let _ = socket.set_nodelay(true);
    let mut session = Session::new();
    let socket: Box<dyn Io> = match tls {
        Some(t) if t.implicit => {
            session.tls_started();
            handshake(t, Box::new(socket)).await?
        }
        _ => Box::new(socket),
    };
    session.offer_tls(tls.is_some());
    session.allow_cleartext(peer.ip().is_loopback());
    // One buffered stream for both directions (BufReader passes writes through), so STLS can
    // take the socket back, dropping what the client sent in the clear after the command.
    let mut reader = BufReader::new(socket);
    reader.write_all(Session::greeting().as_bytes()).await?;
    let mut maildrop: Option<(Maildrop, Held<'_>)> = None;
    // The message after the last RETR, being read while the client takes that one.
    let mut ahead: Option<Ahead> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match tokio::time::timeout(IDLE, (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line)).await {
            Ok(r) => r?,
            Err(_) => {
                reader.write_all(b"-ERR Autologout: idle for too long\r\n").await?;
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            reader.write_all(b"-ERR Line too long\r\n").await?;
            return Ok(());
        }
        if let Some((account, holder, renewed)) = lease.as_mut()
            && renewed.elapsed() > RENEW
        {
            if !matches!(core.renew_maildrop(*account, holder).await, Ok(true)) {
                reader.write_all(b"-ERR [IN-USE] The maildrop lock was lost\r\n").await?;
                return Ok(());
            }
            *renewed = std::time::Instant::now();
        }
        let text = String::from_utf8_lossy(&line);
        let step = match session.line(text.trim_end_matches(['\r', '\n'])) {
            Step::Login { user, password } => match login(core, locks, &user, password, peer, lease).await {
                Ok((m, held)) => {
                    let entries =
                        m.messages.iter().map(|msg| Entry { uid: msg.uid, size: msg.size, deleted: false }).collect();
                    let step = session.logged_in(Ok((entries, m.uidvalidity)));
                    maildrop = Some((m, held));
                    step
                }
                Err(e) => session.logged_in(Err(e)),
            },
            Step::Retrieve { index, top } => {
                let bytes = match &mut maildrop {
                    Some((m, _)) => match m.messages.get(index) {
                        Some(msg) => {
                            let bytes = match ahead.take() {
                                Some(a) if a.index == index => a.read.await.ok().and_then(Result::ok),
                                other => {
                                    if let Some(a) = other {
                                        a.read.abort();
                                    }
                                    core.read_blobs(&m.reader, &[&msg.bytes]).await.ok().and_then(|mut b| b.pop())
                                }
                            };
                            // RETR is a download (the retention clock starts); TOP is a look.
                            if bytes.is_some() && top.is_none() {
                                m.retrieved.push(index);
                                ahead = m.messages.get(index + 1).and_then(|next| {
                                    let read = core.read_blob_ahead(&m.reader, &next.bytes).ok()?;
                                    Some(Ahead { index: index + 1, read })
                                });
                            }
                            bytes
                        }
                        None => None,
                    },
                    None => None,
                };
                session.retrieved(bytes)
            }
            Step::Update(uids) => {
                if let Some((m, _)) = &maildrop {
                    let downloaded: Vec<&Dropped> = m.retrieved.iter().filter_map(|i| m.messages.get(*i)).collect();
                    if !downloaded.is_empty()
                        && let Err(e) = core.pop3_retrieved(&m.who, &downloaded).await
                    {
                        tracing::warn!(error = %e, "pop3: downloads not recorded");
                    }
                }
                let ok = match &maildrop {
                    Some((m, _)) if !uids.is_empty() => match core.remove_messages(&m.who, m.inbox, &uids).await {
                        Ok(_) => true,
                        Err(e) => {
                            tracing::warn!(error = %e, "pop3 update failed");
                            false
                        }
                    },
                    _ => true,
                };
                session.updated(ok)
            }
            other => other,
        };
        match step {
            Step::Reply(r) => reader.write_all(r.as_bytes()).await?,
            Step::Data(d) => reader.write_all(&d).await?,
            Step::Message { head, body, tail } => {
                reader.write_all(head.as_bytes()).await?;
                reader.write_all(&body).await?;
                reader.write_all(tail).await?;
            }
            Step::Close(r) => {
                // The maildrop is free before the client hears the answer, so it may log in
                // again at once (on this node or another).
                drop(maildrop.take());
                if let Some((account, holder, _)) = lease.take()
                    && let Err(e) = core.unlock_maildrop(account, &holder).await
                {
                    tracing::warn!(error = %e, "pop3: maildrop lock not released (it expires by itself)");
                }
                reader.write_all(r.as_bytes()).await?;
                return Ok(());
            }
            Step::StartTls(r) => {
                reader.write_all(r.as_bytes()).await?;
                let Some(t) = tls else { return Ok(()) };
                reader = BufReader::new(handshake(t, reader.into_inner()).await?);
                session.tls_started();
            }
            Step::Login { .. } | Step::Retrieve { .. } | Step::Update(_) => {
                tracing::error!("pop3 session asked the driver twice for one line");
                reader.write_all(b"-ERR Internal error\r\n").await?;
            }
        }
    }
}

async fn login<'a>(
    core: &Core,
    locks: &'a Locks,
    user: &str,
    password: String,
    peer: SocketAddr,
    lease: &mut Lease,
) -> Result<(Maildrop, Held<'a>), LoginError> {
    let creds = Credentials::Password { login: user.to_owned(), password };
    let who = match core.authenticate(creds, peer.ip()).await {
        Ok(a) => a.principal,
        Err(Error::RateLimited { .. }) => return Err(LoginError::RateLimited),
        Err(Error::AuthFailed) => return Err(LoginError::BadCredentials),
        Err(e) => {
            tracing::warn!(error = %e, "pop3 login failed");
            return Err(LoginError::Unavailable);
        }
    };
    let held = locks.take(who.id).ok_or(LoginError::InUse)?;
    let unavailable = |e: Error| {
        tracing::warn!(error = %e, "pop3 maildrop unavailable");
        LoginError::Unavailable
    };
    // Another node may serve the same maildrop: the lock in the database decides.
    let Some(holder) = core.lock_maildrop(who.id).await.map_err(unavailable)? else {
        return Err(LoginError::InUse);
    };
    *lease = Some((who.id, holder, std::time::Instant::now()));
    let inbox = core.mailbox_with_role(who.id, MailboxRole::Inbox).await.map_err(unavailable)?;
    let (reader, messages) = core.maildrop(&who, inbox.id()).await.map_err(unavailable)?;
    let drop =
        Maildrop { who, inbox: inbox.id(), reader, uidvalidity: inbox.uidvalidity, messages, retrieved: Vec::new() };
    Ok((drop, held))
}
