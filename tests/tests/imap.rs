//! IMAP, first part (reading), on SQLite and PostgreSQL: mail delivered over SMTP is read with
//! Python's imaplib (a real client: LOGIN and AUTHENTICATE PLAIN, LIST with special use,
//! STATUS, SELECT, SEARCH, FETCH and UID FETCH of sections and partials) and over a raw socket
//! for the protocol's edges (literals, garbage, states).

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{Server, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

both_stores!(
    a_real_client_reads_the_mailbox,
    protocol_edges_over_a_raw_socket,
    flags_seen_and_expunge,
    copy_move_and_append,
    idle_wakes_on_changes_from_any_protocol,
    noop_reports_every_change_and_nothing_else,
    mailboxes_are_created_renamed_and_deleted,
    search_criteria,
    condstore_modseqs,
    connections_per_address_are_limited,
    searchres_saves_a_result_for_later_commands,
    compress_deflate_both_ways,
    a_long_fetch_comes_in_pieces_whole_and_in_order
);

fn setup(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["user", "add", "ann@example.com", "--password-stdin"], Some("anns password\n"));
}

async fn deliver(server: &Server, messages: &[&str]) {
    support::deliver(server, "ann@example.com", messages).await;
}

const MULTIPART: &str = "From: Carol <carol@elsewhere.org>\r\nTo: ann@example.com\r\nSubject: Report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--";

