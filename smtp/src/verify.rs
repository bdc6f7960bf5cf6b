//! Checks of mail from other servers (RFC 7208 SPF, RFC 6376 DKIM, RFC 7489 DMARC), recorded
//! in an `Authentication-Results:` header (RFC 8601) on top of the stored message. The checks
//! record; they do not refuse (a later filter may act on the header).

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults, MessageAuthenticator};

/// How long the checks of one message may take (several DNS lookups).
const BUDGET: Duration = Duration::from_secs(15);

/// What the checks need of the SMTP transaction.
pub struct Transaction<'a> {
    pub peer: IpAddr,
    pub helo: &'a str,
    /// MAIL FROM; empty for the null reverse-path.
    pub mail_from: &'a str,
}

/// The `Authentication-Results:` header (with its CRLF) for `message`, as `hostname` found it.
pub async fn authentication_results(
    dns: &MessageAuthenticator,
    hostname: &str,
    t: &Transaction<'_>,
    message: &[u8],
) -> String {
    match tokio::time::timeout(BUDGET, check(dns, hostname, t, message)).await {
        Ok(header) => header,
        Err(_) => format!("Authentication-Results: {hostname}; none (checks timed out)\r\n"),
    }
}

async fn check(dns: &MessageAuthenticator, hostname: &str, t: &Transaction<'_>, message: &[u8]) -> String {
    let helo = if t.helo.is_empty() { "unknown" } else { t.helo };
    let spf = dns.verify_spf(SpfParameters::verify(t.peer, helo, hostname, t.mail_from)).await;
    let mut results = AuthenticationResults::new(hostname);
    results = if t.mail_from.is_empty() {
        results.with_spf_ehlo_result(&spf, t.peer, helo)
    } else {
        results.with_spf_mailfrom_result(&spf, t.peer, t.mail_from, helo)
    };
    let Some(parsed) = AuthenticatedMessage::parse(message) else {
        return results.to_header();
    };
    let dkim = dns.verify_dkim(&parsed).await;
    let header_from = parsed.from.first().map(String::as_str).unwrap_or_default();
    results = results.with_dkim_results(&dkim, header_from);
    let mail_from_domain = match t.mail_from.rsplit_once('@') {
        Some((_, d)) => d,
        None => helo,
    };
    if !parsed.from.is_empty() {
        let dmarc = dns.verify_dmarc(DmarcParameters::new(&parsed, &dkim, mail_from_domain, &spf)).await;
        results = results.with_dmarc_result(&dmarc);
    }
    let mut header = results.to_header();
    // RFC 8601 §2.7.1: say that there was no signature to check.
    if dkim.is_empty() && header.ends_with("\r\n") {
        header.truncate(header.len() - 2);
        header.push_str(";\r\n\tdkim=none\r\n");
    }
    header
}
