//! One SMTP session as a state machine (RFC 5321, with PIPELINING, 8BITMIME, SMTPUTF8, SIZE,
//! CHUNKING, ENHANCEDSTATUSCODES, DSN of RFC 3461): requests in, replies out. It does no I/O: where the answer
//! needs the store (is a recipient local? was the message stored?) it hands the question to
//! the connection driver and takes the answer back.

use std::borrow::Cow;
use std::net::IpAddr;

use base64::Engine as _;
use kontor_domain::ids::PrincipalId;
use kontor_domain::mail::outbound::{DsnRequest, Notify, RcptDsn};
use kontor_domain::model::Principal;
use kontor_domain::{Delivered, Recipient, Route, Submitted};
use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver};
use smtp_proto::{Error as ParseError, MailFrom, Request};

/// What a session is allowed.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The name this server gives in its greeting and Received: headers.
    pub hostname: String,
    /// Largest message accepted, in bytes (announced with SIZE).
    pub max_message_size: usize,
    pub max_recipients: usize,
    /// Commands refused in a row before the connection is closed.
    pub max_errors: u32,
}

/// Which listener a session serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Mail from other servers for local recipients (port 25); no AUTH.
    Mx,
    /// Mail from signed-in users to anyone (RFC 6409, port 587): AUTH first.
    Submission,
}

/// Whether the connection is encrypted, or could be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsState {
    /// No certificate is configured.
    Unavailable,
    /// STARTTLS is offered.
    Offered,
    /// The connection is encrypted, so passwords may cross it.
    Active,
}

/// An AUTH exchange waiting for the client's next line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AuthWait {
    Plain,
    LoginUser,
    LoginPassword(String),
}

/// What the driver does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this reply (CRLF-terminated lines).
    Reply(String),
    /// Look the address up, then call [`Session::recipient_checked`].
    CheckRecipient(String),
    /// The message is complete: deliver [`Session::message`], then call [`Session::delivered`]
    /// (submission: [`Session::submitted`]).
    Deliver,
    /// Check these credentials, then call [`Session::authenticated`].
    Authenticate { login: String, password: String },
    /// Send this reply, start TLS, then call [`Session::tls_started`].
    StartTls(String),
    /// Send this reply and close the connection.
    Close(String),
}

enum Body {
    /// Reading commands.
    Commands,
    /// Between DATA and the final dot.
    Data(DataReceiver),
    /// Reading a BDAT chunk.
    Bdat(BdatReceiver),
    /// Consuming data that will be refused (too big, or no transaction).
    Discard(DummyDataReceiver, Refusal),
}

#[derive(Debug, Clone, Copy)]
enum Refusal {
    TooBig,
    NoTransaction,
}

pub struct Session {
    limits: Limits,
    mode: Mode,
    peer: IpAddr,
    tls: TlsState,
    /// Submission: who signed in.
    user: Option<Principal>,
    auth: Option<AuthWait>,
    /// An AUTH response line being read.
    line: Vec<u8>,
    helo: Option<String>,
    from: Option<String>,
    /// MAIL FROM's RET and ENVID (RFC 3461).
    dsn: DsnRequest,
    recipients: Vec<(String, PrincipalId, RcptDsn)>,
    /// The NOTIFY and ORCPT of the RCPT whose address is being looked up.
    pending: RcptDsn,
    body: Body,
    data: Vec<u8>,
    /// A BDAT transaction is under way (chunks so far were kept).
    chunking: bool,
    last_chunk: bool,
    errors: u32,
    /// A transaction id for the Received: header and the logs.
    serial: u64,
}

impl Session {
    pub fn new(limits: Limits, mode: Mode, peer: IpAddr, serial: u64) -> Self {
        Self {
            limits,
            mode,
            peer,
            tls: TlsState::Unavailable,
            user: None,
            auth: None,
            line: Vec::new(),
            helo: None,
            from: None,
            dsn: DsnRequest::default(),
            recipients: Vec::new(),
            pending: RcptDsn::default(),
            body: Body::Commands,
            data: Vec::new(),
            chunking: false,
            last_chunk: false,
            errors: 0,
            serial,
        }
    }

