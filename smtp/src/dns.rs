//! DNS for mail: one resolver (hickory, through mail-auth) for MX lookups of the outbound
//! queue and for SPF/DKIM/DMARC checks of inbound mail. It uses the system's resolver
//! configuration, or the name servers the configuration names (tests point it at a DNS server
//! of their own on loopback).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::rr::RData;

/// The resolver: the system's (`servers` empty) or these name servers, each over UDP and TCP.
pub fn resolver(servers: &[SocketAddr], timeout: Duration) -> Result<MessageAuthenticator, String> {
    let (config, mut opts) = if servers.is_empty() {
        mail_auth::hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?
    } else {
        let name_servers = servers
            .iter()
            .map(|s| {
                let mut udp = ConnectionConfig::udp();
                udp.port = s.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = s.port();
                NameServerConfig::new(s.ip(), true, vec![udp, tcp])
            })
            .collect();
        (ResolverConfig::from_name_servers(name_servers), ResolverOpts::default())
    };
    opts.timeout = timeout;
    opts.attempts = 1;
    MessageAuthenticator::new(config, opts).map_err(|e| format!("cannot start the DNS resolver: {e}"))
}

/// The hosts mail for `domain` goes to, best first: its MX hosts, or the domain itself when it
/// has none (RFC 5321 §5.1). `Err(true)`: the domain does not exist or accepts no mail (a
/// permanent failure); `Err(false)`: the lookup failed for now.
pub async fn mail_hosts(dns: &MessageAuthenticator, domain: &str) -> Result<Vec<String>, (bool, String)> {
    let name = format!("{}.", domain.trim_end_matches('.'));
    match dns.0.mx_lookup(name.as_str()).await {
        Ok(lookup) => {
            let mut mx: Vec<(u16, String)> = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii().trim_end_matches('.').to_owned())),
                    _ => None,
                })
                .collect();
            mx.sort();
            // A null MX (RFC 7505): the domain takes no mail.
            if mx.len() == 1 && mx[0].1.is_empty() {
                return Err((true, format!("5.1.10 {domain} accepts no mail (null MX)")));
            }
            if mx.is_empty() {
                return Ok(vec![domain.to_owned()]);
            }
            Ok(mx.into_iter().map(|(_, h)| h).collect())
        }
        // NXDOMAIN counts as "no records" too: ask for it first.
        Err(e) if e.is_nx_domain() => Err((true, format!("5.1.2 no such domain: {domain}"))),
        Err(e) if e.is_no_records_found() => Ok(vec![domain.to_owned()]),
        Err(e) => Err((false, format!("DNS lookup of {domain} failed: {e}"))),
    }
}

/// The addresses of a host (a literal IP stands for itself; `localhost` is the loopback
/// addresses without asking DNS, RFC 6761 §6.3: a relay on this machine).
pub async fn addresses(dns: &MessageAuthenticator, host: &str) -> Result<Vec<IpAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    if host.trim_end_matches('.').eq_ignore_ascii_case("localhost") {
        return Ok(vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)]);
    }
    let name = format!("{}.", host.trim_end_matches('.'));
    match dns.0.lookup_ip(name.as_str()).await {
        Ok(l) => Ok(l.iter().collect()),
        Err(e) => Err(format!("no address for {host}: {e}")),
    }
}
