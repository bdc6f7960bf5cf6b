//! Kontor's domain: ids, principals and accounts, collections and items, the one change log,
//! the one permission model, quota, authentication, and the ports the storage implements.
//!
//! Knows nothing of sea-orm, axum, XML or any wire protocol. Protocol adapters call the
//! services on [`Core`] with the authenticated principal; the services check rights themselves.

pub mod address;
pub mod auth;
pub mod changes;
pub mod error;
pub mod events;
pub mod ids;
pub mod mail;
pub mod model;
pub mod objects;
pub mod ports;
pub mod quota;
pub mod recurrence;
pub mod rights;
mod services;
pub mod vtimezone;

pub use error::{Error, Result};
pub use services::collections::Access;
pub use services::files::{DRIVE_ROOT, Node};
pub use services::mail::{Delivered, MailboxReader, Recipient};
pub use services::mail_list::{BlobRef, Dropped, Structured};
pub use services::mail_view::{LogPage, MailView};
pub use services::share_notices::{ShareNotice, ShareNotices};
pub use services::submission::{Route, SendAs, Submitted};
pub use services::vacation::Vacation;
pub use services::{AclEntry, SharedMailbox};
pub use services::{Actor, NewUser};

use std::sync::Arc;

/// Everything the services need: the ports, and authentication state. One per process,
/// shared by every adapter.
pub struct Core {
    pub store: Arc<dyn ports::Store>,
    pub blobs: Arc<dyn ports::BlobStore>,
    pub bus: Arc<dyn events::EventBus>,
    pub auth: auth::Auth,
    pub settings: Settings,
    /// Quota warnings committed on this node, waiting to be mailed (see
    /// [`Core::send_quota_warnings`]).
    pub quota_warnings: services::mail::QuotaWarnings,
    /// Woken when mail was queued for other servers (the server's outbound worker waits here).
    pub outbound: tokio::sync::Notify,
}

/// Tunables of the domain, set from the server's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest item (message, event, file) accepted, in bytes.
    pub max_item_size: u64,
    /// Default quota for new users, if any.
    pub default_quota: Option<u64>,
    /// Lifetime of access tokens.
    pub token_ttl_secs: u64,
    pub login_limits: auth::limiter::LimitSettings,
    /// This server's host name (in DSNs and headers it writes).
    pub hostname: String,
    /// The first retry of a queued message comes this long after a failed attempt; each
    /// further one twice as long after the one before (at most four hours).
    pub outbound_retry_ms: i64,
    /// A message not delivered this long after it was queued is bounced to its sender.
    pub outbound_give_up_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_item_size: 64 << 20,
            default_quota: None,
            token_ttl_secs: 3600,
            login_limits: auth::limiter::LimitSettings::default(),
            hostname: "localhost".into(),
            outbound_retry_ms: 60_000,
            outbound_give_up_ms: 5 * 24 * 3600 * 1000,
        }
    }
}

impl Core {
    /// Builds the core over its ports. Reads (or creates) the token signing key from the store.
    pub async fn new(
        store: Arc<dyn ports::Store>,
        blobs: Arc<dyn ports::BlobStore>,
        bus: Arc<dyn events::EventBus>,
        settings: Settings,
    ) -> Result<Self> {
        let fresh: [u8; 32] = rand::random();
        let secret = store.secret("jwt-hs256", fresh.to_vec()).await?;
        let auth = auth::Auth {
            limiter: auth::limiter::LoginLimiter::new(settings.login_limits),
            tokens: auth::token::TokenIssuer::new(&secret, settings.token_ttl_secs),
            verified: auth::cache::VerifiedCache::default(),
        };
        Ok(Self {
            store,
            blobs,
            bus,
            auth,
            settings,
            quota_warnings: services::mail::QuotaWarnings::default(),
            outbound: tokio::sync::Notify::new(),
        })
    }

    /// Publishes the events of a committed write and hands back its value.
    fn publish<T>(&self, c: ports::Committed<T>) -> T {
        for e in c.events {
            if let events::Event::QuotaWarning { account, level, used_bytes, limit_bytes } = &e {
                // Mailed by this node only: the bus carries the event to every node.
                self.quota_warnings.push(*account, *level, *used_bytes, *limit_bytes);
            }
            self.bus.publish(e);
        }
        c.value
    }
}
