//! Delivery status notifications (RFC 3464): the report a sender gets of one recipient — its
//! message failed, was delivered here, or was relayed to a server that reports nothing further —
//! with what the sender asked for in its envelope (RFC 3461): the envelope id, the original
//! recipient, and on a failure the whole message (`RET=FULL`) or only its header.

use crate::ids::Timestamp;
use crate::mail::outbound::{DsnRequest, RcptDsn};

/// A failure report returns the whole message up to this size; a larger one, its header.
pub const MAX_RETURNED: usize = 10 << 20;

/// What became of the message for the recipient (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delivered,
    Relayed,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Delivered => "delivered",
            Self::Relayed => "relayed",
        }
    }
}

/// One recipient's report.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// This server's name (Reporting-MTA).
    pub hostname: &'a str,
    /// The local domain the report comes from (its MAILER-DAEMON).
    pub domain: &'a str,
    /// Who gets the report: the message's envelope sender.
    pub to: &'a str,
    pub rcpt: &'a str,
    pub action: Action,
    /// The enhanced status code (RFC 3463), e.g. `5.1.1`, `2.0.0`.
    pub status: &'a str,
    /// The reason of a failure (Diagnostic-Code), as the other server or this one said it.
    pub why: Option<&'a str>,
    pub arrival: Timestamp,
    pub dsn: &'a DsnRequest,
    pub rcpt_dsn: &'a RcptDsn,
}

