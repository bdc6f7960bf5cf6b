//! The command line: `kontor serve` and the admin commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Kontor: mail, calendars, contacts and tasks for one domain's users, in one binary.
#[derive(Debug, Parser)]
#[command(name = "kontor", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Environment variables KONTOR_* and flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database and blobs); KONTOR_DATA.
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<String>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB; KONTOR_DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Set any configuration key, e.g. --set http.max_body=16MiB (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pending migrations, then serve.
    Serve(ServeArgs),
    /// Run pending database migrations and exit.
    Migrate,
    /// Mail domains.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Users (and groups and resources).
    #[command(subcommand)]
    User(UserCmd),
    /// Extra addresses delivering to a user.
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Storage quotas.
    #[command(subcommand)]
    Quota(QuotaCmd),
    /// Per-device passwords.
    #[command(subcommand, name = "app-password")]
    AppPassword(AppPasswordCmd),
    /// A user's mailboxes and the messages in them.
    #[command(subcommand)]
    Mailbox(MailboxCmd),
    /// Share a mailbox of OWNER (TARGET: a mailbox name like INBOX or Projects/X, or * for the
    /// whole mailbox) with a colleague of the same domain as a role: reviewer, author, editor,
    /// owner (delegate), or none to revoke.
    Share { owner: String, target: String, grantee: String, role: String },
    /// The outbound queue (mail for other servers).
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Let a colleague send mail as OWNER (send-as), on OWNER's behalf (send-on-behalf: a
    /// Sender: header names the colleague), or not (none).
    Delegate {
        owner: String,
        grantee: String,
        #[arg(value_parser = ["send-as", "send-on-behalf", "none"])]
        right: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailboxCmd {
    /// List a user's mailboxes: name, role, UIDVALIDITY, UIDNEXT, messages.
    List { address: String },
    /// List the messages of a mailbox (default INBOX): UID, size, thread, from, subject.
    Messages {
        address: String,
        #[arg(default_value = "INBOX")]
        mailbox: String,
    },
    /// Print one message as stored (RFC 5322), by mailbox and UID.
    Show { address: String, mailbox: String, uid: u32 },
    /// Delete mail the user downloaded over POP3 after this many days ("forever": keep it).
    #[command(name = "pop3-keep")]
    Pop3Keep { address: String, days: String },
    /// Run the POP3 retention job now (the server runs it every minute).
    #[command(name = "expire-pop3")]
    ExpirePop3,
    /// Index the messages stored before the full-text index existed (the server does it in
    /// the background when it starts).
    Reindex,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// HTTP listener (webmail, JMAP, CalDAV/CardDAV, API); KONTOR_HTTP.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// IMAP listener; KONTOR_IMAP.
    #[arg(long, value_name = "ADDR")]
    pub imap: Option<String>,
    /// POP3 listener; KONTOR_POP3.
    #[arg(long, value_name = "ADDR")]
    pub pop3: Option<String>,
    /// SMTP (MX) listener; KONTOR_SMTP.
    #[arg(long, value_name = "ADDR")]
    pub smtp: Option<String>,
    /// SMTP submission listener; KONTOR_SUBMISSION.
    #[arg(long, value_name = "ADDR")]
    pub submission: Option<String>,
    /// Domain created with an admin account on the first start of an empty store; KONTOR_DOMAIN.
    #[arg(long, value_name = "NAME")]
    pub domain: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DomainCmd {
    /// Add a domain.
    Add { name: String },
    /// List domains.
    List,
    /// Remove a domain (it must have no users or aliases left).
    Remove { name: String },
    /// Print the DNS TXT record that publishes the domain's DKIM key (made now if missing).
    Dkim { name: String },
}

#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// List mail waiting for other servers: id, attempts, next attempt, sender, recipient, last error.
    List,
    /// Try every queued message now.
    Flush,
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user; prints a generated password unless --password-stdin is given.
    Add {
        /// NAME@DOMAIN
        address: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Storage quota, e.g. 2GiB (default: the configured default, else unlimited).
        #[arg(long, value_name = "SIZE")]
        quota: Option<String>,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Display name.
        #[arg(long, value_name = "TEXT")]
        name: Option<String>,
        /// user, group or resource.
        #[arg(long, default_value = "user")]
        kind: String,
    },
    /// List users.
    List {
        /// Only this domain.
        #[arg(long)]
        domain: Option<String>,
    },
    /// Set a user's password; prints a generated one unless --password-stdin is given.
    Passwd {
        address: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user and all its data.
    Remove { address: String },
    /// Give a user a new address, keeping all its data; the old address becomes free.
    Rename { old: String, new: String },
}

#[derive(Debug, Subcommand)]
pub enum AliasCmd {
    /// Deliver ADDRESS to TARGET.
    Add { address: String, target: String },
    /// Remove an alias (only if it points to TARGET, when given).
    Remove { address: String, target: Option<String> },
    /// List aliases.
    List {
        #[arg(long)]
        domain: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuotaCmd {
    /// Set a user's quota: a size like 2GiB, or "unlimited".
    Set { address: String, size: String },
    /// Show a user's use and quota.
    Show { address: String },
}

#[derive(Debug, Subcommand)]
pub enum AppPasswordCmd {
    /// Create an app password for a device; prints it once.
    Add { address: String, label: String },
    /// List a user's app passwords.
    List { address: String },
    /// Revoke an app password.
    Revoke { address: String, label: String },
}
