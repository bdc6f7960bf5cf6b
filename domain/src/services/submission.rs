//! Submission: mail a signed-in user sends. The From address must be the user's own (or an
//! alias of it), or an account that granted the user send-as or send-on-behalf (then a Sender:
//! header names the user). A copy goes to the user's Sent mailbox; local recipients get the
//! message at once, remote ones through the durable outbound queue, which retries with
//! backoff and mails a delivery status notification (RFC 3464) to the sender when it gives up.
//! The envelope's DSN requests (RFC 3461) are kept with each queue entry and decide which
//! reports the sender gets: NOTIFY=NEVER none, NOTIFY=SUCCESS also "delivered" (local
//! recipients) or "relayed" (remote ones: the next server is not asked for reports).

use crate::address::Address;
use crate::error::{Error, Result};
use crate::ids::{AccountId, PrincipalId, Timestamp};
use crate::mail::dsn::{self, Action, Report};
use crate::mail::outbound::{Attempt, DkimKey, DsnRequest, NewQueued, Queued, RcptDsn, backoff};
use crate::mail::{Keywords, MailboxRole};
use crate::model::Principal;
use crate::rights::Rights;
use crate::services::mail::{Delivered, Recipient};

/// How a user may use a sender address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendAs {
    /// The user's own address or one of its aliases.
    Own,
    /// Another account's address, with its send-as grant.
    As(AccountId),
    /// Another account's address, with its send-on-behalf grant (a Sender: header is added).
    OnBehalf(AccountId),
}

/// Where a submitted recipient goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Local(PrincipalId),
    Remote,
}

/// What a submission did.
#[derive(Debug)]
pub struct Submitted {
    /// Local recipients, each with its own outcome.
    pub local: Vec<Delivered>,
    /// Remote recipients queued.
    pub queued: usize,
}

/// Lease on claimed queue entries: a node that dies while sending leaves them for this long.
const CLAIM_LEASE_MS: i64 = 30 * 60 * 1000;

impl crate::Core {
    /// Whether (and how) `who` may send as `address`; `None`: not at all.
    pub async fn sender_right(&self, who: &Principal, address: &str) -> Result<Option<SendAs>> {
        let Ok(address) = Address::parse(address) else { return Ok(None) };
        if address == who.address {
            return Ok(Some(SendAs::Own));
        }
        if self.store.find_domain(&address.domain).await?.is_none() {
            return Ok(None);
        }
        let Some(owner) = self.store.resolve_address(&address).await? else { return Ok(None) };
        if owner == who.id {
            return Ok(Some(SendAs::Own));
        }
        let mut rights = Rights::NONE;
        for g in self.store.grants_to(who.id).await? {
            if g.account == owner && g.collection.is_none() {
                rights = rights.union(g.rights);
            }
        }
        Ok(if rights.contains(Rights::SEND_AS) {
            Some(SendAs::As(owner))
        } else if rights.contains(Rights::SEND_ON_BEHALF) {
            Some(SendAs::OnBehalf(owner))
        } else {
            None
        })
    }

    /// The addresses `who` may write in From: its own, its aliases, and those of colleagues who
    /// let it send as or on behalf of them; with the display name and how it may send.
    pub async fn identities(&self, who: &Principal) -> Result<Vec<(Address, Option<String>, SendAs)>> {
        let mut out = vec![(who.address.clone(), who.display_name.clone(), SendAs::Own)];
        for a in self.store.list_aliases(Some(who.domain_id)).await? {
            if a.target == who.id {
                out.push((a.address, who.display_name.clone(), SendAs::Own));
            }
        }
        let mut owners: Vec<(crate::ids::PrincipalId, Rights)> = Vec::new();
        for g in self.store.grants_to(who.id).await? {
            if g.collection.is_none() && g.account != who.id {
                match owners.iter_mut().find(|(o, _)| *o == g.account) {
                    Some((_, r)) => *r = r.union(g.rights),
                    None => owners.push((g.account, g.rights)),
                }
            }
        }
        for (owner, rights) in owners {
            let how = if rights.contains(Rights::SEND_AS) {
                SendAs::As(owner)
            } else if rights.contains(Rights::SEND_ON_BEHALF) {
                SendAs::OnBehalf(owner)
            } else {
                continue;
            };
            if let Some(p) = self.store.principal(owner).await? {
                out.push((p.address, p.display_name, how));
            }
        }
        Ok(out)
    }

