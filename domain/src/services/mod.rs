//! The services, as methods on [`crate::Core`], one file per area.

mod admin;
pub mod collections;
pub mod files;
mod items;
pub mod mail;
pub mod mail_list;
mod mail_search;
pub mod mail_view;
pub mod share_notices;
mod shared_mail;
mod sharing;
pub mod submission;
mod sync;
mod uploads;
pub mod vacation;

pub use admin::{Actor, NewUser};
pub use shared_mail::{AclEntry, SharedMailbox};
