//! Administration: domains, users, aliases, quotas, app passwords, and the first start.

use crate::Core;
use crate::address::{Address, DomainName};
use crate::auth::password;
use crate::error::{Error, Result};
use crate::ids::PrincipalId;
use crate::model::{Alias, AppPassword, Domain, Principal, PrincipalKind};
use crate::ports::NewPrincipal;

/// Who asks for an administrative change.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// The operator at the console (`kontor` CLI): may do everything.
    System,
    /// A principal over a protocol: must be an administrator, or act on itself where allowed.
    Principal(&'a Principal),
}

impl Actor<'_> {
    pub(crate) fn require_admin(self) -> Result<()> {
        match self {
            Actor::System => Ok(()),
            Actor::Principal(p) if p.is_admin => Ok(()),
            Actor::Principal(_) => Err(Error::forbidden("administrator")),
        }
    }

    /// Admins may act on anyone; others only on themselves.
    pub(crate) fn require_self_or_admin(self, target: PrincipalId) -> Result<()> {
        match self {
            Actor::Principal(p) if p.id == target => Ok(()),
            other => other.require_admin(),
        }
    }
}

/// A user (or group, or resource) to add.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub address: Address,
    pub kind: PrincipalKind,
    /// `None`: generate one and return it.
    pub password: Option<String>,
    pub display_name: Option<String>,
    pub is_admin: bool,
    /// `None`: the configured default.
    pub quota: Option<u64>,
}

const MIN_PASSWORD_LEN: usize = 8;

fn check_password_policy(pw: &str) -> Result<()> {
    if pw.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::invalid(format!("password too short: at least {MIN_PASSWORD_LEN} characters")));
    }
    if pw.chars().any(char::is_control) {
        return Err(Error::invalid("password must not contain control characters"));
    }
    Ok(())
}

async fn hash(pw: String) -> Result<String> {
    tokio::task::spawn_blocking(move || password::hash_password(&pw)).await.map_err(Error::internal)?
}

impl Core {
    // ---- domains

    pub async fn add_domain(&self, actor: Actor<'_>, name: &str) -> Result<Domain> {
        actor.require_admin()?;
        self.store.create_domain(&DomainName::parse(name)?).await
    }

    pub async fn list_domains(&self, actor: Actor<'_>) -> Result<Vec<Domain>> {
        actor.require_admin()?;
        self.store.list_domains().await
    }

    pub async fn remove_domain(&self, actor: Actor<'_>, name: &str) -> Result<()> {
        actor.require_admin()?;
        let d = self.domain(name).await?;
        self.store.remove_domain(d.id).await
    }

    async fn domain(&self, name: &str) -> Result<Domain> {
        let name = DomainName::parse(name)?;
        self.store.find_domain(&name).await?.ok_or_else(|| Error::not_found(format!("domain {name}")))
    }

    // ---- principals

    /// The principal with this address, or `NotFound`.
    pub async fn principal_by_address(&self, address: &str) -> Result<Principal> {
        let a = Address::parse(address)?;
        self.store.principal_by_address(&a).await?.ok_or_else(|| Error::not_found(format!("user {a}")))
    }

    /// Adds a user; returns it and the generated password, if one was generated.
    pub async fn add_user(&self, actor: Actor<'_>, new: NewUser) -> Result<(Principal, Option<String>)> {
        actor.require_admin()?;
        let domain = self.domain(new.address.domain.as_str()).await?;
        let (password, generated) = match new.password {
            Some(pw) => {
                check_password_policy(&pw)?;
                (Some(pw), None)
            }
            None if new.kind == PrincipalKind::User => {
                let pw = password::generate_password();
                (Some(pw.clone()), Some(pw))
            }
            None => (None, None),
        };
        let password_hash = match password {
            Some(pw) => Some(hash(pw).await?),
            None => None,
        };
        let p = self
            .store
            .create_principal(NewPrincipal {
                domain: domain.id,
                local: new.address.local.clone(),
                kind: new.kind,
                display_name: new.display_name,
                password_hash,
                is_admin: new.is_admin,
                quota_limit: new.quota.or(self.settings.default_quota),
            })
            .await?;
        if p.kind == PrincipalKind::User {
            self.create_default_collections(&p).await?;
            self.mailboxes_of(p.id).await?;
        }
        tracing::info!(address = %p.address, kind = p.kind.as_str(), "principal added");
        Ok((p, generated))
    }