    /// Lets `grantee` send as `who` (send-as), on behalf of `who` (send-on-behalf), or neither
    /// (`Rights::NONE`), keeping any other account-wide rights the grantee holds.
    pub async fn set_sending_rights(&self, who: &Principal, grantee: &Address, send: Rights) -> Result<()> {
        let sending = Rights::SEND_AS | Rights::SEND_ON_BEHALF;
        if !sending.contains(send) {
            return Err(Error::invalid("only send-as and send-on-behalf are given this way"));
        }
        let mut rights = send;
        for g in self.grants_on(who, who.id).await? {
            if g.collection.is_none()
                && let Some(p) = self.store.principal(g.grantee).await?
                && p.address == *grantee
            {
                rights = rights.union(Rights::from_bits(g.rights.bits() & !sending.bits()));
            }
        }
        self.share(who, who.id, None, grantee, rights).await?;
        Ok(())
    }

    /// Where mail a signed-in user sends to `address` goes. Unknown addresses of local domains
    /// and full local mailboxes are refused as for mail from outside.
    pub async fn submission_route(&self, address: &str) -> Result<std::result::Result<Route, Recipient>> {
        Ok(match self.recipient(address).await? {
            Recipient::Local(id) => Ok(Route::Local(id)),
            Recipient::NotLocal if Address::parse(address).is_ok() => Ok(Route::Remote),
            Recipient::NotLocal => Err(Recipient::Unknown),
            other => Err(other),
        })
    }

    /// Sends a message for `who`: checks the From header against the user's rights, writes the
    /// Sender: itself (on behalf; one the client wrote is dropped), adds Date: and Message-ID:
    /// where missing, queues it for remote recipients, delivers it to local ones (a DSN tells the
    /// sender of any that failed) and files a copy in the user's Sent mailbox. Bcc: is kept in
    /// the Sent copy only.
    pub async fn submit(&self, who: &Principal, mail_from: &str, rcpts: &[String], raw: &[u8]) -> Result<Submitted> {
        self.submit_message(who, mail_from, rcpts, raw, true).await
    }

    /// [`Core::submit`]; without `sent_copy`, no copy is filed in Sent (a JMAP client sends an
    /// email it stored itself and files it where it likes).
    pub async fn submit_message(
        &self,
        who: &Principal,
        mail_from: &str,
        rcpts: &[String],
        raw: &[u8],
        sent_copy: bool,
    ) -> Result<Submitted> {
        let rcpts: Vec<(String, RcptDsn)> = rcpts.iter().map(|r| (r.clone(), RcptDsn::default())).collect();
        self.submit_with_dsn(who, mail_from, &rcpts, &DsnRequest::default(), raw, sent_copy).await
    }

