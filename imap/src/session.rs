//! One IMAP session: the not-authenticated, authenticated and selected states of RFC 3501 §3,
//! the commands each allows, and the responses. It reads commands that the driver has put
//! together (literals joined) and writes responses into a buffer; the store is reached only
//! through the domain's services.
//!
//! Served: login (LOGIN, AUTHENTICATE PLAIN with SASL-IR), ENABLE (CONDSTORE, QRESYNC,
//! IMAP4rev2), NAMESPACE with the shared namespace, LIST/LSUB ([`crate::list`]), STATUS
//! ([`crate::status`]), SELECT/EXAMINE ([`crate::select`], [`crate::qresync`]), FETCH, SEARCH,
//! STORE, EXPUNGE, COPY/MOVE, APPEND, IDLE, CREATE/RENAME/DELETE, QUOTA, ACL ([`crate::acl`]).
//! Mailboxes are named through [`crate::names`]: the user's own, and colleagues' shared ones.

use std::net::IpAddr;

use base64::Engine as _;
use kontor_domain::auth::Credentials;
use kontor_domain::mail::{Mailbox, Summary, Tally};
use kontor_domain::model::Principal;
use kontor_domain::{Core, Error};

use crate::fetch;
use crate::parse::{self, Command, Token};

/// What the driver does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// Send the output, then close.
    Close,
    /// IDLE (RFC 2177) with this tag: send the output, then wait for DONE while reporting
    /// changes ([`Session::refresh`]) as they happen; [`Session::idle_done`] ends it.
    Idle(String),
    /// STARTTLS: send the output, start TLS, then call [`Session::tls_started`].
    StartTls,
    /// COMPRESS DEFLATE: send the output, then compress the connection both ways.
    Compress,
}

/// Whether the connection is encrypted, or could be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsState {
    Unavailable,
    Offered,
    Active,
}

#[expect(clippy::struct_excessive_bools, reason = "each is a mode of the session, set independently")]
pub(crate) struct Selected {
    pub mailbox: Mailbox,
    pub read_only: bool,
    /// CONDSTORE is on (ENABLE CONDSTORE, or SELECT … (CONDSTORE)): FETCH answers show MODSEQ.
    pub condstore: bool,
    /// QRESYNC is on: removals are reported as VANISHED.
    pub qresync: bool,
    /// IMAP4rev2 was enabled when the mailbox was selected (ENABLE is not allowed after).
    pub rev2: bool,
    /// By UID; message sequence numbers are positions here (1-based). Summaries only: whole
    /// messages are read for what a FETCH asks.
    pub messages: Vec<Summary>,
    /// SEARCHRES (RFC 5182): the UIDs `$` stands for, sorted.
    pub saved: Vec<u32>,
    /// The tally of the mailbox as last listed (SELECT, or a refresh that read it again): while
    /// the store's tally is the same, nothing changed that a refresh would report.
    pub listed: Tally,
}

enum State {
    NotAuthenticated,
    Authenticated(Principal),
    Selected(Principal, Box<Selected>),
}

pub struct Session {
    state: State,
    peer: IpAddr,
    /// AUTHENTICATE PLAIN waiting for its response line: the tag.
    pending_auth: Option<String>,
    errors: u32,
    /// CONDSTORE was enabled in this session.
    condstore: bool,
    /// QRESYNC was enabled (RFC 7162 §3.2.3; it implies CONDSTORE).
    qresync: bool,
    /// IMAP4rev2 was enabled (RFC 9051): ESEARCH answers SEARCH, SELECT differs.
    rev2: bool,
    transport: Transport,
    /// Where long answers (FETCH) send their finished pieces while the command runs.
    stream: Option<tokio::sync::mpsc::Sender<Vec<bytes::Bytes>>>,
}

/// The connection's layers: TLS, and COMPRESS=DEFLATE once on.
#[derive(Debug, Clone, Copy)]
struct Transport {
    tls: TlsState,
    compressed: bool,
}

