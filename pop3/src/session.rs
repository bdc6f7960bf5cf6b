//! One POP3 session (RFC 1939, CAPA and response codes of RFC 2449, SASL PLAIN of RFC 5034)
//! as a state machine: lines in, replies out, no I/O. What needs the store (logging in and
//! reading the maildrop, fetching a message, deleting at QUIT) goes to the driver as a
//! [`Step`], whose answer comes back through the matching method.

use base64::Engine as _;

/// One message of the maildrop, as listed at login.
#[derive(Debug, Clone)]
pub struct Entry {
    pub uid: u32,
    pub size: u64,
    pub deleted: bool,
}

/// What the driver does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Reply(String),
    /// Message bytes (not necessarily UTF-8), already framed.
    Data(Vec<u8>),
    /// A message sent as stored, between its status line and its end: written as three
    /// pieces rather than copied into one.
    Message {
        head: String,
        body: bytes::Bytes,
        tail: &'static [u8],
    },
    /// Check the password, lock and read the maildrop, then call [`Session::logged_in`].
    Login {
        user: String,
        password: String,
    },
    /// Fetch message number `index` (0-based), then call [`Session::retrieved`].
    Retrieve {
        index: usize,
        top: Option<usize>,
    },
    /// QUIT in the transaction state: delete the messages marked (UIDs), then call
    /// [`Session::updated`].
    Update(Vec<u32>),
    /// Send and close.
    Close(String),
    /// Send this, start TLS, then call [`Session::tls_started`] (RFC 2595 STLS).
    StartTls(String),
}

/// Why a login did not give a maildrop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginError {
    BadCredentials,
    RateLimited,
    InUse,
    Unavailable,
}

enum State {
    Authorization { user: Option<String>, sasl: bool },
    Transaction,
}

pub struct Session {
    state: State,
    drop: Vec<Entry>,
    uidvalidity: u32,
    errors: u32,
    /// A pending RETR/TOP: how many body lines TOP asked for.
    top: Option<usize>,
    /// STLS can be offered (a certificate is configured).
    tls: bool,
    /// The connection is encrypted.
    secure: bool,
    /// Passwords may be sent without TLS (the client is on this machine).
    cleartext_ok: bool,
}

const CAPA: &str = "+OK Capability list follows\r\nUSER\r\nSASL PLAIN\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n\
                    AUTH-RESP-CODE\r\nPIPELINING\r\nIMPLEMENTATION Kontor\r\n.\r\n";
const MAX_ERRORS: u32 = 10;

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

/// Messages from this size on are written from the stored bytes instead of a framed copy.
const UNCOPIED: usize = 16 << 10;

/// Whether a message goes out as stored: every line ends in CRLF (the last may end in
/// nothing), and none starts with a dot.
fn sent_as_is(bytes: &[u8]) -> bool {
    bytes.first() != Some(&b'.')
        && bytes.last() != Some(&b'\r')
        && memchr::memchr_iter(b'\n', bytes)
            .all(|at| at > 0 && bytes[at - 1] == b'\r' && bytes.get(at + 1) != Some(&b'.'))
}

/// The lines of a message, dot-stuffed, each ending in CRLF (`top`: the header, the blank line
/// and that many body lines).
fn stuff(out: &mut Vec<u8>, bytes: &[u8], top: Option<usize>) {
    let mut in_body = false;
    let mut body_lines = 0;
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    for line in text.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if in_body && let Some(max) = top {
            if body_lines >= max {
                break;
            }
            body_lines += 1;
        }
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        if line.is_empty() {
            in_body = true;
        }
    }
}

impl Session {
    pub fn new() -> Self {
        Self {
            state: State::Authorization { user: None, sasl: false },
            drop: Vec::new(),
            uidvalidity: 0,
            errors: 0,
            top: None,
            tls: false,
            secure: false,
            cleartext_ok: false,
        }
    }

    /// Allows logins without TLS (for a client on this machine: loopback, or a local TLS proxy).
    pub fn allow_cleartext(&mut self, on: bool) {
        self.cleartext_ok = on;
    }

    /// Whether a password may be sent now (RFC 2595 §2.3: not in the clear).
    fn may_log_in(&self) -> bool {
        self.secure || self.cleartext_ok
    }

