//! Real third-party JMAP clients against Kontor, on SQLite and PostgreSQL: the Python `jmapc`
//! (tests/clients/jmapc_client.py) and the npm `jmap-jam` (tests/clients/jam_client.mjs). Each
//! logs in with only the server's URL, a user and a password, lists mailboxes, queries and gets
//! mail with a back-reference, reads a body and changes keywords; jmapc also gets a push and
//! sends a message, jam creates a draft. This test then checks the effects over IMAP.
//!
//! `scripts/test` installs both clients and names them: `KONTOR_PYTHON` (a Python with
//! jmapc 0.4.0) and `KONTOR_JMAP_JAM` (an npm prefix holding node_modules/jmap-jam). Without
//! them these tests fail.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::{Server, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

both_stores!(jmapc_reads_flags_and_sends, jam_reads_flags_and_drafts);

fn setup(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    for user in ["ann@example.com", "bob@example.com"] {
        let name = user.split('@').next().unwrap();
        store.ok(&["user", "add", user, "--password-stdin"], Some(&format!("{name}s password\n")));
    }
}

/// Three messages for Ann; only the second has "zebra" in its body.
async fn deliver_three(server: &Server) {
    let messages: Vec<String> = [
        ("Quarterly numbers", "The numbers are attached."),
        ("Zoo visit", "We saw a zebra and two lions."),
        ("Lunch", "Noon at the usual place?"),
    ]
    .iter()
    .map(|(subject, body)| {
        format!(
            "From: Xavier <x@elsewhere.org>\r\nTo: ann@example.com\r\nSubject: {subject}\r\n\
             Message-ID: <{}@elsewhere.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
            subject.to_lowercase().replace(' ', "-")
        )
    })
    .collect();
    let refs: Vec<&str> = messages.iter().map(String::as_str).collect();
    support::deliver(server, "ann@example.com", &refs).await;
}

fn home_cache(rest: &str) -> PathBuf {
    Path::new(&std::env::var("HOME").unwrap_or_default()).join(".cache").join(rest)
}

/// The Python with jmapc: `KONTOR_PYTHON`, else scripts/test's virtualenv.
fn python() -> PathBuf {
    std::env::var_os("KONTOR_PYTHON").map_or_else(|| home_cache("kontor-venv/bin/python"), PathBuf::from)
}

/// jmap-jam's module: under `KONTOR_JMAP_JAM`, else scripts/test's npm cache.
fn jam_module() -> PathBuf {
    let prefix = std::env::var_os("KONTOR_JMAP_JAM").map_or_else(|| home_cache("kontor-npm"), PathBuf::from);
    let module = prefix.join("node_modules/jmap-jam/dist/index.js");
    assert!(module.exists(), "jmap-jam is needed for this test (scripts/test installs it): no {}", module.display());
    module
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients").join(name)
}

/// Runs a client program (at most two minutes); it must succeed. Returns the JSON line it
/// printed before its last line.
async fn run_client(mut command: tokio::process::Command, what: &str) -> Value {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let child =
        command.spawn().unwrap_or_else(|e| panic!("{what} is needed for this test (scripts/test installs it): {e}"));
    let out = tokio::time::timeout(Duration::from_mins(2), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within two minutes"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{what} failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 2 && lines[lines.len() - 1].ends_with("all steps passed"), "{what} printed {stdout}");
    serde_json::from_str(lines[lines.len() - 2]).unwrap()
}

/// A raw IMAP connection, logged in.
struct Imap {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Imap {
    async fn login(server: &Server, user: &str, password: &str) -> Self {
        let (r, w) = tokio::net::TcpStream::connect(server.imap_addr()).await.unwrap().into_split();
        let mut imap = Self { reader: BufReader::new(r), writer: w };
        let mut greeting = String::new();
        imap.reader.read_line(&mut greeting).await.unwrap();
        let ok = imap.cmd(&format!("LOGIN {user} \"{password}\"")).await;
        assert!(ok.ends_with("OK"), "{ok}");
        imap
    }

    /// One command; everything the server answered, the tagged line's status last ("OK", …).
    async fn cmd(&mut self, text: &str) -> String {
        self.writer.write_all(format!("t {text}\r\n").as_bytes()).await.unwrap();
        let mut all = String::new();
        for _ in 0..10_000 {
            let mut l = String::new();
            let n =
                tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut l)).await.unwrap().unwrap();
            assert!(n > 0, "IMAP connection closed");
            if let Some(rest) = l.strip_prefix("t ") {
                all.push_str(rest.split_whitespace().next().unwrap_or(""));
                return all;
            }
            all.push_str(&l);
        }
        panic!("IMAP answer to {text} did not end");
    }

    /// `STATUS mailbox (MESSAGES)`'s count.
    async fn count(&mut self, mailbox: &str) -> usize {
        let r = self.cmd(&format!("STATUS {mailbox} (MESSAGES)")).await;
        let n = r.split("MESSAGES ").nth(1).and_then(|s| s.split(')').next()).unwrap_or_else(|| panic!("{r}"));
        n.trim().parse().unwrap()
    }
}