/// Text fit for a header field: no control characters (line breaks), at most `max` characters.
fn field(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// The report as a message (multipart/report): a part for people, the machine-readable status,
/// and the original message (RET=FULL on a failure) or its header.
pub fn write(r: &Report<'_>, original: &[u8]) -> Vec<u8> {
    let now = chrono::Utc::now();
    let boundary = format!("dsn-{:016x}", rand::random::<u64>());
    let (_, header_end) = crate::mail::parse::header_fields(original);
    let arrival = chrono::DateTime::from_timestamp_millis(r.arrival.0).unwrap_or(now).to_rfc2822();
    let why = r.why.map(|w| field(w, 1000));
    let rcpt = field(r.rcpt, 500);
    let (subject, text) = match r.action {
        Action::Failed => (
            "Undelivered mail returned to sender",
            format!("Your message could not be delivered to <{rcpt}>.\r\n\r\n{}", why.as_deref().unwrap_or_default()),
        ),
        Action::Delivered => {
            ("Delivery Status Notification (delivered)", format!("Your message was delivered to <{rcpt}>."))
        }
        Action::Relayed => (
            "Delivery Status Notification (relayed)",
            format!(
                "Your message was handed to the mail server of <{rcpt}>, which does not report deliveries; \
                 this is the last report you get of it."
            ),
        ),
    };
    let mut per_message = format!("Reporting-MTA: dns; {}\r\n", field(r.hostname, 255));
    if let Some(envid) = &r.dsn.envid {
        per_message.push_str(&format!("Original-Envelope-Id: {}\r\n", field(envid, 100)));
    }
    per_message.push_str(&format!("Arrival-Date: {arrival}\r\n"));
    let mut per_rcpt = String::new();
    if let Some(orcpt) = &r.rcpt_dsn.orcpt {
        per_rcpt.push_str(&format!("Original-Recipient: rfc822;{}\r\n", field(orcpt, 500)));
    }
    per_rcpt.push_str(&format!(
        "Final-Recipient: rfc822; {rcpt}\r\nAction: {}\r\nStatus: {}\r\n",
        r.action.as_str(),
        field(r.status, 16)
    ));
    if let Some(why) = &why {
        per_rcpt.push_str(&format!("Diagnostic-Code: smtp; {why}\r\n"));
    }
    per_rcpt.push_str(&format!("Last-Attempt-Date: {}\r\n", now.to_rfc2822()));
    let mut out = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{domain}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Date: {date}\r\nMessage-ID: <dsn-{stamp}.{nonce:08x}@{domain}>\r\nAuto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\n\
         --{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n{per_message}\r\n{per_rcpt}\r\n",
        domain = field(r.domain, 255),
        to = field(r.to, 500),
        date = now.to_rfc2822(),
        stamp = now.timestamp_millis(),
        nonce = rand::random::<u32>(),
    )
    .into_bytes();
    if r.action == Action::Failed && r.dsn.full && original.len() <= MAX_RETURNED {
        out.extend_from_slice(format!("--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes());
        out.extend_from_slice(original);
        if !original.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
    } else {
        out.extend_from_slice(format!("--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n").as_bytes());
        out.extend_from_slice(&original[..header_end.min(64 << 10).min(original.len())]);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::outbound::Notify;

    fn report<'a>(action: Action, dsn: &'a DsnRequest, rcpt_dsn: &'a RcptDsn) -> Report<'a> {
        Report {
            hostname: "mx.example.com",
            domain: "example.com",
            to: "ann@example.com",
            rcpt: "bob@elsewhere.org",
            action,
            status: if action == Action::Failed { "5.1.1" } else { "2.0.0" },
            why: (action == Action::Failed).then_some("550 5.1.1 no such user\r\nInjected: header"),
            arrival: Timestamp(0),
            dsn,
            rcpt_dsn,
        }
    }

    #[test]
    fn reports_carry_what_the_envelope_asked_for() {
        let original = b"Subject: hi\r\nFrom: ann@example.com\r\n\r\nthe body\r\n";
        let full = DsnRequest { full: true, envid: Some("QQ314159".into()) };
        let rcpt = RcptDsn { notify: Some(Notify::FAILURE), orcpt: Some("Bob@Elsewhere.org".into()) };
        let failed = String::from_utf8(write(&report(Action::Failed, &full, &rcpt), original)).unwrap();
        for want in [
            "Subject: Undelivered mail returned to sender\r\n",
            "Original-Envelope-Id: QQ314159\r\n",
            "Original-Recipient: rfc822;Bob@Elsewhere.org\r\n",
            "Final-Recipient: rfc822; bob@elsewhere.org\r\nAction: failed\r\nStatus: 5.1.1\r\n",
            "Diagnostic-Code: smtp; 550 5.1.1 no such userInjected: header\r\n",
            "Content-Type: message/rfc822\r\n\r\nSubject: hi\r\n",
            "the body\r\n",
        ] {
            assert!(failed.contains(want), "{want:?} in {failed}");
        }
        // RET=HDRS (the default): the header only; success reports never return the body.
        let headers = DsnRequest::default();
        let plain = RcptDsn::default();
        let failed = String::from_utf8(write(&report(Action::Failed, &headers, &plain), original)).unwrap();
        assert!(failed.contains("text/rfc822-headers") && !failed.contains("the body"), "{failed}");
        assert!(!failed.contains("Original-Recipient") && !failed.contains("Original-Envelope-Id"));
        let done = String::from_utf8(write(&report(Action::Delivered, &full, &rcpt), original)).unwrap();
        assert!(done.contains("Action: delivered\r\nStatus: 2.0.0\r\n") && !done.contains("the body"), "{done}");
        assert!(!done.contains("Diagnostic-Code"), "{done}");
        let relayed = String::from_utf8(write(&report(Action::Relayed, &full, &rcpt), original)).unwrap();
        assert!(relayed.contains("Action: relayed\r\n") && relayed.contains("(relayed)"), "{relayed}");
        // The report is a message the parser reads as a report.
        let parsed = crate::mail::parse::parse(failed.as_bytes());
        assert_eq!(parsed.envelope.subject, "Undelivered mail returned to sender");
    }

    #[test]
    fn notify_values() {
        assert!(RcptDsn::default().wants_failure() && !RcptDsn::default().wants_success());
        let never = RcptDsn { notify: Some(Notify::NEVER), orcpt: None };
        assert!(!never.wants_failure() && !never.wants_success());
        let success = RcptDsn { notify: Some(Notify::SUCCESS), orcpt: None };
        assert!(!success.wants_failure() && success.wants_success());
        assert_eq!(Notify::SUCCESS.with(Notify::FAILURE).keyword(), "SUCCESS,FAILURE");
        assert_eq!(Notify::NEVER.keyword(), "NEVER");
        assert_eq!(Notify::from_bits(Notify::DELAY.bits()), Notify::DELAY);
    }
}
