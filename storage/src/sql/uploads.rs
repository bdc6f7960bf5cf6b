//! Uploaded blobs (JMAP): a row per upload holding one blob reference until it expires.

use async_trait::async_trait;
use kontor_domain::error::Result;
use kontor_domain::ids::{AccountId, BlobId, Timestamp};
use kontor_domain::ports::UploadStore;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::collections::{ref_blob, release};
use super::{SqlStore, commit, db_err, i, u};
use crate::entities::upload;

#[async_trait]
impl UploadStore for SqlStore {
    async fn put_upload(
        &self,
        account: AccountId,
        blob: &BlobId,
        content_type: &str,
        size: u64,
        at: Timestamp,
    ) -> Result<()> {
        let (_turn, txn) = self.write().await?;
        upload::ActiveModel {
            account_id: Set(account.0),
            blob_id: Set(blob.to_string()),
            content_type: Set(content_type.to_owned()),
            size: Set(i(size)),
            created_at: Set(at.0),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(db_err)?;
        ref_blob(&txn, blob, size).await?;
        commit(txn).await
    }

    async fn upload(&self, account: AccountId, blob: &BlobId) -> Result<Option<(String, u64)>> {
        Ok(upload::Entity::find()
            .filter(upload::Column::AccountId.eq(account.0))
            .filter(upload::Column::BlobId.eq(blob.as_str()))
            .order_by_desc(upload::Column::Id)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(|m| (m.content_type, u(m.size))))
    }

    async fn expire_uploads(&self, before: Timestamp, limit: usize) -> Result<usize> {
        let (_turn, txn) = self.write().await?;
        let rows = upload::Entity::find()
            .filter(upload::Column::CreatedAt.lt(before.0))
            .order_by_asc(upload::Column::Id)
            .limit(limit as u64)
            .all(&txn)
            .await
            .map_err(db_err)?;
        upload::Entity::delete_many()
            .filter(upload::Column::Id.is_in(rows.iter().map(|r| r.id)))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        release(&txn, rows.iter().map(|r| r.blob_id.clone()).collect()).await?;
        commit(txn).await?;
        Ok(rows.len())
    }
}