async fn a_real_client_reads_the_mailbox(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(
        &server,
        &["From: =?utf-8?q?D=C3=A4ve_=E6=9D=8E?= <dave@elsewhere.org>\r\nSubject: Hello\r\n\r\nfirst body", MULTIPART],
    )
    .await;
    let python = std::env::var("KONTOR_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import imaplib, sys, json, base64
host, port = sys.argv[1], int(sys.argv[2])
out = {}
m = imaplib.IMAP4(host, port, timeout=30)
out["caps"] = sorted(m.capabilities)
try:
    m.login("ann@example.com", "wrong")
    out["bad_login"] = "accepted"
except imaplib.IMAP4.error as e:
    out["bad_login"] = str(e)
m.authenticate("PLAIN", lambda _: b"\0ann@example.com\0anns password")
typ, boxes = m.list()
out["list"] = [b.decode() for b in boxes]
typ, st = m.status("INBOX", "(MESSAGES UIDNEXT UNSEEN)")
out["status"] = st[0].decode()
typ, data = m.select("INBOX", readonly=True)
out["exists"] = data[0].decode()
typ, data = m.search(None, "ALL")
out["search"] = data[0].decode()
typ, data = m.uid("SEARCH", None, "UID", "2:*")
out["uid_search"] = data[0].decode()
typ, data = m.fetch("1:2", "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
out["bodies"] = [base64.b64encode(part[1]).decode() for part in data if isinstance(part, tuple)]
out["fetch_meta"] = [part[0].decode() for part in data if isinstance(part, tuple)]
typ, data = m.uid("FETCH", "2", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[]<0.4>)")
out["sections"] = [[part[0].decode(), part[1].decode()] for part in data if isinstance(part, tuple)]
typ, data = m.fetch("2", "(ENVELOPE BODYSTRUCTURE)")
out["structure"] = data[0].decode()
# A name that is not ASCII comes as encoded words in a quoted string (no literal), as the header had it.
import re, email.header
typ, data = m.fetch("1", "(ENVELOPE)")
line = data[0].decode() if isinstance(data[0], bytes) else "a literal"
name = re.search(r'\(\("([^"]*)" NIL "dave" "elsewhere.org"\)\)', line)
out["name"] = str(email.header.make_header(email.header.decode_header(name.group(1)))) if name else line
m.close()
m.logout()
print(json.dumps(out))
"#;
    let run = std::process::Command::new(&python)
        .args(["-c", script, "127.0.0.1", &server.imap_addr().port().to_string()])
        .output()
        .expect("python runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let out: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(out["caps"].as_array().unwrap().iter().any(|c| c == "IMAP4REV1"), "{out}");
    assert!(out["bad_login"].as_str().unwrap().contains("AUTHENTICATIONFAILED"), "{out}");
    let list: Vec<&str> = out["list"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(list.iter().any(|l| l.contains("\"INBOX\"")), "{list:?}");
    assert!(list.iter().any(|l| l.contains("\\Sent") && l.ends_with("\"Sent\"")), "{list:?}");
    assert!(list.iter().any(|l| l.contains("\\Trash") && l.ends_with("\"Trash\"")), "{list:?}");
    assert_eq!(out["status"], "\"INBOX\" (MESSAGES 2 UIDNEXT 3 UNSEEN 2)");
    assert_eq!(out["exists"], "2");
    assert_eq!(out["search"], "1 2");
    assert_eq!(out["uid_search"], "2");
    let bodies: Vec<Vec<u8>> = out["bodies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(b.as_str().unwrap()).unwrap()
        })
        .collect();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[0].starts_with(b"Received: ") && bodies[0].ends_with(b"\r\n\r\nfirst body\r\n"));
    let meta = out["fetch_meta"][0].as_str().unwrap();
    assert!(meta.contains("UID 1") && meta.contains("FLAGS ()"), "{meta}");
    let size: usize = meta.split("RFC822.SIZE ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert_eq!(size, bodies[0].len(), "RFC822.SIZE is the size of BODY[]");
    let sections = out["sections"].as_array().unwrap();
    assert_eq!(sections[0][1], "See attached.", "{sections:?}");
    assert_eq!(sections[1][1], "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    assert_eq!(sections[2][1], "Subject: Report\r\n\r\n");
    assert!(sections[3][0].as_str().unwrap().contains("BODY[]<0>"), "{sections:?}");
    assert_eq!(sections[3][1], "Rece");
    let structure = out["structure"].as_str().unwrap();
    assert!(
        structure.contains("ENVELOPE (NIL \"Report\" ((\"Carol\" NIL \"carol\" \"elsewhere.org\"))"),
        "{structure}"
    );
    assert!(structure.contains("((NIL NIL \"ann\" \"example.com\"))"), "{structure}");
    assert_eq!(out["name"], "Däve 李", "{out}");
    assert!(structure.contains("BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL)(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 4 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"b\")"), "{structure}");
}

struct Raw {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn open(server: &Server) -> Self {
        let (r, w) = TcpStream::connect(server.imap_addr()).await.unwrap().into_split();
        let mut raw = Self { reader: BufReader::new(r), writer: w };
        assert!(raw.line().await.starts_with("* OK "));
        raw
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line)).await.unwrap().unwrap();
        assert!(n > 0, "closed");
        line
    }

    /// Sends a command; returns every line up to and including the tagged one.
    async fn cmd(&mut self, tag: &str, text: &str) -> Vec<String> {
        self.writer.write_all(format!("{tag} {text}\r\n").as_bytes()).await.unwrap();
        let mut lines = Vec::new();
        loop {
            let l = self.line().await;
            let done = l.starts_with(&format!("{tag} "));
            lines.push(l);
            if done {
                return lines;
            }
        }
    }
}

async fn protocol_edges_over_a_raw_socket(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, &["Subject: one\r\n\r\nbody"]).await;
    let mut c = Raw::open(&server).await;
    assert!(c.cmd("a1", "SELECT INBOX").await.last().unwrap().starts_with("a1 BAD"), "not logged in");
    assert!(c.cmd("a2", "FROBNICATE").await.last().unwrap().starts_with("a2 BAD"));
    c.writer.write_all(b"\xff\xfe garbage (((\r\n").await.unwrap();
    assert!(c.line().await.contains(" BAD "), "garbage gets BAD and the session goes on");
    // A synchronizing literal gets a continuation; LITERAL+ does not.
    c.writer.write_all(b"a3 LOGIN {15}\r\n").await.unwrap();
    assert!(c.line().await.starts_with("+ "));
    c.writer.write_all(b"ann@example.com {13+}\r\nanns password\r\n").await.unwrap();
    assert!(c.line().await.starts_with("a3 OK"), "logged in with literals");
    let sel = c.cmd("a4", "EXAMINE inbox").await;
    assert!(sel.iter().any(|l| l == "* 1 EXISTS\r\n"), "{sel:?}");
    assert!(sel.iter().any(|l| l.starts_with("* OK [UIDVALIDITY ")), "{sel:?}");
    assert!(sel.last().unwrap().starts_with("a4 OK [READ-ONLY]"), "{sel:?}");
    assert!(c.cmd("a5", "FETCH 5 FLAGS").await.last().unwrap().starts_with("a5 BAD"), "no such message");
    assert!(c.cmd("a6", "FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)").await.last().unwrap().starts_with("a6 BAD"));
    let f = c.cmd("a7", "FETCH 1 (INTERNALDATE RFC822.SIZE)").await;
    assert!(f[0].starts_with("* 1 FETCH (INTERNALDATE \"") && f[0].contains("RFC822.SIZE "), "{f:?}");
    assert!(c.cmd("a8", "SELECT Nowhere").await.last().unwrap().starts_with("a8 NO [NONEXISTENT]"));
    assert!(c.cmd("a9", "FETCH 1 FLAGS").await.last().unwrap().starts_with("a9 BAD"), "a failed SELECT unselects");
    let bye = c.cmd("a10", "LOGOUT").await;
    assert!(bye[0].starts_with("* BYE") && bye[1].starts_with("a10 OK"), "{bye:?}");
}

/// STORE and EXPUNGE: flags persist and show in other sessions, reading a body sets \\Seen,
/// EXAMINE is read-only, EXPUNGE removes what is marked \\Deleted and numbers stay right.
async fn flags_seen_and_expunge(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, &["Subject: one\r\n\r\n1", "Subject: two\r\n\r\n2", "Subject: three\r\n\r\n3"]).await;
    let mut c = Raw::open(&server).await;
    assert!(c.cmd("a1", "LOGIN ann@example.com \"anns password\"").await.last().unwrap().starts_with("a1 OK"));
    let ro = c.cmd("a2", "EXAMINE INBOX").await;
    assert!(ro.iter().any(|l| l.starts_with("* OK [PERMANENTFLAGS ()]")), "{ro:?}");
    assert!(c.cmd("a3", "STORE 1 +FLAGS (\\Flagged)").await.last().unwrap().starts_with("a3 NO [READ-ONLY]"));
    let f = c.cmd("a4", "FETCH 1 (FLAGS BODY[TEXT])").await;
    assert!(f[0].contains("FLAGS ()"), "EXAMINE does not set \\Seen: {f:?}");
    let rw = c.cmd("a5", "SELECT INBOX").await;
    assert!(rw.iter().any(|l| l.starts_with("* OK [PERMANENTFLAGS (\\Answered")), "{rw:?}");
    assert!(rw.last().unwrap().starts_with("a5 OK [READ-WRITE]"));
    let st = c.cmd("a6", "STORE 1:2 +FLAGS (\\Flagged $Important)").await;
    assert_eq!(st[0], "* 1 FETCH (FLAGS (\\Flagged $important))\r\n", "{st:?}");
    assert_eq!(st.len(), 3, "{st:?}");
    let st = c.cmd("a7", "UID STORE 2 -FLAGS.SILENT (\\Flagged)").await;
    assert_eq!(st.len(), 1, "silent: {st:?}");
    let f = c.cmd("a8", "FETCH 3 BODY[]").await;
    assert!(f.iter().any(|l| l.contains("FLAGS (\\Seen)")), "reading a body sets \\Seen: {f:?}");
    // Another session sees the flags (they are stored, not kept in the session).
    let mut d = Raw::open(&server).await;
    assert!(d.cmd("b1", "LOGIN ann@example.com \"anns password\"").await.last().unwrap().starts_with("b1 OK"));
    assert!(d.cmd("b2", "EXAMINE INBOX").await.last().unwrap().starts_with("b2 OK"));
    let flags = d.cmd("b3", "FETCH 1:3 FLAGS").await;
    assert_eq!(
        flags[..3],
        [
            "* 1 FETCH (FLAGS (\\Flagged $important))\r\n",
            "* 2 FETCH (FLAGS ($important))\r\n",
            "* 3 FETCH (FLAGS (\\Seen))\r\n"
        ]
    );
    // EXPUNGE the first and third: highest number first.
    assert!(c.cmd("a9", "STORE 1,3 +FLAGS.SILENT (\\Deleted)").await.last().unwrap().starts_with("a9 OK"));
    let ex = c.cmd("a10", "EXPUNGE").await;
    assert_eq!(ex[..2], ["* 3 EXPUNGE\r\n", "* 1 EXPUNGE\r\n"], "{ex:?}");
    let left = c.cmd("a11", "FETCH 1:* (UID FLAGS)").await;
    assert_eq!(left[0], "* 1 FETCH (UID 2 FLAGS ($important))\r\n", "{left:?}");
    assert!(c.cmd("a12", "FETCH 2 FLAGS").await.last().unwrap().starts_with("a12 BAD"), "only one is left");
    assert!(c.cmd("a13", "LOGOUT").await.last().unwrap().starts_with("a13 OK"));
    let stored = store.ok(&["mailbox", "messages", "ann@example.com"], None);
    assert_eq!(stored.lines().count(), 1, "{stored}");
    assert!(stored.ends_with("\ttwo\n"), "{stored}");
}

