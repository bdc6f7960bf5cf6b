//! The IMAP listener: reads command lines and the literals they announce (sending `+` for
//! synchronizing ones), hands whole commands to a [`Session`], writes its responses.

use std::net::SocketAddr;
use std::time::Duration;

use kontor_domain::Core;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::net::TcpStream;

use crate::parse::literal_at_end;
use crate::session::{Outcome, Session};

/// RFC 9051 §5.4: at least 30 minutes before an autologout.
const IDLE: Duration = Duration::from_mins(30);
/// Longest line between literals.
const MAX_LINE: u64 = 64 << 10;
/// Largest literal (an APPENDed message) and largest whole command.
const MAX_LITERAL: usize = 64 << 20;

/// A connection, plain or encrypted.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

type Reader = BufReader<ReadHalf<Box<dyn Io>>>;
type Writer = WriteHalf<Box<dyn Io>>;

/// TLS for a listener: offered with STARTTLS, or spoken from the start (`implicit`, port 993).
#[derive(Clone)]
pub struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub implicit: bool,
}

async fn handshake(tls: &Tls, io: Box<dyn Io>) -> std::io::Result<(Reader, Writer)> {
    let s = tokio::time::timeout(Duration::from_mins(1), tls.acceptor.accept(io))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))??;
    let (r, w) = tokio::io::split(Box::new(s) as Box<dyn Io>);
    Ok((BufReader::new(r), w))
}

/// What a connection's command and answer buffers keep between commands, at most.
const KEEP: usize = 64 << 10;

/// Writes a response and pushes it out (a compressed stream is flushed: RFC 4978 §4).
async fn send(write: &mut Writer, bytes: &[u8]) -> std::io::Result<()> {
    write.write_all(bytes).await?;
    write.flush().await
}

/// Writes pieces of a response in as few writes as the connection allows, and pushes them out.
async fn send_pieces(write: &mut Writer, pieces: &[bytes::Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> =
        pieces.iter().filter(|p| !p.is_empty()).map(|p| std::io::IoSlice::new(p)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        // At most IOV_MAX (1024 on Linux) buffers in one call.
        let n = write.write_vectored(&rest[..rest.len().min(512)]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        std::io::IoSlice::advance_slices(&mut rest, n);
    }
    write.flush().await
}

/// COMPRESS=DEFLATE (RFC 4978): the connection's bytes through raw deflate, both ways.
struct Deflated {
    read: async_compression::tokio::bufread::DeflateDecoder<BufReader<ReadHalf<Box<dyn Io>>>>,
    write: async_compression::tokio::write::DeflateEncoder<WriteHalf<Box<dyn Io>>>,
}

impl Deflated {
    fn new(io: Box<dyn Io>) -> Self {
        let (r, w) = tokio::io::split(io);
        let mut read = async_compression::tokio::bufread::DeflateDecoder::new(BufReader::new(r));
        read.multiple_members(true);
        Self { read, write: async_compression::tokio::write::DeflateEncoder::new(w) }
    }
}

impl tokio::io::AsyncRead for Deflated {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Deflated {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.write).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.write).poll_shutdown(cx)
    }
}