    /// What every new user starts with besides its mailboxes: a calendar, a task list and an
    /// address book.
    async fn create_default_collections(&self, p: &Principal) -> Result<()> {
        use crate::model::CollectionKind;
        for (kind, name, display) in [
            (CollectionKind::Calendar, "calendar", "Calendar"),
            (CollectionKind::TaskList, "tasks", "Tasks"),
            (CollectionKind::AddressBook, "contacts", "Contacts"),
        ] {
            let new = crate::ports::NewCollection {
                account: p.id,
                parent: None,
                kind,
                name: name.into(),
                display_name: Some(display.into()),
            };
            let c = self.store.create_collection(new).await?;
            self.publish(c);
        }
        Ok(())
    }

    pub async fn list_users(&self, actor: Actor<'_>, domain: Option<&str>) -> Result<Vec<Principal>> {
        actor.require_admin()?;
        let d = match domain {
            Some(name) => Some(self.domain(name).await?.id),
            None => None,
        };
        self.store.list_principals(d).await
    }

    /// The directory of the caller's domain (users, groups, resources), so colleagues can be
    /// found to share with. Never other domains.
    pub async fn directory(&self, who: &Principal) -> Result<Vec<Principal>> {
        self.store.list_principals(Some(who.domain_id)).await
    }

    /// Sets a password (given, or generated and returned). Ends all access tokens of the user.
    pub async fn set_password(&self, actor: Actor<'_>, address: &str, new: Option<String>) -> Result<Option<String>> {
        let p = self.principal_by_address(address).await?;
        actor.require_self_or_admin(p.id)?;
        let (pw, generated) = match new {
            Some(pw) => {
                check_password_policy(&pw)?;
                (pw, None)
            }
            None => {
                let pw = password::generate_password();
                (pw.clone(), Some(pw))
            }
        };
        self.store.set_password(p.id, Some(hash(pw).await?)).await?;
        tracing::info!(address = %p.address, "password changed");
        Ok(generated)
    }

    /// Removes a user and everything in its account.
    pub async fn remove_user(&self, actor: Actor<'_>, address: &str) -> Result<()> {
        actor.require_admin()?;
        let p = self.principal_by_address(address).await?;
        self.store.remove_principal(p.id).await?;
        tracing::info!(address = %p.address, "principal removed");
        Ok(())
    }

    /// Gives a user a new address, keeping all data; the old address is free afterwards (to be
    /// re-created as a fresh account, e.g. after renaming info@ to archive@).
    pub async fn rename_user(&self, actor: Actor<'_>, old: &str, new: &str) -> Result<Principal> {
        actor.require_admin()?;
        let p = self.principal_by_address(old).await?;
        let new = Address::parse(new)?;
        let domain = self.domain(new.domain.as_str()).await?;
        let renamed = self.store.rename_principal(p.id, domain.id, &new.local).await?;
        tracing::info!(from = %p.address, to = %renamed.address, "principal renamed");
        Ok(renamed)
    }

    /// Sets a quota (`None`: unlimited). May publish a warning if use is now over a mark.
    pub async fn set_quota(&self, actor: Actor<'_>, address: &str, limit: Option<u64>) -> Result<Principal> {
        actor.require_admin()?;
        let p = self.principal_by_address(address).await?;
        let c = self.store.set_quota(p.id, limit).await?;
        Ok(self.publish(c))
    }

