//! Full-text search of mail through the store's index, and the backfill that indexes
//! messages stored before the index existed.

use crate::error::Result;
use crate::ids::CollectionId;
use crate::mail::search::{SearchText, TextQuery, search_text};
use crate::model::Principal;
use crate::rights::Rights;

/// Messages the backfill reads per round.
const BACKLOG_BATCH: usize = 100;
/// Messages whose waiting text goes into the index per transaction.
const PENDING_BATCH: usize = 256;
/// How long the indexer lets text gather after a write before it takes it in: deliveries in a
/// burst then share a transaction of the index (searches read waiting text meanwhile).
const PENDING_GATHER: std::time::Duration = std::time::Duration::from_millis(250);

impl crate::Core {
    /// The messages of a mailbox the caller may read whose text meets every condition of
    /// `query` (case-insensitive substrings, see [`crate::mail::search`]); message ids,
    /// ascending.
    pub async fn search_mailbox_text(
        &self,
        who: &Principal,
        mailbox: CollectionId,
        query: &TextQuery,
    ) -> Result<Vec<i64>> {
        let access = self.access(who, mailbox).await?;
        access.require(Rights::READ)?;
        self.store.search_text(access.collection.account, Some(mailbox), query).await
    }

    /// Takes all text that waits for the full-text index into it (stores that index in
    /// batches; see [`crate::ports::MailStore::index_pending_text`]); returns how many
    /// messages.
    pub async fn index_pending_text(&self) -> Result<usize> {
        let mut done = 0;
        loop {
            match self.store.index_pending_text(PENDING_BATCH).await? {
                0 => return Ok(done),
                n => done += n,
            }
        }
    }

    /// The indexer: takes waiting text into the full-text index a moment after it was
    /// written, until `stop` says so. Runs on every node (with a store that batches).
    pub async fn run_text_indexer(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.index_pending_text().await {
                tracing::warn!(error = %e, "full-text indexing failed; it is tried again after the next delivery");
            }
            tokio::select! {
                () = self.store.text_written() => {}
                _ = stop.changed() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(PENDING_GATHER) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Indexes the messages waiting for it (stored before the full-text index existed):
    /// reads each one's bytes, extracts its text, stores it. Safe to run on several nodes at
    /// once. Returns how many were indexed.
    pub async fn index_text_backlog(&self) -> Result<usize> {
        let mut done = 0;
        loop {
            let batch = self.store.text_backlog(BACKLOG_BATCH).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            for (message, blob) in batch {
                let text = match self.blobs.get(&blob).await {
                    Ok(Some(raw)) => tokio::task::spawn_blocking(move || search_text(&raw)).await.unwrap_or_default(),
                    Ok(None) => {
                        tracing::warn!(message, %blob, "message bytes missing; indexed without text");
                        SearchText::default()
                    }
                    Err(e) => return Err(e),
                };
                self.store.index_text(message, &text).await?;
                done += 1;
            }
        }
    }
}
