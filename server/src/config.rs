//! Configuration: defaults for a newcomer on one machine, then a TOML file (`--config`), then
//! `KONTOR_*` environment variables, then command-line flags; each later source wins.
//!
//! Every key `section.key` can be set as `KONTOR_SECTION_KEY` (e.g. `http.listen` as
//! `KONTOR_HTTP_LISTEN`); the common ones also have short names: `KONTOR_DATA`,
//! `KONTOR_DATABASE_URL`, `KONTOR_DOMAIN`, `KONTOR_HTTP`, `KONTOR_IMAP`, `KONTOR_POP3`,
//! `KONTOR_SMTP`, `KONTOR_SUBMISSION`. A bad value names its key and what is wrong.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

/// The configuration as written (strings for sizes, durations and addresses).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the embedded database and blobs live.
    pub data: String,
    /// The domain created (with its admin) on the first start of an empty store.
    pub domain: String,
    pub database: Database,
    pub blobs: Blobs,
    pub http: Http,
    pub imap: Listener,
    pub pop3: Listener,
    pub smtp: Listener,
    pub submission: Listener,
    /// Implicit TLS (RFC 8314): submission on 465, IMAP on 993, POP3 on 995; empty: off.
    pub submissions: Listener,
    pub imaps: Listener,
    pub pop3s: Listener,
    /// HTTPS (the same service as `http`) with the `tls` certificate; empty: off.
    pub https: Listener,
    pub tls: Tls,
    pub mail: Mail,
    pub outbound: Outbound,
    pub dns: Dns,
    pub auth: Auth,
    pub quota: QuotaCfg,
    pub jmap: Jmap,
    pub log: Log,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jmap {
    /// URL prefixes push notifications may be posted to (comma-separated, e.g.
    /// `http://push.internal:8080/`); empty: no PushSubscription is accepted.
    pub push_allowed: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// `sqlite://PATH` or `postgres://…`; empty: SQLite at `<data>/kontor.db`.
    pub url: String,
    /// Connections in the pool; 0: 4 for SQLite (one writer at a time; each connection keeps
    /// its own page cache, and more of them cost memory without speed), 16 for PostgreSQL.
    pub max_connections: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blobs {
    /// Empty: `<data>/blobs`.
    pub path: String,
    /// Memory for small blobs (calendar objects, vCards) read often, e.g. `32MiB`; 0 turns it off.
    pub cache: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    pub listen: String,
    /// Largest request body, e.g. `64MiB`.
    pub max_body: String,
    /// Longest time a request may take, e.g. `60s`.
    pub request_timeout: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub listen: String,
    /// Connections one source address may hold open at once (mail protocols).
    pub max_per_address: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Certificate chain (PEM). With `key`, SMTP, submission, IMAP and POP3 offer STARTTLS and
    /// the implicit-TLS listeners can be used.
    pub cert: String,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    /// This server's name in greetings, Received: and Authentication-Results: headers and
    /// DSNs; empty: the domain.
    pub hostname: String,
    /// Check SPF, DKIM and DMARC of mail from other servers (results in Authentication-Results:).
    pub verify_inbound: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outbound {
    /// Send all outgoing mail through this server (`host:port`, a smarthost); empty: to each
    /// recipient domain's MX hosts.
    pub relay: String,
    /// The port of MX hosts.
    pub port: i64,
    /// First retry after a failed attempt; each later one waits twice as long (at most 4 h).
    pub retry: String,
    /// Bounce mail not delivered after this long.
    pub give_up: String,
    /// How often the queue is looked at without being woken (mail queued on other nodes).
    pub poll: String,
    /// TLS with the servers mail is handed to: `may` (STARTTLS when offered, certificate not
    /// checked, else in the clear), `encrypt` (STARTTLS required), `verify` (STARTTLS with a
    /// certificate valid for the server's name).
    pub tls: String,
    /// Sign in at the relay with this user (AUTH PLAIN/LOGIN; over TLS only unless the relay is
    /// on this machine); empty: no sign-in.
    pub relay_user: String,
    pub relay_password: String,
    /// A PEM file of more certificates to trust with `tls = "verify"` (e.g. the company CA).
    pub ca: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    /// Name servers (`ip:port`, comma-separated) for MX lookups and SPF/DKIM/DMARC; empty: the
    /// system's (/etc/resolv.conf).
    pub servers: String,
    /// Longest wait for one answer.
    pub timeout: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Lifetime of access tokens, e.g. `1h`.
    pub token_ttl: String,
    pub failures_per_account_per_minute: i64,
    pub failures_per_account_burst: i64,
    pub failures_per_address_per_minute: i64,
    pub failures_per_address_burst: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaCfg {
    /// Quota of new users, e.g. `2GiB`; empty: unlimited.
    pub default: String,
    /// Largest single item (message, event, file).
    pub max_item_size: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// A tracing filter, e.g. `info` or `kontor=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for Config {
    fn default() -> Self {
        let l = |a: &str| Listener { listen: a.into(), max_per_address: 32 };
        Self {
            data: "./data".into(),
            domain: "localhost".into(),
            database: Database { url: String::new(), max_connections: 0 },
            blobs: Blobs { path: String::new(), cache: "32MiB".into() },
            http: Http { listen: "127.0.0.1:8080".into(), max_body: "64MiB".into(), request_timeout: "60s".into() },
            imap: l("127.0.0.1:1143"),
            pop3: l("127.0.0.1:1110"),
            smtp: l("127.0.0.1:2525"),
            submission: l("127.0.0.1:1587"),
            submissions: l(""),
            imaps: l(""),
            pop3s: l(""),
            https: l(""),
            tls: Tls { cert: String::new(), key: String::new() },
            mail: Mail { hostname: String::new(), verify_inbound: true },
            outbound: Outbound {
                relay: String::new(),
                port: 25,
                retry: "1m".into(),
                give_up: "5d".into(),
                poll: "30s".into(),
                tls: "may".into(),
                relay_user: String::new(),
                relay_password: String::new(),
                ca: String::new(),
            },
            dns: Dns { servers: String::new(), timeout: "5s".into() },
            auth: Auth {
                token_ttl: "1h".into(),
                failures_per_account_per_minute: 6,
                failures_per_account_burst: 10,
                failures_per_address_per_minute: 20,
                failures_per_address_burst: 30,
            },
            quota: QuotaCfg { default: String::new(), max_item_size: "64MiB".into() },
            jmap: Jmap { push_allowed: String::new() },
            log: Log { level: "info".into(), format: "text".into() },
        }
    }
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

/// Short environment names for the most used keys.
const ENV_ALIASES: &[(&str, &str)] = &[
    ("KONTOR_DATABASE_URL", "database.url"),
    ("KONTOR_HTTP", "http.listen"),
    ("KONTOR_IMAP", "imap.listen"),
    ("KONTOR_POP3", "pop3.listen"),
    ("KONTOR_SMTP", "smtp.listen"),
    ("KONTOR_SUBMISSION", "submission.listen"),
    ("KONTOR_SUBMISSIONS", "submissions.listen"),
    ("KONTOR_IMAPS", "imaps.listen"),
    ("KONTOR_POP3S", "pop3s.listen"),
    ("KONTOR_HTTPS", "https.listen"),
];

/// Every leaf key of the defaults, with its default value.
fn leaves(t: &Table, prefix: &str, out: &mut Vec<(String, Value)>) {
    for (k, v) in t {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Table(sub) => leaves(sub, &path, out),
            other => out.push((path, other.clone())),
        }
    }
}

fn env_name(path: &str) -> String {
    format!("KONTOR_{}", path.replace(['.', '-'], "_").to_ascii_uppercase())
}

fn set(t: &mut Table, path: &str, v: Value) {
    let mut cur = t;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_owned(), v);
            return;
        }
        cur = match cur.entry(p.to_owned()).or_insert_with(|| Value::Table(Table::new())) {
            Value::Table(t) => t,
            _ => return,
        };
    }
}

