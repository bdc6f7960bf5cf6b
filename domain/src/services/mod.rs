//! The services, as methods on [`crate::Core`], one file per area.

mod admin;
mod collections;
mod items;
mod sharing;
mod sync;

pub use admin::{Actor, NewUser};
