//! SMTP: the inbound (MX) listener that accepts mail for local domains, users and aliases and
//! delivers it to inboxes, answering 250 only once the message is stored durably.
//!
//! Submission with AUTH, the outbound queue and DKIM/SPF/DMARC come next (issue 4).
//! [`session`] is the protocol as a state machine; [`server`] drives it over sockets.
//! Imports only `kontor-domain`.

pub mod server;
pub mod session;

pub use server::connection;
pub use session::Limits;