/// COPY files the same message in a second mailbox (flags are the message's), MOVE takes it
/// out of this one, APPEND stores a client's message; UIDPLUS codes tell the new UIDs.
async fn copy_move_and_append(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, &["Subject: keep\r\n\r\n1", "Subject: bin\r\n\r\n2"]).await;
    let mut c = Raw::open(&server).await;
    assert!(c.cmd("a1", "LOGIN ann@example.com \"anns password\"").await.last().unwrap().starts_with("a1 OK"));
    assert!(c.cmd("a2", "SELECT INBOX").await.last().unwrap().starts_with("a2 OK"));
    let st = c.cmd("s", "STATUS Archive (UIDVALIDITY)").await;
    let archive: String = st[0].split("UIDVALIDITY ").nth(1).unwrap().trim_end_matches(")\r\n").to_owned();
    let copy = c.cmd("a3", "UID COPY 1 Archive").await;
    assert_eq!(copy.last().unwrap(), &format!("a3 OK [COPYUID {archive} 1 1] UID COPY completed\r\n"));
    assert!(c.cmd("a4", "COPY 1 Nowhere").await.last().unwrap().starts_with("a4 NO [TRYCREATE]"));
    let mv = c.cmd("a5", "MOVE 2 Trash").await;
    assert!(mv[0].starts_with("* OK [COPYUID "), "{mv:?}");
    assert_eq!(mv[1], "* 2 EXPUNGE\r\n");
    assert!(mv[2].starts_with("a5 OK"), "{mv:?}");
    // The copy is the same message: a flag set here shows there.
    assert!(c.cmd("a6", "STORE 1 +FLAGS.SILENT (\\Flagged)").await.last().unwrap().starts_with("a6 OK"));
    // APPEND into the selected mailbox announces it; into Drafts with flags and a date.
    let msg = "Subject: draft\r\n\r\nnot sent yet\r\n";
    c.writer
        .write_all(
            format!("a7 APPEND Drafts (\\Draft) \"23-Nov-2026 10:00:00 +0100\" {{{}}}\r\n", msg.len()).as_bytes(),
        )
        .await
        .unwrap();
    assert!(c.line().await.starts_with("+ "));
    c.writer.write_all(format!("{msg}\r\n").as_bytes()).await.unwrap();
    let r = c.line().await;
    assert!(r.starts_with("a7 OK [APPENDUID ") && r.contains(" 1] APPEND"), "{r}");
    c.writer.write_all(format!("a8 APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len()).as_bytes()).await.unwrap();
    assert_eq!(c.line().await, "* 2 EXISTS\r\n");
    assert!(c.line().await.starts_with("a8 OK [APPENDUID "));
    assert!(c.cmd("a9", "APPEND Nowhere {1+}\r\nx").await.last().unwrap().starts_with("a9 NO [TRYCREATE]"));
    let ex = c.cmd("a10", "EXAMINE Archive").await;
    assert!(ex.iter().any(|l| l == "* 1 EXISTS\r\n"), "{ex:?}");
    assert_eq!(c.cmd("a11", "FETCH 1 FLAGS").await[0], "* 1 FETCH (FLAGS (\\Flagged))\r\n");
    let dr = c.cmd("a12", "EXAMINE Drafts").await;
    assert!(dr.iter().any(|l| l == "* 1 EXISTS\r\n"), "{dr:?}");
    let f = c.cmd("a13", "FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[TEXT])").await;
    assert!(f[0].contains("FLAGS (\\Draft)") && f[0].contains("INTERNALDATE \"23-Nov-2026 09:00:00 +0000\""), "{f:?}");
    let count = |b: &str| store.ok(&["mailbox", "messages", "ann@example.com", b], None).lines().count();
    assert_eq!((count("INBOX"), count("Archive"), count("Trash"), count("Drafts")), (2, 1, 1, 1));
}

/// IDLE reports a delivery over SMTP, a flag set in another IMAP session and an expunge made
/// over POP3, as they happen; NOOP reports what changed too.
async fn idle_wakes_on_changes_from_any_protocol(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, &["Subject: first\r\n\r\n1"]).await;
    let mut c = Raw::open(&server).await;
    assert!(c.cmd("a1", "LOGIN ann@example.com \"anns password\"").await.last().unwrap().starts_with("a1 OK"));
    assert!(c.cmd("a2", "SELECT INBOX").await.last().unwrap().starts_with("a2 OK"));
    c.writer.write_all(b"a3 IDLE\r\n").await.unwrap();
    assert!(c.line().await.starts_with("+ "));
    deliver(&server, &["Subject: second\r\n\r\n2"]).await;
    assert_eq!(c.line().await, "* 2 EXISTS\r\n", "a delivery over SMTP wakes IDLE");
    let mut other = Raw::open(&server).await;
    assert!(other.cmd("b1", "LOGIN ann@example.com \"anns password\"").await.last().unwrap().starts_with("b1 OK"));
    assert!(other.cmd("b2", "SELECT INBOX").await.last().unwrap().starts_with("b2 OK"));
    assert!(other.cmd("b3", "STORE 1 +FLAGS.SILENT (\\Flagged)").await.last().unwrap().starts_with("b3 OK"));
    assert_eq!(c.line().await, "* 1 FETCH (UID 1 FLAGS (\\Flagged))\r\n", "another session's STORE");
    assert!(other.cmd("b4", "LOGOUT").await.last().unwrap().starts_with("b4 OK"));
    c.writer.write_all(b"DONE\r\n").await.unwrap();
    assert_eq!(c.line().await, "a3 OK IDLE terminated\r\n");
    // POP3 deletes the first message; NOOP tells.
    let (r, mut w) = TcpStream::connect(server.pop3_addr()).await.unwrap().into_split();
    let mut r = BufReader::new(r);
    for cmd in ["", "USER ann@example.com\r\n", "PASS anns password\r\n", "DELE 1\r\n", "QUIT\r\n"] {
        w.write_all(cmd.as_bytes()).await.unwrap();
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("+OK"), "{cmd}: {line}");
    }
    let noop = c.cmd("a4", "NOOP").await;
    assert_eq!(noop[0], "* 1 EXPUNGE\r\n", "{noop:?}");
    assert_eq!(c.cmd("a5", "FETCH 1 UID").await[0], "* 1 FETCH (UID 2)\r\n");
}

