//! The inbound (MX) listener: accepts connections, runs a [`Session`] per connection over the
//! socket, and asks the domain what the session needs (recipients, delivery).

use std::net::SocketAddr;
use std::time::Duration;

use kontor_domain::Core;
use smtp_proto::request::receiver::RequestReceiver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::session::{Limits, Session, Step};

/// How long a client may stay silent.
const IDLE: Duration = Duration::from_mins(5);

/// A start for message ids (the Received: header's `id`): the clock, so ids of a restarted
/// server do not repeat; each connection then takes a block of 256.
pub fn serial_seed() -> u64 {
    u64::try_from(kontor_domain::ids::Timestamp::now().0).unwrap_or_default() << 16
}

/// Serves one connection: the greeting, then commands until QUIT, an error or shutdown.
pub async fn connection(
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
