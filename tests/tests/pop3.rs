//! POP3 on SQLite and PostgreSQL: mail delivered over SMTP is downloaded over POP3 with a raw
//! socket (every command, the lock, deletion only at QUIT, UIDLs stable across sessions and
//! restarts) and with Python's poplib (a real client; leave-on-server runs twice).

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{Server, Store};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

both_stores!(
    download_delete_and_stable_uidls,
    a_real_client_leaves_mail_on_the_server,
    downloaded_mail_expires_as_the_account_says,
    the_maildrop_lock_holds_across_nodes
);

fn setup(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["user", "add", "ann@example.com", "--password-stdin"], Some("anns password\n"));
    store.ok(&["user", "add", "bob@example.com", "--password-stdin"], Some("bobs password\n"));
}

/// Delivers messages to ann over SMTP (raw, with dot-stuffing).
async fn deliver(server: &Server, bodies: &[&str]) {
    let s = TcpStream::connect(server.smtp_addr()).await.unwrap();
    let mut c = Conn::new(s);
    assert!(c.line().await.starts_with("220"));
    assert!(c.cmd("HELO test").await.starts_with("250"));
    for body in bodies {
        assert!(c.cmd("MAIL FROM:<x@elsewhere.org>").await.starts_with("250"));
        assert!(c.cmd("RCPT TO:<ann@example.com>").await.starts_with("250"));
        assert!(c.cmd("DATA").await.starts_with("354"));
        let stuffed: String = body
            .split("\r\n")
            .map(|l| if l.starts_with('.') { format!(".{l}\r\n") } else { format!("{l}\r\n") })
            .collect();
        assert!(c.cmd(&format!("{stuffed}.")).await.starts_with("250"));
    }
    assert!(c.cmd("QUIT").await.starts_with("221"));
}

struct Conn {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    fn new(s: TcpStream) -> Self {
        let (r, w) = s.into_split();
        Self { reader: BufReader::new(r), writer: w }
    }

    async fn open(server: &Server) -> Self {
        let mut c = Self::new(TcpStream::connect(server.pop3_addr()).await.unwrap());
        assert!(c.line().await.starts_with("+OK"));
        c
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed");
        line
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.writer.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        self.line().await
    }

    /// A multi-line answer after its status line, up to the final dot (still dot-stuffed).
    async fn multi(&mut self, line: &str) -> (String, String) {
        let status = self.cmd(line).await;
        let mut body = String::new();
        if status.starts_with("+OK") {
            loop {
                let l = self.line().await;
                if l == ".\r\n" {
                    break;
                }
                body.push_str(&l);
            }
        }
        (status, body)
    }

    async fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(tokio::time::timeout(Duration::from_secs(30), self.reader.read(&mut buf)).await, Ok(Ok(0)))
    }
}