/// NOOP looks at three numbers of the mailbox (count, highest UID, highest MODSEQ) before it
/// reads it again: it still reports another session's flag change made just before this
/// session's own STORE (whose MODSEQ is then the highest), an expunge balanced by a delivery
/// (same count), and nothing at all when nothing changed.
async fn noop_reports_every_change_and_nothing_else(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, &["Subject: one\r\n\r\n1", "Subject: two\r\n\r\n2"]).await;
    let login = "LOGIN ann@example.com \"anns password\"";
    let mut c = Raw::open(&server).await;
    let mut other = Raw::open(&server).await;
    for (s, t) in [(&mut c, "a"), (&mut other, "b")] {
        assert!(s.cmd(&format!("{t}1"), login).await.last().unwrap().starts_with(&format!("{t}1 OK")));
        assert!(s.cmd(&format!("{t}2"), "SELECT INBOX").await.last().unwrap().starts_with(&format!("{t}2 OK")));
    }
    let quiet = c.cmd("a3", "NOOP").await;
    assert_eq!(quiet, ["a3 OK NOOP completed\r\n"], "nothing changed");

    assert!(other.cmd("b3", "STORE 1 +FLAGS.SILENT (\\Flagged)").await.last().unwrap().starts_with("b3 OK"));
    let own = c.cmd("a4", "STORE 2 +FLAGS (\\Answered)").await;
    assert_eq!(own[0], "* 2 FETCH (FLAGS (\\Answered))\r\n", "{own:?}");
    let noop = c.cmd("a5", "NOOP").await;
    assert_eq!(noop, ["* 1 FETCH (UID 1 FLAGS (\\Flagged))\r\n", "a5 OK NOOP completed\r\n"], "the other's flag");
    assert_eq!(c.cmd("a6", "NOOP").await, ["a6 OK NOOP completed\r\n"], "reported once");

    // One out, one in: the count is the same.
    assert!(other.cmd("b4", "STORE 1 +FLAGS.SILENT (\\Deleted)").await.last().unwrap().starts_with("b4 OK"));
    assert!(other.cmd("b5", "EXPUNGE").await.last().unwrap().starts_with("b5 OK"));
    deliver(&server, &["Subject: three\r\n\r\n3"]).await;
    let noop = c.cmd("a7", "NOOP").await;
    assert_eq!(noop, ["* 1 EXPUNGE\r\n", "* 2 EXISTS\r\n", "a7 OK NOOP completed\r\n"]);
    assert_eq!(c.cmd("a8", "FETCH 1:* UID").await[..2], ["* 1 FETCH (UID 2)\r\n", "* 2 FETCH (UID 3)\r\n"]);
    assert_eq!(c.cmd("a9", "NOOP").await, ["a9 OK NOOP completed\r\n"]);
}

