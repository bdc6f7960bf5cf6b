//! The argument of HELO and EHLO (RFC 5321 §4.1.1.1): a domain or an address literal.
//!
//! ```text
//! Domain         = sub-domain *("." sub-domain)
//! sub-domain     = Let-dig [Ldh-str]            ; U-labels too with SMTPUTF8 (RFC 6531 §3.3)
//! address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
//!                         General-address-literal ) "]"
//! ```
//!
//! Three liberties, all taken by the widespread MTAs: an underscore inside a label (Windows
//! machine names), a final dot, and an address literal after HELO too. Everything else that
//! does not match — spaces, quotes, brackets in a name, empty labels, a label or name too long,
//! an address literal that is no address — is refused with 501.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest domain (RFC 5321 §4.5.3.1.2) and label (RFC 1035 §2.3.4).
const MAX_DOMAIN: usize = 255;
const MAX_LABEL: usize = 63;

/// Whether `host` is a domain or an address literal.
pub fn valid(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.strip_suffix(']').is_some_and(address_literal);
    }
    domain(host)
}

fn domain(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty() && host.len() <= MAX_DOMAIN && host.split('.').all(label)
}

fn label(l: &str) -> bool {
    let letter_or_digit = |c: char| c.is_ascii_alphanumeric() || !c.is_ascii();
    l.len() <= MAX_LABEL
        && l.chars().next().is_some_and(letter_or_digit)
        && l.chars().last().is_some_and(letter_or_digit)
        && l.chars().all(|c| letter_or_digit(c) || c == '-' || c == '_')
        && l.chars().all(|c| !c.is_control() && !c.is_whitespace())
}

fn address_literal(inner: &str) -> bool {
    if let Some(v6) = inner.get(..5).filter(|tag| tag.eq_ignore_ascii_case("IPv6:")).map(|_| &inner[5..]) {
        return v6.parse::<Ipv6Addr>().is_ok();
    }
    if inner.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    // General-address-literal: Standardized-tag ":" 1*dcontent (%d33-90 / %d94-126).
    match inner.split_once(':') {
        Some((tag, content)) => {
            !tag.is_empty()
                && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && !tag.eq_ignore_ascii_case("IPv6")
                && !content.is_empty()
                && content.bytes().all(|b| matches!(b, 33..=90 | 94..=126))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn domains_and_address_literals() {
        for ok in [
            "mail.example.com",
            "localhost",
            "a",
            "x1-2.example",
            "mx.example.com.",
            "WIN_PC.corp.example",
            "bücher.example",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
            "[ipv6:::1]",
            "[x-tag:anything]",
        ] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "exa mple.com",
            "-example.com",
            "example-.com",
            "example..com",
            ".example.com",
            "ex@mple.com",
            "\"quoted\"",
            "[192.0.2.1",
            "192.0.2.1]",
            "[192.0.2.256]",
            "[IPv6:2001:db8::g]",
            "[IPv6:192.0.2.1]",
            "[]",
            "[tag:]",
            "[ta g:x]",
            "[tag:x[y]",
            "ex\u{7f}ample.com",
        ] {
            assert!(!valid(bad), "{bad}");
        }
        let long_label = format!("{}.example", "a".repeat(64));
        assert!(!valid(&long_label));
        assert!(!valid(&format!("{}.example", ["a"; 130].join("."))), "longer than 255");
    }
}