/// A self-signed certificate for `localhost` (and 127.0.0.1), made with the openssl command:
/// (certificate path, key path).
fn certificate(store: &Store) -> (String, String) {
    let dir = store.dir.path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert.display().to_string(), key.display().to_string())
}

/// jmapc as it ships, over HTTPS: it asks `https://HOST/.well-known/jmap` and checks the
/// certificate (the test's own, trusted through `REQUESTS_CA_BUNDLE`).
async fn jmapc_reads_flags_and_sends(store: &Store) {
    setup(store);
    let (cert, key) = certificate(store);
    let server =
        Server::start(store, &[("KONTOR_TLS_CERT", &cert), ("KONTOR_TLS_KEY", &key), ("KONTOR_HTTPS", "127.0.0.1:0")]);
    deliver_three(&server).await;
    let base = format!("https://localhost:{}", server.https_addr().port());

    let mut command = tokio::process::Command::new(python());
    command.env("REQUESTS_CA_BUNDLE", &cert).arg(script("jmapc_client.py")).args([
        "--base",
        &base,
        "--user",
        "ann@example.com",
        "--password",
        "anns password",
        "--to",
        "bob@example.com",
        "--expect",
        "3",
        "--search",
        "zebra",
    ]);
    let seen = run_client(command, "jmapc (Python)").await;
    let mut subjects: Vec<&str> = seen["subjects"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    subjects.sort_unstable();
    assert_eq!(subjects, ["Lunch", "Quarterly numbers", "Zoo visit"]);
    assert_eq!(seen["searched"], "Zoo visit");
    for name in ["INBOX", "Drafts", "Sent"] {
        assert!(seen["mailboxes"].as_array().unwrap().iter().any(|m| m == name), "{name} in {seen}");
    }

    // The keyword jmapc set is an IMAP flag on the message it found.
    let mut ann = Imap::login(&server, "ann@example.com", "anns password").await;
    ann.cmd("SELECT INBOX").await;
    let flagged = ann.cmd("SEARCH FLAGGED").await;
    let hits: Vec<&str> =
        flagged.lines().find_map(|l| l.strip_prefix("* SEARCH")).unwrap().split_whitespace().collect();
    assert_eq!(hits.len(), 1, "{flagged}");
    let subject = ann.cmd(&format!("FETCH {} (BODY.PEEK[HEADER.FIELDS (SUBJECT)])", hits[0])).await;
    assert!(subject.contains("Subject: Zoo visit"), "{subject}");

    // The message it sent reached Bob; Ann's copy moved from Drafts to Sent.
    assert_eq!(ann.count("Drafts").await, 0);
    assert_eq!(ann.count("Sent").await, 1);
    ann.cmd("SELECT Sent").await;
    let flags = ann.cmd("FETCH 1 (FLAGS)").await;
    assert!(flags.contains("\\Seen") && !flags.contains("\\Draft"), "{flags}");
    let mut bob = Imap::login(&server, "bob@example.com", "bobs password").await;
    assert_eq!(bob.count("INBOX").await, 1);
    bob.cmd("SELECT INBOX").await;
    let message = bob.cmd("FETCH 1 (BODY.PEEK[])").await;
    assert!(message.contains("Subject: Sent with jmapc") && message.contains("Hello from jmapc."), "{message}");
    assert!(message.contains("ann@example.com"), "{message}");
}

async fn jam_reads_flags_and_drafts(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver_three(&server).await;

    let mut command = tokio::process::Command::new("node");
    command
        .arg(script("jam_client.mjs"))
        .args([&server.url, "ann@example.com", "anns password", "3"])
        .env("JAM_MODULE", jam_module());
    let seen = run_client(command, "jmap-jam (node)").await;
    assert_eq!(seen["subjects"].as_array().unwrap().len(), 3, "{seen}");

    // The keyword jam set is \Seen on exactly one message; its draft is in Drafts, flagged so.
    let mut ann = Imap::login(&server, "ann@example.com", "anns password").await;
    ann.cmd("SELECT INBOX").await;
    let seen_search = ann.cmd("SEARCH SEEN").await;
    let hits = seen_search.lines().find_map(|l| l.strip_prefix("* SEARCH")).unwrap().split_whitespace().count();
    assert_eq!(hits, 1, "{seen_search}");
    assert_eq!(ann.count("Drafts").await, 1);
    ann.cmd("SELECT Drafts").await;
    let draft = ann.cmd("FETCH 1 (FLAGS BODY.PEEK[])").await;
    assert!(draft.contains("\\Draft"), "{draft}");
    assert!(draft.contains("Subject: Draft from jam") && draft.contains("Written with jmap-jam."), "{draft}");
}
