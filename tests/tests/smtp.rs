//! SMTP in (MX) on SQLite and PostgreSQL: a real client (lettre) delivers to users and
//! aliases, threads form from references, and raw sockets check the protocol's edges
//! (refusals, PIPELINING, CHUNKING, dot-stuffing, size and quota limits, garbage).

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use support::{Server, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

both_stores!(
    a_mail_client_delivers_to_users_and_aliases,
    protocol_edges_over_a_raw_socket,
    size_and_quota_limits,
    acknowledged_mail_survives_kill_9
);

fn setup(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    for (u, pw) in [("ann@example.com", "anns password"), ("bob@example.com", "bobs password")] {
        store.ok(&["user", "add", u, "--password-stdin"], Some(&format!("{pw}\n")));
    }
    store.ok(&["alias", "add", "info@example.com", "ann@example.com"], None);
}

fn mailer(server: &Server) -> AsyncSmtpTransport<Tokio1Executor> {
    let addr = server.smtp_addr();
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .timeout(Some(Duration::from_secs(30)))
        .build()
}

/// The messages of a mailbox as the admin command lists them: (uid, thread, from, subject).
fn messages(store: &Store, address: &str, mailbox: &str) -> Vec<(u32, String, String, String)> {
    let out = store.ok(&["mailbox", "messages", address, mailbox], None);
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].parse().unwrap(), f[2].to_owned(), f[3].to_owned(), f[4].to_owned())
        })
        .collect()
}

async fn a_mail_client_delivers_to_users_and_aliases(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    // Every new account has the special-use mailboxes.
    let boxes = store.ok(&["mailbox", "list", "ann@example.com"], None);
    for (name, role) in [
        ("INBOX", "inbox"),
        ("Drafts", "drafts"),
        ("Sent", "sent"),
        ("Junk", "junk"),
        ("Trash", "trash"),
        ("Archive", "archive"),
    ] {
        assert!(boxes.lines().any(|l| l.starts_with(&format!("{name}\t{role}\t"))), "{name}: {boxes}");
    }
    let smtp = mailer(&server);
    let first = Message::builder()
        .from("Carol Outside <carol@elsewhere.org>".parse::<Mailbox>().unwrap())
        .to("ann@example.com".parse().unwrap())
        .to("Bob <bob@example.com>".parse().unwrap())
        .subject("Lunch on Friday")
        .message_id(Some("<lunch-1@elsewhere.org>".into()))
        .header(ContentType::TEXT_PLAIN)
        .body("Shall we?\r\n.A line that starts with a dot.\r\n".to_owned())
        .unwrap();
    let r = smtp.send(first).await.unwrap();
    assert!(r.is_positive(), "{r:?}");
    let reply = Message::builder()
        .from("carol@elsewhere.org".parse::<Mailbox>().unwrap())
        .to("info@example.com".parse().unwrap())
        .subject("Re: Lunch on Friday")
        .in_reply_to("<lunch-1@elsewhere.org>".into())
        .references("<lunch-1@elsewhere.org>".into())
        .body("Noon works.\r\n".to_owned())
        .unwrap();
    smtp.send(reply).await.unwrap();
    let other = Message::builder()
        .from("dave@elsewhere.org".parse::<Mailbox>().unwrap())
        .to("ann@example.com".parse().unwrap())
        .subject("Something else")
        .body("Hello.\r\n".to_owned())
        .unwrap();
    smtp.send(other).await.unwrap();

    let ann = messages(store, "ann@example.com", "INBOX");
    assert_eq!(ann.len(), 3, "{ann:?}");
    assert_eq!(ann.iter().map(|m| m.0).collect::<Vec<_>>(), [1, 2, 3], "UIDs in order of arrival");
    assert_eq!(ann[0].2, "Carol Outside <carol@elsewhere.org>");
    assert_eq!(ann[0].3, "Lunch on Friday");
    assert_eq!(ann[1].1, ann[0].1, "the reply (to the alias) joins the thread");
    assert_ne!(ann[2].1, ann[0].1, "an unrelated message starts its own");
    let bob = messages(store, "bob@example.com", "INBOX");
    assert_eq!(bob.len(), 1, "{bob:?}");
    // Stored as received, with a Received: header in front and dots unstuffed.
    let raw = store.ok(&["mailbox", "show", "ann@example.com", "INBOX", "1"], None);
    assert!(raw.starts_with("Received: from "), "{raw}");
    assert!(raw.contains("\r\n\r\nShall we?\r\n.A line that starts with a dot.\r\n"), "{raw:?}");
    assert!(raw.contains("Message-ID: <lunch-1@elsewhere.org>"), "{raw}");
    assert!(store.ok(&["mailbox", "list", "bob@example.com"], None).contains("INBOX\tinbox\t"));
}

