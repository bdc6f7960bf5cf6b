//! The admin commands. They open the same store as the server (offline, or while it runs:
//! SQLite in WAL mode and PostgreSQL both allow it) and act as the system operator.

use std::io::BufRead;

use kontor_domain::model::PrincipalKind;
use kontor_domain::quota::{format_size, parse_size};
use kontor_domain::{Actor, NewUser};

use crate::Fatal;
use crate::app::{App, BusMode};
use crate::cli::{AliasCmd, AppPasswordCmd, Command, DomainCmd, MailboxCmd, QueueCmd, QuotaCmd, UserCmd};
use crate::config::Config;

const SYS: Actor<'static> = Actor::System;

fn read_password_stdin() -> Result<String, Fatal> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Fatal(format!("cannot read the password from standard input: {e}")))?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.is_empty() {
        return Err(Fatal("no password on standard input".into()));
    }
    Ok(pw)
}

fn quota_arg(s: &str) -> Result<Option<u64>, Fatal> {
    if matches!(s.trim(), "unlimited" | "none") {
        return Ok(None);
    }
    parse_size(s).map(Some).ok_or_else(|| Fatal(format!("bad size {s:?}: use e.g. 2GiB, 500MB or unlimited")))
}

fn show_quota(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".into(), format_size)
}

/// A TXT value as DNS zone files write it: quoted strings of at most 255 characters.
fn txt(value: &str) -> String {
    value.as_bytes().chunks(255).map(|c| format!("\"{}\"", String::from_utf8_lossy(c))).collect::<Vec<_>>().join(" ")
}

/// The domain's DKIM key, made (RSA-2048) when it has none.
async fn dkim_key(
    core: &kontor_domain::Core,
    domain: &kontor_domain::address::DomainName,
) -> Result<kontor_domain::mail::outbound::DkimKey, Fatal> {
    if let Some(k) = core.dkim_key(domain).await? {
        return Ok(k);
    }
    let key = kontor_smtp::dkim::generate(domain).map_err(Fatal)?;
    Ok(core.set_dkim_key(key).await?)
}

/// Runs one admin command.
pub async fn run(cfg: &Config, cmd: Command) -> Result<(), Fatal> {
    let app = App::open(cfg, BusMode::Local).await?;
    let result = dispatch(&app, cmd).await;
    app.close().await?;
    result
}

