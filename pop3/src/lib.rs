//! POP3 (RFC 1939, 2449, 5034): a mail program downloads the INBOX, and deletes what it
//! downloaded when it says so (at QUIT). UIDL values are `UIDVALIDITY.UID`, stable across
//! sessions and restarts. [`session`] is the protocol as a state machine; [`server`] drives
//! it over sockets. Imports only `kontor-domain`.

pub mod server;
pub mod session;

pub use server::connection;
