//! The event bus port. Services publish after their transaction commits; listeners (IMAP IDLE,
//! JMAP push, WebDAV-Push, the quota warning mailer) subscribe. On one node the bus is
//! in-process; across nodes the storage crate relays events over PostgreSQL LISTEN/NOTIFY.

use crate::ids::{AccountId, Modseq};
use crate::model::CollectionKind;
use crate::quota::QuotaLevel;
use serde::{Deserialize, Serialize};

/// Something that happened, after it was committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Objects of these kinds changed in the account; its change log is now at `modseq`.
    Changed { account: AccountId, modseq: Modseq, kinds: Vec<CollectionKind> },
    /// The account's use crossed a warning mark upwards.
    QuotaWarning { account: AccountId, level: QuotaLevel, used_bytes: u64, limit_bytes: u64 },
    /// The account's share notices changed (a colleague shared something with it, or one was
    /// dismissed).
    Noticed { account: AccountId },
}

impl Event {
    pub fn account(&self) -> AccountId {
        match self {
            Self::Changed { account, .. } | Self::QuotaWarning { account, .. } | Self::Noticed { account } => *account,
        }
    }
}

/// Publishing and subscribing. Implementations deliver every published event to every current
/// subscriber (on every node); a slow subscriber may miss events and must then resync from the
/// change log, which is the source of truth.
pub trait EventBus: Send + Sync + 'static {
    fn publish(&self, event: Event);
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event>;
    /// Only the events published on this node: for work that one node must do once per event
    /// (posting a web push), where every node hearing every event would repeat it.
    fn subscribe_local(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.subscribe()
    }
    /// Stops relaying, at shutdown: what the bus holds of the store (a listening connection)
    /// goes back at once, even while sessions that still hold the core (an idle client's) wind
    /// down, so the store can close.
    fn close(&self) {}
}