pub const CAPABILITIES: &str = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR AUTH=PLAIN ID ENABLE NAMESPACE UNSELECT UIDPLUS MOVE IDLE CONDSTORE QRESYNC ESEARCH QUOTA QUOTA=RES-STORAGE SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS STATUS=SIZE CHILDREN ACL RIGHTS=texk BINARY SEARCHRES COMPRESS=DEFLATE";
const MAX_ERRORS: u32 = 20;

impl Session {
    pub fn new(peer: IpAddr) -> Self {
        Self {
            state: State::NotAuthenticated,
            peer,
            pending_auth: None,
            errors: 0,
            condstore: false,
            qresync: false,
            rev2: false,
            transport: Transport { tls: TlsState::Unavailable, compressed: false },
            stream: None,
        }
    }

    /// Lets long answers go to `tx` in pieces while a command runs (`None`: all at the end).
    pub fn set_stream(&mut self, tx: Option<tokio::sync::mpsc::Sender<Vec<bytes::Bytes>>>) {
        self.stream = tx;
    }

    /// Offers STARTTLS when `on` (and the connection is not encrypted yet).
    pub fn offer_tls(&mut self, on: bool) {
        if self.transport.tls != TlsState::Active {
            self.transport.tls = if on { TlsState::Offered } else { TlsState::Unavailable };
        }
    }

    /// TLS is up (STARTTLS done, or implicit TLS): capabilities are asked again (RFC 9051 §6.2.1).
    pub fn tls_started(&mut self) {
        self.transport.tls = TlsState::Active;
    }

    /// Whether a password may be sent now: over TLS, or by a client on this machine (RFC 9051
    /// §11.1: not in the clear).
    fn may_log_in(&self) -> bool {
        self.transport.tls == TlsState::Active || self.peer.is_loopback()
    }

    /// The capabilities as they stand (STARTTLS while it can be used; LOGINDISABLED instead of
    /// AUTH=PLAIN while passwords would cross in the clear).
    fn capabilities(&self) -> String {
        let mut caps = if self.may_log_in() {
            CAPABILITIES.to_owned()
        } else {
            CAPABILITIES.replace(" AUTH=PLAIN", " LOGINDISABLED")
        };
        if self.transport.tls == TlsState::Offered && matches!(self.state, State::NotAuthenticated) {
            caps.push_str(" STARTTLS");
        }
        caps
    }

    /// The greeting of this connection.
    pub fn hello(&self) -> String {
        format!("* OK [CAPABILITY {}] Kontor IMAP ready\r\n", self.capabilities())
    }

    pub fn greeting() -> String {
        format!("* OK [CAPABILITY {CAPABILITIES}] Kontor IMAP ready\r\n")
    }

    fn bad(&mut self, out: &mut Vec<u8>, tag: &str, why: &str) -> Outcome {
        self.errors += 1;
        push(out, &format!("{tag} BAD {why}\r\n"));
        if self.errors >= MAX_ERRORS {
            push(out, "* BYE Too many errors\r\n");
            return Outcome::Close;
        }
        Outcome::Continue
    }

    /// One complete command (or the response line of a pending AUTHENTICATE).
    pub async fn handle(&mut self, core: &Core, line: &[u8], out: &mut Vec<u8>) -> Outcome {
        if let Some(tag) = self.pending_auth.take() {
            let text = String::from_utf8_lossy(line);
            return self.sasl_plain(core, &tag, text.trim(), out).await;
        }
        let cmd = match parse::command(line) {
            Ok(c) => c,
            Err(e) => return self.bad(out, e.tag.as_deref().unwrap_or("*"), e.reason),
        };
        let tag = cmd.tag.clone();
        match self.run(core, &cmd, out).await {
            Ok(outcome) => outcome,
            Err(Fail::Bad(why)) => self.bad(out, &tag, why),
            Err(Fail::No(why)) => {
                push(out, &format!("{tag} NO {why}\r\n"));
                Outcome::Continue
            }
        }
    }

