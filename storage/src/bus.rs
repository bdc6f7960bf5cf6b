//! Event buses: in-process (one node) and PostgreSQL LISTEN/NOTIFY (several nodes on one
//! database). Subscribers always read from a local broadcast channel; the PostgreSQL bus feeds
//! it from the database's notifications, so a node hears its own events and everyone else's.

use kontor_domain::events::{Event, EventBus};
use sea_orm::sqlx::PgPool;
use sea_orm::sqlx::postgres::PgListener;
use tokio::sync::{broadcast, mpsc};

const CAPACITY: usize = 4096;
const CHANNEL: &str = "kontor_events";

/// Delivers events to subscribers of this process.
pub struct LocalBus {
    tx: broadcast::Sender<Event>,
}

impl LocalBus {
    pub fn new() -> Self {
        Self { tx: broadcast::channel(CAPACITY).0 }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus for LocalBus {
    fn publish(&self, event: Event) {
        // No subscriber is not an error.
        let _ = self.tx.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

/// Relays events through PostgreSQL, so every node's subscribers hear every node's events.
pub struct PgBus {
    outbound: mpsc::UnboundedSender<Event>,
    local: broadcast::Sender<Event>,
    /// What this node published (see [`EventBus::subscribe_local`]).
    own: broadcast::Sender<Event>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl Drop for PgBus {
    /// Stops listening, so the listener's connection goes back before the pool closes.
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl PgBus {
    /// Starts listening on the database; must be called inside a Tokio runtime.
    pub async fn start(pool: PgPool) -> kontor_domain::Result<Self> {
        let (local, _) = broadcast::channel(CAPACITY);
        let mut listener = PgListener::connect_with(&pool).await.map_err(kontor_domain::Error::internal)?;
        listener.listen(CHANNEL).await.map_err(kontor_domain::Error::internal)?;
        let fan_out = local.clone();
        let listen = tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(n) => match serde_json::from_str::<Event>(n.payload()) {
                        Ok(ev) => {
                            let _ = fan_out.send(ev);
                        }
                        Err(e) => tracing::warn!(error = %e, "ignoring malformed event notification"),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "event listener lost its connection; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        // One sender task keeps NOTIFYs in publish order.
        let (outbound, mut rx) = mpsc::unbounded_channel::<Event>();
        let send = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let Ok(payload) = serde_json::to_string(&ev) else { continue };
                let sent =
                    sea_orm::sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&pool).await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "could not publish event");
                }
            }
        });
        Ok(Self { outbound, local, own: broadcast::channel(CAPACITY).0, tasks: [listen, send] })
    }
}

impl EventBus for PgBus {
    fn publish(&self, event: Event) {
        let _ = self.own.send(event.clone());
        let _ = self.outbound.send(event);
    }

    fn close(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }

    fn subscribe_local(&self) -> broadcast::Receiver<Event> {
        self.own.subscribe()
    }
}
