//! Full-text search of mail through the store's index, and the backfill that indexes
//! messages stored before the index existed.

use crate::error::Result;
use crate::ids::CollectionId;
use crate::mail::search::{SearchText, TextQuery, search_text};
use crate::model::Principal;
use crate::rights::Rights;

/// Messages the backfill reads per round.
const BACKLOG_BATCH: usize = 100;

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
