//! Passwords: argon2id hashes for the passwords people choose, SHA-256 digests for the
//! generated app passwords (they carry 120 random bits, so a slow hash adds nothing and a fast
//! one lets a login find them by index instead of trying each).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use sha2::Digest;

use crate::error::{Error, Result};

/// argon2id with m = 7 MiB, t = 5, p = 1: of the settings OWASP's password storage guide
/// lists as equal in strength (m = 19 MiB with t = 2, the crate's default, down to 7 MiB with
/// t = 5) the one that needs least memory. Each check holds m for its ~20–50 ms; a server that
/// checks logins of many users at once holds it that many times (with 19 MiB, one login was
/// the largest allocation of a POP3 session by far). Hashes made with other parameters (the
/// older 19 MiB ones) still verify: a PHC string carries its own.
fn hasher() -> Argon2<'static> {
    // 7,168 KiB, 5 passes, 1 lane: valid parameters (`Params::new` refuses only out-of-range
    // ones), so the fallback is never taken.
    let params = Params::new(7 * 1024, 5, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The argon2id PHC string for `password` (see [`hasher`]).
pub fn hash_password(password: &str) -> Result<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(Error::internal)?;
    hasher().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(Error::internal)
}

/// Checks `password` against a PHC string; a malformed stored hash never matches.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash of a random password, verified against when the login names nobody, so that an
/// unknown user costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&generate_password()).unwrap_or_default())
}

const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A random password for a new account: 20 characters without look-alikes (~116 bits).
pub fn generate_password() -> String {
    let mut rng = rand::rng();
    (0..20).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

const APP_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A random app password in six groups of four lowercase characters (120 bits), easy to type
/// on a phone: `abcd-efgh-…`.
pub fn generate_app_password() -> String {
    let mut rng = rand::rng();
    let mut out = String::with_capacity(29);
    for i in 0..24 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(APP_ALPHABET[rng.random_range(0..APP_ALPHABET.len())]));
    }
    out
}

/// Whether a presented password has the shape of an app password (dashes and spaces optional).
pub fn looks_like_app_password(s: &str) -> bool {
    let n = normalize_app_password(s);
    n.len() == 24 && n.bytes().all(|b| APP_ALPHABET.contains(&b))
}

fn normalize_app_password(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_lowercase()).collect()
}

/// The digest under which an app password is stored and looked up.
pub fn app_password_digest(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(normalize_app_password(s).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horse "));
        assert!(!verify_password("not a hash", "x"));
        assert!(!verify_password(dummy_hash(), ""));
        assert!(h.contains("$m=7168,t=5,p=1$"), "{h}");
        // A hash made with the crate's defaults (m = 19 MiB, t = 2; what earlier versions
        // stored) verifies with its own parameters.
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let old = Argon2::default().hash_password(b"correct horse", &salt).unwrap().to_string();
        assert!(old.contains("$m=19456,t=2,p=1$"), "{old}");
        assert!(verify_password(&old, "correct horse"));
        assert!(!verify_password(&old, "correct horsE"));
    }

    #[test]
    fn app_passwords() {
        let p = generate_app_password();
        assert_eq!(p.len(), 29);
        assert!(looks_like_app_password(&p));
        assert!(looks_like_app_password(&p.replace('-', " ").to_uppercase()));
        assert_eq!(app_password_digest(&p), app_password_digest(&p.replace('-', "")));
        assert_ne!(app_password_digest(&p), app_password_digest(&generate_app_password()));
        assert!(!looks_like_app_password("hunter2"));
        assert_eq!(generate_password().len(), 20);
    }
}
