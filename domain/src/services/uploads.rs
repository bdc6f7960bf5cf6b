//! Blobs by id for JMAP: uploads (kept a day, then forgotten unless something else refers to
//! the bytes) and reading a blob the caller may see (an upload to the account, a message or a
//! part of one).

use crate::Core;
use crate::error::{Error, Result};
use crate::ids::{AccountId, BlobId, Timestamp};
use crate::model::Principal;

/// How long an upload is kept for a client to use it (RFC 8620 §6.1 asks for at least an hour).
pub const UPLOAD_TTL_MS: i64 = 24 * 3600 * 1000;

impl Core {
    /// Stores bytes a client uploads to an account it may write to (its own).
    pub async fn upload(&self, who: &Principal, account: AccountId, data: &[u8], content_type: &str) -> Result<BlobId> {
        if account != who.id {
            return Err(Error::forbidden("uploads go to one's own account"));
        }
        let size = data.len() as u64;
        if size > self.settings.max_item_size {
            return Err(Error::TooLarge { size, max: self.settings.max_item_size });
        }
        let blob = self.blobs.put(data).await?;
        self.store.put_upload(account, &blob, content_type, size, Timestamp::now()).await?;
        self.restore_blob(&blob, data).await?;
        Ok(blob)
    }

    /// The media type and size of an upload to the account, for a caller who may use it.
    pub async fn uploaded(&self, who: &Principal, account: AccountId, blob: &BlobId) -> Result<Option<(String, u64)>> {
        if account != who.id {
            return Ok(None);
        }
        self.store.upload(account, blob).await
    }

    /// The bytes of an upload the caller may use.
    pub async fn uploaded_bytes(
        &self,
        who: &Principal,
        account: AccountId,
        blob: &BlobId,
    ) -> Result<Option<bytes::Bytes>> {
        if self.uploaded(who, account, blob).await?.is_none() {
            return Ok(None);
        }
        self.blobs.get(blob).await
    }

    /// The caller's own protocol documents of a kind (JMAP's submissions, push subscriptions);
    /// kinds start with `jmap-`, so a client never reaches the domain's own documents.
    pub async fn client_documents(&self, who: &Principal, kind: &str) -> Result<Vec<crate::ports::Document>> {
        Self::client_kind(kind)?;
        self.store.documents(who.id, kind).await
    }

    /// An account's protocol documents of a kind, for the server's own work (posting push
    /// notifications to the subscriptions of the account that changed).
    pub async fn account_client_documents(
        &self,
        account: AccountId,
        kind: &str,
    ) -> Result<Vec<crate::ports::Document>> {
        Self::client_kind(kind)?;
        self.store.documents(account, kind).await
    }

    /// Stores (`id` `None`) or replaces one of the caller's protocol documents.
    pub async fn put_client_document(&self, who: &Principal, kind: &str, id: Option<i64>, data: &str) -> Result<i64> {
        Self::client_kind(kind)?;
        self.store.put_document(who.id, kind, id, data).await
    }

    /// Removes one of the caller's protocol documents; whether it was there.
    pub async fn remove_client_document(&self, who: &Principal, kind: &str, id: i64) -> Result<bool> {
        Self::client_kind(kind)?;
        self.store.remove_document(who.id, kind, id).await
    }

    fn client_kind(kind: &str) -> Result<()> {
        if kind.starts_with("jmap-") { Ok(()) } else { Err(Error::invalid(format!("no documents of kind {kind}"))) }
    }

    /// Forgets uploads older than [`UPLOAD_TTL_MS`] (a background job).
    pub async fn expire_uploads(&self) -> Result<usize> {
        let before = Timestamp(Timestamp::now().0 - UPLOAD_TTL_MS);
        let mut total = 0;
        loop {
            let n = self.store.expire_uploads(before, 1000).await?;
            total += n;
            if n < 1000 {
                return Ok(total);
            }
        }
    }
}