    async fn run(&mut self, core: &Core, cmd: &Command, out: &mut Vec<u8>) -> Result<Outcome, Fail> {
        let tag = cmd.tag.as_str();
        let ok = |out: &mut Vec<u8>, what: &str| push(out, &format!("{tag} OK {what} completed\r\n"));
        match cmd.name.as_str() {
            "CAPABILITY" => {
                push(out, &format!("* CAPABILITY {}\r\n", self.capabilities()));
                ok(out, "CAPABILITY");
            }
            "COMPRESS" => {
                self.principal()?;
                let mechanism = cmd.args.first().and_then(Token::atom).unwrap_or_default();
                if !mechanism.eq_ignore_ascii_case("DEFLATE") {
                    return Err(Fail::Bad("Unknown compression mechanism"));
                }
                if self.transport.compressed {
                    return Err(Fail::No("[COMPRESSIONACTIVE] DEFLATE is active already"));
                }
                self.transport.compressed = true;
                push(out, &format!("{tag} OK DEFLATE active\r\n"));
                return Ok(Outcome::Compress);
            }
            "STARTTLS" => match (&self.state, self.transport.tls) {
                (State::NotAuthenticated, TlsState::Offered) => {
                    push(out, &format!("{tag} OK Begin TLS negotiation now\r\n"));
                    return Ok(Outcome::StartTls);
                }
                (_, TlsState::Active) => return Err(Fail::Bad("TLS is already active")),
                (State::NotAuthenticated, _) => return Err(Fail::No("TLS is not available")),
                _ => return Err(Fail::Bad("STARTTLS is only allowed before login")),
            },
            "NOOP" | "CHECK" => {
                self.refresh(core, out).await;
                ok(out, &cmd.name);
            }
            "IDLE" => {
                self.principal()?;
                push(out, "+ idling\r\n");
                return Ok(Outcome::Idle(tag.to_owned()));
            }
            "LOGOUT" => {
                push(out, "* BYE Logging out\r\n");
                ok(out, "LOGOUT");
                return Ok(Outcome::Close);
            }
            "ID" => {
                push(out, "* ID (\"name\" \"Kontor\")\r\n");
                ok(out, "ID");
            }
            "LOGIN" | "AUTHENTICATE" if !self.may_log_in() => {
                return Err(Fail::No("[PRIVACYREQUIRED] Log in over TLS: use STARTTLS or the TLS port"));
            }
            "LOGIN" => {
                if !matches!(self.state, State::NotAuthenticated) {
                    return Err(Fail::Bad("Already logged in"));
                }
                let [user, password] = &cmd.args[..] else {
                    return Err(Fail::Bad("LOGIN needs a user and a password"));
                };
                let (Some(user), Some(password)) = (user.text(), password.text()) else {
                    return Err(Fail::Bad("LOGIN needs a user and a password"));
                };
                self.login(core, tag, &user, password, out).await;
            }
            "AUTHENTICATE" => {
                if !matches!(self.state, State::NotAuthenticated) {
                    return Err(Fail::Bad("Already logged in"));
                }
                let mech = cmd.args.first().and_then(Token::atom).unwrap_or_default();
                if !mech.eq_ignore_ascii_case("PLAIN") {
                    return Err(Fail::No("Unsupported authentication mechanism"));
                }
                match cmd.args.get(1).and_then(Token::text) {
                    Some(initial) => return Ok(self.sasl_plain(core, tag, &initial, out).await),
                    None => {
                        self.pending_auth = Some(tag.to_owned());
                        push(out, "+ \r\n");
                    }
                }
            }
            _ => return self.authenticated(core, cmd, out).await,
        }
        Ok(Outcome::Continue)
    }

