//! Small per-account JSON documents (migration 14).

use async_trait::async_trait;
use kontor_domain::error::{Error, Result};
use kontor_domain::ids::{AccountId, Timestamp};
use kontor_domain::ports::{Document, DocumentStore};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::{SqlStore, db_err};
use crate::entities::document;

#[async_trait]
impl DocumentStore for SqlStore {
    async fn documents(&self, account: AccountId, kind: &str) -> Result<Vec<Document>> {
        Ok(document::Entity::find()
            .filter(document::Column::AccountId.eq(account.0))
            .filter(document::Column::Kind.eq(kind))
            .order_by_asc(document::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|d| Document {
                id: d.id,
                data: d.data,
                created_at: Timestamp(d.created_at),
                updated_at: Timestamp(d.updated_at),
            })
            .collect())
    }

    async fn put_document(&self, account: AccountId, kind: &str, id: Option<i64>, data: &str) -> Result<i64> {
        let now = Timestamp::now().0;
        match id {
            None => Ok(document::ActiveModel {
                account_id: Set(account.0),
                kind: Set(kind.to_owned()),
                data: Set(data.to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&self.db)
            .await
            .map_err(db_err)?
            .id),
            Some(id) => {
                let r = document::Entity::update_many()
                    .col_expr(document::Column::Data, Expr::value(data.to_owned()))
                    .col_expr(document::Column::UpdatedAt, Expr::value(now))
                    .filter(document::Column::Id.eq(id))
                    .filter(document::Column::AccountId.eq(account.0))
                    .filter(document::Column::Kind.eq(kind))
                    .exec(&self.db)
                    .await
                    .map_err(db_err)?;
                if r.rows_affected == 0 {
                    return Err(Error::not_found(format!("{kind} {id}")));
                }
                Ok(id)
            }
        }
    }

    async fn remove_document(&self, account: AccountId, kind: &str, id: i64) -> Result<bool> {
        let r = document::Entity::delete_many()
            .filter(document::Column::Id.eq(id))
            .filter(document::Column::AccountId.eq(account.0))
            .filter(document::Column::Kind.eq(kind))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected > 0)
    }
}