async fn dispatch(app: &App, cmd: Command) -> Result<(), Fatal> {
    let core = &app.core;
    match cmd {
        Command::Serve(_) => unreachable!("serve is not an admin command"),
        Command::Migrate => println!("database is up to date"),
        Command::Domain(DomainCmd::Add { name }) => {
            let d = core.add_domain(SYS, &name).await?;
            let key = dkim_key(core, &d.name).await?;
            println!("added domain {}", d.name);
            let (host, value) = key.dns_record();
            println!("publish its DKIM key in DNS: {host} TXT {}", txt(&value));
        }
        Command::Domain(DomainCmd::Dkim { name }) => {
            let d = kontor_domain::address::DomainName::parse(&name)?;
            if !core.list_domains(SYS).await?.iter().any(|x| x.name == d) {
                return Err(Fatal(format!("domain {d} not found")));
            }
            let (host, value) = dkim_key(core, &d).await?.dns_record();
            println!("{host} TXT {}", txt(&value));
        }
        Command::Queue(QueueCmd::List) => {
            for q in core.admin_queue(SYS).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    q.id,
                    q.attempts,
                    q.next_attempt_at.rfc3339(),
                    if q.mail_from.is_empty() { "<>" } else { &q.mail_from },
                    q.rcpt,
                    q.last_error.as_deref().unwrap_or("")
                );
            }
        }
        Command::Delegate { owner, grantee, right } => {
            use kontor_domain::rights::Rights;
            let owner = core.principal_by_address(&owner).await?;
            let grantee = kontor_domain::address::Address::parse(&grantee)?;
            let send = match right.as_str() {
                "send-as" => Rights::SEND_AS,
                "send-on-behalf" => Rights::SEND_ON_BEHALF,
                _ => Rights::NONE,
            };
            core.set_sending_rights(&owner, &grantee, send).await?;
            println!("{grantee} may now send for {}: {right}", owner.address);
        }
        Command::Queue(QueueCmd::Flush) => {
            let n = core.admin_flush_queue(SYS).await?;
            println!("{n} queued messages due now");
        }
        Command::Domain(DomainCmd::List) => {
            for d in core.list_domains(SYS).await? {
                println!("{}", d.name);
            }
        }
        Command::Domain(DomainCmd::Remove { name }) => {
            core.remove_domain(SYS, &name).await?;
            println!("removed domain {name}");
        }
        Command::User(cmd) => user(app, cmd).await?,
        Command::Alias(AliasCmd::Add { address, target }) => {
            let a = core.add_alias(SYS, &address, &target).await?;
            println!("added alias {} -> {}", a.address, a.target_address);
        }
        Command::Alias(AliasCmd::Remove { address, target }) => {
            core.remove_alias(SYS, &address, target.as_deref()).await?;
            println!("removed alias {address}");
        }
        Command::Alias(AliasCmd::List { domain }) => {
            for a in core.list_aliases(SYS, domain.as_deref()).await? {
                println!("{} -> {}", a.address, a.target_address);
            }
        }
        Command::Quota(QuotaCmd::Set { address, size }) => {
            let p = core.set_quota(SYS, &address, quota_arg(&size)?).await?;
            println!(
                "quota of {}: {} ({} used)",
                p.address,
                show_quota(p.quota.limit_bytes),
                format_size(p.quota.used_bytes)
            );
        }
        Command::Quota(QuotaCmd::Show { address }) => {
            let p = core.principal_by_address(&address).await?;
            println!("{}: {} used of {}", p.address, format_size(p.quota.used_bytes), show_quota(p.quota.limit_bytes));
        }
        Command::Mailbox(MailboxCmd::List { address }) => {
            for (b, n) in core.admin_mailboxes(SYS, &address).await? {
                let role = b.role.map_or("-", kontor_domain::mail::MailboxRole::as_str);
                println!(
                    "{}\t{role}\tuidvalidity {}\tuidnext {}\t{n} messages",
                    b.collection.name, b.uidvalidity, b.uidnext
                );
            }
        }
        Command::Mailbox(MailboxCmd::Messages { address, mailbox }) => {
            for (m, msg) in core.admin_messages(SYS, &address, &mailbox).await? {
                println!(
                    "{}\t{}\tthread {}\t{}\t{}",
                    m.uid,
                    format_size(msg.size),
                    msg.thread,
                    msg.envelope.from,
                    msg.envelope.subject
                );
            }
        }
        Command::Mailbox(MailboxCmd::Pop3Keep { address, days }) => {
            let days = match days.as_str() {
                "forever" | "unlimited" => None,
                d => Some(d.parse::<u32>().map_err(|_| Fatal(format!("days: a number or \"forever\", not {d:?}")))?),
            };
            core.set_pop3_keep_days(SYS, &address, days).await?;
            match days {
                Some(d) => println!("{address}: mail downloaded over POP3 is deleted after {d} days"),
                None => println!("{address}: mail downloaded over POP3 stays"),
            }
        }
        Command::Mailbox(MailboxCmd::Reindex) => {
            let n = core.index_text_backlog().await?;
            // Text waiting for the index (SQLite's batches) goes in too.
            core.index_pending_text().await?;
            println!("{n} messages indexed");
        }
        Command::Mailbox(MailboxCmd::ExpirePop3) => {
            let n = core.expire_pop3_downloads().await?;
            println!("{n} messages deleted");
        }
        Command::Mailbox(MailboxCmd::Show { address, mailbox, uid }) => {
            use std::io::Write as _;
            let raw = core.admin_message_bytes(SYS, &address, &mailbox, uid).await?;
            std::io::stdout().write_all(&raw).map_err(|e| Fatal(format!("cannot write: {e}")))?;
        }
        Command::Share { owner, target, grantee, role } => {
            use kontor_domain::rights::{Rights, Role};
            let rights = if role.trim() == "none" {
                Rights::NONE
            } else {
                Role::parse(&role).map(Role::rights).ok_or_else(|| {
                    Fatal(format!("role {role:?}: use reviewer, author, editor, owner, or none to revoke"))
                })?
            };
            let mailbox = (target != "*").then_some(target.as_str());
            core.admin_share(SYS, &owner, mailbox, &grantee, rights).await?;
            let what = mailbox.map_or_else(|| "the whole mailbox".to_owned(), |m| format!("mailbox {m:?}"));
            if rights.is_empty() {
                println!("{grantee} no longer has rights on {what} of {owner}");
            } else {
                println!("{grantee} is {} of {what} of {owner} ({rights})", role.trim().to_ascii_lowercase());
            }
        }
        Command::AppPassword(AppPasswordCmd::Add { address, label }) => {
            let (rec, secret) = core.add_app_password(SYS, &address, &label).await?;
            println!("app password {:?} for {address} (shown once): {secret}", rec.label);
        }
        Command::AppPassword(AppPasswordCmd::List { address }) => {
            for a in core.list_app_passwords(SYS, &address).await? {
                let used =
                    a.last_used_at.map_or_else(|| "never used".to_owned(), |t| format!("last used {}", fmt_time(t.0)));
                println!("{}\tcreated {}\t{used}", a.label, fmt_time(a.created_at.0));
            }
        }
        Command::AppPassword(AppPasswordCmd::Revoke { address, label }) => {
            core.revoke_app_password(SYS, &address, &label).await?;
            println!("revoked app password {label:?} of {address}");
        }
    }
    Ok(())
}