/// CREATE (with missing parents), RENAME (moving in the hierarchy), DELETE (a message only
/// there goes, one filed elsewhere stays; special-use and parents are refused).
async fn mailboxes_are_created_renamed_and_deleted(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, &["Subject: both\r\n\r\n1", "Subject: only there\r\n\r\n2"]).await;
    let mut c = Raw::open(&server).await;
    assert!(c.cmd("a1", "LOGIN ann@example.com \"anns password\"").await.last().unwrap().starts_with("a1 OK"));
    assert!(c.cmd("a2", "CREATE Work/Projects").await.last().unwrap().starts_with("a2 OK"));
    assert!(c.cmd("a3", "CREATE Work/Projects").await.last().unwrap().starts_with("a3 NO [ALREADYEXISTS]"));
    let list = c.cmd("a4", "LIST \"\" Work*").await;
    assert_eq!(
        list[..2],
        ["* LIST (\\HasChildren) \"/\" \"Work\"\r\n", "* LIST (\\HasNoChildren) \"/\" \"Work/Projects\"\r\n"],
        "{list:?}"
    );
    assert_eq!(c.cmd("a5", "LIST \"\" %").await.iter().filter(|l| l.contains("Projects")).count(), 0, "% stops at /");
    assert!(c.cmd("a6", "SELECT INBOX").await.last().unwrap().starts_with("a6 OK"));
    assert!(c.cmd("a7", "COPY 1 Work/Projects").await.last().unwrap().starts_with("a7 OK"));
    assert!(c.cmd("a8", "MOVE 2 Work/Projects").await.last().unwrap().starts_with("a8 OK"));
    assert!(c.cmd("a9", "RENAME Work/Projects Old/Done").await.last().unwrap().starts_with("a9 OK"));
    let st = c.cmd("a10", "STATUS Old/Done (MESSAGES)").await;
    assert_eq!(st[0], "* STATUS \"Old/Done\" (MESSAGES 2)\r\n", "{st:?}");
    assert!(c.cmd("a11", "DELETE Old").await.last().unwrap().starts_with("a11 NO [HASCHILDREN]"));
    assert!(c.cmd("a12", "DELETE Trash").await.last().unwrap().starts_with("a12 NO [CANNOT]"));
    assert!(c.cmd("a13", "DELETE INBOX").await.last().unwrap().starts_with("a13 NO [CANNOT]"));
    let used = |store: &Store| store.ok(&["quota", "show", "ann@example.com"], None);
    let before = used(store);
    assert!(c.cmd("a14", "DELETE Old/Done").await.last().unwrap().starts_with("a14 OK"));
    assert!(c.cmd("a15", "DELETE Work").await.last().unwrap().starts_with("a15 OK"));
    assert!(c.cmd("a16", "SELECT Old/Done").await.last().unwrap().starts_with("a16 NO [NONEXISTENT]"));
    assert!(c.cmd("a17", "SELECT INBOX").await.iter().any(|l| l == "* 1 EXISTS\r\n"), "the copy stays in INBOX");
    assert_ne!(used(store), before, "the message only in the deleted mailbox left the quota");
    let boxes = store.ok(&["mailbox", "list", "ann@example.com"], None);
    assert!(boxes.lines().any(|l| l.starts_with("Old\t")) && !boxes.contains("Done"), "{boxes}");
    // Subscriptions are kept: LSUB lists what is subscribed, LIST everything.
    assert!(c.cmd("a18", "UNSUBSCRIBE Junk").await.last().unwrap().starts_with("a18 OK"));
    assert!(!c.cmd("a19", "LSUB \"\" *").await.iter().any(|l| l.contains("\"Junk\"")));
    assert!(c.cmd("a20", "LIST \"\" *").await.iter().any(|l| l.contains("\"Junk\"")));
    assert!(c.cmd("a21", "SUBSCRIBE Junk").await.last().unwrap().starts_with("a21 OK"));
    assert!(c.cmd("a22", "LSUB \"\" *").await.iter().any(|l| l.contains("\"Junk\"")));
}

