//! Authentication, shared by every protocol: passwords (argon2id), app passwords, access tokens
//! and failed-login rate limiting. Adapters hand over what the client presented and the source
//! address; they get back the principal or an error to map to 401/429 (HTTP), NO (IMAP), -ERR
//! (POP3) or 535 (SMTP).

pub mod cache;
pub mod limiter;
pub mod password;
pub mod token;

use std::net::IpAddr;

use crate::Core;
use crate::address::Address;
use crate::error::{Error, Result};
use crate::model::{Principal, PrincipalKind};

/// What a client presented.
#[derive(Clone)]
pub enum Credentials {
    /// A login name (`user@domain`) and a password or app password.
    Password { login: String, password: String },
    /// An access token.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password { login, .. } => write!(f, "Password {{ login: {login:?}, password: <hidden> }}"),
            Self::Bearer(_) => f.write_str("Bearer(<hidden>)"),
        }
    }
}

/// How the principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Password,
    AppPassword,
    Token,
}

/// An authenticated principal, as services receive it.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub principal: Principal,
    pub method: AuthMethod,
}

impl Core {
    /// Checks credentials presented from `source`. Failures are rate-limited per source and
    /// per account and logged without the secret.
    pub async fn authenticate(&self, creds: Credentials, source: IpAddr) -> Result<Authenticated> {
        match creds {
            Credentials::Bearer(token) => self.authenticate_token(&token, source).await,
            Credentials::Password { login, password } => self.authenticate_password(&login, password, source).await,
        }
    }

    async fn authenticate_token(&self, token: &str, source: IpAddr) -> Result<Authenticated> {
        self.auth.limiter.check(source, None).map_err(|s| Error::RateLimited { retry_after_secs: s })?;
        let principal = match self.auth.tokens.verify(token) {
            Ok(claims) => self
                .store
                .principal(claims.principal())
                .await?
                .filter(|p| p.credential_version == claims.ver && p.kind == PrincipalKind::User),
            Err(_) => None,
        };
        match principal {
            Some(principal) => Ok(Authenticated { principal, method: AuthMethod::Token }),
            None => {
                tracing::warn!(%source, "login failed: bad or outdated access token");
                self.auth.limiter.failed(source, None);
                metrics::counter!("kontor_login_failures_total").increment(1);
                Err(Error::AuthFailed)
            }
        }
    }

    async fn authenticate_password(&self, login: &str, password: String, source: IpAddr) -> Result<Authenticated> {
        // The limiter key is the canonical address, so `Eve@Example.com.` and `eve@example.com`
        // share one allowance.
        let key = Address::parse(login).map_or_else(|_| login.trim().to_ascii_lowercase(), |a| a.to_string());
        self.auth.limiter.check(source, Some(&key)).map_err(|s| Error::RateLimited { retry_after_secs: s })?;
        let outcome = self.check_password(&key, password, source).await?;
        if let Some(a) = outcome {
            return Ok(a);
        }
        tracing::warn!(%source, login = %key, "login failed");
        metrics::counter!("kontor_login_failures_total").increment(1);
        Err(Error::AuthFailed)
    }

    /// `Ok(None)` for a failed login; `Err` only for store failures.
    async fn check_password(&self, login: &str, password: String, source: IpAddr) -> Result<Option<Authenticated>> {
        // A login must name its domain: `admin` alone is refused, never guessed.
        let principal = match Address::parse(login) {
            Ok(addr) => self.store.principal_by_address(&addr).await?,
            Err(_) => None,
        }
        .filter(|p| p.kind == PrincipalKind::User);

        if let Some(p) = &principal
            && password::looks_like_app_password(&password)
            && let Some(app) = self.store.use_app_password(&password::app_password_digest(&password)).await?
            && app.principal == p.id
        {
            return Ok(Some(Authenticated { principal: p.clone(), method: AuthMethod::AppPassword }));
        }
        if let Some(p) = &principal
            && self.auth.verified.holds(login, &password, p.id, p.credential_version)
        {
            return Ok(Some(Authenticated { principal: p.clone(), method: AuthMethod::Password }));
        }
        // Every argon2 check (right or wrong, known user or not) is charged before it runs.
        self.auth.limiter.attempt(source, Some(login)).map_err(|s| Error::RateLimited { retry_after_secs: s })?;
        let hash = match &principal {
            Some(p) => self.store.password_hash(p.id).await?,
            None => None,
        };
        let checked = password.clone();
        let has_hash = hash.is_some();
        let hash = hash.unwrap_or_else(|| password::dummy_hash().to_owned());
        let ok = tokio::task::spawn_blocking(move || password::verify_password(&hash, &password))
            .await
            .map_err(Error::internal)?;
        Ok(match principal {
            Some(principal) if ok && has_hash => {
                self.auth.verified.remember(login, &checked, principal.id, principal.credential_version);
                Some(Authenticated { principal, method: AuthMethod::Password })
            }
            _ => None,
        })
    }

    /// A fresh access token for an authenticated principal, and its lifetime in seconds.
    pub fn issue_token(&self, who: &Authenticated) -> Result<(String, u64)> {
        Ok((self.auth.tokens.issue(&who.principal)?, self.auth.tokens.ttl_secs()))
    }
}

/// The authentication state a [`Core`] holds.
pub struct Auth {
    pub limiter: limiter::LoginLimiter,
    pub tokens: token::TokenIssuer,
    pub verified: cache::VerifiedCache,
}
