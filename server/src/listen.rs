//! The mail protocols' TCP listeners: accept until shutdown, a bounded number of connections
//! at once, each served by its adapter's `connection` in a task of its own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// Accepts on `listener` until `stop` turns true; at most `max` connections are served at
/// once (more wait in the kernel's backlog). Connections in progress run on after `stop`.
pub async fn accept<F, Fut>(
    proto: &'static str,
    listener: TcpListener,
    max: usize,
    mut stop: watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max));
    loop {
        let (socket, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(proto, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let served = handle(socket, peer);
        tokio::spawn(async move {
            if let Err(e) = served.await {
                tracing::debug!(proto, %peer, error = %e, "connection ended");
            }
            drop(permit);
        });
    }
}
