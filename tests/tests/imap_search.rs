//! IMAP SEARCH through the full-text index, on SQLite and PostgreSQL: words and substrings of
//! subjects, headers and decoded bodies (quoted-printable, base64, ISO-8859-1, HTML), case
//! folding, short needles, deleted messages, other mailboxes and accounts, and messages stored
//! before the index existed (the backfill at start and `kontor mailbox reindex`).

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{Db, Server, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

both_stores!(text_and_body_search_the_decoded_text, messages_stored_before_the_index_are_indexed);

fn setup(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["user", "add", "ann@example.com", "--password-stdin"], Some("anns password\n"));
    store.ok(&["user", "add", "bob@example.com", "--password-stdin"], Some("bobs password\n"));
}

async fn deliver(server: &Server, to: &str, messages: &[&str]) {
    support::deliver(server, to, messages).await;
}

struct Raw {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn login(server: &Server, user: &str, password: &str) -> Self {
        let (r, w) = TcpStream::connect(server.imap_addr()).await.unwrap().into_split();
        let mut raw = Self { reader: BufReader::new(r), writer: w };
        let mut greeting = String::new();
        raw.reader.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("* OK "));
        let l = raw.cmd("l", &format!("LOGIN {user} \"{password}\"")).await;
        assert!(l.last().unwrap().starts_with("l OK"), "{l:?}");
        raw
    }

    /// Sends a command; returns every line up to and including the tagged one.
    async fn cmd(&mut self, tag: &str, text: &str) -> Vec<String> {
        self.writer.write_all(format!("{tag} {text}\r\n").as_bytes()).await.unwrap();
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            let n =
                tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut l)).await.unwrap().unwrap();
            assert!(n > 0, "closed");
            let done = l.starts_with(&format!("{tag} "));
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    /// `UID SEARCH` with these criteria; the UIDs found.
    async fn search(&mut self, criteria: &str) -> String {
        let r = self.cmd("s", &format!("UID SEARCH {criteria}")).await;
        assert!(r.last().unwrap().starts_with("s OK"), "{criteria}: {r:?}");
        r[0].trim_end().strip_prefix("* SEARCH").unwrap().trim().to_owned()
    }
}

const PLAIN: &str = "From: Carol <carol@elsewhere.org>\r\nTo: ann@example.com\r\nSubject: Quarterly hello\r\nX-Tag: Blue\r\nMessage-ID: <m1@elsewhere.org>\r\n\r\nthe needle is here,\r\nand it sounds\r\n   good";
const QP: &str = "From: dave@elsewhere.org\r\nSubject: qp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 cr=C3=A8me and a wonderful=\r\nword";
// "Base64 secret: zebracorn" in base64.
const BASE64: &str = "From: dave@elsewhere.org\r\nSubject: b64\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nQmFzZTY0IHNlY3JldDogemVicmFjb3Ju";
const LATIN1: &str = "From: =?iso-8859-1?q?J=FCrgen?= <jue@elsewhere.org>\r\nSubject: =?iso-8859-1?q?K=E4se?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe aus M=FCnchen";
const HTML: &str = "From: eve@elsewhere.org\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Hello <b>World</b> &amp; friends</p></body></html>";
// A PDF attachment whose base64 decodes to "PDFSECRETWORD", and a Bcc field.
const ATTACHED: &str = "From: frank@elsewhere.org\r\nBcc: Hidden Person <hidden@example.com>\r\nSubject: attached\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe model Q7 arrives.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nUERGU0VDUkVUV09SRA==\r\n--b--";

