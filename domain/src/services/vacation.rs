//! The vacation response (out-of-office reply, RFC 8621 §8, RFC 3834): one per account; while
//! it is on, mail from a person gets one automatic reply per sender per week. Lists, bulk mail,
//! automatic mail and mail that does not name the user are not answered.

use serde::{Deserialize, Serialize};

use crate::Core;
use crate::error::{Error, Result};
use crate::ids::{AccountId, PrincipalId, Timestamp};
use crate::model::Principal;

/// The document kinds this keeps.
const KIND: &str = "vacation";
const SENT_KIND: &str = "vacation-sent";
/// One reply per sender within this time.
const PERIOD_MS: i64 = 7 * 24 * 3600 * 1000;

/// An account's vacation response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vacation {
    pub is_enabled: bool,
    pub from_date: Option<Timestamp>,
    pub to_date: Option<Timestamp>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
}

impl Vacation {
    fn active(&self, now: Timestamp) -> bool {
        self.is_enabled && self.from_date.is_none_or(|f| now >= f) && self.to_date.is_none_or(|t| now < t)
    }
}

/// Whether the header of a message says it must not be answered automatically (RFC 3834 §2).
fn automatic(m: &mail_parser::Message<'_>) -> bool {
    let text = |name: &str| m.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    text("Auto-Submitted").is_some_and(|v| v != "no")
        || text("Precedence").is_some_and(|v| matches!(v.as_str(), "bulk" | "list" | "junk"))
        || m.header_raw("List-Id").is_some()
        || m.header_raw("List-Unsubscribe").is_some()
        || m.header_raw("X-Auto-Response-Suppress").is_some()
}

impl Core {
    /// The caller's vacation response (off when never set).
    pub async fn vacation(&self, who: &Principal) -> Result<Vacation> {
        self.vacation_of(who.id).await.map(|(v, _)| v)
    }

    async fn vacation_of(&self, account: AccountId) -> Result<(Vacation, Option<i64>)> {
        let docs = self.store.documents(account, KIND).await?;
        match docs.last() {
            Some(d) => Ok((serde_json::from_str(&d.data).map_err(Error::internal)?, Some(d.id))),
            None => Ok((Vacation::default(), None)),
        }
    }

    /// Sets the caller's vacation response.
    pub async fn set_vacation(&self, who: &Principal, v: &Vacation) -> Result<()> {
        if let (Some(f), Some(t)) = (v.from_date, v.to_date)
            && t < f
        {
            return Err(Error::invalid("toDate is before fromDate"));
        }
        let (_, id) = self.vacation_of(who.id).await?;
        let data = serde_json::to_string(v).map_err(Error::internal)?;
        self.store.put_document(who.id, KIND, id, &data).await?;
        // A new response starts a new period: everybody gets it once again.
        for d in self.store.documents(who.id, SENT_KIND).await? {
            self.store.remove_document(who.id, SENT_KIND, d.id).await?;
        }
        Ok(())
    }

    /// Answers a message `sender` sent to `recipients` (who got it) for those whose vacation
    /// response is on. Failures are logged: the delivery itself stands.
    pub(crate) async fn vacation_replies(&self, sender: &str, recipients: &[PrincipalId], raw: &[u8]) {
        if sender.is_empty() || recipients.is_empty() {
            return;
        }
        for r in recipients {
            if let Err(e) = self.vacation_reply(sender, *r, raw).await {
                tracing::warn!(error = %e, recipient = %r, "vacation response not sent");
            }
        }
    }

    async fn vacation_reply(&self, sender: &str, recipient: PrincipalId, raw: &[u8]) -> Result<()> {
        let now = Timestamp::now();
        let (v, _) = self.vacation_of(recipient).await?;
        if !v.active(now) {
            return Ok(());
        }
        let Ok(from) = crate::address::Address::parse(sender) else { return Ok(()) };
        let Some(me) = self.store.principal(recipient).await? else { return Ok(()) };
        let local = from.to_string().split('@').next().unwrap_or_default().to_ascii_lowercase();
        if from == me.address || local == "mailer-daemon" || local.starts_with("owner-") || local.ends_with("-request")
        {
            return Ok(());
        }
        let Some(m) = mail_parser::MessageParser::default().parse_headers(raw) else { return Ok(()) };
        if automatic(&m) {
            return Ok(());
        }
        // Only mail that names the user (or one of its aliases) in To or Cc.
        let mut mine: Vec<String> = vec![me.address.to_string()];
        for a in self.store.list_aliases(Some(me.domain_id)).await? {
            if a.target == me.id {
                mine.push(a.address.to_string());
            }
        }
        let named = [m.to(), m.cc()].into_iter().flatten().any(|a| {
            a.iter().any(|x| x.address.as_deref().is_some_and(|addr| mine.iter().any(|s| s.eq_ignore_ascii_case(addr))))
        });
        if !named {
            return Ok(());
        }
        // Once per sender per period.
        let key = from.to_string();
        let sent = self.store.documents(recipient, SENT_KIND).await?;
        let mut answered: std::collections::BTreeMap<String, i64> = match sent.last() {
            Some(d) => serde_json::from_str(&d.data).unwrap_or_default(),
            None => std::collections::BTreeMap::new(),
        };
        answered.retain(|_, at| now.0 - *at < PERIOD_MS);
        if answered.contains_key(&key) {
            return Ok(());
        }
        answered.insert(key, now.0);
        let data = serde_json::to_string(&answered).map_err(Error::internal)?;
        self.store.put_document(recipient, SENT_KIND, sent.last().map(|d| d.id), &data).await?;

        let subject = v.subject.clone().unwrap_or_else(|| format!("Auto: {}", m.subject().unwrap_or_default()));
        let body = v.text_body.clone().or_else(|| v.html_body.as_deref().map(strip_tags)).unwrap_or_default();
        let refs =
            m.message_id().map(|id| format!("In-Reply-To: <{id}>\r\nReferences: <{id}>\r\n")).unwrap_or_default();
        let id: u64 = rand::random();
        let reply = format!(
            "From: <{me}>\r\nTo: <{from}>\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <vacation.{id:016x}@{domain}>\r\n\
             {refs}Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
            me = me.address,
            subject = subject.replace(['\r', '\n'], " "),
            date = chrono::Utc::now().to_rfc2822(),
            domain = me.address.domain,
            body = body.replace("\r\n", "\n").replace('\n', "\r\n"),
        );
        // Sent with the null reverse-path (RFC 3834 §3.3), so it is never answered itself.
        self.send_system_mail(&from.to_string(), reply.as_bytes()).await
    }
}

/// HTML as rough text: tags dropped.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}