async fn user(app: &App, cmd: UserCmd) -> Result<(), Fatal> {
    let core = &app.core;
    match cmd {
        UserCmd::Add { address, password_stdin, quota, admin, name, kind } => {
            let kind = PrincipalKind::parse(&kind)
                .ok_or_else(|| Fatal(format!("bad kind {kind:?}: use user, group or resource")))?;
            let address = kontor_domain::address::Address::parse(&address)?;
            let password = if password_stdin { Some(read_password_stdin()?) } else { None };
            let quota = match quota {
                Some(q) => quota_arg(&q)?,
                None => None,
            };
            let (p, generated) = core
                .add_user(SYS, NewUser { address, kind, password, display_name: name, is_admin: admin, quota })
                .await?;
            println!("added {} {}", p.kind.as_str(), p.address);
            if let Some(pw) = generated {
                println!("password (shown once): {pw}");
            }
        }
        UserCmd::List { domain } => {
            for p in core.list_users(SYS, domain.as_deref()).await? {
                let admin = if p.is_admin { "\tadmin" } else { "" };
                println!(
                    "{}\t{}\t{} of {}{admin}",
                    p.address,
                    p.kind.as_str(),
                    format_size(p.quota.used_bytes),
                    show_quota(p.quota.limit_bytes)
                );
            }
        }
        UserCmd::Passwd { address, password_stdin } => {
            let password = if password_stdin { Some(read_password_stdin()?) } else { None };
            match core.set_password(SYS, &address, password).await? {
                Some(pw) => println!("new password of {address} (shown once): {pw}"),
                None => println!("password of {address} changed"),
            }
        }
        UserCmd::Remove { address } => {
            core.remove_user(SYS, &address).await?;
            println!("removed {address} and all its data");
        }
        UserCmd::Rename { old, new } => {
            let p = core.rename_user(SYS, &old, &new).await?;
            println!("renamed {old} to {}; {old} is free to be created again", p.address);
        }
    }
    Ok(())
}

/// UTC date and time of a millisecond timestamp, e.g. `2026-11-23 05:40 UTC`.
fn fmt_time(ms: i64) -> String {
    let (y, m, d, h, mi, _) = kontor_domain::ids::Timestamp(ms).utc_parts();
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02} UTC")
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times() {
        assert_eq!(super::fmt_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::fmt_time(1_795_411_200_000), "2026-11-23 05:20 UTC");
        assert_eq!(super::fmt_time(951_782_400_000), "2000-02-29 00:00 UTC");
    }
}
