//! Placeholder: this adapter arrives with its own issue. It may import only `kontor-domain`.