/// UIDs in INBOX, in delivery order: PLAIN 1, QP 2, BASE64 3, LATIN1 4, HTML 5, ATTACHED 6.
async fn text_and_body_search_the_decoded_text(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, "ann@example.com", &[PLAIN, QP, BASE64, LATIN1, HTML, ATTACHED]).await;
    deliver(&server, "bob@example.com", &["Subject: bobs\r\n\r\nbob has a needle too, and zebracorn"]).await;
    let mut c = Raw::login(&server, "ann@example.com", "anns password").await;
    assert!(c.cmd("a1", "SELECT INBOX").await.last().unwrap().starts_with("a1 OK"));

    // Words, whole or not, any case, in header fields and bodies.
    assert_eq!(c.search("TEXT needle").await, "1");
    assert_eq!(c.search("TEXT NEEDLE").await, "1");
    assert_eq!(c.search("BODY eedl").await, "1", "an infix");
    assert_eq!(c.search("TEXT ello").await, "1 5", "hello in a subject and in HTML");
    assert_eq!(c.search("BODY ello").await, "5", "BODY is not the header");
    assert_eq!(c.search("TEXT quarterly").await, "1");
    assert_eq!(c.search("TEXT \"needle is here,\"").await, "1", "spaces and punctuation");
    assert_eq!(c.search("BODY \"sounds good\"").await, "1", "line breaks and runs of spaces are one space");
    assert_eq!(c.search("TEXT carol@else").await, "1");
    assert_eq!(c.search("TEXT \"<m1@elsewhere\"").await, "1");
    // Decoded bodies.
    assert_eq!(c.search("BODY wonderfulword").await, "2", "quoted-printable soft line break");
    assert_eq!(c.search("CHARSET UTF-8 BODY {6+}\r\ncrème").await, "2");
    assert_eq!(c.search("CHARSET UTF-8 TEXT {6+}\r\nCRÈME").await, "2", "non-ASCII case folding");
    assert_eq!(c.search("BODY zebracorn").await, "3", "base64");
    assert_eq!(c.search("TEXT QmFzZTY0").await, "", "the encoded form is not the text");
    assert_eq!(c.search("CHARSET UTF-8 BODY {8+}\r\nmünchen").await, "4", "ISO-8859-1");
    assert_eq!(c.search("CHARSET UTF-8 TEXT {7+}\r\nGRÜßE").await, "4");
    assert_eq!(c.search("CHARSET UTF-8 FROM {7+}\r\njürgen").await, "4", "encoded words");
    assert_eq!(c.search("CHARSET UTF-8 SUBJECT {5+}\r\nkäse").await, "4");
    assert_eq!(c.search("BODY \"world & friends\"").await, "5", "HTML as text");
    assert_eq!(c.search("BODY \"<b>\"").await, "");
    assert_eq!(c.search("TEXT pdfsecretword").await, "", "binary attachments are not indexed");
    // Short needles (fewer than three characters) still match as substrings.
    assert_eq!(c.search("BODY q7").await, "6");
    assert_eq!(c.search("CHARSET UTF-8 BODY {2+}\r\né").await, "2");
    assert_eq!(c.search("BODY \"\"").await, "1 2 3 4 5 6");
    // Other header fields.
    assert_eq!(c.search("BCC hidden").await, "6");
    assert_eq!(c.search("HEADER Bcc \"hidden person\"").await, "6");
    assert_eq!(c.search("HEADER X-Tag blue").await, "1");
    assert_eq!(c.search("HEADER X-Tag lu").await, "1");
    assert_eq!(c.search("HEADER X-Tag \"\"").await, "1");
    assert_eq!(c.search("HEADER X-Other \"\"").await, "");
    assert_eq!(c.search("HEADER Message-ID needle").await, "");
    // Combined with other keys.
    assert_eq!(c.search("OR BODY zebracorn BODY friends").await, "3 5");
    assert_eq!(c.search("NOT BODY needle").await, "2 3 4 5 6");
    assert_eq!(c.search("TEXT needle BODY needle FROM carol").await, "1");
    let e = c.cmd("e", "UID SEARCH RETURN (COUNT) TEXT elsewhere").await;
    assert_eq!(e[0], "* ESEARCH (TAG \"e\") UID COUNT 6\r\n", "{e:?}");

    // Copies in another mailbox are found there; what is only in another mailbox is not
    // found here.
    assert!(c.cmd("c1", "UID COPY 3 Archive").await.last().unwrap().starts_with("c1 OK"));
    let a = c.cmd("c2", "APPEND Archive {31+}\r\nSubject: archived\r\n\r\nneedlework").await;
    assert!(a.last().unwrap().starts_with("c2 OK"), "{a:?}");
    assert_eq!(c.search("TEXT needle").await, "1");
    assert!(c.cmd("c3", "SELECT Archive").await.last().unwrap().starts_with("c3 OK"));
    assert_eq!(c.search("TEXT needle").await, "2");
    assert_eq!(c.search("BODY zebracorn").await, "1");
    // Deleted messages are gone from the index.
    assert!(c.cmd("d1", "UID STORE 2 +FLAGS (\\Deleted)").await.last().unwrap().starts_with("d1 OK"));
    assert!(c.cmd("d2", "EXPUNGE").await.last().unwrap().starts_with("d2 OK"));
    assert_eq!(c.search("TEXT needle").await, "");
    assert!(c.cmd("d3", "SELECT INBOX").await.last().unwrap().starts_with("d3 OK"));
    assert!(c.cmd("d4", "UID STORE 1 +FLAGS (\\Deleted)").await.last().unwrap().starts_with("d4 OK"));
    assert!(c.cmd("d5", "EXPUNGE").await.last().unwrap().starts_with("d5 OK"));
    assert_eq!(c.search("TEXT needle").await, "");
    assert_eq!(c.search("BODY zebracorn").await, "3", "the copy in Archive stays, so does this one");

    // Another account's mail never matches, and its own search sees only its own.
    let mut b = Raw::login(&server, "bob@example.com", "bobs password").await;
    assert!(b.cmd("b1", "SELECT INBOX").await.last().unwrap().starts_with("b1 OK"));
    assert_eq!(b.search("TEXT needle").await, "1");
    assert_eq!(b.search("BODY zebracorn").await, "1");
    assert_eq!(b.search("TEXT wonderful").await, "");
}