    /// [`Core::submit_message`] with the DSN requests of RFC 3461 of the envelope (SMTP
    /// submission): kept with queued entries; for local recipients, a failure is reported unless
    /// NOTIFY leaves failures out, a delivery when NOTIFY asks for SUCCESS.
    pub async fn submit_with_dsn(
        &self,
        who: &Principal,
        mail_from: &str,
        rcpts: &[(String, RcptDsn)],
        request: &DsnRequest,
        raw: &[u8],
        sent_copy: bool,
    ) -> Result<Submitted> {
        use crate::mail::parse::{self, without_fields};
        if !mail_from.is_empty() && self.sender_right(who, mail_from).await?.is_none() {
            return Err(Error::forbidden(format!("send as {mail_from}")));
        }
        let head = parse::submission_headers(raw);
        let from = match (head.from_fields, head.from.as_slice()) {
            (1, [one]) => one.clone(),
            (0, _) | (1, []) => return Err(Error::invalid("the message has no From address")),
            _ => return Err(Error::invalid("the message has more than one From address")),
        };
        let right = self.sender_right(who, &from).await?.ok_or_else(|| Error::forbidden(format!("send as {from}")))?;

        // The header as sent on: no Sender of the client's, no results claiming to be ours.
        let hostname = self.settings.hostname.clone();
        let cleaned = without_fields(raw, |name, value| {
            name.eq_ignore_ascii_case("sender")
                || (name.eq_ignore_ascii_case("authentication-results")
                    && parse::authserv_id(value).eq_ignore_ascii_case(&hostname))
        });
        let raw = cleaned.as_deref().unwrap_or(raw);
        let now = chrono::Utc::now();
        let mut added = String::new();
        if matches!(right, SendAs::OnBehalf(_)) {
            added.push_str(&format!("Sender: <{}>\r\n", who.address));
        }
        if !head.has_date {
            added.push_str(&format!("Date: {}\r\n", now.to_rfc2822()));
        }
        if !head.has_message_id {
            let id: u64 = rand::random();
            added.push_str(&format!("Message-ID: <{:x}.{id:016x}@{}>\r\n", now.timestamp_millis(), who.address.domain));
        }
        // Trace fields (Received:) stay on top (RFC 5321 §4.4); the added ones come after them.
        let (fields, _) = parse::header_fields(raw);
        let trace_end = fields
            .iter()
            .take_while(|(a, b)| raw[*a..*b].get(..9).is_some_and(|n| n.eq_ignore_ascii_case(b"received:")))
            .last()
            .map_or(0, |f| f.1);
        let mut with_bcc = raw[..trace_end].to_vec();
        with_bcc.extend_from_slice(added.as_bytes());
        with_bcc.extend_from_slice(&raw[trace_end..]);
        let message = without_fields(&with_bcc, |name, _| name.eq_ignore_ascii_case("bcc"));
        let sent_only = message.is_some();
        let message = message.unwrap_or_else(|| with_bcc.clone());

        let mut local = Vec::new();
        // Each local recipient's address and DSN requests (the first RCPT of it counts).
        let mut local_dsn: Vec<(PrincipalId, String, RcptDsn)> = Vec::new();
        let mut remote: Vec<(String, RcptDsn)> = Vec::new();
        for (rcpt, rcpt_dsn) in rcpts {
            match self.submission_route(rcpt).await? {
                Ok(Route::Local(id)) if !local.contains(&id) => {
                    local.push(id);
                    local_dsn.push((id, rcpt.clone(), rcpt_dsn.clone()));
                }
                Ok(Route::Local(_)) => {}
                Ok(Route::Remote) => {
                    // The domain is case-blind; the local part belongs to the other server.
                    let rcpt = match rcpt.rsplit_once('@') {
                        Some((l, d)) => format!("{l}@{}", d.to_ascii_lowercase()),
                        None => rcpt.clone(),
                    };
                    if !remote.iter().any(|(r, _)| *r == rcpt) {
                        remote.push((rcpt, rcpt_dsn.clone()));
                    }
                }
                // Checked at RCPT; gone since. The sender learns it from the refusal there.
                Err(_) => tracing::warn!(recipient = %rcpt, "recipient no longer accepted; not sent"),
            }
        }
        let incoming = self.take_in(&message).await?;
        // Queued first: a failure here is answered 451 before anyone got a copy, so the client's
        // retry makes no duplicates.
        let queued = remote.len();
        if !remote.is_empty() {
            let envelope_from = if mail_from.is_empty() { from } else { mail_from.to_owned() };
            self.store
                .enqueue(NewQueued {
                    account: Some(who.id),
                    blob: incoming.blob.clone(),
                    size: incoming.size,
                    mail_from: envelope_from,
                    rcpts: remote,
                    dsn: request.clone(),
                    now: Timestamp::now(),
                })
                .await?;
            self.outbound.notify_one();
        }
        let (arrival, sender) = (Timestamp::now(), who.address.to_string());
        let local = self.deliver_incoming(&incoming, &local).await;
        self.restore_blob(&incoming.blob, &message).await?;
        for d in &local {
            let Some((_, rcpt, rcpt_dsn)) = local_dsn.iter().find(|(id, _, _)| *id == d.recipient) else { continue };
            let report = |action, status, why| Report {
                hostname: &hostname,
                domain: who.address.domain.as_str(),
                to: &sender,
                rcpt,
                action,
                status,
                why,
                arrival,
                dsn: request,
                rcpt_dsn,
            };
            match &d.outcome {
                Err(e) if rcpt_dsn.wants_failure() => {
                    let why = e.to_string();
                    let status = if why.contains("quota") { "5.2.2" } else { "4.3.0" };
                    self.report_to_sender(who, &report(Action::Failed, status, Some(&why)), &message).await;
                }
                Ok(_) if rcpt_dsn.wants_success() => {
                    self.report_to_sender(who, &report(Action::Delivered, "2.0.0", None), &message).await;
                }
                _ => {}
            }
        }
        let delivered: Vec<crate::ids::PrincipalId> =
            local.iter().filter(|d| d.outcome.is_ok()).map(|d| d.recipient).collect();
        self.vacation_replies(&who.address.to_string(), &delivered, &message).await;
        // The sender's copy, with Bcc: when there was one.
        if sent_copy {
            let sent = self.mailbox_with_role(who.id, MailboxRole::Sent).await?;
            let copy = if sent_only { self.take_in(&with_bcc).await? } else { incoming };
            self.file(&copy, who.id, sent.id(), Keywords::new(["$seen"]), Timestamp::now()).await?;
            self.restore_blob(&copy.blob, if sent_only { &with_bcc } else { &message }).await?;
        }
        tracing::info!(sender = %who.address, local = local.len(), queued, "message submitted");
        Ok(Submitted { local, queued })
    }