/// Parses a string for `key`, taking the type of its default.
fn typed(key: &str, default: &Value, raw: &str, source: &str) -> Result<Value, ConfigError> {
    match default {
        Value::Integer(_) => raw
            .trim()
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| err(format!("{key} (from {source}): expected a whole number, got {raw:?}"))),
        Value::Boolean(_) => match raw.trim() {
            "true" | "1" | "yes" | "on" => Ok(Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Boolean(false)),
            _ => Err(err(format!("{key} (from {source}): expected true or false, got {raw:?}"))),
        },
        _ => Ok(Value::String(raw.to_owned())),
    }
}

/// Merges a file's table over the defaults, refusing unknown keys and wrong types.
fn merge_file(base: &mut Table, file: &Table, prefix: &str, origin: &str) -> Result<(), ConfigError> {
    for (k, v) in file {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        let Some(slot) = base.get_mut(k) else {
            return Err(err(format!("{path} (in {origin}): unknown key")));
        };
        match (slot, v) {
            (Value::Table(b), Value::Table(f)) => merge_file(b, f, &path, origin)?,
            (Value::Table(_), _) => return Err(err(format!("{path} (in {origin}): expected a section [{path}]"))),
            (slot, v) if std::mem::discriminant(slot) == std::mem::discriminant(v) => *slot = v.clone(),
            (slot, v) => {
                return Err(err(format!("{path} (in {origin}): expected {}, got {}", slot.type_str(), v.type_str())));
            }
        }
    }
    Ok(())
}

