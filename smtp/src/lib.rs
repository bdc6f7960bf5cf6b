//! SMTP: the inbound (MX) listener that accepts mail for local domains, users and aliases and
//! delivers it to inboxes (answering 250 only once the message is stored durably, with its
//! SPF/DKIM/DMARC results recorded), the submission listener for signed-in users, and the
//! outbound queue's worker (MX lookup, DKIM signing, retries and bounces through the domain).
//! [`session`] is the protocol as a state machine; [`server`] drives it over sockets.
//! Imports only `kontor-domain`.

pub mod dkim;
pub mod dns;
pub mod helo;
pub mod outbound;
pub mod server;
pub mod session;
pub mod verify;

pub use mail_auth::MessageAuthenticator;
pub use server::connection;
pub use session::{Limits, Mode};