async fn download_delete_and_stable_uidls(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    // The third is large (sent from the stored bytes, not a framed copy).
    let long: String = (0..1000).map(|i| format!("line {i:04} of the third message\r\n")).collect();
    let third = format!("Subject: three\r\n\r\n{long}third");
    deliver(
        &server,
        &["Subject: one\r\n\r\nfirst", "Subject: two\r\n\r\n.starts with a dot\r\nline 2\r\nline 3", &third],
    )
    .await;

    let mut c = Conn::open(&server).await;
    let (ok, capa) = c.multi("CAPA").await;
    assert!(ok.starts_with("+OK"));
    for cap in ["USER", "SASL PLAIN", "TOP", "UIDL", "RESP-CODES", "PIPELINING"] {
        assert!(capa.lines().any(|l| l == cap), "{cap} in {capa}");
    }
    assert!(c.cmd("STAT").await.starts_with("-ERR"), "not before login");
    assert!(c.cmd("USER ann@example.com").await.starts_with("+OK"));
    assert!(c.cmd("PASS wrong").await.starts_with("-ERR [AUTH]"));
    assert!(c.cmd("USER ann@example.com").await.starts_with("+OK"));
    assert!(c.cmd("PASS anns password").await.starts_with("+OK Maildrop has 3 messages"));
    let stat = c.cmd("STAT").await;
    let (ok, list) = c.multi("LIST").await;
    assert!(ok.starts_with("+OK"));
    let sizes: Vec<u64> = list.lines().map(|l| l.split(' ').nth(1).unwrap().parse().unwrap()).collect();
    assert_eq!(stat, format!("+OK 3 {}\r\n", sizes.iter().sum::<u64>()));
    let (_, uidl) = c.multi("UIDL").await;
    let uids: Vec<String> = uidl.lines().map(|l| l.split(' ').nth(1).unwrap().to_owned()).collect();
    assert_eq!(uids.len(), 3);
    assert!(c.cmd("UIDL 2").await.ends_with(&format!("2 {}\r\n", uids[1])));
    // RETR: the message with its Received: header, dot-stuffed on the wire.
    let (ok, two) = c.multi("RETR 2").await;
    assert!(ok.starts_with("+OK"), "{ok}");
    assert!(two.starts_with("Received: "), "{two}");
    assert!(two.ends_with("Subject: two\r\n\r\n..starts with a dot\r\nline 2\r\nline 3\r\n"), "{two:?}");
    let (_, top) = c.multi("TOP 2 1").await;
    assert!(top.ends_with("Subject: two\r\n\r\n..starts with a dot\r\n"), "{top:?}");
    assert!(c.cmd("RETR 9").await.starts_with("-ERR"));
    // Each RETR reads the next message ahead: in order and out of it, every answer is the
    // message asked for.
    for (n, subject) in [(1, "one"), (2, "two"), (3, "three"), (2, "two"), (1, "one"), (2, "two")] {
        let (ok, m) = c.multi(&format!("RETR {n}")).await;
        assert!(ok.starts_with("+OK"), "RETR {n}: {ok}");
        assert!(m.contains(&format!("Subject: {subject}\r\n")), "RETR {n}: {m:?}");
        assert_eq!(ok, format!("+OK {} octets\r\n", sizes[n - 1]), "RETR {n}: the size LIST gave");
        assert_eq!(m.len() as u64, sizes[n - 1] + u64::from(n == 2), "RETR {n}: whole (one dot stuffed in two)");
    }
    let (_, m) = c.multi("RETR 3").await;
    assert!(m.ends_with(&format!("\r\n\r\n{long}third\r\n")), "the large one ends as sent");
    assert!(c.cmd("FROB").await.starts_with("-ERR"), "unknown command; the session goes on");

    // The maildrop is exclusive while a session is in the transaction state.
    let mut other = Conn::open(&server).await;
    assert!(other.cmd("USER ann@example.com").await.starts_with("+OK"));
    assert!(other.cmd("PASS anns password").await.starts_with("-ERR [IN-USE]"));

    // DELE marks, RSET unmarks, QUIT deletes.
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    assert!(c.cmd("RETR 1").await.starts_with("-ERR"), "marked deleted");
    assert!(c.cmd("RSET").await.starts_with("+OK Maildrop has 3"));
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    assert!(c.cmd("STAT").await.starts_with("+OK 2 "));
    // Deletion happens at QUIT (the UPDATE state).
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    assert!(c.closed().await);

    // SASL PLAIN (RFC 5034), and the lock is free again.
    let mut c = Conn::open(&server).await;
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ \r\n");
    use base64::Engine as _;
    let plain = base64::engine::general_purpose::STANDARD.encode("\0ann@example.com\0anns password");
    assert!(c.cmd(&plain).await.starts_with("+OK Maildrop has 2 messages"));
    let (_, uidl) = c.multi("UIDL").await;
    let after: Vec<String> = uidl.lines().map(|l| l.split(' ').nth(1).unwrap().to_owned()).collect();
    assert_eq!(after, uids[1..], "the same UIDLs for the same messages");
    // Dropping the connection without QUIT deletes nothing.
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // After a restart the UIDLs are the same.
    let server = {
        drop(server);
        Server::start(store, &[])
    };
    let mut c = Conn::open(&server).await;
    let plain = base64::engine::general_purpose::STANDARD.encode("\0ann@example.com\0anns password");
    assert!(c.cmd(&format!("AUTH PLAIN {plain}")).await.starts_with("+OK Maildrop has 2 messages"));
    let (_, uidl) = c.multi("UIDL").await;
    let restarted: Vec<String> = uidl.lines().map(|l| l.split(' ').nth(1).unwrap().to_owned()).collect();
    assert_eq!(restarted, uids[1..]);
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    // Someone else's password is not a way in, and logging in as another user is refused.
    let mut c = Conn::open(&server).await;
    let as_other = base64::engine::general_purpose::STANDARD.encode("ann@example.com\0bob@example.com\0bobs password");
    assert!(c.cmd(&format!("AUTH PLAIN {as_other}")).await.starts_with("-ERR [AUTH]"));
}

