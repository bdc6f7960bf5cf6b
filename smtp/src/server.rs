//! The inbound (MX) listener: accepts connections, runs a [`Session`] per connection over the
//! socket, and asks the domain what the session needs (recipients, delivery).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kontor_domain::Core;
use smtp_proto::request::receiver::RequestReceiver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::session::{Limits, Session, Step};

/// How long a client may stay silent.
const IDLE: Duration = Duration::from_mins(5);
/// Connections served at once; more wait for a free slot.
const MAX_CONNECTIONS: usize = 512;

/// Serves SMTP on `listener` until `stop` turns true; connections in progress finish their
/// current command.
pub async fn serve(listener: TcpListener, core: Arc<Core>, limits: Limits, mut stop: watch::Receiver<bool>) {
    let serial =
        Arc::new(AtomicU64::new(u64::try_from(kontor_domain::ids::Timestamp::now().0).unwrap_or_default() << 16));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (socket, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "smtp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let (core, limits, serial, stop) = (core.clone(), limits.clone(), serial.clone(), stop.clone());
        tokio::spawn(async move {
            let first = serial.fetch_add(1 << 8, Ordering::Relaxed);
            if let Err(e) = connection(socket, peer, &core, limits, first, stop).await {
                tracing::debug!(%peer, error = %e, "smtp connection ended");
            }
            drop(permit);
        });
    }
}

async fn connection(
    mut socket: TcpStream,
    peer: SocketAddr,
    core: &Core,
    limits: Limits,
    serial: u64,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let _ = socket.set_nodelay(true);
    let mut session = Session::new(limits, peer.ip(), serial);
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
            let step = if session.in_data() {
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
                Step::CheckRecipient(address) => {
                    let r = core.recipient(&address).await;
                    session.recipient_checked(address, &r)
                }
                Step::Deliver => {
                    let now = chrono::Utc::now().to_rfc2822();
                    let (recipients, message) = session.message(&now);
                    let outcome = core.deliver(&recipients, &message).await;
                    session.delivered(&outcome)
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
                Step::CheckRecipient(_) | Step::Deliver => unreachable_step(&mut out),
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

/// A step that asks the domain again cannot come from an answer; say so rather than panic.
fn unreachable_step(out: &mut String) {
    tracing::error!("smtp session asked the domain twice for one command");
    out.push_str("451 4.3.0 Internal error\r\n");
}