impl Config {
    /// Builds the configuration from defaults, `file`, the environment (`env`) and `flags`
    /// (key path → value).
    pub fn load<K: AsRef<str>>(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &[(K, Option<String>)],
    ) -> Result<Self, ConfigError> {
        let Ok(Value::Table(defaults)) = Value::try_from(Self::default()) else {
            return Err(err("defaults do not serialise"));
        };
        let mut known = Vec::new();
        leaves(&defaults, "", &mut known);
        let mut t = defaults;

        if let Some(path) = file {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read {origin}: {e}")))?;
            let parsed: Table = toml::from_str(&text).map_err(|e| err(format!("{origin}: {}", e.message())))?;
            merge_file(&mut t, &parsed, "", &origin)?;
        }

        let env: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("KONTOR_")).collect();
        for (key, default) in &known {
            let name = env_name(key);
            let alias = ENV_ALIASES.iter().find(|(_, k)| k == key).map(|(a, _)| *a);
            // The long name wins over the short one when both are set.
            for n in alias.into_iter().chain(std::iter::once(name.as_str())) {
                if let Some((_, raw)) = env.iter().find(|(k, _)| k == n) {
                    set(&mut t, key, typed(key, default, raw, n)?);
                }
            }
        }

        for (key, value) in flags {
            let key = key.as_ref();
            if let Some(v) = value {
                let default = known
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, d)| d)
                    .ok_or_else(|| err(format!("{key} (from the command line): unknown key")))?;
                set(&mut t, key, typed(key, default, v, "command line")?);
            }
        }

        let cfg: Self = serde_path_to_error::deserialize(Value::Table(t))
            .map_err(|e| err(format!("{}: {}", e.path(), e.inner())))?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Checks every value that has a shape, so a bad one fails at start naming its key.
    fn check(&self) -> Result<(), ConfigError> {
        for (key, addr) in [
            ("http.listen", &self.http.listen),
            ("imap.listen", &self.imap.listen),
            ("pop3.listen", &self.pop3.listen),
            ("smtp.listen", &self.smtp.listen),
            ("submission.listen", &self.submission.listen),
        ] {
            parse_addr(key, addr)?;
        }
        for (key, l) in [
            ("submissions.listen", &self.submissions),
            ("imaps.listen", &self.imaps),
            ("pop3s.listen", &self.pop3s),
            ("https.listen", &self.https),
        ] {
            if !l.listen.is_empty() {
                parse_addr(key, &l.listen)?;
                if self.tls.cert.is_empty() {
                    return Err(err(format!("{key}: implicit TLS needs tls.cert and tls.key")));
                }
            }
        }
        for (key, l) in [
            ("imap", &self.imap),
            ("pop3", &self.pop3),
            ("smtp", &self.smtp),
            ("submission", &self.submission),
            ("submissions", &self.submissions),
            ("imaps", &self.imaps),
            ("pop3s", &self.pop3s),
            ("https", &self.https),
        ] {
            if !(1..=100_000).contains(&l.max_per_address) {
                return Err(err(format!("{key}.max_per_address: must be between 1 and 100000")));
            }
        }
        size("http.max_body", &self.http.max_body)?;
        size("blobs.cache", &self.blobs.cache)?;
        size("quota.max_item_size", &self.quota.max_item_size)?;
        if !self.quota.default.is_empty() {
            size("quota.default", &self.quota.default)?;
        }
        duration("http.request_timeout", &self.http.request_timeout)?;
        duration("outbound.retry", &self.outbound.retry)?;
        duration("outbound.give_up", &self.outbound.give_up)?;
        duration("outbound.poll", &self.outbound.poll)?;
        duration("dns.timeout", &self.dns.timeout)?;
        if !(1..=65535).contains(&self.outbound.port) {
            return Err(err("outbound.port: must be between 1 and 65535"));
        }
        self.relay()?;
        self.outbound_tls()?;
        if !self.outbound.relay_user.is_empty() && self.outbound.relay.trim().is_empty() {
            return Err(err("outbound.relay_user: set outbound.relay too (credentials are for a relay)"));
        }
        if !self.outbound.relay_user.is_empty() && self.outbound.relay_password.is_empty() {
            return Err(err("outbound.relay_password: needed with outbound.relay_user"));
        }
        self.outbound_roots()?;
        self.dns_servers()?;
        if !self.mail.hostname.is_empty() {
            kontor_domain::address::DomainName::parse(&self.mail.hostname)
                .map_err(|e| err(format!("mail.hostname: {e}")))?;
        }
        duration("auth.token_ttl", &self.auth.token_ttl)?;
        if !self.database.url.is_empty() && kontor_storage::Backend::of_url(&self.database.url).is_none() {
            return Err(err(format!(
                "database.url: must start with sqlite:// or postgres://, got {:?}",
                self.database.url
            )));
        }
        if !(0..=1000).contains(&self.database.max_connections) {
            return Err(err("database.max_connections: must be between 0 (automatic) and 1000"));
        }
        for (key, v) in [
            ("auth.failures_per_account_per_minute", self.auth.failures_per_account_per_minute),
            ("auth.failures_per_account_burst", self.auth.failures_per_account_burst),
            ("auth.failures_per_address_per_minute", self.auth.failures_per_address_per_minute),
            ("auth.failures_per_address_burst", self.auth.failures_per_address_burst),
        ] {
            if !(1..=100_000).contains(&v) {
                return Err(err(format!("{key}: must be between 1 and 100000")));
            }
        }
        kontor_domain::address::DomainName::parse(&self.domain).map_err(|e| err(format!("domain: {e}")))?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(err(format!("log.format: expected text or json, got {:?}", self.log.format)));
        }
        if self.data.is_empty() {
            return Err(err("data: must not be empty"));
        }
        Ok(())
    }

    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.data)
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data_dir().join("kontor.db").display())
        } else {
            self.database.url.clone()
        }
    }

    pub fn blob_dir(&self) -> PathBuf {
        if self.blobs.path.is_empty() { self.data_dir().join("blobs") } else { PathBuf::from(&self.blobs.path) }
    }

    pub fn imap_addr(&self) -> SocketAddr {
        parse_addr("imap.listen", &self.imap.listen).unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 1143)))
    }

    pub fn pop3_addr(&self) -> SocketAddr {
        parse_addr("pop3.listen", &self.pop3.listen).unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 1110)))
    }

    pub fn smtp_addr(&self) -> SocketAddr {
        parse_addr("smtp.listen", &self.smtp.listen).unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 2525)))
    }

    pub fn submission_addr(&self) -> SocketAddr {
        parse_addr("submission.listen", &self.submission.listen)
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 1587)))
    }

    /// An implicit-TLS listener's address, if it is on.
    pub fn tls_addr(l: &Listener) -> Option<SocketAddr> {
        if l.listen.is_empty() { None } else { l.listen.parse().ok() }
    }

    /// This server's host name (`mail.hostname`, else the domain).
    pub fn hostname(&self) -> String {
        if self.mail.hostname.is_empty() { self.domain.clone() } else { self.mail.hostname.clone() }
    }

    /// The smarthost, if one is set: (host, port).
    pub fn relay(&self) -> Result<Option<(String, u16)>, ConfigError> {
        if self.outbound.relay.trim().is_empty() {
            return Ok(None);
        }
        let bad = || err(format!("outbound.relay: expected host:port, got {:?}", self.outbound.relay));
        let (host, port) = self.outbound.relay.trim().rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Some((host.trim_matches(['[', ']']).to_owned(), port)))
    }

    /// `outbound.tls` as a policy.
    pub fn outbound_tls(&self) -> Result<kontor_smtp::outbound::TlsPolicy, ConfigError> {
        use kontor_smtp::outbound::TlsPolicy;
        match self.outbound.tls.trim().to_ascii_lowercase().as_str() {
            "may" => Ok(TlsPolicy::May),
            "encrypt" => Ok(TlsPolicy::Encrypt),
            "verify" => Ok(TlsPolicy::Verify),
            other => Err(err(format!("outbound.tls: expected may, encrypt or verify, got {other:?}"))),
        }
    }

    /// The certificates of `outbound.ca` (PEM), if set.
    pub fn outbound_roots(&self) -> Result<Vec<u8>, ConfigError> {
        if self.outbound.ca.is_empty() {
            return Ok(Vec::new());
        }
        let pem = std::fs::read(&self.outbound.ca)
            .map_err(|e| err(format!("outbound.ca: cannot read {}: {e}", self.outbound.ca)))?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(err(format!("outbound.ca: no PEM certificate in {}", self.outbound.ca)));
        }
        Ok(pem)
    }

    /// The configured name servers (none: the system's).
    pub fn dns_servers(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        self.dns
            .servers
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<SocketAddr>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .map_err(|_| err(format!("dns.servers: expected ip:port, got {s:?}")))
            })
            .collect()
    }

    pub fn dns_timeout(&self) -> Duration {
        duration("dns.timeout", &self.dns.timeout).unwrap_or(Duration::from_secs(5))
    }

    /// How the outbound worker reaches other servers.
    pub fn outbound_settings(&self) -> kontor_smtp::outbound::Settings {
        kontor_smtp::outbound::Settings {
            hostname: self.hostname(),
            relay: self.relay().ok().flatten(),
            port: u16::try_from(self.outbound.port).unwrap_or(25),
            batch: 64,
            poll: duration("outbound.poll", &self.outbound.poll).unwrap_or(Duration::from_secs(30)),
            // RFC 5321 §4.5.3.2: up to 10 minutes for the answer to the final dot.
            timeout: Duration::from_mins(10),
            tls: self.outbound_tls().unwrap_or(kontor_smtp::outbound::TlsPolicy::May),
            relay_auth: (!self.outbound.relay_user.is_empty())
                .then(|| (self.outbound.relay_user.clone(), self.outbound.relay_password.clone())),
            roots: self.outbound_roots().unwrap_or_default(),
        }
    }

    /// What the SMTP sessions allow: messages up to `quota.max_item_size`.
    pub fn smtp_limits(&self) -> kontor_smtp::Limits {
        kontor_smtp::Limits {
            hostname: self.hostname(),
            max_message_size: usize::try_from(self.settings().max_item_size).unwrap_or(usize::MAX),
            max_recipients: 100,
            max_errors: 10,
        }
    }

    pub fn http_addr(&self) -> SocketAddr {
        parse_addr("http.listen", &self.http.listen).unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    pub fn blob_cache(&self) -> u64 {
        size("blobs.cache", &self.blobs.cache).unwrap_or(32 << 20)
    }

    pub fn max_body(&self) -> usize {
        size("http.max_body", &self.http.max_body).map_or(64 << 20, |v| usize::try_from(v).unwrap_or(usize::MAX))
    }

    pub fn request_timeout(&self) -> Duration {
        duration("http.request_timeout", &self.http.request_timeout).unwrap_or(Duration::from_mins(1))
    }

    /// The domain's tunables.
    pub fn settings(&self) -> kontor_domain::Settings {
        use kontor_domain::auth::limiter::LimitSettings;
        let n = |v: i64| u32::try_from(v).unwrap_or(1);
        kontor_domain::Settings {
            max_item_size: size("quota.max_item_size", &self.quota.max_item_size).unwrap_or(64 << 20),
            default_quota: if self.quota.default.is_empty() {
                None
            } else {
                size("quota.default", &self.quota.default).ok()
            },
            token_ttl_secs: duration("auth.token_ttl", &self.auth.token_ttl).map_or(3600, |d| d.as_secs()),
            login_limits: LimitSettings {
                per_account_per_minute: n(self.auth.failures_per_account_per_minute),
                per_account_burst: n(self.auth.failures_per_account_burst),
                per_address_per_minute: n(self.auth.failures_per_address_per_minute),
                per_address_burst: n(self.auth.failures_per_address_burst),
            },
            hostname: self.hostname(),
            outbound_retry_ms: duration("outbound.retry", &self.outbound.retry)
                .map_or(60_000, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            outbound_give_up_ms: duration("outbound.give_up", &self.outbound.give_up)
                .map_or(5 * 86_400_000, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

fn parse_addr(key: &str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse().map_err(|_| err(format!("{key}: expected an address like 127.0.0.1:8080, got {v:?}")))
}

fn size(key: &str, v: &str) -> Result<u64, ConfigError> {
    kontor_domain::quota::parse_size(v).ok_or_else(|| err(format!("{key}: expected a size like 64MiB, got {v:?}")))
}

/// `500ms`, `30s`, `5m`, `1h`, `7d`, or plain seconds.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => return Some(Duration::from_millis(n)),
        "" | "s" => n,
        "m" | "min" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

fn duration(key: &str, v: &str) -> Result<Duration, ConfigError> {
    parse_duration(v).ok_or_else(|| err(format!("{key}: expected a duration like 30s, 5m or 1h, got {v:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_serve_a_newcomer() {
        let c = Config::load::<&str>(None, env(&[]), &[]).unwrap();
        assert_eq!(c.http_addr().to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url(), "sqlite://./data/kontor.db?mode=rwc");
        assert_eq!(c.blob_dir(), PathBuf::from("./data/blobs"));
        assert_eq!(c.imap.listen, "127.0.0.1:1143");
        assert_eq!(c.pop3.listen, "127.0.0.1:1110");
        assert_eq!(c.smtp.listen, "127.0.0.1:2525");
        assert_eq!(c.submission.listen, "127.0.0.1:1587");
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.toml");
        std::fs::write(&f, "data = \"/srv/k\"\n[http]\nlisten = \"0.0.0.0:80\"\n[database]\nmax_connections = 4\n")
            .unwrap();
        let c = Config::load::<&str>(Some(&f), env(&[]), &[]).unwrap();
        assert_eq!((c.data.as_str(), c.http.listen.as_str(), c.database.max_connections), ("/srv/k", "0.0.0.0:80", 4));
        let c = Config::load::<&str>(
            Some(&f),
            env(&[("KONTOR_HTTP", "127.0.0.1:81"), ("KONTOR_DATABASE_MAX_CONNECTIONS", "9")]),
            &[],
        )
        .unwrap();
        assert_eq!((c.http.listen.as_str(), c.database.max_connections), ("127.0.0.1:81", 9));
        let c = Config::load(
            Some(&f),
            env(&[("KONTOR_HTTP", "127.0.0.1:81"), ("KONTOR_HTTP_LISTEN", "127.0.0.1:82")]),
            &[("data", Some("/tmp/x".into()))],
        )
        .unwrap();
        assert_eq!((c.http.listen.as_str(), c.data.as_str()), ("127.0.0.1:82", "/tmp/x"));
        let c = Config::load(
            None,
            env(&[("KONTOR_HTTP", "127.0.0.1:81")]),
            &[("http.listen", Some("127.0.0.1:83".into()))],
        )
        .unwrap();
        assert_eq!(c.http.listen, "127.0.0.1:83");
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.toml");
        let cases = [
            ("[http]\nlisen = \"x\"\n", "http.lisen"),
            ("[http]\nlisten = \"nope\"\n", "http.listen"),
            ("[database]\nmax_connections = \"many\"\n", "database.max_connections"),
            ("[database]\nurl = \"mysql://x\"\n", "database.url"),
            ("http = 3\n", "http"),
            ("[quota]\ndefault = \"lots\"\n", "quota.default"),
            ("[auth]\ntoken_ttl = \"forever\"\n", "auth.token_ttl"),
            ("[outbound]\ntls = \"always\"\n", "outbound.tls"),
            ("[outbound]\nrelay_user = \"u\"\nrelay_password = \"p\"\n", "outbound.relay_user"),
            ("[outbound]\nrelay = \"smtp.example:587\"\nrelay_user = \"u\"\n", "outbound.relay_password"),
            ("[outbound]\nca = \"/nonexistent/ca.pem\"\n", "outbound.ca"),
            ("this is not toml", "k.toml"),
        ];
        for (text, key) in cases {
            std::fs::write(&f, text).unwrap();
            let e = Config::load::<&str>(Some(&f), env(&[]), &[]).unwrap_err().to_string();
            assert!(e.contains(key), "{text:?}: {e}");
        }
        let e =
            Config::load::<&str>(None, env(&[("KONTOR_DATABASE_MAX_CONNECTIONS", "x")]), &[]).unwrap_err().to_string();
        assert!(e.contains("database.max_connections") && e.contains("KONTOR_DATABASE_MAX_CONNECTIONS"), "{e}");
        let e = Config::load::<&str>(None, env(&[("KONTOR_DOMAIN", "bad domain")]), &[]).unwrap_err().to_string();
        assert!(e.contains("domain"), "{e}");
        assert!(Config::load::<&str>(Some(Path::new("/nonexistent/k.toml")), env(&[]), &[]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_mins(5)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("12"), Some(Duration::from_secs(12)));
        assert_eq!(parse_duration("1y"), None);
        assert_eq!(parse_duration(""), None);
    }
}