    /// Mail from another server was accepted (250) for several recipients and could not be
    /// stored for `rcpt`: its sender gets a DSN (RFC 5321 §6.1), through the outbound queue
    /// with the null reverse-path (or straight in, for a local sender), unless NOTIFY left
    /// failures out (RFC 3461). Nothing for bounces.
    pub async fn bounce_inbound(
        &self,
        mail_from: &str,
        (rcpt, rcpt_dsn): (&str, &RcptDsn),
        request: &DsnRequest,
        why: &str,
        original: &[u8],
    ) {
        if mail_from.is_empty() || !rcpt_dsn.wants_failure() {
            return;
        }
        let status = if why.contains("quota") { "5.2.2" } else { "5.0.0" };
        self.report_inbound(mail_from, (rcpt, rcpt_dsn), request, (Action::Failed, status, Some(why)), original).await;
    }

    /// Mail from another server was stored for `rcpt`, whose RCPT asked for NOTIFY=SUCCESS: its
    /// sender gets a "delivered" DSN (RFC 3461 §5.2.3; this is the final delivery).
    pub async fn report_inbound_delivery(
        &self,
        mail_from: &str,
        (rcpt, rcpt_dsn): (&str, &RcptDsn),
        request: &DsnRequest,
        original: &[u8],
    ) {
        if mail_from.is_empty() || !rcpt_dsn.wants_success() {
            return;
        }
        self.report_inbound(mail_from, (rcpt, rcpt_dsn), request, (Action::Delivered, "2.0.0", None), original).await;
    }

    /// A DSN about mail that came in from another server, mailed to its envelope sender.
    async fn report_inbound(
        &self,
        mail_from: &str,
        (rcpt, rcpt_dsn): (&str, &RcptDsn),
        request: &DsnRequest,
        (action, status, why): (Action, &str, Option<&str>),
        original: &[u8],
    ) {
        let domain = rcpt.rsplit_once('@').map_or("localhost", |(_, d)| d).to_owned();
        let report = Report {
            hostname: &self.settings.hostname,
            domain: &domain,
            to: mail_from,
            rcpt,
            action,
            status,
            why,
            arrival: Timestamp::now(),
            dsn: request,
            rcpt_dsn,
        };
        if let Err(e) = self.send_system_mail(mail_from, &dsn::write(&report, original)).await {
            tracing::warn!(%rcpt, error = %e, "delivery status notification not sent");
        }
    }