/// A raw SMTP connection: sends lines, reads replies.
struct Raw {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn open(server: &Server) -> Self {
        let s = TcpStream::connect(server.smtp_addr()).await.unwrap();
        let (r, w) = s.into_split();
        let mut raw = Self { reader: BufReader::new(r), writer: w };
        assert!(raw.reply().await.starts_with("220 "));
        raw
    }

    /// One reply (all its lines), e.g. "250-…\r\n250 …".
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
                .await
                .expect("a reply within 30 s")
                .unwrap();
            assert!(n > 0, "connection closed; got {all:?}");
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }
}

async fn protocol_edges_over_a_raw_socket(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let mut c = Raw::open(&server).await;
    assert!(c.cmd("MAIL FROM:<x@elsewhere.org>").await.starts_with("503 "), "EHLO first");
    // RFC 5321 §4.1.1.1: the MX takes a domain or an address literal as the client's name.
    let mut greet = Raw::open(&server).await;
    for bad in ["EHLO bad..name", "EHLO -leading.example", "HELO [300.1.2.3]", "EHLO [IPv6:zz::1]", "EHLO a\"b"] {
        assert!(greet.cmd(bad).await.starts_with("501 5.5.2 "), "{bad}");
    }
    assert!(greet.cmd("MAIL FROM:<x@elsewhere.org>").await.starts_with("503 "), "no name was taken");
    assert!(greet.cmd("EHLO [192.0.2.1]").await.starts_with("250-"), "an address literal");
    assert!(greet.cmd("HELO mail.elsewhere.org").await.starts_with("250 "));
    let ehlo = c.cmd("EHLO client.test").await;
    for ext in ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE ", "CHUNKING", "ENHANCEDSTATUSCODES"] {
        assert!(ehlo.contains(ext), "{ext} in {ehlo}");
    }
    assert!(c.cmd("DATA").await.starts_with("503 "), "DATA before MAIL");
    assert!(c.cmd("FROBNICATE now").await.starts_with("500 "), "unknown command; the session goes on");
    assert!(c.cmd("NOOP").await.starts_with("250 "));
    assert!(c.cmd("MAIL FROM:<x@elsewhere.org>").await.starts_with("250 "));
    assert!(c.cmd("RCPT TO:<nobody@example.com>").await.starts_with("550 5.1.1"), "unknown user");
    assert!(c.cmd("RCPT TO:<someone@elsewhere.org>").await.starts_with("550 5.7.1"), "no relaying");
    let long = format!("RCPT TO:<{}@example.com>", "a".repeat(5000));
    assert!(c.cmd(&long).await.starts_with("50"), "an over-long line is refused");
    assert!(c.cmd("RSET").await.starts_with("250 "));

    // PIPELINING: the whole transaction in one write, replies in order.
    c.send(
        b"MAIL FROM:<x@elsewhere.org> BODY=8BITMIME\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<ghost@example.com>\r\nDATA\r\n",
    )
    .await;
    assert!(c.reply().await.starts_with("250 "));
    assert!(c.reply().await.starts_with("250 "));
    assert!(c.reply().await.starts_with("550 "));
    assert!(c.reply().await.starts_with("354 "));
    c.send("Subject: piped\r\n\r\n..dot-stuffed line\r\nGrüße in UTF-8\r\n.\r\n".as_bytes()).await;
    assert!(c.reply().await.starts_with("250 2.0.0"));

    // CHUNKING: two BDAT chunks, the last one marked; no dot handling.
    assert!(c.cmd("MAIL FROM:<x@elsewhere.org>").await.starts_with("250 "));
    assert!(c.cmd("RCPT TO:<bob@example.com>").await.starts_with("250 "));
    let (a, b) = ("Subject: chunked\r\n\r\n", ".first line\r\n");
    c.send(format!("BDAT {}\r\n{a}", a.len()).as_bytes()).await;
    assert!(c.reply().await.starts_with("250 "));
    c.send(format!("BDAT {} LAST\r\n{b}", b.len()).as_bytes()).await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    // An empty message ends at once.
    assert!(c.cmd("MAIL FROM:<>").await.starts_with("250 "), "the null sender (bounces)");
    assert!(c.cmd("RCPT TO:<bob@example.com>").await.starts_with("250 "));
    assert!(c.cmd("DATA").await.starts_with("354 "));
    assert!(c.cmd(".").await.starts_with("250 "));
    assert!(c.cmd("QUIT").await.starts_with("221 "));

    let bob = messages(store, "bob@example.com", "INBOX");
    assert_eq!(bob.iter().map(|m| m.3.as_str()).collect::<Vec<_>>(), ["piped", "chunked", ""], "{bob:?}");
    let piped = store.ok(&["mailbox", "show", "bob@example.com", "INBOX", "1"], None);
    assert!(piped.ends_with("\r\n\r\n.dot-stuffed line\r\nGrüße in UTF-8\r\n"), "{piped:?}");
    let chunked = store.ok(&["mailbox", "show", "bob@example.com", "INBOX", "2"], None);
    assert!(chunked.ends_with("Subject: chunked\r\n\r\n.first line\r\n"), "{chunked:?}");

    // Garbage (binary, bare LF) gets errors, never a crash; too many errors close the session.
    let mut g = Raw::open(&server).await;
    let mut closed = false;
    for _ in 0..20 {
        g.send(b"\x00\xff\xfe garbage\n").await;
        let mut line = String::new();
        match tokio::time::timeout(Duration::from_secs(30), g.reader.read_line(&mut line)).await.unwrap() {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) if line.starts_with("421 ") => {
                closed = true;
                break;
            }
            Ok(_) => assert!(line.starts_with('5'), "{line:?}"),
        }
    }
    assert!(closed, "the session ends after repeated errors");
    let mut after = Raw::open(&server).await;
    assert!(after.cmd("EHLO still.alive").await.starts_with("250"), "the server goes on");
}

