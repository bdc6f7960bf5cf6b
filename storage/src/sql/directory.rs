//! Domains, principals (with their accounts), groups, aliases, app passwords and secrets.

use async_trait::async_trait;
use kontor_domain::address::{Address, DomainName, LocalPart};
use kontor_domain::error::{Error, Result};
use kontor_domain::ids::{AppPasswordId, DomainId, Modseq, PrincipalId, Timestamp};
use kontor_domain::model::{Alias, AppPassword, Domain, LogPosition, Principal, PrincipalKind, Quota};
use kontor_domain::ports::{Committed, DirectoryStore, NewPrincipal};
use kontor_domain::quota::{self, QuotaLevel};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::{SqlStore, commit, db_err, i, u, unique};
use crate::entities::{alias, app_password, domain, group_member, principal, secret};

fn to_domain(m: domain::Model) -> Result<Domain> {
    Ok(Domain { id: DomainId(m.id), name: DomainName::parse(&m.name)?, created_at: Timestamp(m.created_at) })
}

pub(crate) fn to_principal(m: principal::Model, domain: &str) -> Result<Principal> {
    Ok(Principal {
        id: PrincipalId(m.id),
        domain_id: DomainId(m.domain_id),
        address: Address::new(LocalPart::parse(&m.local_part)?, DomainName::parse(domain)?),
        kind: PrincipalKind::parse(&m.kind)
            .ok_or_else(|| Error::internal(format!("bad principal kind {:?}", m.kind)))?,
        display_name: m.display_name,
        is_admin: m.is_admin,
        credential_version: m.credential_version,
        quota: Quota { used_bytes: u(m.used_bytes), limit_bytes: m.quota_limit.map(u) },
        created_at: Timestamp(m.created_at),
        log: LogPosition { current: Modseq(m.modseq), oldest: Modseq(m.oldest_modseq) },
    })
}

fn to_app_password(m: app_password::Model) -> AppPassword {
    AppPassword {
        id: AppPasswordId(m.id),
        principal: PrincipalId(m.principal_id),
        label: m.label,
        created_at: Timestamp(m.created_at),
        last_used_at: m.last_used_at.map(Timestamp),
    }
}

impl SqlStore {
    async fn domain_name(&self, c: &impl ConnectionTrait, id: i64) -> Result<String> {
        domain::Entity::find_by_id(id)
            .one(c)
            .await
            .map_err(db_err)?
            .map(|d| d.name)
            .ok_or_else(|| Error::internal(format!("domain {id} vanished")))
    }

    pub(crate) async fn load_principal(&self, c: &impl ConnectionTrait, id: i64) -> Result<Option<Principal>> {
        let Some(m) = principal::Entity::find_by_id(id).one(c).await.map_err(db_err)? else {
            return Ok(None);
        };
        let d = self.domain_name(c, m.domain_id).await?;
        to_principal(m, &d).map(Some)
    }

    async fn principal_row(
        &self,
        c: &impl ConnectionTrait,
        domain: i64,
        local: &str,
    ) -> Result<Option<principal::Model>> {
        principal::Entity::find()
            .filter(principal::Column::DomainId.eq(domain))
            .filter(principal::Column::LocalPart.eq(local))
            .one(c)
            .await
            .map_err(db_err)
    }

    async fn alias_row(&self, c: &impl ConnectionTrait, domain: i64, local: &str) -> Result<Option<alias::Model>> {
        alias::Entity::find()
            .filter(alias::Column::DomainId.eq(domain))
            .filter(alias::Column::LocalPart.eq(local))
            .one(c)
            .await
            .map_err(db_err)
    }

    /// Whether `local` is taken in the domain by a principal or an alias.
    async fn address_taken(&self, c: &impl ConnectionTrait, domain: i64, local: &str) -> Result<bool> {
        Ok(self.principal_row(c, domain, local).await?.is_some() || self.alias_row(c, domain, local).await?.is_some())
    }