    /// Sends mail the server writes itself (a DSN, a vacation response) to `to` with the null
    /// reverse-path: into the local account, or through the outbound queue.
    pub(crate) async fn send_system_mail(&self, to: &str, raw: &[u8]) -> Result<()> {
        match self.recipient(to).await? {
            Recipient::Local(id) => {
                self.deliver(&[id], raw).await?;
            }
            Recipient::NotLocal => {
                let incoming = self.take_in(raw).await?;
                self.store
                    .enqueue(NewQueued {
                        account: None,
                        blob: incoming.blob.clone(),
                        size: incoming.size,
                        mail_from: String::new(),
                        rcpts: vec![(to.to_owned(), RcptDsn::default())],
                        dsn: DsnRequest::default(),
                        now: Timestamp::now(),
                    })
                    .await?;
                self.restore_blob(&incoming.blob, raw).await?;
                self.outbound.notify_one();
            }
            _ => {}
        }
        Ok(())
    }

    /// Puts a DSN about a submitted message in its (local) sender's INBOX.
    async fn report_to_sender(&self, who: &Principal, report: &Report<'_>, original: &[u8]) {
        match self.deliver(&[who.id], &dsn::write(report, original)).await {
            Ok(d) if d.iter().all(|d| d.outcome.is_ok()) => {}
            _ => tracing::warn!(sender = %who.address, rcpt = %report.rcpt, "delivery status notification not stored"),
        }
    }

    /// Queue entries due now, held by this node for a while (see [`crate::ports::OutboundStore::claim_due`]).
    pub async fn claim_outbound(&self, limit: usize) -> Result<Vec<Queued>> {
        let now = Timestamp::now();
        self.store.claim_due(now, Timestamp(now.0 + CLAIM_LEASE_MS), limit).await
    }

    /// A queued message's bytes.
    pub async fn queued_bytes(&self, q: &Queued) -> Result<bytes::Bytes> {
        self.blobs.get(&q.blob).await?.ok_or_else(|| Error::internal(format!("blob {} is missing", q.blob)))
    }

    /// Records what an attempt to deliver a queue entry gave: delivered entries leave the queue;
    /// deferred ones are tried again after a backoff, or bounced once the retry window is over;
    /// failed ones are bounced at once.
    pub async fn outbound_attempted(&self, q: &Queued, attempt: Attempt) -> Result<()> {
        let now = Timestamp::now();
        match attempt {
            Attempt::Delivered => {
                tracing::info!(id = q.id, rcpt = %q.rcpt, attempts = q.attempts + 1, "delivered to remote server");
                // The next server is not asked for DSNs: NOTIFY=SUCCESS ends here, "relayed"
                // (RFC 3461 §5.2.2).
                if q.rcpt_dsn.wants_success()
                    && let Err(e) = self.report_queued(q, Action::Relayed, "2.0.0", None).await
                {
                    tracing::warn!(id = q.id, error = %e, "relay notification not sent");
                }
                self.dequeue(q).await
            }
            Attempt::Deferred(why) if now.0 - q.created_at.0 < self.settings.outbound_give_up_ms => {
                let next = Timestamp(now.0 + backoff(self.settings.outbound_retry_ms, q.attempts));
                tracing::info!(id = q.id, rcpt = %q.rcpt, error = %why, "delivery deferred");
                if !self.store.defer(q.id, &q.claim, next, &why).await? {
                    tracing::warn!(id = q.id, "queue entry taken over by another node meanwhile");
                }
                Ok(())
            }
            Attempt::Deferred(why) => {
                let why = format!("gave up after {} attempts; last error: {why}", q.attempts + 1);
                self.bounce(q, &why, "4.4.7").await
            }
            Attempt::Failed(why) => {
                // The enhanced status code the server gave (RFC 3463), if it gave one.
                let status = why
                    .split_whitespace()
                    .find(|w| {
                        let p: Vec<&str> = w.split('.').collect();
                        p.len() == 3
                            && p[0] == "5"
                            && p.iter().all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
                    })
                    .unwrap_or("5.0.0")
                    .to_owned();
                self.bounce(q, &why, &status).await
            }
        }
    }