/// Makes the index look as it did right after the migration on a store with mail: no text,
/// every message waiting in the backlog.
async fn forget_index(store: &Store) {
    let statements =
        ["DELETE FROM message_text", "INSERT INTO message_text_backlog (message_id) SELECT id FROM messages"];
    match store.db {
        Db::Sqlite => {
            // Also the text still waiting for the index's next batch.
            let script = format!(
                "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\n{}\nc.commit()\n",
                ["DELETE FROM message_text_pending"]
                    .iter()
                    .chain(&statements)
                    .map(|s| format!("c.execute({s:?})"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            let db = store.data().join("kontor.db");
            let run =
                std::process::Command::new("python3").args(["-c", &script, db.to_str().unwrap()]).output().unwrap();
            assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        }
        Db::Postgres => {
            let pool = sqlx::PgPool::connect(store.database_url.as_deref().unwrap()).await.unwrap();
            for s in statements {
                sqlx::query(s).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
    }
}

async fn messages_stored_before_the_index_are_indexed(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, "ann@example.com", &[PLAIN, QP, HTML]).await;
    drop(server);
    forget_index(store).await;

    // The server indexes the backlog in the background when it starts.
    let server = Server::start(store, &[]);
    let mut c = Raw::login(&server, "ann@example.com", "anns password").await;
    assert!(c.cmd("a1", "SELECT INBOX").await.last().unwrap().starts_with("a1 OK"));
    let mut found = String::new();
    for _ in 0..100 {
        found = c.search("OR TEXT needle BODY friends").await;
        if found == "1 3" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found, "1 3");
    assert_eq!(c.search("BODY wonderfulword").await, "2");
    drop(c);
    drop(server);

    // The command line does it at once.
    forget_index(store).await;
    let out = store.ok(&["mailbox", "reindex"], None);
    assert_eq!(out.trim(), "3 messages indexed");
    assert_eq!(store.ok(&["mailbox", "reindex"], None).trim(), "0 messages indexed");
    let server = Server::start(store, &[]);
    let mut c = Raw::login(&server, "ann@example.com", "anns password").await;
    assert!(c.cmd("a1", "SELECT INBOX").await.last().unwrap().starts_with("a1 OK"));
    assert_eq!(c.search("TEXT needle").await, "1");
}