/// SEARCH: flags, envelope fields, header fields, text, sizes, dates, NOT/OR/parentheses.
async fn search_criteria(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(
        &server,
        &[
            "From: Carol <carol@elsewhere.org>\r\nSubject: Lunch\r\nX-Tag: blue\r\n\r\nthe needle is here",
            "From: dave@elsewhere.org\r\nSubject: Report\r\n\r\nnothing to see",
            "From: carol@elsewhere.org\r\nSubject: Re: Lunch\r\n\r\nsounds good",
        ],
    )
    .await;
    let mut c = Raw::open(&server).await;
    assert!(c.cmd("a1", "LOGIN ann@example.com \"anns password\"").await.last().unwrap().starts_with("a1 OK"));
    assert!(c.cmd("a2", "SELECT INBOX").await.last().unwrap().starts_with("a2 OK"));
    assert!(c.cmd("a3", "STORE 2 +FLAGS (\\Seen \\Flagged)").await.last().unwrap().starts_with("a3 OK"));
    let mut search = async |q: &str| -> String {
        let r = c.cmd("s", &format!("SEARCH {q}")).await;
        assert!(r.last().unwrap().starts_with("s OK"), "{q}: {r:?}");
        r[0].trim_end().to_owned()
    };
    assert_eq!(search("UNSEEN").await, "* SEARCH 1 3");
    assert_eq!(search("FLAGGED SEEN").await, "* SEARCH 2");
    assert_eq!(search("FROM carol").await, "* SEARCH 1 3");
    assert_eq!(search("SUBJECT lunch NOT SUBJECT re:").await, "* SEARCH 1");
    assert_eq!(search("OR SUBJECT report (FROM carol SUBJECT \"re:\")").await, "* SEARCH 2 3");
    assert_eq!(search("TEXT NEEDLE").await, "* SEARCH 1");
    assert_eq!(search("BODY \"sounds good\"").await, "* SEARCH 3");
    assert_eq!(search("HEADER X-Tag blue").await, "* SEARCH 1");
    assert_eq!(search("SINCE 1-Jan-2020 2:3").await, "* SEARCH 2 3");
    assert_eq!(search("BEFORE 1-Jan-2020").await, "* SEARCH");
    assert_eq!(search("LARGER 1 SMALLER 100000 UNDELETED").await, "* SEARCH 1 2 3");
    assert_eq!(search("CHARSET UTF-8 SUBJECT lunch").await, "* SEARCH 1 3");
    let uid = c.cmd("u", "UID SEARCH UNSEEN").await;
    assert_eq!(uid[0], "* SEARCH 1 3\r\n");
    // ESEARCH (RFC 4731).
    let e = c.cmd("e1", "UID SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN").await;
    assert_eq!(e[0], "* ESEARCH (TAG \"e1\") UID MIN 1 MAX 3 COUNT 2 ALL 1,3\r\n", "{e:?}");
    let e = c.cmd("e2", "SEARCH RETURN () ALL").await;
    assert_eq!(e[0], "* ESEARCH (TAG \"e2\") ALL 1:3\r\n", "{e:?}");
    let e = c.cmd("e3", "SEARCH RETURN (COUNT) SUBJECT nothing-like-this").await;
    assert_eq!(e[0], "* ESEARCH (TAG \"e3\") COUNT 0\r\n", "{e:?}");
    assert!(c.cmd("b1", "SEARCH CHARSET KOI8-R SUBJECT x").await.last().unwrap().starts_with("b1 NO [BADCHARSET"));
    assert!(c.cmd("b2", "SEARCH FROBNICATE").await.last().unwrap().starts_with("b2 BAD"));
    assert!(c.cmd("b3", "SEARCH SUBJECT").await.last().unwrap().starts_with("b3 BAD"), "missing argument");
}