    /// Mails the sender a delivery status notification for an entry (unless its NOTIFY left
    /// failures out), then drops the entry. Bounces are never bounced (null sender), and only
    /// local senders are told.
    async fn bounce(&self, q: &Queued, why: &str, status: &str) -> Result<()> {
        tracing::warn!(id = q.id, rcpt = %q.rcpt, error = %why, "delivery failed; bouncing");
        if q.rcpt_dsn.wants_failure() {
            self.report_queued(q, Action::Failed, status, Some(why)).await?;
        }
        self.dequeue(q).await
    }

    /// Puts a DSN about a queue entry in its (local) sender's INBOX.
    async fn report_queued(&self, q: &Queued, action: Action, status: &str, why: Option<&str>) -> Result<()> {
        let (false, Some(account)) = (q.mail_from.is_empty(), q.account) else { return Ok(()) };
        let Some(p) = self.store.principal(account).await? else { return Ok(()) };
        let original = self.queued_bytes(q).await.unwrap_or_default();
        let report = Report {
            hostname: &self.settings.hostname,
            domain: p.address.domain.as_str(),
            to: &q.mail_from,
            rcpt: &q.rcpt,
            action,
            status,
            why,
            arrival: q.created_at,
            dsn: &q.dsn,
            rcpt_dsn: &q.rcpt_dsn,
        };
        for d in self.deliver(&[account], &dsn::write(&report, &original)).await? {
            if let Err(e) = d.outcome {
                tracing::warn!(id = q.id, error = %e, "delivery status notification not delivered");
            }
        }
        Ok(())
    }

    /// Takes a handled entry out of the queue (unless another node took it over meanwhile).
    async fn dequeue(&self, q: &Queued) -> Result<()> {
        if !self.store.dequeue(q.id, &q.claim).await? {
            tracing::warn!(id = q.id, "queue entry taken over by another node meanwhile");
        }
        Ok(())
    }

    /// Holds a claimed entry for another lease before it is sent; `false`: another node has it.
    pub async fn renew_outbound(&self, q: &Queued) -> Result<bool> {
        self.store.renew_claim(q.id, &q.claim, Timestamp(Timestamp::now().0 + CLAIM_LEASE_MS)).await
    }

    /// The queue, for the admin.
    pub async fn admin_queue(&self, actor: super::Actor<'_>) -> Result<Vec<Queued>> {
        actor.require_admin()?;
        self.store.queued().await
    }

    /// Makes every queued entry due now, for the admin.
    pub async fn admin_flush_queue(&self, actor: super::Actor<'_>) -> Result<u64> {
        actor.require_admin()?;
        let n = self.store.flush_queue(Timestamp::now()).await?;
        self.outbound.notify_one();
        Ok(n)
    }

    /// Whether the domain is one of this server's.
    pub async fn is_local_domain(&self, domain: &crate::address::DomainName) -> Result<bool> {
        Ok(self.store.find_domain(domain).await?.is_some())
    }

    /// The domain's DKIM key, if it has one.
    pub async fn dkim_key(&self, domain: &crate::address::DomainName) -> Result<Option<DkimKey>> {
        let Some(d) = self.store.find_domain(domain).await? else { return Ok(None) };
        self.store.dkim_key(d.id).await
    }

    /// Gives a domain its DKIM key unless it has one; returns the key it has.
    pub async fn set_dkim_key(&self, key: DkimKey) -> Result<DkimKey> {
        let d = self
            .store
            .find_domain(&key.domain)
            .await?
            .ok_or_else(|| Error::not_found(format!("domain {}", key.domain)))?;
        self.store.put_dkim_key(d.id, key).await
    }
}
