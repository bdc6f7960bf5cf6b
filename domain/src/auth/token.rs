//! Access tokens (JWT, HS256) for the webmail and JMAP clients. The signing key is a
//! server-wide secret kept in the database, so every node accepts every node's tokens.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::PrincipalId;
use crate::model::Principal;

const ISSUER: &str = "kontor";

/// What a token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The principal id.
    pub sub: i64,
    /// The principal's address when the token was issued (informational).
    pub email: String,
    /// The credential version at issue time; a password change invalidates older tokens.
    pub ver: i64,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

impl Claims {
    pub fn principal(&self) -> PrincipalId {
        PrincipalId(self.sub)
    }
}

/// Issues and checks tokens.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_secs: u64,
}

impl TokenIssuer {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), ttl_secs }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    pub fn issue(&self, p: &Principal) -> Result<String> {
        let now = now_secs();
        let claims = Claims {
            sub: p.id.0,
            email: p.address.to_string(),
            ver: p.credential_version,
            iss: ISSUER.into(),
            iat: now,
            exp: now + self.ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(Error::internal)
    }

    /// Checks signature, algorithm, issuer and expiry. Any failure is `AuthFailed`.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map(|d| d.claims).map_err(|_| Error::AuthFailed)
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;
    use crate::ids::{DomainId, Timestamp};
    use crate::model::{PrincipalKind, Quota};

    fn principal() -> Principal {
        Principal {
            id: PrincipalId(3),
            domain_id: DomainId(1),
            address: Address::parse("a@example.com").unwrap(),
            kind: PrincipalKind::User,
            display_name: None,
            is_admin: false,
            credential_version: 4,
            quota: Quota { used_bytes: 0, limit_bytes: None },
            created_at: Timestamp(0),
            log: crate::model::LogPosition { current: crate::ids::Modseq(0), oldest: crate::ids::Modseq(0) },
        }
    }

    #[test]
    fn issue_verify_and_reject() {
        let t = TokenIssuer::new(b"0123456789abcdef0123456789abcdef", 60);
        let tok = t.issue(&principal()).unwrap();
        let c = t.verify(&tok).unwrap();
        assert_eq!((c.principal(), c.ver), (PrincipalId(3), 4));
        let other = TokenIssuer::new(b"another secret of thirty-two byte", 60);
        assert!(other.verify(&tok).is_err(), "foreign key must fail");
        assert!(t.verify(&format!("{tok}x")).is_err());
        assert!(t.verify("garbage").is_err());
        // alg=none must be refused
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = tok.split('.').collect();
        let none = format!("{}.{}.", b64.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert!(t.verify(&none).is_err());
        let expired = TokenIssuer::new(b"0123456789abcdef0123456789abcdef", 0);
        let mut c = t.verify(&tok).unwrap();
        c.exp = 1;
        let old = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &c, &expired.encoding).unwrap();
        assert!(t.verify(&old).is_err(), "expired token must fail");
    }
}