async fn size_and_quota_limits(store: &Store) {
    setup(store);
    store.ok(&["quota", "set", "bob@example.com", "10KiB"], None);
    let server = Server::start(store, &[("KONTOR_QUOTA_MAX_ITEM_SIZE", "16KiB")]);
    let mut c = Raw::open(&server).await;
    assert!(c.cmd("EHLO client.test").await.contains("SIZE 16384"));
    assert!(c.cmd("MAIL FROM:<x@elsewhere.org> SIZE=999999").await.starts_with("552 5.3.4"), "declared too big");
    assert!(c.cmd("MAIL FROM:<x@elsewhere.org>").await.starts_with("250 "));
    assert!(c.cmd("RCPT TO:<ann@example.com>").await.starts_with("250 "));
    assert!(c.cmd("DATA").await.starts_with("354 "));
    let line = "x".repeat(70);
    for _ in 0..400 {
        c.send(format!("{line}\r\n").as_bytes()).await;
    }
    c.send(b".\r\n").await;
    assert!(c.reply().await.starts_with("552 5.3.4"), "too big once sent");
    assert!(messages(store, "ann@example.com", "INBOX").is_empty(), "nothing of it stored");

    // Bob's 10 KiB: 7.5 KB fits and crosses 70 %, which mails him one warning; 3 KB more does
    // not fit (refused at the end of DATA, nothing stored).
    let send = async |c: &mut Raw, size: usize| {
        assert!(c.cmd("MAIL FROM:<x@elsewhere.org>").await.starts_with("250 "));
        assert!(c.cmd("RCPT TO:<bob@example.com>").await.starts_with("250 "), "not full yet");
        assert!(c.cmd("DATA").await.starts_with("354 "));
        c.send(format!("Subject: {size} bytes\r\n\r\n{}\r\n.\r\n", "y".repeat(size)).as_bytes()).await;
        c.reply().await
    };
    assert!(send(&mut c, 7500).await.starts_with("250 "));
    let mut inbox = Vec::new();
    for _ in 0..100 {
        inbox = messages(store, "bob@example.com", "INBOX");
        if inbox.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let subjects: Vec<&str> = inbox.iter().map(|m| m.3.as_str()).collect();
    assert_eq!(subjects, ["7500 bytes", "Your mailbox is 70 % full"]);
    assert!(send(&mut c, 3000).await.starts_with("552 5.2.2"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(messages(store, "bob@example.com", "INBOX").len(), 2, "no second warning, nothing more stored");
    // Once use is at the limit, RCPT already says the mailbox is full.
    store.ok(&["quota", "set", "bob@example.com", "1KiB"], None);
    assert!(c.cmd("MAIL FROM:<x@elsewhere.org>").await.starts_with("250 "));
    assert!(c.cmd("RCPT TO:<bob@example.com>").await.starts_with("552 5.2.2"));
    assert!(c.cmd("RCPT TO:<ann@example.com>").await.starts_with("250 "), "others still take mail");
    assert!(c.cmd("QUIT").await.starts_with("221 "));
}

/// Sends messages one after another until the connection breaks; counts the acknowledged.
async fn burst(addr: std::net::SocketAddr, acked: std::sync::Arc<std::sync::Mutex<Vec<usize>>>) {
    let Ok(stream) = TcpStream::connect(addr).await else { return };
    let (read, write) = stream.into_split();
    let mut c = Raw { reader: BufReader::new(read), writer: write };
    let step = async |c: &mut Raw, bytes: &[u8]| -> Option<String> {
        c.writer.write_all(bytes).await.ok()?;
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), c.reader.read_line(&mut line)).await.ok()?.ok()?;
        (n > 0).then_some(line)
    };
    let mut greeting = String::new();
    if c.reader.read_line(&mut greeting).await.is_err() {
        return;
    }
    if step(&mut c, b"HELO burst.test\r\n").await.is_none() {
        return;
    }
    for i in 0..5000 {
        let body = format!("Subject: burst {i}\r\n\r\nmessage {i}\r\n.\r\n");
        for (bytes, want) in [
            (&b"MAIL FROM:<x@elsewhere.org>\r\n"[..], "250"),
            (b"RCPT TO:<bob@example.com>\r\n", "250"),
            (b"DATA\r\n", "354"),
            (body.as_bytes(), "250"),
        ] {
            match step(&mut c, bytes).await {
                Some(line) if line.starts_with(want) => {}
                _ => return,
            }
        }
        acked.lock().unwrap().push(i);
    }
}

/// "250 OK" only after the message is stored durably: kill -9 in the middle of a burst of
/// deliveries, restart, and every acknowledged message is there.
async fn acknowledged_mail_survives_kill_9(store: &Store) {
    setup(store);
    let mut server = Server::start(store, &[]);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sender = tokio::spawn(burst(server.smtp_addr(), acked.clone()));
    for _ in 0..1200 {
        if acked.lock().unwrap().len() >= 25 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.child.kill().unwrap();
    tokio::time::timeout(Duration::from_mins(1), sender).await.unwrap().unwrap();
    drop(server);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 25, "the burst got going: {}", acked.len());
    let _server = Server::start(store, &[]);
    let stored: std::collections::HashSet<String> =
        messages(store, "bob@example.com", "INBOX").into_iter().map(|m| m.3).collect();
    for i in &acked {
        assert!(stored.contains(&format!("burst {i}")), "message {i} was acknowledged but is gone");
    }
}