    async fn login(&mut self, core: &Core, tag: &str, user: &str, password: String, out: &mut Vec<u8>) {
        let creds = Credentials::Password { login: user.to_owned(), password };
        match core.authenticate(creds, self.peer).await {
            Ok(a) => {
                self.state = State::Authenticated(a.principal);
                push(out, &format!("{tag} OK [CAPABILITY {CAPABILITIES}] Logged in\r\n"));
            }
            Err(Error::RateLimited { .. }) => {
                push(out, &format!("{tag} NO [UNAVAILABLE] Too many failed logins; try again later\r\n"));
            }
            Err(Error::AuthFailed) => push(out, &format!("{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")),
            Err(e) => {
                tracing::warn!(error = %e, "imap login failed");
                push(out, &format!("{tag} NO [UNAVAILABLE] Temporary failure\r\n"));
            }
        }
    }

    async fn sasl_plain(&mut self, core: &Core, tag: &str, response: &str, out: &mut Vec<u8>) -> Outcome {
        if response == "*" {
            return self.bad(out, tag, "Authentication cancelled");
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(response).ok();
        let fields: Option<Vec<String>> =
            decoded.as_deref().map(|d| d.split(|b| *b == 0).map(|f| String::from_utf8_lossy(f).into_owned()).collect());
        match fields.as_deref() {
            Some([authz, user, password]) if authz.is_empty() || authz == user => {
                self.login(core, tag, user, password.clone(), out).await;
                Outcome::Continue
            }
            Some([_, _, _]) => {
                push(out, &format!("{tag} NO [AUTHORIZATIONFAILED] Logging in as another user is not allowed\r\n"));
                Outcome::Continue
            }
            _ => self.bad(out, tag, "Bad PLAIN response"),
        }
    }

    /// The account whose changes an IDLE waits for (the selected mailbox's).
    pub fn watched_account(&self) -> Option<kontor_domain::ids::AccountId> {
        match &self.state {
            State::Selected(_, sel) => Some(sel.mailbox.collection.account),
            State::Authenticated(p) => Some(p.id),
            State::NotAuthenticated => None,
        }
    }

    /// The end of an IDLE: `DONE` ends it, anything else is a protocol error.
    pub async fn idle_done(&mut self, core: &Core, tag: &str, line: &[u8], out: &mut Vec<u8>) -> Outcome {
        if line.trim_ascii().eq_ignore_ascii_case(b"DONE") {
            self.refresh(core, out).await;
            push(out, &format!("{tag} OK IDLE terminated\r\n"));
            Outcome::Continue
        } else {
            self.bad(out, tag, "Expected DONE")
        }
    }

    /// Reports what changed in the selected mailbox since this session last looked (other
    /// sessions, other protocols): expunges (highest first), new messages (EXISTS), changed
    /// flags (FETCH).
    pub async fn refresh(&mut self, core: &Core, out: &mut Vec<u8>) {
        let State::Selected(who, sel) = &mut self.state else { return };
        // A NOOP, and an IDLE woken by a change elsewhere in the account, mostly find nothing
        // new here: three numbers tell, where a listing reads every message of the mailbox.
        if core.mailbox_tally(who, sel.mailbox.id()).await.is_ok_and(|t| t == Some(sel.listed)) {
            return;
        }
        let Ok(now) = core.mailbox_summaries(who, sel.mailbox.id()).await else { return };
        sel.listed = Tally::of(&now);
        let gone = |uid: u32| now.binary_search_by_key(&uid, |n| n.uid).is_err();
        crate::qresync::report_removed(sel, gone, out);
        for (i, m) in sel.messages.iter_mut().enumerate() {
            if let Ok(at) = now.binary_search_by_key(&m.uid, |n| n.uid)
                && now[at].keywords != m.keywords
            {
                m.keywords = now[at].keywords.clone();
                m.modseq = now[at].modseq;
                let modseq = if sel.condstore { format!(" MODSEQ ({})", m.modseq.0) } else { String::new() };
                push(
                    out,
                    &format!("* {} FETCH (UID {} FLAGS {}{modseq})\r\n", i + 1, m.uid, fetch::flags(&m.keywords)),
                );
            }
        }
        let last = sel.messages.last().map_or(0, |m| m.uid);
        let before = sel.messages.len();
        sel.messages.extend(now.into_iter().filter(|m| m.uid > last));
        if sel.messages.len() != before {
            push(out, &format!("* {} EXISTS\r\n", sel.messages.len()));
        }
    }

    fn principal(&self) -> Result<&Principal, Fail> {
        match &self.state {
            State::Authenticated(p) | State::Selected(p, _) => Ok(p),
            State::NotAuthenticated => Err(Fail::Bad("Log in first")),
        }
    }

    async fn authenticated(&mut self, core: &Core, cmd: &Command, out: &mut Vec<u8>) -> Result<Outcome, Fail> {
        let tag = cmd.tag.as_str();
        let who = self.principal()?.clone();
        match cmd.name.as_str() {
            "ENABLE" => {
                let mut on = Vec::new();
                for want in cmd.args.iter().filter_map(Token::atom).map(str::to_ascii_uppercase) {
                    match want.as_str() {
                        "CONDSTORE" => self.condstore = true,
                        // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
                        "QRESYNC" => (self.condstore, self.qresync) = (true, true),
                        "IMAP4REV2" => self.rev2 = true,
                        _ => continue,
                    }
                    if !on.contains(&want) {
                        on.push(want);
                    }
                }
                if let State::Selected(_, sel) = &mut self.state {
                    sel.condstore |= self.condstore;
                    sel.qresync |= self.qresync;
                }
                let on: Vec<&str> =
                    on.iter().map(|w| if w == "IMAP4REV2" { "IMAP4rev2" } else { w.as_str() }).collect();
                push(out, &format!("* ENABLED{}{}\r\n", if on.is_empty() { "" } else { " " }, on.join(" ")));
            }
            // RFC 2342: the user's own mailboxes, and others' under "Shared/<owner>/".
            "NAMESPACE" => push(out, "* NAMESPACE ((\"\" \"/\")) ((\"Shared/\" \"/\")) NIL\r\n"),
            "LIST" | "LSUB" => crate::list::list(core, &who, &cmd.name, &cmd.args, out).await?,
            "STATUS" => crate::status::status(core, &who, &cmd.args, out).await?,
            "MYRIGHTS" | "GETACL" | "LISTRIGHTS" | "SETACL" | "DELETEACL" => {
                crate::acl::command(core, &who, &cmd.name, &cmd.args, out).await?;
            }
            "SELECT" | "EXAMINE" => {
                // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1); a SELECT while one
                // is selected closes it first (RFC 7162 §3.2.11, RFC 9051 §6.3.2).
                if matches!(self.state, State::Selected(..)) {
                    push(out, "* OK [CLOSED] Previous mailbox closed\r\n");
                }
                self.state = State::Authenticated(who.clone());
                let modes = crate::select::Modes { condstore: self.condstore, qresync: self.qresync, rev2: self.rev2 };
                let sel = crate::select::select(core, &who, cmd.name == "EXAMINE", &cmd.args, &modes, out).await?;
                self.condstore |= sel.condstore;
                let mode = if sel.read_only { "READ-ONLY" } else { "READ-WRITE" };
                push(out, &format!("{tag} OK [{mode}] {} completed\r\n", cmd.name));
                self.state = State::Selected(who, Box::new(sel));
                return Ok(Outcome::Continue);
            }
            "APPEND" => {
                let (code, mailbox, stored) = crate::append::append(core, &who, &cmd.args).await?;
                if let State::Selected(_, sel) = &mut self.state
                    && sel.mailbox.id() == mailbox
                    && let Some(m) = stored.memberships.first()
                {
                    sel.messages.push(Summary::of(m, &stored.message));
                    push(out, &format!("* {} EXISTS\r\n", sel.messages.len()));
                }
                push(out, &format!("{tag} OK {code}APPEND completed\r\n"));
                return Ok(Outcome::Continue);
            }
            "GETQUOTAROOT" | "GETQUOTA" => crate::quota::command(core, &who, &cmd.name, &cmd.args, out).await?,
            "CREATE" => {
                let name = cmd.args.first().and_then(Token::text).ok_or(Fail::Bad("CREATE needs a name"))?;
                if crate::names::reserved(&name) {
                    return Err(Fail::No("[NOPERM] Mailboxes of others are made by their owners"));
                }
                // CREATE-SPECIAL-USE (RFC 6154 §3): every account has one mailbox of each use.
                if let Some(Token::List(params)) = cmd.args.get(1) {
                    return Err(match (params.first().and_then(Token::atom), params.get(1)) {
                        (Some(u), Some(Token::List(uses))) if u.eq_ignore_ascii_case("USE") => {
                            let known = ["\\Drafts", "\\Sent", "\\Junk", "\\Trash", "\\Archive", "\\All", "\\Flagged"];
                            if uses
                                .iter()
                                .all(|t| t.atom().is_some_and(|a| known.iter().any(|k| k.eq_ignore_ascii_case(a))))
                            {
                                Fail::No("[USEATTR] The account has its mailbox of that use already")
                            } else {
                                Fail::No("[USEATTR] Unsupported special use")
                            }
                        }
                        _ => Fail::Bad("Unknown CREATE parameter"),
                    });
                }
                core.create_mailbox(&who, &name).await.map_err(|e| match e {
                    Error::Conflict(_) => Fail::No("[ALREADYEXISTS] The mailbox exists"),
                    Error::Invalid(_) => Fail::No("[CANNOT] Not a valid mailbox name"),
                    e => no(e),
                })?;
            }
            "DELETE" | "RENAME" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
                let name = cmd.args.first().and_then(Token::text).ok_or(Fail::Bad("A mailbox name is needed"))?;
                let named = crate::names::find(core, &who, &name).await?;
                // A shared mailbox's subscription is the user's own; its owner deletes or renames it.
                if !named.own && !cmd.name.ends_with("SUBSCRIBE") {
                    return Err(Fail::No("[NOPERM] Only the owner deletes or renames a shared mailbox"));
                }
                let b = named.mailbox;
                let refused = |e: Error| match e {
                    Error::Conflict(_) => Fail::No("[HASCHILDREN] Delete the child mailboxes first"),
                    Error::Invalid(_) => Fail::No("[CANNOT] Not for this mailbox"),
                    e => no(e),
                };
                match cmd.name.as_str() {
                    "DELETE" => {
                        if matches!(&self.state, State::Selected(_, sel) if sel.mailbox.id() == b.id()) {
                            self.state = State::Authenticated(who.clone());
                        }
                        core.delete_mailbox(&who, &b).await.map_err(refused)?;
                    }
                    "RENAME" => {
                        let to = cmd.args.get(1).and_then(Token::text).ok_or(Fail::Bad("RENAME needs a new name"))?;
                        if crate::names::reserved(&to) {
                            return Err(Fail::No("[NOPERM] Mailboxes of others are made by their owners"));
                        }
                        if crate::names::find(core, &who, &to).await.is_ok() {
                            return Err(Fail::No("[ALREADYEXISTS] The new name is taken"));
                        }
                        core.rename_mailbox(&who, &b, &to).await.map_err(refused)?;
                    }
                    other => core.subscribe(&who, &b, other == "SUBSCRIBE").await.map_err(refused)?,
                }
            }
            "CLOSE" | "UNSELECT" => {
                let State::Selected(_, sel) = &mut self.state else { return Err(Fail::Bad("No mailbox selected")) };
                // CLOSE expunges silently (RFC 3501 §6.4.2); UNSELECT does not.
                if cmd.name == "CLOSE" && !sel.read_only {
                    crate::store::expunge(core, &who, sel, None, &mut Vec::new()).await?;
                }
                self.state = State::Authenticated(who);
            }
            "FETCH" | "SEARCH" | "UID" | "STORE" | "EXPUNGE" | "COPY" | "MOVE" => {
                let State::Selected(_, sel) = &mut self.state else { return Err(Fail::Bad("No mailbox selected")) };
                let (by_uid, name, args) = if cmd.name == "UID" {
                    let sub = cmd.args.first().and_then(Token::atom).unwrap_or_default().to_ascii_uppercase();
                    (true, sub, &cmd.args[1.min(cmd.args.len())..])
                } else {
                    (false, cmd.name.clone(), &cmd.args[..])
                };
                let mut code = String::new();
                match name.as_str() {
                    "FETCH" => fetch::fetch(core, &who, sel, by_uid, args, out, self.stream.as_ref()).await?,
                    "COPY" | "MOVE" => {
                        code = crate::store::copy(core, &who, sel, by_uid, name == "MOVE", args, out).await?;
                    }
                    "SEARCH" if self.rev2 => {
                        let mut answer = Vec::new();
                        crate::search::search(core, &who, sel, tag, by_uid, args, &mut answer).await?;
                        out.extend(crate::rev2::esearch(tag, by_uid, &answer));
                    }
                    "SEARCH" => crate::search::search(core, &who, sel, tag, by_uid, args, out).await?,
                    "STORE" => code = crate::store::store(core, &who, sel, by_uid, args, out).await?,
                    "EXPUNGE" => {
                        let only = if by_uid {
                            let set = args.first().and_then(Token::atom).ok_or(Fail::Bad("UID EXPUNGE needs a set"))?;
                            let max = sel.messages.last().map_or(0, |m| m.uid);
                            if set == "$" {
                                Some(sel.saved.iter().map(|u| (*u, *u)).collect())
                            } else {
                                Some(parse::sequence_set(set, max).ok_or(Fail::Bad("Bad UID set"))?)
                            }
                        } else {
                            None
                        };
                        crate::store::expunge(core, &who, sel, only.as_deref(), out).await?;
                    }
                    _ => return Err(Fail::Bad("Unknown UID command")),
                }
                let what = if by_uid { format!("UID {name}") } else { name };
                push(out, &format!("{tag} OK {code}{what} completed\r\n"));
                return Ok(Outcome::Continue);
            }
            _ => return Err(Fail::Bad("Unknown or unsupported command")),
        }
        push(out, &format!("{tag} OK {} completed\r\n", cmd.name));
        Ok(Outcome::Continue)
    }
}

