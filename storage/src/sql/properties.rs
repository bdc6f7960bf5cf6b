//! Dead properties of collections and items.

use kontor_domain::error::{Error, Result};
use kontor_domain::ports::{DeadProperty, PropTarget};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::{SqlStore, commit, db_err};
use crate::entities::{collection, item, property};

pub(crate) fn key(target: PropTarget) -> (i16, i64) {
    match target {
        PropTarget::Collection(c) => (1, c.0),
        PropTarget::Item(i) => (2, i.0),
    }
}

/// Removes the properties of these objects (when the objects go).
pub(crate) async fn forget(c: &impl ConnectionTrait, object_type: i16, ids: Vec<i64>) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    property::Entity::delete_many()
        .filter(property::Column::ObjectType.eq(object_type))
        .filter(property::Column::ObjectId.is_in(ids))
        .exec(c)
        .await
        .map_err(db_err)?;
    Ok(())
}

impl SqlStore {
    async fn owner_of(&self, c: &impl ConnectionTrait, target: PropTarget) -> Result<i64> {
        let owner = match target {
            PropTarget::Collection(id) => {
                collection::Entity::find_by_id(id.0).one(c).await.map_err(db_err)?.map(|m| m.account_id)
            }
            PropTarget::Item(id) => item::Entity::find_by_id(id.0).one(c).await.map_err(db_err)?.map(|m| m.account_id),
        };
        owner.ok_or_else(|| Error::not_found("the resource"))
    }

    pub(crate) async fn read_properties(&self, target: PropTarget) -> Result<Vec<DeadProperty>> {
        let (t, id) = key(target);
        Ok(property::Entity::find()
            .filter(property::Column::ObjectType.eq(t))
            .filter(property::Column::ObjectId.eq(id))
            .order_by_asc(property::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|r| DeadProperty { namespace: r.namespace, name: r.name, value: r.value })
            .collect())
    }

    pub(crate) async fn write_properties(
        &self,
        target: PropTarget,
        set: Vec<DeadProperty>,
        remove: Vec<(String, String)>,
    ) -> Result<()> {
        let (t, id) = key(target);
        let (_turn, txn) = self.write().await?;
        let account = self.owner_of(&txn, target).await?;
        for (ns, name) in remove {
            property::Entity::delete_many()
                .filter(property::Column::ObjectType.eq(t))
                .filter(property::Column::ObjectId.eq(id))
                .filter(property::Column::Namespace.eq(ns))
                .filter(property::Column::Name.eq(name))
                .exec(&txn)
                .await
                .map_err(db_err)?;
        }
        for p in set {
            property::Entity::insert(property::ActiveModel {
                account_id: Set(account),
                object_type: Set(t),
                object_id: Set(id),
                namespace: Set(p.namespace),
                name: Set(p.name),
                value: Set(p.value),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::columns([
                    property::Column::ObjectType,
                    property::Column::ObjectId,
                    property::Column::Namespace,
                    property::Column::Name,
                ])
                .update_column(property::Column::Value)
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        }
        commit(txn).await
    }
}