    pub fn greeting(&self) -> String {
        format!("220 {} ESMTP Kontor\r\n", self.limits.hostname)
    }

    /// Whether the next bytes are message data rather than commands.
    pub fn in_data(&self) -> bool {
        !matches!(self.body, Body::Commands)
    }

    /// Offers STARTTLS (RFC 3207) when `on` and the connection is not encrypted yet.
    pub fn offer_tls(&mut self, on: bool) {
        if self.tls != TlsState::Active {
            self.tls = if on { TlsState::Offered } else { TlsState::Unavailable };
        }
    }

    /// TLS is up: the session starts again (RFC 3207 §4.2: the client must say EHLO again).
    pub fn tls_started(&mut self) {
        self.tls = TlsState::Active;
        self.helo = None;
        self.user = None;
        self.auth = None;
        self.line.clear();
        self.reset();
    }

    /// Whether the next line answers an AUTH challenge (it is not a command).
    pub fn awaits_auth_line(&self) -> bool {
        self.auth.is_some()
    }

    /// The signed-in user (submission).
    pub fn user(&self) -> Option<&Principal> {
        self.user.as_ref()
    }

    /// The HELO/EHLO name and MAIL FROM of the transaction.
    pub fn envelope(&self) -> (&str, &str) {
        (self.helo.as_deref().unwrap_or_default(), self.from.as_deref().unwrap_or_default())
    }

    /// The address a recipient was given as, and its DSN requests.
    pub fn recipient(&self, id: PrincipalId) -> Option<(String, RcptDsn)> {
        self.recipients.iter().find(|(_, p, _)| *p == id).map(|(a, _, d)| (a.clone(), d.clone()))
    }

    /// The recipients' addresses as given, with their DSN requests.
    pub fn recipient_addresses(&self) -> Vec<(String, RcptDsn)> {
        self.recipients.iter().map(|(a, _, d)| (a.clone(), d.clone())).collect()
    }

    /// The transaction's DSN requests (MAIL FROM's RET and ENVID).
    pub fn dsn(&self) -> &DsnRequest {
        &self.dsn
    }

    /// Whether AUTH may be offered: over TLS, or to a client on this machine.
    fn auth_allowed(&self) -> bool {
        self.mode == Mode::Submission && (self.tls == TlsState::Active || self.peer.is_loopback())
    }

    fn reset(&mut self) {
        self.from = None;
        self.dsn = DsnRequest::default();
        self.recipients.clear();
        self.data.clear();
        // A session keeps a small buffer between messages: one large message would otherwise
        // hold its size for as long as the client stays connected.
        self.data.shrink_to(64 << 10);
        self.chunking = false;
        self.last_chunk = false;
    }

    fn refused(&mut self, reply: &str) -> Step {
        self.errors += 1;
        if self.errors >= self.limits.max_errors {
            return Step::Close("421 4.7.0 Too many errors, closing the connection\r\n".into());
        }
        Step::Reply(reply.into())
    }

    /// A command the parser could not read.
    pub fn parse_error(&mut self, e: &ParseError) -> Step {
        match e {
            ParseError::UnknownCommand => self.refused("500 5.5.1 Unknown command\r\n"),
            ParseError::ResponseTooLong => self.refused("500 5.5.6 Line too long\r\n"),
            ParseError::InvalidSenderAddress => self.refused("501 5.1.7 Bad sender address syntax\r\n"),
            ParseError::InvalidRecipientAddress => self.refused("501 5.1.3 Bad recipient address syntax\r\n"),
            ParseError::UnsupportedParameter { param } => {
                let r = format!("555 5.5.4 Unsupported parameter {}\r\n", param.escape_default());
                self.refused(&r)
            }
            other => {
                let r = format!("501 5.5.2 Syntax error: {other}\r\n");
                self.refused(&r)
            }
        }
    }