/// CONDSTORE (RFC 7162): HIGHESTMODSEQ, MODSEQ per message from the one change log, FETCH
/// CHANGEDSINCE, STORE UNCHANGEDSINCE with MODIFIED, SEARCH MODSEQ.
async fn condstore_modseqs(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, &["Subject: a\r\n\r\n1", "Subject: b\r\n\r\n2"]).await;
    let mut c = Raw::open(&server).await;
    assert!(c.cmd("a1", "LOGIN ann@example.com \"anns password\"").await.last().unwrap().starts_with("a1 OK"));
    assert!(c.cmd("a2", "CAPABILITY").await[0].contains(" CONDSTORE"));
    let sel = c.cmd("a3", "SELECT INBOX (CONDSTORE)").await;
    let highest: i64 = sel
        .iter()
        .find_map(|l| l.strip_prefix("* OK [HIGHESTMODSEQ "))
        .and_then(|l| l.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{sel:?}"));
    let f = c.cmd("a4", "FETCH 1:* (UID)").await;
    let modseqs: Vec<i64> = f[..2]
        .iter()
        .map(|l| l.split("MODSEQ (").nth(1).unwrap().split(')').next().unwrap().parse().unwrap())
        .collect();
    assert!(modseqs[0] < modseqs[1] && modseqs[1] <= highest, "{f:?} {highest}");
    let st = c.cmd("a5", "STORE 1 +FLAGS.SILENT (\\Seen)").await;
    let newer: i64 = st[0].split("MODSEQ (").nth(1).unwrap().split(')').next().unwrap().parse().unwrap();
    assert!(newer > highest, "{st:?}");
    let since = c.cmd("a6", &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")).await;
    assert_eq!(since.len(), 2, "only the changed one: {since:?}");
    assert!(since[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ ("), "{since:?}");
    let guarded = c.cmd("a7", &format!("STORE 1:2 (UNCHANGEDSINCE {highest}) +FLAGS (\\Flagged)")).await;
    assert!(guarded.last().unwrap().starts_with("a7 OK [MODIFIED 1]"), "{guarded:?}");
    assert!(guarded[0].starts_with("* 2 FETCH (FLAGS (\\Flagged) MODSEQ ("), "{guarded:?}");
    let s = c.cmd("a8", &format!("SEARCH MODSEQ {}", highest + 1)).await;
    assert_eq!(s[0], "* SEARCH 1 2\r\n");
    // QUOTA (RFC 9208): one root per account.
    let q = c.cmd("a9", "GETQUOTAROOT INBOX").await;
    assert_eq!(q[..2], ["* QUOTAROOT \"INBOX\" \"\"\r\n", "* QUOTA \"\" ()\r\n"], "unlimited: {q:?}");
    store.ok(&["quota", "set", "ann@example.com", "1MiB"], None);
    let q = c.cmd("b1", "GETQUOTA \"\"").await;
    assert_eq!(q[0], "* QUOTA \"\" (STORAGE 1 1024)\r\n", "{q:?}");
}

/// One address may hold `imap.max_per_address` connections; one more is told BYE, and a slot
/// comes back when a connection ends.
async fn connections_per_address_are_limited(store: &Store) {
    setup(store);
    let server = Server::start(store, &[("KONTOR_IMAP_MAX_PER_ADDRESS", "2")]);
    let first = Raw::open(&server).await;
    let _second = Raw::open(&server).await;
    let (r, _w) = TcpStream::connect(server.imap_addr()).await.unwrap().into_split();
    let mut third = BufReader::new(r);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), third.read_line(&mut line)).await.unwrap().unwrap();
    assert_eq!(line, "* BYE Too many connections from your address\r\n");
    drop(first);
    let mut again = None;
    for _ in 0..100 {
        let (r, w) = TcpStream::connect(server.imap_addr()).await.unwrap().into_split();
        let mut reader = BufReader::new(r);
        let mut greeting = String::new();
        tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut greeting)).await.unwrap().unwrap();
        if greeting.starts_with("* OK ") {
            again = Some((reader, w));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a slot came back after a connection ended");
}

/// SEARCHRES (RFC 5182): SEARCH RETURN (SAVE) keeps the result as `$` for FETCH, STORE,
/// COPY, UID EXPUNGE and later SEARCHes; SAVE alone sends no ESEARCH; with MIN/MAX only those
/// are kept; a failed saving search empties `$`; expunged messages leave it.
async fn searchres_saves_a_result_for_later_commands(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, &["Subject: keep a\r\n\r\n1", "Subject: other\r\n\r\n2", "Subject: keep b\r\n\r\n3"]).await;
    let mut c = Raw::open(&server).await;
    let caps = c.cmd("a0", "CAPABILITY").await;
    assert!(caps[0].contains(" SEARCHRES"), "{caps:?}");
    assert!(c.cmd("a1", "LOGIN ann@example.com \"anns password\"").await.last().unwrap().starts_with("a1 OK"));
    assert!(c.cmd("a2", "SELECT INBOX").await.last().unwrap().starts_with("a2 OK"));
    let saved = c.cmd("a3", "SEARCH RETURN (SAVE) SUBJECT keep").await;
    assert_eq!(saved.len(), 1, "SAVE alone answers with no ESEARCH: {saved:?}");
    let fetched = c.cmd("a4", "FETCH $ (UID)").await;
    assert_eq!(fetched[..2], ["* 1 FETCH (UID 1)\r\n", "* 3 FETCH (UID 3)\r\n"], "{fetched:?}");
    let found = c.cmd("a5", "UID SEARCH UID $ NOT SUBJECT b").await;
    assert_eq!(found[0], "* SEARCH 1\r\n");
    let stored = c.cmd("a6", "STORE $ +FLAGS.SILENT (\\Flagged)").await;
    assert!(stored.last().unwrap().starts_with("a6 OK"), "{stored:?}");
    let flagged = c.cmd("a7", "SEARCH FLAGGED").await;
    assert_eq!(flagged[0], "* SEARCH 1 3\r\n");
    // With MAX, only the largest is kept; ESEARCH answers the rest.
    let esearch = c.cmd("a8", "UID SEARCH RETURN (SAVE MAX COUNT) SUBJECT keep").await;
    assert!(esearch[0].starts_with("* ESEARCH (TAG \"a8\") UID MAX 3 COUNT 2"), "{esearch:?}");
    assert_eq!(c.cmd("a9", "UID FETCH $ (UID)").await[0], "* 3 FETCH (UID 3)\r\n");
    // UID EXPUNGE $ removes exactly those; then $ names nothing.
    c.cmd("a10", "STORE 1:3 +FLAGS.SILENT (\\Deleted)").await;
    let expunged = c.cmd("a11", "UID EXPUNGE $").await;
    assert_eq!(expunged[0], "* 3 EXPUNGE\r\n", "{expunged:?}");
    assert_eq!(c.cmd("a12", "FETCH $ (UID)").await.len(), 1, "nothing left in $");
    // A failing saving search empties $.
    c.cmd("a13", "SEARCH RETURN (SAVE) ALL").await;
    assert_eq!(c.cmd("a14", "FETCH $ (UID)").await.len(), 3);
    assert!(c.cmd("a15", "SEARCH RETURN (SAVE) BEFORE notadate").await.last().unwrap().starts_with("a15 BAD"));
    assert_eq!(c.cmd("a16", "FETCH $ (UID)").await.len(), 1);
}

/// COMPRESS=DEFLATE (RFC 4978) with a client that speaks raw deflate through Python's zlib:
/// after the OK both directions are compressed (sync-flushed per response), a second
/// COMPRESS is refused, and a large FETCH comes through whole.
async fn compress_deflate_both_ways(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let big = format!("Subject: big\r\n\r\n{}", "all work and no play\r\n".repeat(5000));
    deliver(&server, &["Subject: small\r\n\r\nhello", &big]).await;
    let python = std::env::var("KONTOR_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import socket, sys, zlib
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
pending = b""
dec = None
def more():
    global pending
    data = s.recv(65536)
    assert data, "closed"
    pending += dec.decompress(data) if dec else data
def line():
    global pending
    while b"\r\n" not in pending:
        more()
    l, pending = pending.split(b"\r\n", 1)
    return l
def until(tag):
    out = []
    while True:
        l = line()
        out.append(l)
        if l.startswith(tag + b" "):
            return out
comp = None
def send(text):
    data = text.encode() + b"\r\n"
    s.sendall(comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH) if comp else data)
line()
send("a1 CAPABILITY"); caps = until(b"a1")
assert b"COMPRESS=DEFLATE" in caps[0], caps
send('a2 LOGIN ann@example.com "anns password"'); assert until(b"a2")[-1].startswith(b"a2 OK")
send("a3 COMPRESS DEFLATE"); assert until(b"a3")[-1].startswith(b"a3 OK")
comp, dec = zlib.compressobj(wbits=-15), zlib.decompressobj(wbits=-15)
send("a4 COMPRESS DEFLATE"); r = until(b"a4"); assert b"COMPRESSIONACTIVE" in r[-1], r
send("a5 SELECT INBOX"); r = until(b"a5"); assert b"* 2 EXISTS" in r, r
send("a6 FETCH 2 BODY.PEEK[TEXT]"); first = line()
size = int(first[first.rindex(b"{") + 1:-1])
while len(pending) < size:
    more()
body, pending = pending[:size], pending[size:]
rest = until(b"a6")
assert rest[-1].startswith(b"a6 OK"), rest
send("a7 LOGOUT"); until(b"a7")
print(len(body), body.count(b"all work and no play"))
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", script, &server.imap_addr().port().to_string()])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The text as delivered: the lines and the empty line before the final dot.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "110002 5000");
}

/// A FETCH answer larger than one piece (128 KiB) goes out while the command runs: every
/// message comes whole, in order, and the tagged OK last (Python's imaplib checks the framing).
/// Large bodies go out as read, small ones copied into the answer; both mixed, as partials and
/// sections, with items after them; a message whose later item fails shows no line at all.
async fn a_long_fetch_comes_in_pieces_whole_and_in_order(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    // Every third message is small; the others are 80 KB. The first has two parts.
    let repeat = |i: usize| if i.is_multiple_of(3) { 10 } else { 20_000 };
    let mut bodies: Vec<String> =
        (0..24).map(|i| format!("Subject: m{i}\r\n\r\n{}", format!("<{i:02}>").repeat(repeat(i)))).collect();
    bodies[0] = format!(
        "Subject: m0\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\n\r\n{}\r\n--b\r\n\r\nsecond part\r\n--b--\r\n",
        "<00>".repeat(10)
    );
    let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
    deliver(&server, &refs).await;
    let python = std::env::var("KONTOR_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("ann@example.com", "anns password")
m.select("INBOX", readonly=True)
want = lambda n: 10 if n % 3 == 0 else 20000
typ, data = m.fetch("1:*", "(UID BODY.PEEK[] FLAGS)")
assert typ == "OK", typ
parts = [p for p in data if isinstance(p, tuple)]
tails = [p for p in data if isinstance(p, bytes)]
assert len(tails) == 24 and all(t == b" FLAGS ())" for t in tails), tails[:3]
for n, (head, body) in enumerate(parts):
    assert head.startswith(b"%d (UID %d BODY[] {" % (n + 1, n + 1)), head
    assert b"\r\nSubject: m%d\r\n" % n in body and body.count(b"<%02d>" % n) == want(n), (n, len(body))
# A partial and a section of large messages: slices of the bytes read.
typ, data = m.fetch("2:3", "(BODY.PEEK[TEXT]<4.40000> BODY.PEEK[HEADER])")
assert typ == "OK", typ
got = [p for p in data if isinstance(p, tuple)]
assert got[0][0].startswith(b"2 (BODY[TEXT]<4> {40000}"), got[0][0]
assert got[0][1] == b"<01>" * 10000, got[0][1][:20]
assert got[1][0].startswith(b" BODY[HEADER] {"), got[1][0]
assert got[1][1].startswith(b"Subject: m1\r\n") or b"\r\nSubject: m1\r\n" in got[1][1], got[1][1]
assert got[2][1] == b"<02>" * 10000, got[2][1][:20]
# A later item that cannot be answered takes its whole line back, large body and all; the
# line of the message before it stays.
typ, data = m.fetch("1:2", "(BODY.PEEK[] BODY.PEEK[2])")
assert typ == "NO" and b"part" in data[0], (typ, data)
shown = m.untagged_responses.pop("FETCH", [])
assert len(shown) == 3 and shown[0][0].startswith(b"1 (BODY[] {"), shown
assert shown[1][0] == b" BODY[2] {11}" and shown[1][1] == b"second part" and shown[2] == b")", shown
print(len(parts), sum(len(b) for _, b in parts))
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", script, &server.imap_addr().port().to_string()])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    let (count, bytes) = printed.trim().split_once(' ').unwrap();
    assert_eq!(count, "24");
    assert!(bytes.parse::<usize>().unwrap() > 1_200_000, "{printed}");
}
