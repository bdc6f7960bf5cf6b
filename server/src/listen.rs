//! The mail protocols' TCP listeners: accept until shutdown, a bounded number of connections
//! at once, each served by its adapter's `connection` in a task of its own.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// How many connections to take, in all and from one address, and what to tell one too many.
pub struct Limits {
    pub total: usize,
    pub per_address: usize,
    /// The protocol's refusal, e.g. `421 4.7.0 …` for SMTP.
    pub refusal: &'static [u8],
}

/// Open connections per source address; a slot is given back when its guard drops.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

struct Slot(Arc<PerAddress>, IpAddr);

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut m = self.0.lock().ok()?;
        let n = m.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), ip))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.0.0.lock()
            && let Some(n) = m.get_mut(&self.1)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Accepts on `listener` until `stop` turns true; at most `limits.total` connections are
/// served at once (more wait in the kernel's backlog) and `limits.per_address` from one
/// address (more are refused). Connections in progress run on after `stop`.
pub async fn accept<F, Fut>(
    proto: &'static str,
    listener: TcpListener,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.total));
    let per_address = Arc::new(PerAddress::default());
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
        let Some(slot) = per_address.take(peer.ip(), limits.per_address) else {
            tracing::warn!(proto, %peer, "too many connections from one address");
            let refusal = limits.refusal;
            tokio::spawn(async move {
                let mut socket = socket;
                let _ = tokio::time::timeout(Duration::from_secs(5), socket.write_all(refusal)).await;
            });
            continue;
        };
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let served = handle(socket, peer);
        tokio::spawn(async move {
            if let Err(e) = served.await {
                tracing::debug!(proto, %peer, error = %e, "connection ended");
            }
            drop((permit, slot));
        });
    }
}