/// Serves one connection until LOGOUT, an error or an autologout.
pub async fn connection(socket: TcpStream, peer: SocketAddr, core: &Core, tls: Option<&Tls>) -> std::io::Result<()> {
    let _ = socket.set_nodelay(true);
    // A second handle on the socket for TCP_QUICKACK after each literal (see below).
    let std = socket.into_std()?;
    let acks = std.try_clone().ok();
    let socket = TcpStream::from_std(std)?;
    let mut session = Session::new(peer.ip());
    let (mut reader, mut write) = match tls {
        Some(t) if t.implicit => {
            session.tls_started();
            handshake(t, Box::new(socket)).await?
        }
        _ => {
            let (r, w) = tokio::io::split(Box::new(socket) as Box<dyn Io>);
            (BufReader::new(r), w)
        }
    };
    session.offer_tls(tls.is_some());
    send(&mut write, session.hello().as_bytes()).await?;
    // Where long answers (FETCH) hand over finished pieces while their command runs.
    let (pieces, mut rx) = tokio::sync::mpsc::channel::<Vec<bytes::Bytes>>(4);
    session.set_stream(Some(pieces));
    let mut command = Vec::new();
    let mut out = Vec::new();
    loop {
        let start = command.len();
        let n = match tokio::time::timeout(IDLE, (&mut reader).take(MAX_LINE).read_until(b'\n', &mut command)).await {
            Ok(r) => r?,
            Err(_) => {
                send(&mut write, b"* BYE Autologout; idle for too long\r\n").await?;
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        if command.last() != Some(&b'\n') {
            send(&mut write, b"* BYE Line too long\r\n").await?;
            return Ok(());
        }
        let line =
            command[start..].strip_suffix(b"\r\n").or_else(|| command[start..].strip_suffix(b"\n")).unwrap_or_default();
        if let Some((size, sync)) = literal_at_end(line) {
            if size > MAX_LITERAL || command.len() + size > MAX_LITERAL {
                send(&mut write, b"* BYE Literal too large\r\n").await?;
                return Ok(());
            }
            if sync {
                send(&mut write, b"+ Ready for literal data\r\n").await?;
            }
            let at = command.len();
            command.resize(at + size, 0);
            tokio::time::timeout(IDLE, reader.read_exact(&mut command[at..]))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "literal"))??;
            // Acknowledge the literal at once: a client that writes its last bytes (the line end
            // after an APPENDed message) as a small second write waits for this ACK (Nagle), and
            // a delayed ACK costs it 40 ms per message.
            if let Some(a) = &acks {
                let _ = socket2::SockRef::from(a).set_tcp_quickack(true);
            }
            continue;
        }
        // Pieces of a long answer are written while the command still runs; the rest after.
        let outcome = {
            let handled = session.handle(core, &command, &mut out);
            tokio::pin!(handled);
            loop {
                tokio::select! {
                    biased;
                    o = &mut handled => break o,
                    Some(pieces) = rx.recv() => send_pieces(&mut write, &pieces).await?,
                }
            }
        };
        while let Ok(pieces) = rx.try_recv() {
            send_pieces(&mut write, &pieces).await?;
        }
        send(&mut write, &out).await?;
        out.clear();
        command.clear();
        // A connection keeps small buffers between commands: an APPEND of a large message
        // or a long answer would otherwise hold its size for as long as the client stays.
        out.shrink_to(KEEP);
        command.shrink_to(KEEP);
        match outcome {
            Outcome::Continue => {}
            Outcome::Close => return Ok(()),
            Outcome::Compress => {
                // The client sends nothing more until it has the OK (RFC 4978 §3); bytes that
                // came anyway cannot be read either way.
                if !reader.buffer().is_empty() {
                    send(&mut write, b"* BYE Data sent before COMPRESS was answered\r\n").await?;
                    return Ok(());
                }
                let io = reader.into_inner().unsplit(write);
                let (r, w) = tokio::io::split(Box::new(Deflated::new(io)) as Box<dyn Io>);
                (reader, write) = (BufReader::new(r), w);
            }
            Outcome::StartTls => {
                let Some(t) = tls else { return Ok(()) };
                // Whatever the client sent after STARTTLS in the clear is dropped with the buffer.
                let io = reader.into_inner().unsplit(write);
                (reader, write) = handshake(t, io).await?;
                session.tls_started();
            }
            Outcome::Idle(tag) => {
                if idle(core, &mut session, &tag, &mut reader, &mut write).await? == Outcome::Close {
                    return Ok(());
                }
            }
        }
    }
}

/// IDLE: reports the selected mailbox's changes as the event bus announces them (writes in
/// any protocol, on any node), until the client sends DONE.
async fn idle(
    core: &Core,
    session: &mut Session,
    tag: &str,
    reader: &mut Reader,
    write: &mut Writer,
) -> std::io::Result<Outcome> {
    let mut events = core.bus.subscribe();
    let account = session.watched_account();
    let mut out = Vec::new();
    // Changes made between the command and the subscription.
    session.refresh(core, &mut out).await;
    send(write, &out).await?;
    let mut line = Vec::new();
    // Partly read bytes stay in `line` when an event interrupts the read (read_until appends).
    let mut limited = reader.take(MAX_LINE);
    loop {
        out.clear();
        tokio::select! {
            r = tokio::time::timeout(IDLE, limited.read_until(b'\n', &mut line)) => {
                let n = match r {
                    Ok(r) => r?,
                    Err(_) => {
                        send(write, b"* BYE Autologout; idle for too long\r\n").await?;
                        return Ok(Outcome::Close);
                    }
                };
                if n == 0 {
                    return Ok(Outcome::Close);
                }
                let outcome = session.idle_done(core, tag, &line, &mut out).await;
                send(write, &out).await?;
                return Ok(outcome);
            }
            e = events.recv() => {
                let relevant = match e {
                    Ok(kontor_domain::events::Event::Changed { account: a, kinds, .. }) => {
                        Some(a) == account && kinds.contains(&kontor_domain::model::CollectionKind::MailFolder)
                    }
                    Ok(_) => false,
                    // Missed events: look anyway.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(Outcome::Close),
                };
                if relevant {
                    session.refresh(core, &mut out).await;
                    send(write, &out).await?;
                }
            }
        }
    }
}
