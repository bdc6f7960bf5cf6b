//! The HTTPS listener: the same service as the HTTP one, over TLS with the configured
//! certificate, for JMAP clients that insist on `https://` (and anyone without a TLS proxy in
//! front). Handshakes run each in their own task with a time limit, so a slow client never
//! holds up the others; finished ones are handed to axum as its listener's connections.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The longest a TLS handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Connections whose handshake finished, in the order they did.
struct Handshaken {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handshaken {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The acceptor stopped (shutting down): no more connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Requests that came over this listener say so, as a TLS proxy in front would: the JMAP
/// session then names `https://` and `wss://` URLs.
async fn mark_https(mut req: Request) -> Request {
    req.headers_mut().insert("x-forwarded-proto", HeaderValue::from_static("https"));
    req
}

/// Serves `router` on `tcp` over TLS until `stop` turns true.
pub async fn serve(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let local = tcp.local_addr()?;
    let (tx, rx) = mpsc::channel(64);
    let mut stop_accepting = stop.clone();
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                r = tcp.accept() => r,
                () = async { let _ = stop_accepting.wait_for(|s| *s).await; } => return,
            };
            let (socket, peer) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "https: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE, acceptor.accept(socket)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "https: handshake failed"),
                    Err(_) => tracing::debug!(%peer, "https: handshake timed out"),
                }
            });
        }
    });
    let router = router.layer(axum::middleware::map_request(mark_https));
    // Each connection's service: the router, with the peer as `ConnectInfo` as on HTTP.
    let per_connection = tower::service_fn(move |incoming: axum::serve::IncomingStream<'_, Handshaken>| {
        let peer = *incoming.remote_addr();
        let service = tower::Layer::layer(&axum::Extension(axum::extract::ConnectInfo(peer)), router.clone());
        async move { Ok::<_, std::convert::Infallible>(service) }
    });
    let mut graceful = stop;
    axum::serve(Handshaken { rx, local }, per_connection)
        .with_graceful_shutdown(async move {
            let _ = graceful.wait_for(|s| *s).await;
        })
        .await
}