    /// A parsed command.
    pub fn request(&mut self, r: Request<Cow<'_, str>>) -> Step {
        match r {
            Request::Ehlo { host } | Request::Helo { host } | Request::Lhlo { host }
                if self.mode == Mode::Mx && !crate::helo::valid(&host) =>
            {
                self.refused("501 5.5.2 Invalid domain name or address literal\r\n")
            }
            Request::Ehlo { host } => {
                self.reset();
                self.helo = Some(host.into_owned());
                let auth = if self.auth_allowed() && self.user.is_none() { "250-AUTH PLAIN LOGIN\r\n" } else { "" };
                let starttls = if self.tls == TlsState::Offered { "250-STARTTLS\r\n" } else { "" };
                Step::Reply(format!(
                    "250-{} greets {}\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-SIZE {}\r\n\
                     {starttls}{auth}250-DSN\r\n250-CHUNKING\r\n250 ENHANCEDSTATUSCODES\r\n",
                    self.limits.hostname, self.peer, self.limits.max_message_size
                ))
            }
            Request::Helo { host } | Request::Lhlo { host } => {
                self.reset();
                self.helo = Some(host.into_owned());
                Step::Reply(format!("250 {}\r\n", self.limits.hostname))
            }
            Request::Mail { from } => self.mail(&from),
            Request::Rcpt { to } => {
                if self.from.is_none() {
                    return self.refused("503 5.5.1 MAIL first\r\n");
                }
                if self.recipients.len() >= self.limits.max_recipients {
                    return Step::Reply("452 4.5.3 Too many recipients\r\n".into());
                }
                match rcpt_dsn(to.flags, to.orcpt.as_deref()) {
                    Some(dsn) => self.pending = dsn,
                    None => return self.refused("501 5.5.4 NOTIFY=NEVER goes alone\r\n"),
                }
                Step::CheckRecipient(to.address.into_owned())
            }
            Request::Data => {
                if self.from.is_none() || self.recipients.is_empty() || self.chunking {
                    return self.refused("503 5.5.1 Need MAIL and RCPT first\r\n");
                }
                let mut r = DataReceiver::new();
                // The CRLF that ended the DATA line starts the first line (so an empty message
                // ends at once); it is taken off again in `message`.
                self.data.clear();
                r.ingest(&mut b"\r\n".iter(), &mut self.data);
                self.body = Body::Data(r);
                Step::Reply("354 Start mail input; end with <CRLF>.<CRLF>\r\n".into())
            }
            Request::Bdat { chunk_size, is_last } => {
                if self.from.is_none() || self.recipients.is_empty() {
                    self.body = Body::Discard(DummyDataReceiver::new_bdat(chunk_size), Refusal::NoTransaction);
                } else if self.data.len().saturating_add(chunk_size) > self.limits.max_message_size {
                    self.body = Body::Discard(DummyDataReceiver::new_bdat(chunk_size), Refusal::TooBig);
                } else {
                    self.chunking = true;
                    self.last_chunk = is_last;
                    self.body = Body::Bdat(BdatReceiver::new(chunk_size, is_last));
                }
                Step::Reply(String::new())
            }
            Request::Rset => {
                self.reset();
                Step::Reply("250 2.0.0 OK\r\n".into())
            }
            Request::Noop { .. } => Step::Reply("250 2.0.0 OK\r\n".into()),
            Request::Vrfy { .. } => Step::Reply("252 2.5.0 Cannot verify, but will try delivery\r\n".into()),
            Request::Quit => Step::Close(format!("221 2.0.0 {} closing connection\r\n", self.limits.hostname)),
            Request::StartTls if self.tls == TlsState::Active => self.refused("503 5.5.1 TLS is already active\r\n"),
            Request::StartTls if self.tls == TlsState::Unavailable => {
                Step::Reply("454 4.7.0 TLS is not available\r\n".into())
            }
            Request::StartTls if self.from.is_some() => {
                self.refused("503 5.5.1 STARTTLS during a mail transaction\r\n")
            }
            Request::StartTls => Step::StartTls("220 2.0.0 Ready to start TLS\r\n".into()),
            Request::Auth { mechanism, initial_response } => self.auth(mechanism, &initial_response),
            Request::Help { .. } => Step::Reply("214 2.0.0 See RFC 5321\r\n".into()),
            Request::Expn { .. } | Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                self.refused("502 5.5.1 Command not implemented\r\n")
            }
        }
    }

    fn auth(&mut self, mechanism: u64, initial: &str) -> Step {
        if self.mode == Mode::Mx {
            return self.refused("503 5.5.1 AUTH is offered on the submission port\r\n");
        }
        if self.helo.is_none() {
            return self.refused("503 5.5.1 EHLO first\r\n");
        }
        if self.user.is_some() {
            return self.refused("503 5.5.1 Already authenticated\r\n");
        }
        if !self.auth_allowed() {
            return self.refused("538 5.7.11 Encryption required for requested authentication mechanism\r\n");
        }
        if self.from.is_some() {
            return self.refused("503 5.5.1 AUTH not allowed during a mail transaction\r\n");
        }
        match (mechanism, initial) {
            (smtp_proto::AUTH_PLAIN, "") => {
                self.auth = Some(AuthWait::Plain);
                Step::Reply("334 \r\n".into())
            }
            (smtp_proto::AUTH_PLAIN, response) => self.plain(response),
            (smtp_proto::AUTH_LOGIN, "") => {
                self.auth = Some(AuthWait::LoginUser);
                Step::Reply("334 VXNlcm5hbWU6\r\n".into())
            }
            (smtp_proto::AUTH_LOGIN, user) => match decode(user) {
                Some(user) => {
                    self.auth = Some(AuthWait::LoginPassword(user));
                    Step::Reply("334 UGFzc3dvcmQ6\r\n".into())
                }
                None => self.refused("501 5.5.2 Cannot decode the response\r\n"),
            },
            _ => self.refused("504 5.5.4 Unrecognized authentication type\r\n"),
        }
    }

    /// SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL password`, base64.
    fn plain(&mut self, response: &str) -> Step {
        let Some(text) = decode(response) else { return self.refused("501 5.5.2 Cannot decode the response\r\n") };
        let mut parts = text.split('\0');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(authz), Some(login), Some(password), None) if authz.is_empty() || authz == login => {
                Step::Authenticate { login: login.to_owned(), password: password.to_owned() }
            }
            (Some(_), Some(_), Some(_), None) => self.refused("535 5.7.8 Acting for another user is not supported\r\n"),
            _ => self.refused("501 5.5.2 Malformed PLAIN response\r\n"),
        }
    }

    /// Bytes of an AUTH response line. Returns how many were taken and, once the line is
    /// complete, what to do.
    pub fn auth_line(&mut self, bytes: &[u8]) -> (usize, Option<Step>) {
        let (taken, done) = match memchr_lf(bytes) {
            Some(i) => (i + 1, true),
            None => (bytes.len(), false),
        };
        self.line.extend_from_slice(&bytes[..taken]);
        if self.line.len() > 12 << 10 {
            self.line.clear();
            self.auth = None;
            return (taken, Some(self.refused("500 5.5.6 Authentication line too long\r\n")));
        }
        if !done {
            return (taken, None);
        }
        let line = String::from_utf8_lossy(&self.line).trim_end_matches(['\r', '\n']).to_owned();
        self.line.clear();
        let Some(wait) = self.auth.take() else { return (taken, None) };
        if line == "*" {
            return (taken, Some(self.refused("501 5.7.0 Authentication cancelled\r\n")));
        }
        let step = match wait {
            AuthWait::Plain => self.plain(&line),
            AuthWait::LoginUser => match decode(&line) {
                Some(user) => {
                    self.auth = Some(AuthWait::LoginPassword(user));
                    Step::Reply("334 UGFzc3dvcmQ6\r\n".into())
                }
                None => self.refused("501 5.5.2 Cannot decode the response\r\n"),
            },
            AuthWait::LoginPassword(login) => match decode(&line) {
                Some(password) => Step::Authenticate { login, password },
                None => self.refused("501 5.5.2 Cannot decode the response\r\n"),
            },
        };
        (taken, Some(step))
    }

    /// The answer to [`Step::Authenticate`].
    pub fn authenticated(&mut self, r: kontor_domain::Result<Principal>) -> Step {
        match r {
            Ok(p) => {
                self.user = Some(p);
                Step::Reply("235 2.7.0 Authentication successful\r\n".into())
            }
            Err(kontor_domain::Error::RateLimited { .. }) => {
                self.refused("454 4.7.0 Too many failed logins, try again later\r\n")
            }
            Err(kontor_domain::Error::AuthFailed) => self.refused("535 5.7.8 Authentication credentials invalid\r\n"),
            Err(e) => {
                tracing::warn!(error = %e, "authentication failed");
                Step::Reply("454 4.7.0 Temporary authentication failure\r\n".into())
            }
        }
    }

    fn mail(&mut self, from: &MailFrom<Cow<'_, str>>) -> Step {
        if self.helo.is_none() {
            return self.refused("503 5.5.1 EHLO or HELO first\r\n");
        }
        if self.mode == Mode::Submission && self.user.is_none() {
            return self.refused("530 5.7.0 Authentication required\r\n");
        }
        if self.from.is_some() {
            return self.refused("503 5.5.1 Nested MAIL command\r\n");
        }
        if from.size > self.limits.max_message_size {
            return Step::Reply(format!(
                "552 5.3.4 Message size exceeds the limit of {} bytes\r\n",
                self.limits.max_message_size
            ));
        }
        // RFC 3461 §4.4: an envelope id of at most 100 characters.
        if from.env_id.as_ref().is_some_and(|e| e.chars().count() > 100 || e.chars().any(char::is_control)) {
            return self.refused("501 5.5.4 ENVID is too long or not printable\r\n");
        }
        self.reset();
        self.from = Some(from.address.to_string());
        self.dsn = DsnRequest {
            full: from.flags & smtp_proto::MAIL_RET_FULL != 0,
            envid: from.env_id.as_ref().map(ToString::to_string),
        };
        Step::Reply("250 2.1.0 Sender OK\r\n".into())
    }

    /// The answer to [`Step::CheckRecipient`] on the submission port.
    pub fn route_checked(&mut self, address: String, r: kontor_domain::Result<Result<Route, Recipient>>) -> Step {
        match r {
            Ok(Ok(Route::Local(id))) => {
                self.recipients.push((address, id, std::mem::take(&mut self.pending)));
                Step::Reply("250 2.1.5 Recipient OK\r\n".into())
            }
            Ok(Ok(Route::Remote)) => {
                self.recipients.push((address, PrincipalId(0), std::mem::take(&mut self.pending)));
                Step::Reply("250 2.1.5 Recipient OK\r\n".into())
            }
            Ok(Err(other)) => self.recipient_checked(address, &Ok(other)),
            Err(e) => self.recipient_checked(address, &Err(e)),
        }
    }

    /// The answer to [`Step::CheckRecipient`].
    pub fn recipient_checked(&mut self, address: String, r: &kontor_domain::Result<Recipient>) -> Step {
        match r {
            Ok(Recipient::Local(id)) => {
                self.recipients.push((address, *id, std::mem::take(&mut self.pending)));
                Step::Reply("250 2.1.5 Recipient OK\r\n".into())
            }
            Ok(Recipient::Unknown) => self.refused("550 5.1.1 No such user here\r\n"),
            Ok(Recipient::NotLocal) => self.refused("550 5.7.1 Relaying denied\r\n"),
            Ok(Recipient::OverQuota) => Step::Reply("552 5.2.2 Mailbox full\r\n".into()),
            Err(e) => {
                tracing::warn!(error = %e, "recipient lookup failed");
                Step::Reply("451 4.3.0 Temporary failure, try again later\r\n".into())
            }
        }
    }

    /// Message bytes. Returns how many of `bytes` were taken and, when a message or chunk is
    /// complete, what to do.
    pub fn data(&mut self, bytes: &[u8]) -> (usize, Option<Step>) {
        let mut it = bytes.iter();
        let step = match &mut self.body {
            Body::Commands => return (0, None),
            Body::Data(r) => {
                let done = r.ingest(&mut it, &mut self.data);
                if done {
                    self.body = Body::Commands;
                    Some(Step::Deliver)
                } else {
                    if self.data.len() > self.limits.max_message_size + 2 {
                        self.body = Body::Discard(DummyDataReceiver::new_data(r), Refusal::TooBig);
                        self.data.clear();
                    }
                    None
                }
            }
            Body::Bdat(r) => {
                if r.ingest(&mut it, &mut self.data) {
                    self.body = Body::Commands;
                    if self.last_chunk {
                        Some(Step::Deliver)
                    } else {
                        Some(Step::Reply(format!("250 2.0.0 {} octets received\r\n", self.data.len())))
                    }
                } else {
                    None
                }
            }
            Body::Discard(r, why) => {
                let why = *why;
                if r.ingest(&mut it) {
                    self.body = Body::Commands;
                    Some(match why {
                        Refusal::TooBig => {
                            self.reset();
                            Step::Reply(format!(
                                "552 5.3.4 Message size exceeds the limit of {} bytes\r\n",
                                self.limits.max_message_size
                            ))
                        }
                        Refusal::NoTransaction => self.refused("503 5.5.1 Need MAIL and RCPT first\r\n"),
                    })
                } else {
                    None
                }
            }
        };
        (bytes.len() - it.as_slice().len(), step)
    }

    /// The recipients and the message to deliver after [`Step::Deliver`], with a Received:
    /// header in front (RFC 5321 §4.4).
    pub fn message(&self, now: &str) -> (Vec<PrincipalId>, Vec<u8>) {
        // DATA: without the CRLF primed in front (the receiver keeps the last line's CRLF).
        let body: &[u8] = if self.chunking { &self.data } else { self.data.get(2..).unwrap_or_default() };
        let for_clause = match self.recipients.as_slice() {
            [(one, _, _)] => format!("\r\n\tfor <{one}>"),
            _ => String::new(),
        };
        let with = match (self.mode, self.tls == TlsState::Active) {
            (Mode::Mx, false) => "ESMTP",
            (Mode::Mx, true) => "ESMTPS",
            (Mode::Submission, false) => "ESMTPA",
            (Mode::Submission, true) => "ESMTPSA",
        };
        let mut out = format!(
            "Received: from {} ({})\r\n\tby {} (Kontor) with {with} id {:x}{for_clause};\r\n\t{now}\r\n",
            self.helo.as_deref().unwrap_or("unknown"),
            self.peer,
            self.limits.hostname,
            self.serial
        )
        .into_bytes();
        out.extend_from_slice(body);
        let mut ids: Vec<PrincipalId> = self.recipients.iter().map(|r| r.1).collect();
        ids.dedup();
        (ids, out)
    }

    /// The answer to [`Step::Deliver`] on the submission port: 250 once the message is in the
    /// Sent mailbox, the local inboxes and the outbound queue.
    pub fn submitted(&mut self, outcome: &kontor_domain::Result<Submitted>) -> Step {
        use kontor_domain::Error;
        let step = match outcome {
            Ok(s) => {
                for d in &s.local {
                    if let Err(e) = &d.outcome {
                        tracing::warn!(recipient = %d.recipient, error = %e, "local delivery of a submission failed");
                    }
                }
                Step::Reply(format!("250 2.0.0 Message accepted, id {:x}\r\n", self.serial))
            }
            Err(Error::Forbidden { needed }) => {
                Step::Reply(format!("550 5.7.1 Not allowed: {}\r\n", needed.replace(['\r', '\n'], " ")))
            }
            Err(Error::Invalid(why)) => Step::Reply(format!("550 5.6.0 {}\r\n", why.replace(['\r', '\n'], " "))),
            Err(Error::OverQuota { .. }) => Step::Reply("552 5.2.2 Your mailbox is full\r\n".into()),
            Err(Error::TooLarge { max, .. }) => {
                Step::Reply(format!("552 5.3.4 Message size exceeds the limit of {max} bytes\r\n"))
            }
            Err(e) => {
                tracing::warn!(error = %e, "submission failed");
                Step::Reply("451 4.3.0 Submission failed, try again later\r\n".into())
            }
        };
        self.serial = self.serial.wrapping_add(1);
        self.reset();
        step
    }

    /// The answer to [`Step::Deliver`]: 250 only when the message is stored for every
    /// recipient (one reply covers them all); a refusal names why.
    pub fn delivered(&mut self, outcome: &kontor_domain::Result<Vec<Delivered>>) -> Step {
        let step = match outcome {
            Ok(all) if all.iter().all(|d| d.outcome.is_ok()) => {
                Step::Reply(format!("250 2.0.0 Message accepted, id {:x}\r\n", self.serial))
            }
            Ok(all) => {
                let failed = all.iter().find_map(|d| d.outcome.as_ref().err());
                match failed {
                    Some(kontor_domain::Error::OverQuota { .. }) if all.iter().all(|d| d.outcome.is_err()) => {
                        Step::Reply("552 5.2.2 Mailbox full\r\n".into())
                    }
                    Some(e) if all.iter().all(|d| d.outcome.is_err()) => {
                        tracing::warn!(error = %e, "delivery failed");
                        Step::Reply("451 4.3.0 Delivery failed, try again later\r\n".into())
                    }
                    // Stored for some: a retry would deliver twice to those. Accept; the driver
                    // bounces the rest to the sender (Core::bounce_inbound).
                    _ => {
                        for d in all.iter().filter(|d| d.outcome.is_err()) {
                            if let Err(e) = &d.outcome {
                                tracing::warn!(recipient = %d.recipient, error = %e, "delivery to one recipient failed");
                            }
                        }
                        Step::Reply(format!("250 2.0.0 Message accepted, id {:x}\r\n", self.serial))
                    }
                }
            }
            Err(kontor_domain::Error::TooLarge { max, .. }) => {
                Step::Reply(format!("552 5.3.4 Message size exceeds the limit of {max} bytes\r\n"))
            }
            Err(e) => {
                tracing::warn!(error = %e, "delivery failed");
                Step::Reply("451 4.3.0 Delivery failed, try again later\r\n".into())
            }
        };
        self.serial = self.serial.wrapping_add(1);
        self.reset();
        step
    }
}