    async fn find_domain_id(&self, name: &DomainName) -> Result<Option<domain::Model>> {
        domain::Entity::find().filter(domain::Column::Name.eq(name.as_str())).one(&self.db).await.map_err(db_err)
    }
}

#[async_trait]
impl DirectoryStore for SqlStore {
    async fn ping(&self) -> Result<()> {
        self.db.ping().await.map_err(db_err)
    }

    async fn secret(&self, name: &str, generate: Vec<u8>) -> Result<Vec<u8>> {
        let find = || secret::Entity::find_by_id(name.to_owned()).one(&self.db);
        if let Some(s) = find().await.map_err(db_err)? {
            return hex::decode(&s.value).map_err(Error::internal);
        }
        let insert = secret::ActiveModel { name: Set(name.to_owned()), value: Set(hex::encode(&generate)) }
            .insert(&self.db)
            .await;
        match insert {
            Ok(_) => Ok(generate),
            // Another node created it first: use theirs.
            Err(_) => {
                let s = find().await.map_err(db_err)?.ok_or_else(|| Error::internal("secret vanished"))?;
                hex::decode(&s.value).map_err(Error::internal)
            }
        }
    }

    async fn take_lease(&self, name: &str, holder: &str, now: Timestamp, until: Timestamp) -> Result<bool> {
        use crate::entities::lease;
        use sea_orm::sea_query::OnConflict;
        let taken = lease::Entity::insert(lease::ActiveModel {
            name: Set(name.to_owned()),
            holder: Set(holder.to_owned()),
            expires_at: Set(until.0),
        })
        .on_conflict(
            OnConflict::column(lease::Column::Name)
                .update_columns([lease::Column::Holder, lease::Column::ExpiresAt])
                .action_and_where(
                    Expr::col((lease::Entity, lease::Column::Holder)).eq(holder).or(Expr::col((
                        lease::Entity,
                        lease::Column::ExpiresAt,
                    ))
                    .lt(now.0)),
                )
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await
        .map_err(db_err)?;
        Ok(taken == 1)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        use crate::entities::lease;
        lease::Entity::delete_many()
            .filter(lease::Column::Name.eq(name))
            .filter(lease::Column::Holder.eq(holder))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_domain(&self, name: &DomainName) -> Result<Domain> {
        let m = domain::ActiveModel {
            name: Set(name.to_string()),
            created_at: Set(Timestamp::now().0),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(unique(format!("domain {name}")))?;
        to_domain(m)
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        domain::Entity::find()
            .order_by_asc(domain::Column::Name)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn find_domain(&self, name: &DomainName) -> Result<Option<Domain>> {
        self.find_domain_id(name).await?.map(to_domain).transpose()
    }

    async fn remove_domain(&self, id: DomainId) -> Result<()> {
        let (_turn, txn) = self.write().await?;
        let users = principal::Entity::find()
            .filter(principal::Column::DomainId.eq(id.0))
            .all(&txn)
            .await
            .map_err(db_err)?
            .len();
        let aliases =
            alias::Entity::find().filter(alias::Column::DomainId.eq(id.0)).all(&txn).await.map_err(db_err)?.len();
        if users + aliases > 0 {
            return Err(Error::invalid(format!(
                "domain still has {users} principal(s) and {aliases} alias(es): remove them first"
            )));
        }
        let r = domain::Entity::delete_by_id(id.0).exec(&txn).await.map_err(db_err)?;
        if r.rows_affected == 0 {
            return Err(Error::not_found(format!("domain {id}")));
        }
        commit(txn).await
    }

    async fn create_principal(&self, new: NewPrincipal) -> Result<Principal> {
        let (_turn, txn) = self.write().await?;
        let what = || format!("address {}@{}", new.local.as_str(), new.domain);
        if self.address_taken(&txn, new.domain.0, new.local.as_str()).await? {
            return Err(Error::Conflict(what()));
        }
        let m = principal::ActiveModel {
            domain_id: Set(new.domain.0),
            local_part: Set(new.local.as_str().to_owned()),
            kind: Set(new.kind.as_str().to_owned()),
            display_name: Set(new.display_name),
            password_hash: Set(new.password_hash),
            is_admin: Set(new.is_admin),
            credential_version: Set(1),
            quota_limit: Set(new.quota_limit.map(i)),
            used_bytes: Set(0),
            quota_level: Set(QuotaLevel::Normal.code()),
            modseq: Set(0),
            oldest_modseq: Set(0),
            created_at: Set(Timestamp::now().0),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(unique(what()))?;
        let d = self.domain_name(&txn, m.domain_id).await?;
        let p = to_principal(m, &d)?;
        commit(txn).await?;
        Ok(p)
    }

    async fn principal(&self, id: PrincipalId) -> Result<Option<Principal>> {
        self.load_principal(&self.db, id.0).await
    }

    async fn principal_by_address(&self, address: &Address) -> Result<Option<Principal>> {
        // One query: every authenticated request makes this lookup.
        let m = principal::Entity::find()
            .join(
                JoinType::InnerJoin,
                principal::Entity::belongs_to(domain::Entity)
                    .from(principal::Column::DomainId)
                    .to(domain::Column::Id)
                    .into(),
            )
            .filter(domain::Column::Name.eq(address.domain.as_str()))
            .filter(principal::Column::LocalPart.eq(address.local.as_str()))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        m.map(|m| to_principal(m, address.domain.as_str())).transpose()
    }

    async fn list_principals(&self, domain: Option<DomainId>) -> Result<Vec<Principal>> {
        let domains: std::collections::HashMap<i64, String> =
            domain::Entity::find().all(&self.db).await.map_err(db_err)?.into_iter().map(|d| (d.id, d.name)).collect();
        let mut q = principal::Entity::find();
        if let Some(d) = domain {
            q = q.filter(principal::Column::DomainId.eq(d.0));
        }
        let mut out = q
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| {
                let d = domains.get(&m.domain_id).cloned().unwrap_or_default();
                to_principal(m, &d)
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| {
            (a.address.domain.as_str(), a.address.local.as_str())
                .cmp(&(b.address.domain.as_str(), b.address.local.as_str()))
        });
        Ok(out)
    }

    async fn password_hash(&self, id: PrincipalId) -> Result<Option<String>> {
        Ok(principal::Entity::find_by_id(id.0).one(&self.db).await.map_err(db_err)?.and_then(|m| m.password_hash))
    }

    async fn set_password(&self, id: PrincipalId, hash: Option<String>) -> Result<()> {
        let r = principal::Entity::update_many()
            .col_expr(principal::Column::PasswordHash, Expr::value(hash))
            .col_expr(principal::Column::CredentialVersion, Expr::col(principal::Column::CredentialVersion).add(1))
            .filter(principal::Column::Id.eq(id.0))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        if r.rows_affected == 0 {
            return Err(Error::not_found(format!("principal {id}")));
        }
        Ok(())
    }

    async fn set_quota(&self, id: PrincipalId, limit: Option<u64>) -> Result<Committed<Principal>> {
        let (_turn, txn) = self.write().await?;
        let m = principal::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(format!("principal {id}")))?;
        let used = u(m.used_bytes);
        let (level, warn) = quota::after_change(QuotaLevel::from_code(m.quota_level), used, limit);
        let m = principal::Entity::update_many()
            .col_expr(principal::Column::QuotaLimit, Expr::value(limit.map(i)))
            .col_expr(principal::Column::QuotaLevel, Expr::value(level.code()))
            .filter(principal::Column::Id.eq(id.0))
            .exec_with_returning(&txn)
            .await
            .map_err(db_err)?
            .pop()
            .ok_or_else(|| Error::not_found(format!("principal {id}")))?;
        let d = self.domain_name(&txn, m.domain_id).await?;
        let p = to_principal(m, &d)?;
        commit(txn).await?;
        let events = warn
            .zip(limit)
            .map(|(level, limit_bytes)| kontor_domain::events::Event::QuotaWarning {
                account: id,
                level,
                used_bytes: used,
                limit_bytes,
            })
            .into_iter()
            .collect();
        Ok(Committed { value: p, events })
    }

    async fn rename_principal(&self, id: PrincipalId, domain: DomainId, local: &LocalPart) -> Result<Principal> {
        let (_turn, txn) = self.write().await?;
        let m = principal::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(format!("principal {id}")))?;
        let d = self.domain_name(&txn, domain.0).await?;
        let what = format!("address {}@{d}", local.as_str());
        if self.address_taken(&txn, domain.0, local.as_str()).await? {
            return Err(Error::Conflict(what));
        }
        principal::Entity::update_many()
            .col_expr(principal::Column::DomainId, Expr::value(domain.0))
            .col_expr(principal::Column::LocalPart, Expr::value(local.as_str()))
            .filter(principal::Column::Id.eq(id.0))
            .exec(&txn)
            .await
            .map_err(unique(what))?;
        if m.domain_id != domain.0 {
            self.drop_cross_domain_grants(&txn, id, domain).await?;
            // Aliases live in their own domain; they keep pointing at the renamed principal.
        }
        let p = self.load_principal(&txn, id.0).await?.ok_or_else(|| Error::internal("renamed principal vanished"))?;
        commit(txn).await?;
        Ok(p)
    }

    async fn remove_principal(&self, id: PrincipalId) -> Result<()> {
        let (_turn, txn) = self.write().await?;
        self.release_account_blobs(&txn, id).await?;
        let r = principal::Entity::delete_by_id(id.0).exec(&txn).await.map_err(db_err)?;
        if r.rows_affected == 0 {
            return Err(Error::not_found(format!("principal {id}")));
        }
        commit(txn).await
    }

    async fn add_member(&self, group: PrincipalId, member: PrincipalId) -> Result<()> {
        let (_turn, txn) = self.write().await?;
        let g = principal::Entity::find_by_id(group.0).one(&txn).await.map_err(db_err)?;
        let m = principal::Entity::find_by_id(member.0).one(&txn).await.map_err(db_err)?;
        match (g, m) {
            (Some(g), Some(_)) if g.kind != "group" => {
                return Err(Error::invalid(format!("principal {} is not a group", g.id)));
            }
            (Some(g), Some(m)) if g.domain_id != m.domain_id => {
                return Err(Error::invalid("groups hold members of their own domain only"));
            }
            (Some(_), Some(_)) => {}
            _ => return Err(Error::not_found("group or member")),
        }
        group_member::ActiveModel { group_id: Set(group.0), member_id: Set(member.0) }
            .insert(&txn)
            .await
            .map_err(unique("membership"))?;
        commit(txn).await
    }

    async fn remove_member(&self, group: PrincipalId, member: PrincipalId) -> Result<bool> {
        let r = group_member::Entity::delete_many()
            .filter(group_member::Column::GroupId.eq(group.0))
            .filter(group_member::Column::MemberId.eq(member.0))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected > 0)
    }

    async fn groups_of(&self, member: PrincipalId) -> Result<Vec<PrincipalId>> {
        Ok(group_member::Entity::find()
            .filter(group_member::Column::MemberId.eq(member.0))
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| PrincipalId(m.group_id))
            .collect())
    }

    async fn create_alias(&self, domain: DomainId, local: &LocalPart, target: PrincipalId) -> Result<Alias> {
        let (_turn, txn) = self.write().await?;
        let d = self.domain_name(&txn, domain.0).await?;
        let what = format!("address {}@{d}", local.as_str());
        if self.address_taken(&txn, domain.0, local.as_str()).await? {
            return Err(Error::Conflict(what));
        }
        alias::ActiveModel {
            domain_id: Set(domain.0),
            local_part: Set(local.as_str().to_owned()),
            target_id: Set(target.0),
            created_at: Set(Timestamp::now().0),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(unique(what))?;
        let t = self
            .load_principal(&txn, target.0)
            .await?
            .ok_or_else(|| Error::not_found(format!("principal {target}")))?;
        commit(txn).await?;
        Ok(Alias { address: Address::new(local.clone(), DomainName::parse(&d)?), target, target_address: t.address })
    }

    async fn remove_alias(&self, address: &Address, target: Option<PrincipalId>) -> Result<bool> {
        let Some(d) = self.find_domain_id(&address.domain).await? else { return Ok(false) };
        let mut q = alias::Entity::delete_many()
            .filter(alias::Column::DomainId.eq(d.id))
            .filter(alias::Column::LocalPart.eq(address.local.as_str()));
        if let Some(t) = target {
            q = q.filter(alias::Column::TargetId.eq(t.0));
        }
        Ok(q.exec(&self.db).await.map_err(db_err)?.rows_affected > 0)
    }

    async fn list_aliases(&self, domain: Option<DomainId>) -> Result<Vec<Alias>> {
        let mut q = alias::Entity::find();
        if let Some(d) = domain {
            q = q.filter(alias::Column::DomainId.eq(d.0));
        }
        let rows = q.all(&self.db).await.map_err(db_err)?;
        let principals: std::collections::HashMap<PrincipalId, Address> =
            self.list_principals(None).await?.into_iter().map(|p| (p.id, p.address)).collect();
        let domains: std::collections::HashMap<i64, String> =
            domain::Entity::find().all(&self.db).await.map_err(db_err)?.into_iter().map(|d| (d.id, d.name)).collect();
        let mut out = Vec::with_capacity(rows.len());
        for a in rows {
            let target = PrincipalId(a.target_id);
            let (Some(target_address), Some(dn)) = (principals.get(&target), domains.get(&a.domain_id)) else {
                continue;
            };
            out.push(Alias {
                address: Address::new(LocalPart::parse(&a.local_part)?, DomainName::parse(dn)?),
                target,
                target_address: target_address.clone(),
            });
        }
        out.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(out)
    }

    async fn resolve_address(&self, address: &Address) -> Result<Option<PrincipalId>> {
        let Some(d) = self.find_domain_id(&address.domain).await? else { return Ok(None) };
        let local = address.local.as_str();
        if let Some(p) = self.principal_row(&self.db, d.id, local).await? {
            return Ok(Some(PrincipalId(p.id)));
        }
        Ok(self.alias_row(&self.db, d.id, local).await?.map(|a| PrincipalId(a.target_id)))
    }

    async fn create_app_password(&self, principal: PrincipalId, label: &str, secret_hash: &str) -> Result<AppPassword> {
        let m = app_password::ActiveModel {
            principal_id: Set(principal.0),
            label: Set(label.to_owned()),
            secret_hash: Set(secret_hash.to_owned()),
            created_at: Set(Timestamp::now().0),
            last_used_at: Set(None),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(unique(format!("app password {label:?}")))?;
        Ok(to_app_password(m))
    }

    async fn list_app_passwords(&self, principal: PrincipalId) -> Result<Vec<AppPassword>> {
        Ok(app_password::Entity::find()
            .filter(app_password::Column::PrincipalId.eq(principal.0))
            .order_by_asc(app_password::Column::Label)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(to_app_password)
            .collect())
    }

    async fn revoke_app_password(&self, principal: PrincipalId, label: &str) -> Result<bool> {
        let r = app_password::Entity::delete_many()
            .filter(app_password::Column::PrincipalId.eq(principal.0))
            .filter(app_password::Column::Label.eq(label))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected > 0)
    }

    async fn use_app_password(&self, secret_hash: &str) -> Result<Option<AppPassword>> {
        let Some(m) = app_password::Entity::find()
            .filter(app_password::Column::SecretHash.eq(secret_hash))
            .one(&self.db)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        // Record use at most once a minute per password, to keep logins read-mostly.
        let now = Timestamp::now().0;
        if m.last_used_at.is_none_or(|t| now - t > 60_000) {
            app_password::Entity::update_many()
                .col_expr(app_password::Column::LastUsedAt, Expr::value(now))
                .filter(app_password::Column::Id.eq(m.id))
                .exec(&self.db)
                .await
                .map_err(db_err)?;
        }
        Ok(Some(to_app_password(m)))
    }
}