async fn a_real_client_leaves_mail_on_the_server(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, &["Subject: a\r\n\r\nalpha", "Subject: b\r\n\r\n.beta"]).await;
    let python = std::env::var("KONTOR_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import poplib, sys, json
host, port, seen = sys.argv[1], int(sys.argv[2]), set(json.loads(sys.argv[3]))
p = poplib.POP3(host, port, timeout=30)
p.user("ann@example.com")
p.pass_("anns password")
new = []
for line in p.uidl()[1]:
    num, uid = line.decode().split()
    if uid not in seen:
        resp, lines, octets = p.retr(int(num))
        new.append([uid, b"\r\n".join(lines).decode()])
p.quit()
print(json.dumps(new))
"#;
    let run = |seen: &str| {
        let out = std::process::Command::new(&python)
            .args(["-c", script, "127.0.0.1", &server.pop3_addr().port().to_string(), seen])
            .output()
            .expect("python runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Vec<(String, String)>>(&out.stdout).unwrap()
    };
    let first = run("[]");
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first[1].1.ends_with("Subject: b\r\n\r\n.beta"), "poplib undoes the dot-stuffing: {:?}", first[1].1);
    // Leave on server: the second run knows both UIDLs and fetches nothing new.
    let seen = serde_json::to_string(&first.iter().map(|(u, _)| u).collect::<Vec<_>>()).unwrap();
    assert!(run(&seen).is_empty());
    deliver(&server, &["Subject: c\r\n\r\ngamma"]).await;
    let third = run(&seen);
    assert_eq!(third.len(), 1);
    assert!(third[0].1.ends_with("gamma"));
}

/// "Delete mail that POP3 downloaded after N days": only what was downloaded (RETR, not TOP),
/// only once N days have passed, and not at all without the setting.
async fn downloaded_mail_expires_as_the_account_says(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, &["Subject: read\r\n\r\none", "Subject: peeked\r\n\r\ntwo", "Subject: new\r\n\r\nthree"]).await;
    let mut c = Conn::open(&server).await;
    assert!(c.cmd("USER ann@example.com").await.starts_with("+OK"));
    assert!(c.cmd("PASS anns password").await.starts_with("+OK"));
    assert!(c.multi("RETR 1").await.0.starts_with("+OK"));
    assert!(c.multi("TOP 2 0").await.0.starts_with("+OK"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    let subjects = || -> Vec<String> {
        store
            .ok(&["mailbox", "messages", "ann@example.com"], None)
            .lines()
            .map(|l| l.rsplit('\t').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(store.ok(&["mailbox", "expire-pop3"], None).trim(), "0 messages deleted", "no setting: kept");
    store.ok(&["mailbox", "pop3-keep", "ann@example.com", "1"], None);
    assert_eq!(store.ok(&["mailbox", "expire-pop3"], None).trim(), "0 messages deleted", "not a day old");
    store.ok(&["mailbox", "pop3-keep", "ann@example.com", "0"], None);
    assert_eq!(store.ok(&["mailbox", "expire-pop3"], None).trim(), "1 messages deleted");
    assert_eq!(subjects(), ["peeked", "new"]);
    store.ok(&["mailbox", "pop3-keep", "ann@example.com", "forever"], None);
    let mut c = Conn::open(&server).await;
    assert!(c.cmd("USER ann@example.com").await.starts_with("+OK"));
    assert!(c.cmd("PASS anns password").await.starts_with("+OK Maildrop has 2 messages"));
}

/// RFC 1939's exclusive maildrop lock holds across nodes: two servers on the same database,
/// a session on one keeps the other (and the same node) out until it ends.
async fn the_maildrop_lock_holds_across_nodes(store: &Store) {
    setup(store);
    let first = Server::start(store, &[]);
    let second = Server::start(store, &[]);
    let login = async |server: &Server| {
        let mut c = Conn::open(server).await;
        assert!(c.cmd("USER ann@example.com").await.starts_with("+OK"));
        let answer = c.cmd("PASS anns password").await;
        (c, answer)
    };
    let (mut a, answer) = login(&first).await;
    assert!(answer.starts_with("+OK"), "{answer}");
    let (_, answer) = login(&second).await;
    assert!(answer.starts_with("-ERR [IN-USE]"), "the other node: {answer}");
    let (_, answer) = login(&first).await;
    assert!(answer.starts_with("-ERR [IN-USE]"), "the same node: {answer}");
    assert!(a.cmd("QUIT").await.starts_with("+OK"));
    assert!(a.closed().await);
    // Given back at QUIT: the other node may have it now.
    let mut answer = String::new();
    for _ in 0..50 {
        let (mut b, got) = login(&second).await;
        answer = got;
        if answer.starts_with("+OK") {
            assert!(b.cmd("QUIT").await.starts_with("+OK"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answer.starts_with("+OK"), "after QUIT: {answer}");
    // A connection dropped without QUIT gives it back too.
    let (c, answer) = login(&first).await;
    assert!(answer.starts_with("+OK"));
    drop(c);
    let mut answer = String::new();
    for _ in 0..50 {
        let (_, got) = login(&second).await;
        answer = got;
        if answer.starts_with("+OK") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answer.starts_with("+OK"), "after a dropped connection: {answer}");
}