/// A RCPT's DSN requests (RFC 3461 §4.1-4.2); `None` when NEVER comes with another value.
fn rcpt_dsn(flags: u64, orcpt: Option<&str>) -> Option<RcptDsn> {
    use smtp_proto::{RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS};
    let given = flags & (RCPT_NOTIFY_NEVER | RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE | RCPT_NOTIFY_DELAY);
    let notify = if given == 0 {
        None
    } else if given & RCPT_NOTIFY_NEVER != 0 {
        if given != RCPT_NOTIFY_NEVER {
            return None;
        }
        Some(Notify::NEVER)
    } else {
        let mut n = Notify::NEVER;
        for (bit, v) in [
            (RCPT_NOTIFY_SUCCESS, Notify::SUCCESS),
            (RCPT_NOTIFY_FAILURE, Notify::FAILURE),
            (RCPT_NOTIFY_DELAY, Notify::DELAY),
        ] {
            if given & bit != 0 {
                n = n.with(v);
            }
        }
        Some(n)
    };
    Some(RcptDsn { notify, orcpt: orcpt.map(str::to_owned) })
}

fn decode(b64: &str) -> Option<String> {
    if b64 == "=" {
        return Some(String::new());
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

fn memchr_lf(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::{Limits, Mode, Session, Step};
    use smtp_proto::request::receiver::RequestReceiver;

    fn run(s: &mut Session, line: &str) -> String {
        let bytes = format!("{line}\r\n");
        let mut it = bytes.as_bytes().iter();
        match RequestReceiver::default().ingest(&mut it) {
            Ok(r) => match s.request(r) {
                Step::Reply(r) | Step::Close(r) | Step::StartTls(r) => r,
                Step::Authenticate { login, .. } => format!("AUTH {login}"),
                other => format!("{other:?}"),
            },
            Err(e) => match s.parse_error(&e) {
                Step::Reply(r) | Step::Close(r) => r,
                other => format!("{other:?}"),
            },
        }
    }

    fn limits() -> Limits {
        Limits { hostname: "mx.example.com".into(), max_message_size: 1 << 20, max_recipients: 10, max_errors: 20 }
    }

    #[test]
    fn submission_takes_passwords_only_over_tls_from_other_machines() {
        let peer = "192.0.2.1".parse().expect("ip");
        let mut s = Session::new(limits(), Mode::Submission, peer, 1);
        s.offer_tls(true);
        let ehlo = run(&mut s, "EHLO client.test");
        assert!(ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"), "{ehlo}");
        assert!(run(&mut s, "AUTH PLAIN AGFubkBleGFtcGxlLmNvbQBwdw==").starts_with("538 5.7.11"));
        assert!(run(&mut s, "MAIL FROM:<ann@example.com>").starts_with("530 "));
        assert!(run(&mut s, "STARTTLS").starts_with("220 "));
        s.tls_started();
        assert!(run(&mut s, "AUTH PLAIN AGFubkBleGFtcGxlLmNvbQBwdw==").starts_with("503 "), "EHLO again first");
        let ehlo = run(&mut s, "EHLO client.test");
        assert!(ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"), "{ehlo}");
        assert_eq!(run(&mut s, "AUTH PLAIN AGFubkBleGFtcGxlLmNvbQBwdw=="), "AUTH ann@example.com");
        // The MX port never takes AUTH.
        let mut mx = Session::new(limits(), Mode::Mx, "127.0.0.1".parse().expect("ip"), 1);
        run(&mut mx, "EHLO client.test");
        assert!(run(&mut mx, "AUTH PLAIN AGFubkBleGFtcGxlLmNvbQBwdw==").starts_with("503 "));
    }

    #[test]
    fn the_mx_refuses_a_helo_that_is_no_domain() {
        let mut mx = Session::new(limits(), Mode::Mx, "192.0.2.1".parse().expect("ip"), 1);
        for bad in ["EHLO exa_mple..com", "EHLO -bad.example", "HELO [192.0.2.300]", "EHLO [IPv6:nope]"] {
            assert!(run(&mut mx, bad).starts_with("501 5.5.2 "), "{bad}");
        }
        assert!(run(&mut mx, "MAIL FROM:<a@example.org>").starts_with("503 "), "no greeting was taken");
        assert!(run(&mut mx, "EHLO [192.0.2.1]").starts_with("250-"));
        assert!(run(&mut mx, "HELO mail.example.org").starts_with("250 "));
        // Submission clients name themselves as they like.
        let mut sub = Session::new(limits(), Mode::Submission, "127.0.0.1".parse().expect("ip"), 1);
        assert!(run(&mut sub, "EHLO my..laptop").starts_with("250-"));
    }
}
