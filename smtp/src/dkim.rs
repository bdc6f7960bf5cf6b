//! DKIM (RFC 6376): a signing key for each domain, made when the domain is added (or when
//! its first message goes out), and the signature on outbound mail.

use kontor_domain::address::DomainName;
use kontor_domain::ids::Timestamp;
use kontor_domain::mail::outbound::DkimKey;
use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dkim::DkimSigner;
use mail_auth::dkim::generate::DkimKeyPair;

/// The selector of generated keys: the month they were made in, so a later key (rotation)
/// gets a selector of its own and both records can be published at once.
fn selector(now: Timestamp) -> String {
    let (y, m, ..) = now.utc_parts();
    format!("kontor{y:04}{m:02}")
}

/// A new RSA-2048 key for `domain` (RSA: every verifier reads it; Ed25519 is not yet).
pub fn generate(domain: &DomainName) -> Result<DkimKey, String> {
    let pair = DkimKeyPair::generate_rsa(2048).map_err(|e| format!("cannot make a DKIM key: {e}"))?;
    let (private_key, public_key) = pair.into_inner();
    let now = Timestamp::now();
    Ok(DkimKey {
        domain: domain.clone(),
        selector: selector(now),
        algorithm: "rsa-sha256".into(),
        private_key,
        public_key,
        created_at: now,
    })
}

/// The headers signed: those a recipient sees and that identify the message (RFC 6376 §5.4.1).
/// From twice: a second From added on the way breaks the signature (§8.15).
const SIGNED: [&str; 13] = [
    "From",
    "From",
    "Sender",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "Cc",
    "MIME-Version",
    "Content-Type",
    "In-Reply-To",
    "References",
];

/// The `DKIM-Signature:` header line(s) for `message`, signed with `key`.
pub fn sign(key: &DkimKey, message: &[u8]) -> Result<String, String> {
    let der = rustls_pki_types::PrivateKeyDer::Pkcs1(key.private_key.as_slice().into());
    let pk = RsaKey::<Sha256>::from_key_der(der).map_err(|e| format!("DKIM key of {} unusable: {e}", key.domain))?;
    let signature = DkimSigner::from_key(pk)
        .domain(key.domain.as_str())
        .selector(&key.selector)
        .headers(SIGNED)
        .sign(message)
        .map_err(|e| format!("DKIM signing failed: {e}"))?;
    Ok(signature.to_header())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_and_publishes() {
        let domain = DomainName::parse("example.com").expect("domain");
        let key = generate(&domain).expect("key");
        let (name, value) = key.dns_record();
        assert!(name.starts_with("kontor") && name.ends_with("._domainkey.example.com"), "{name}");
        assert!(value.starts_with("v=DKIM1; k=rsa; p=MII"), "{value}");
        let header =
            sign(&key, b"From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n").expect("sign");
        assert!(header.starts_with("DKIM-Signature: v=1; a=rsa-sha256;"), "{header}");
        assert!(header.contains("d=example.com") && header.contains(&format!("s={}", key.selector)), "{header}");
    }
}