    /// Offers STLS when `on` (and the connection is not encrypted yet).
    pub fn offer_tls(&mut self, on: bool) {
        self.tls = on;
    }

    /// TLS is up: the client logs in from the start (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.secure = true;
        self.state = State::Authorization { user: None, sasl: false };
    }

    pub fn greeting() -> &'static str {
        "+OK Kontor POP3 ready\r\n"
    }

    fn err(&mut self, msg: &str) -> Step {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            return Step::Close("-ERR Too many errors, closing the connection\r\n".into());
        }
        Step::Reply(format!("-ERR {msg}\r\n"))
    }

    /// One line from the client, without its CRLF.
    pub fn line(&mut self, line: &str) -> Step {
        if let State::Authorization { sasl: true, .. } = self.state {
            self.state = State::Authorization { user: None, sasl: false };
            return self.sasl_plain(line.trim());
        }
        let mut parts = line.trim_end().splitn(2, ' ');
        let cmd = parts.next().unwrap_or_default().to_ascii_uppercase();
        let arg = parts.next().unwrap_or_default().trim();
        let may_log_in = self.may_log_in();
        match (&mut self.state, cmd.as_str()) {
            (_, "CAPA") => {
                let mut capa = CAPA.to_owned();
                if !may_log_in {
                    capa = capa.replace("USER\r\nSASL PLAIN\r\n", "");
                }
                if self.tls && !self.secure {
                    capa = capa.replace("\r\n.\r\n", "\r\nSTLS\r\n.\r\n");
                }
                Step::Reply(capa)
            }
            (State::Authorization { .. }, "USER" | "PASS" | "AUTH") if !may_log_in => {
                self.err("Log in over TLS: use STLS first")
            }
            (State::Authorization { .. }, "QUIT") => Step::Close("+OK Bye\r\n".into()),
            (State::Authorization { user, .. }, "USER") => {
                if arg.is_empty() {
                    return self.err("USER needs a name");
                }
                *user = Some(arg.to_owned());
                Step::Reply("+OK Send the password\r\n".into())
            }
            (State::Authorization { user, .. }, "PASS") => match user.take() {
                Some(user) => Step::Login { user, password: arg.to_owned() },
                None => self.err("USER first"),
            },
            (State::Authorization { .. }, "AUTH") => {
                let mut a = arg.splitn(2, ' ');
                let mech = a.next().unwrap_or_default();
                let initial = a.next().map(str::trim);
                if mech.is_empty() {
                    return Step::Reply("+OK\r\nPLAIN\r\n.\r\n".into());
                }
                if !mech.eq_ignore_ascii_case("PLAIN") {
                    return self.err("Unsupported SASL mechanism");
                }
                match initial {
                    Some(resp) => self.sasl_plain(resp),
                    None => {
                        self.state = State::Authorization { user: None, sasl: true };
                        Step::Reply("+ \r\n".into())
                    }
                }
            }
            (State::Authorization { .. }, "STLS") if self.secure => self.err("TLS is already active"),
            (State::Authorization { user: None, .. }, "STLS") if self.tls => {
                Step::StartTls("+OK Begin TLS negotiation\r\n".into())
            }
            (State::Authorization { .. }, "STLS") => self.err("TLS is not available"),
            (State::Authorization { .. }, "APOP") => self.err("APOP is not supported"),
            (State::Authorization { .. }, _) => self.err("Log in first"),
            (State::Transaction, cmd) => self.transaction(cmd, arg),
        }
    }

    fn sasl_plain(&mut self, resp: &str) -> Step {
        if resp == "*" {
            return self.err("Authentication cancelled");
        }
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(resp) else {
            return self.err("Bad base64");
        };
        // authzid NUL authcid NUL password; an authzid other than the user is not offered.
        let mut fields = raw.split(|b| *b == 0);
        let (Some(authz), Some(user), Some(password), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return self.err("Bad PLAIN response");
        };
        let (Ok(authz), Ok(user), Ok(password)) =
            (std::str::from_utf8(authz), std::str::from_utf8(user), std::str::from_utf8(password))
        else {
            return self.err("Bad PLAIN response");
        };
        if !authz.is_empty() && authz != user {
            return Step::Reply("-ERR [AUTH] Logging in as another user is not allowed\r\n".into());
        }
        Step::Login { user: user.to_owned(), password: password.to_owned() }
    }

    /// The answer to [`Step::Login`]: the maildrop (by UID) and its UIDVALIDITY, or why not.
    pub fn logged_in(&mut self, r: Result<(Vec<Entry>, u32), LoginError>) -> Step {
        match r {
            Ok((drop, uidvalidity)) => {
                self.drop = drop;
                self.uidvalidity = uidvalidity;
                self.state = State::Transaction;
                let (n, size) = self.totals();
                Step::Reply(format!("+OK Maildrop has {n} messages ({size} octets)\r\n"))
            }
            Err(LoginError::BadCredentials) => self.err("[AUTH] Invalid login or password"),
            Err(LoginError::RateLimited) => {
                Step::Reply("-ERR [SYS/TEMP] Too many failed logins; try again later\r\n".into())
            }
            Err(LoginError::InUse) => Step::Reply("-ERR [IN-USE] The maildrop is open in another session\r\n".into()),
            Err(LoginError::Unavailable) => {
                Step::Reply("-ERR [SYS/TEMP] Temporary failure; try again later\r\n".into())
            }
        }
    }

    fn totals(&self) -> (usize, u64) {
        let live = self.drop.iter().filter(|e| !e.deleted);
        live.fold((0, 0), |(n, s), e| (n + 1, s + e.size))
    }

    /// A message number (1-based) of a message not marked deleted.
    fn number(&self, arg: &str) -> Option<usize> {
        let n: usize = arg.split(' ').next()?.parse().ok()?;
        let i = n.checked_sub(1)?;
        self.drop.get(i).filter(|e| !e.deleted).map(|_| i)
    }

    fn transaction(&mut self, cmd: &str, arg: &str) -> Step {
        match cmd {
            "NOOP" => Step::Reply("+OK\r\n".into()),
            "STAT" => {
                let (n, size) = self.totals();
                Step::Reply(format!("+OK {n} {size}\r\n"))
            }
            "LIST" | "UIDL" => {
                let show = |i: usize, e: &Entry| {
                    if cmd == "LIST" {
                        format!("{} {}", i + 1, e.size)
                    } else {
                        format!("{} {}.{}", i + 1, self.uidvalidity, e.uid)
                    }
                };
                if arg.is_empty() {
                    let mut out = String::from("+OK\r\n");
                    for (i, e) in self.drop.iter().enumerate().filter(|(_, e)| !e.deleted) {
                        out.push_str(&show(i, e));
                        out.push_str("\r\n");
                    }
                    out.push_str(".\r\n");
                    Step::Reply(out)
                } else {
                    match self.number(arg) {
                        Some(i) => Step::Reply(format!("+OK {}\r\n", show(i, &self.drop[i]))),
                        None => self.err("No such message"),
                    }
                }
            }
            "RETR" => match self.number(arg) {
                Some(index) => {
                    self.top = None;
                    Step::Retrieve { index, top: None }
                }
                None => self.err("No such message"),
            },
            "TOP" => {
                let mut a = arg.split(' ');
                let (n, lines) = (a.next().unwrap_or_default(), a.next().and_then(|l| l.parse::<usize>().ok()));
                match (self.number(n), lines) {
                    (Some(index), Some(lines)) => {
                        self.top = Some(lines);
                        Step::Retrieve { index, top: Some(lines) }
                    }
                    _ => self.err("TOP needs a message number and a line count"),
                }
            }
            "DELE" => match self.number(arg) {
                Some(i) => {
                    self.drop[i].deleted = true;
                    Step::Reply(format!("+OK Message {} deleted\r\n", i + 1))
                }
                None => self.err("No such message"),
            },
            "RSET" => {
                for e in &mut self.drop {
                    e.deleted = false;
                }
                let (n, size) = self.totals();
                Step::Reply(format!("+OK Maildrop has {n} messages ({size} octets)\r\n"))
            }
            "QUIT" => Step::Update(self.drop.iter().filter(|e| e.deleted).map(|e| e.uid).collect()),
            "USER" | "PASS" | "AUTH" => self.err("Already logged in"),
            _ => self.err("Unknown command"),
        }
    }

    /// The answer to [`Step::Retrieve`]: the message's bytes, sent dot-stuffed with CRLF line
    /// ends (TOP: the header, the blank line and that many body lines).
    pub fn retrieved(&mut self, r: Option<bytes::Bytes>) -> Step {
        let Some(bytes) = r else {
            return Step::Reply("-ERR [SYS/TEMP] The message cannot be read now\r\n".into());
        };
        let top = self.top.take();
        let head = format!("+OK {} octets\r\n", bytes.len());
        if top.is_none() && sent_as_is(&bytes) {
            let tail: &'static [u8] = if bytes.ends_with(b"\n") { b".\r\n" } else { b"\r\n.\r\n" };
            // A large message is not copied; a small one goes out in one write.
            if bytes.len() >= UNCOPIED {
                return Step::Message { head, body: bytes, tail };
            }
            let mut out = Vec::with_capacity(head.len() + bytes.len() + tail.len());
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(&bytes);
            out.extend_from_slice(tail);
            return Step::Data(out);
        }
        let mut out = Vec::with_capacity(bytes.len() + 64);
        out.extend_from_slice(head.as_bytes());
        stuff(&mut out, &bytes, top);
        out.extend_from_slice(b".\r\n");
        Step::Data(out)
    }

    /// The answer to [`Step::Update`].
    pub fn updated(&mut self, ok: bool) -> Step {
        if ok {
            Step::Close("+OK Bye\r\n".into())
        } else {
            Step::Close("-ERR [SYS/TEMP] Some deleted messages could not be removed\r\n".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Session, Step};

    /// Messages sent as stored are what dot-stuffing line by line makes of them.
    #[test]
    fn messages_sent_as_is_are_stuffed_alike() {
        let cases: [&[u8]; 12] = [
            b"",
            b"a\r\nb\r\n",
            b"a\r\nb",
            b"a\r\nb\r",
            b"a\nb\r\n",
            b".a\r\n",
            b"a\r\n.b\r\n",
            b"a\r\n\r\n..\r\n",
            b"\r\n",
            b"\n",
            b"a\r\r\nb\r\n",
            b"Subject: x\r\n\r\nbody.\r\n",
        ];
        let mut fast = 0;
        for bytes in cases {
            let mut slow = Vec::new();
            super::stuff(&mut slow, bytes, None);
            if super::sent_as_is(bytes) {
                fast += 1;
                let mut as_is = bytes.to_vec();
                if !bytes.ends_with(b"\n") {
                    as_is.extend_from_slice(b"\r\n");
                }
                assert_eq!(as_is, slow, "{:?}", String::from_utf8_lossy(bytes));
            }
        }
        assert_eq!(fast, 6);
    }

    fn reply(s: &mut Session, line: &str) -> String {
        match s.line(line) {
            Step::Reply(r) | Step::Close(r) | Step::StartTls(r) => r,
            Step::Login { user, .. } => format!("LOGIN {user}"),
            _ => String::new(),
        }
    }

    #[test]
    fn passwords_wait_for_tls_from_other_machines() {
        let mut s = Session::new();
        s.offer_tls(true);
        let capa = reply(&mut s, "CAPA");
        assert!(capa.contains("STLS") && !capa.contains("USER") && !capa.contains("SASL"), "{capa}");
        assert!(reply(&mut s, "USER ann@example.com").starts_with("-ERR Log in over TLS"));
        assert!(reply(&mut s, "AUTH PLAIN AGFubgBwdw==").starts_with("-ERR Log in over TLS"));
        assert!(reply(&mut s, "STLS").starts_with("+OK Begin TLS"));
        s.tls_started();
        let capa = reply(&mut s, "CAPA");
        assert!(capa.contains("USER") && !capa.contains("STLS"), "{capa}");
        assert!(reply(&mut s, "USER ann@example.com").starts_with("+OK"));
        assert_eq!(reply(&mut s, "PASS secret"), "LOGIN ann@example.com");
        // From this machine, passwords may come in the clear.
        let mut local = Session::new();
        local.allow_cleartext(true);
        assert!(reply(&mut local, "USER ann@example.com").starts_with("+OK"));
    }
}