    // ---- aliases

    pub async fn add_alias(&self, actor: Actor<'_>, alias: &str, target: &str) -> Result<Alias> {
        actor.require_admin()?;
        let alias = Address::parse(alias)?;
        let domain = self.domain(alias.domain.as_str()).await?;
        let target = self.principal_by_address(target).await?;
        self.store.create_alias(domain.id, &alias.local, target.id).await
    }

    /// Removes an alias (only the one pointing to `target`, if given).
    pub async fn remove_alias(&self, actor: Actor<'_>, alias: &str, target: Option<&str>) -> Result<()> {
        actor.require_admin()?;
        let alias = Address::parse(alias)?;
        let target = match target {
            Some(t) => Some(self.principal_by_address(t).await?.id),
            None => None,
        };
        if self.store.remove_alias(&alias, target).await? {
            Ok(())
        } else {
            Err(Error::not_found(format!("alias {alias}")))
        }
    }

    pub async fn list_aliases(&self, actor: Actor<'_>, domain: Option<&str>) -> Result<Vec<Alias>> {
        actor.require_admin()?;
        let d = match domain {
            Some(name) => Some(self.domain(name).await?.id),
            None => None,
        };
        self.store.list_aliases(d).await
    }

    /// The principal an address delivers to (its own address or an alias).
    pub async fn resolve_address(&self, address: &Address) -> Result<Option<Principal>> {
        match self.store.resolve_address(address).await? {
            Some(id) => self.store.principal(id).await,
            None => Ok(None),
        }
    }

    // ---- app passwords

    /// Creates an app password; returns it (shown once) and its record.
    pub async fn add_app_password(
        &self,
        actor: Actor<'_>,
        address: &str,
        label: &str,
    ) -> Result<(AppPassword, String)> {
        let p = self.principal_by_address(address).await?;
        actor.require_self_or_admin(p.id)?;
        let label = label.trim();
        if label.is_empty() || label.len() > 100 || label.chars().any(char::is_control) {
            return Err(Error::invalid("app password label must be 1 to 100 printable characters"));
        }
        let secret = password::generate_app_password();
        let rec = self.store.create_app_password(p.id, label, &password::app_password_digest(&secret)).await?;
        Ok((rec, secret))
    }

    pub async fn list_app_passwords(&self, actor: Actor<'_>, address: &str) -> Result<Vec<AppPassword>> {
        let p = self.principal_by_address(address).await?;
        actor.require_self_or_admin(p.id)?;
        self.store.list_app_passwords(p.id).await
    }

    pub async fn revoke_app_password(&self, actor: Actor<'_>, address: &str, label: &str) -> Result<()> {
        let p = self.principal_by_address(address).await?;
        actor.require_self_or_admin(p.id)?;
        if self.store.revoke_app_password(p.id, label.trim()).await? {
            Ok(())
        } else {
            Err(Error::not_found(format!("app password {label:?} of {}", p.address)))
        }
    }

    // ---- first start

    /// On an empty store: creates `domain` and its administrator `admin@domain` with a
    /// generated password, and returns the address and password (to print once). Does nothing
    /// when any domain exists.
    pub async fn bootstrap(&self, domain: &str) -> Result<Option<(Address, String)>> {
        if !self.store.list_domains().await?.is_empty() {
            return Ok(None);
        }
        let name = DomainName::parse(domain)?;
        match self.store.create_domain(&name).await {
            Ok(_) => {}
            // Another node won the race.
            Err(Error::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        let address = Address::parse(&format!("admin@{name}"))?;
        let (p, pw) = self
            .add_user(
                Actor::System,
                NewUser {
                    address,
                    kind: PrincipalKind::User,
                    password: None,
                    display_name: Some("Administrator".into()),
                    is_admin: true,
                    quota: None,
                },
            )
            .await?;
        Ok(pw.map(|pw| (p.address, pw)))
    }
}