/// How a command failed: BAD (the client's syntax or state) or NO (refused).
pub(crate) enum Fail {
    Bad(&'static str),
    No(&'static str),
}

pub(crate) fn no(e: Error) -> Fail {
    match e {
        Error::NotFound(_) | Error::Forbidden { .. } => Fail::No("[NONEXISTENT] No such mailbox"),
        e => {
            tracing::warn!(error = %e, "imap command failed");
            Fail::No("[UNAVAILABLE] Temporary failure")
        }
    }
}

pub(crate) fn push(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn in_ranges(ranges: &[(u32, u32)], n: u32) -> bool {
    ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&n))
}

#[cfg(test)]
mod tests {
    use super::Session;

    #[test]
    fn passwords_wait_for_tls_from_other_machines() {
        let mut remote = Session::new("192.0.2.1".parse().expect("ip"));
        remote.offer_tls(true);
        let hello = remote.hello();
        assert!(hello.contains(" LOGINDISABLED") && !hello.contains("AUTH=PLAIN") && hello.contains(" STARTTLS"));
        remote.tls_started();
        let hello = remote.hello();
        assert!(hello.contains("AUTH=PLAIN") && !hello.contains("LOGINDISABLED") && !hello.contains("STARTTLS"));
        let local = Session::new("127.0.0.1".parse().expect("ip"));
        assert!(local.hello().contains("AUTH=PLAIN"));
    }
}
