//! Grants of rights on collections and accounts.

use async_trait::async_trait;
use kontor_domain::error::Result;
use kontor_domain::ids::{AccountId, CollectionId, DomainId, GrantId, PrincipalId, Timestamp};
use kontor_domain::model::Grant;
use kontor_domain::ports::GrantStore;
use kontor_domain::rights::Rights;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::{SqlStore, commit, db_err};
use crate::entities::{grant, group_member, principal};

fn to_grant(m: grant::Model) -> Grant {
    Grant {
        id: GrantId(m.id),
        account: PrincipalId(m.account_id),
        collection: m.collection_id.map(CollectionId),
        grantee: PrincipalId(m.grantee_id),
        rights: Rights::from_bits(u32::try_from(m.rights).unwrap_or(0)),
        created_at: Timestamp(m.created_at),
    }
}

impl SqlStore {
    async fn grants_where(&self, filter: impl sea_orm::sea_query::IntoCondition) -> Result<Vec<Grant>> {
        Ok(grant::Entity::find()
            .filter(filter)
            .order_by_asc(grant::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_grant)
            .collect())
    }

    /// After `who` moved to `domain`: removes grants between it and principals elsewhere.
    pub(crate) async fn drop_cross_domain_grants(
        &self,
        txn: &DatabaseTransaction,
        who: PrincipalId,
        domain: DomainId,
    ) -> Result<()> {
        let outside: Vec<i64> = principal::Entity::find()
            .select_only()
            .column(principal::Column::Id)
            .filter(principal::Column::DomainId.ne(domain.0))
            .into_tuple::<i64>()
            .all(txn)
            .await
            .map_err(db_err)?;
        if outside.is_empty() {
            return Ok(());
        }
        // Group memberships across domains would carry grants across too.
        for (mine, theirs) in [
            (group_member::Column::MemberId, group_member::Column::GroupId),
            (group_member::Column::GroupId, group_member::Column::MemberId),
        ] {
            group_member::Entity::delete_many()
                .filter(mine.eq(who.0))
                .filter(theirs.is_in(outside.clone()))
                .exec(txn)
                .await
                .map_err(db_err)?;
        }
        for (owner_col, grantee_col) in
            [(grant::Column::AccountId, grant::Column::GranteeId), (grant::Column::GranteeId, grant::Column::AccountId)]
        {
            grant::Entity::delete_many()
                .filter(owner_col.eq(who.0))
                .filter(grantee_col.is_in(outside.clone()))
                .exec(txn)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn put_grant(
        &self,
        account: AccountId,
        collection: Option<CollectionId>,
        grantee: PrincipalId,
        rights: Rights,
    ) -> Result<Option<Grant>> {
        let key = collection.map_or(0, |c| c.0);
        let this_grant = Condition::all()
            .add(grant::Column::AccountId.eq(account.0))
            .add(grant::Column::CollectionKey.eq(key))
            .add(grant::Column::GranteeId.eq(grantee.0));
        let (_turn, txn) = self.write().await?;
        if rights.is_empty() {
            grant::Entity::delete_many().filter(this_grant).exec(&txn).await.map_err(db_err)?;
            commit(txn).await?;
            return Ok(None);
        }
        grant::Entity::insert(grant::ActiveModel {
            account_id: Set(account.0),
            collection_id: Set(collection.map(|c| c.0)),
            collection_key: Set(key),
            grantee_id: Set(grantee.0),
            rights: Set(rights.bits() as i32),
            created_at: Set(Timestamp::now().0),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::columns([grant::Column::AccountId, grant::Column::CollectionKey, grant::Column::GranteeId])
                .value(grant::Column::Rights, Expr::value(rights.bits() as i32))
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(db_err)?;
        let g = grant::Entity::find().filter(this_grant).one(&txn).await.map_err(db_err)?.map(to_grant);
        commit(txn).await?;
        Ok(g)
    }

    async fn grants_on(&self, account: AccountId) -> Result<Vec<Grant>> {
        self.grants_where(grant::Column::AccountId.eq(account.0)).await
    }

    async fn grants_to(&self, grantee: PrincipalId) -> Result<Vec<Grant>> {
        let mut ids: Vec<i64> = group_member::Entity::find()
            .select_only()
            .column(group_member::Column::GroupId)
            .filter(group_member::Column::MemberId.eq(grantee.0))
            .into_tuple::<i64>()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        ids.push(grantee.0);
        self.grants_where(grant::Column::GranteeId.is_in(ids)).await
    }
}
