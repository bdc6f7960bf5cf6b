//! Submission and the outbound queue on SQLite and PostgreSQL: a real client (lettre) signs in
//! on the submission port and sends as itself, as a colleague who granted send-as or
//! send-on-behalf (Sender: added), and is refused otherwise; copies land in Sent and local
//! inboxes; remote mail goes through the durable queue to a loopback SMTP sink found by MX
//! lookup in a loopback DNS server, DKIM-signed, retried after a temporary failure, bounced
//! (DSN) after a permanent one or when the retry window is over, with the DSN requests of
//! RFC 3461 (NOTIFY, RET, ENVID, ORCPT) kept and honoured. A second server checks SPF, DKIM
//! and DMARC of what the first one sent and records them in Authentication-Results.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use support::dns::Dns;
use support::{Server, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

both_stores!(
    submission_and_the_outbound_queue,
    authentication_results_of_signed_mail,
    dsn_requests_are_kept_and_honoured,
    relay_tls_policy_and_sign_in
);

/// Adds the domain (printing its DKIM record, returned) and ann, bob, carol, dave.
fn setup(store: &Store) -> (String, String) {
    let out = store.ok(&["domain", "add", "example.com"], None);
    let line = out.lines().find(|l| l.contains("._domainkey.")).expect("the DKIM record is printed");
    let record = dkim_record(line);
    for u in ["ann", "bob", "carol", "dave"] {
        store.ok(&["user", "add", &format!("{u}@example.com"), "--password-stdin"], Some(&format!("{u}s password\n")));
    }
    store.ok(&["alias", "add", "info@example.com", "ann@example.com"], None);
    // `domain dkim` prints the same record again.
    let again = dkim_record(&store.ok(&["domain", "dkim", "example.com"], None));
    assert_eq!(again, record);
    record
}

/// (name, value) of a `NAME TXT "PART" "PART"…` line (strings of at most 255 characters).
fn dkim_record(line: &str) -> (String, String) {
    let at = line.find("._domainkey.").unwrap();
    let start = line[..at].rfind(' ').map_or(0, |i| i + 1);
    let rest = &line[start..];
    let (name, value) = rest.split_once(" TXT ").unwrap();
    let parts: Vec<&str> = value.trim().split('"').filter(|p| !p.trim().is_empty()).collect();
    assert!(parts.iter().all(|p| p.len() <= 255), "{value}");
    (name.to_owned(), parts.concat())
}

fn client(server: &Server, user: &str) -> AsyncSmtpTransport<Tokio1Executor> {
    let addr = server.submission_addr();
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .credentials(Credentials::new(format!("{user}@example.com"), format!("{user}s password")))
        .timeout(Some(Duration::from_secs(30)))
        .build()
}

fn message(from: &str, to: &[&str], subject: &str) -> lettre::Message {
    let mut b = lettre::Message::builder().from(from.parse().unwrap()).subject(subject);
    for t in to {
        b = b.to(t.parse().unwrap());
    }
    b.body(format!("This is {subject}.\n")).unwrap()
}

/// (uid, from, subject) of a mailbox, as the admin command lists them.
fn messages(store: &Store, address: &str, mailbox: &str) -> Vec<(u32, String, String)> {
    store
        .ok(&["mailbox", "messages", address, mailbox], None)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].parse().unwrap(), f[3].to_owned(), f[4].to_owned())
        })
        .collect()
}

/// Waits (bounded) until `check` holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 30 s");
}

/// What the sink received: (MAIL FROM, RCPT TO, data).
type Received = Arc<Mutex<Vec<(String, String, String)>>>;
/// Lines it was sent (RCPT addresses, AUTH lines).
type Lines = Arc<Mutex<Vec<String>>>;

/// A scripted SMTP server on loopback: takes every message, except that the first `fail_once`
/// RCPTs get 451, addresses in `always_451` always get 451 and those in `reject` get 550.
struct Sink {
    addr: std::net::SocketAddr,
    received: Received,
    rcpt_attempts: Arc<Mutex<Vec<String>>>,
    /// The AUTH lines it was sent (it takes any).
    auths: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    async fn start(fail_once: usize, always_451: &'static [&'static str], reject: &'static [&'static str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Received = Arc::default();
        let rcpt_attempts: Arc<Mutex<Vec<String>>> = Arc::default();
        let auths: Arc<Mutex<Vec<String>>> = Arc::default();
        let fails = Arc::new(Mutex::new(fail_once));
        let (r, a, au) = (received.clone(), rcpt_attempts.clone(), auths.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { return };
                let (r, a, au, fails) = (r.clone(), a.clone(), au.clone(), fails.clone());
                tokio::spawn(async move {
                    let _ = Self::session(socket, (r, a, au), fails, always_451, reject).await;
                });
            }
        });
        Self { addr, received, rcpt_attempts, auths, task }
    }

    async fn session(
        socket: TcpStream,
        (received, attempts, auths): (Received, Lines, Lines),
        fails: Arc<Mutex<usize>>,
        always_451: &[&str],
        reject: &[&str],
    ) -> std::io::Result<()> {
        let (read, mut write) = socket.into_split();
        let mut reader = BufReader::new(read);
        write.write_all(b"220 sink.test ESMTP\r\n").await?;
        let (mut from, mut rcpts) = (String::new(), Vec::<String>::new());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let upper = line.to_ascii_uppercase();
            let addr = || line.split_once('<').and_then(|(_, r)| r.split_once('>')).map(|(a, _)| a.to_owned());
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-sink.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("AUTH") {
                auths.lock().unwrap().push(line.trim_end().to_owned());
                b"235 2.7.0 ok\r\n"
            } else if upper.starts_with("MAIL") {
                from = addr().unwrap_or_default();
                rcpts.clear();
                b"250 ok\r\n"
            } else if upper.starts_with("RCPT") {
                let to = addr().unwrap_or_default();
                attempts.lock().unwrap().push(to.clone());
                let mut f = fails.lock().unwrap();
                if *f > 0 {
                    *f -= 1;
                    b"451 4.3.0 try again later\r\n"
                } else if always_451.contains(&to.as_str()) {
                    b"451 4.2.1 mailbox busy\r\n"
                } else if reject.contains(&to.as_str()) {
                    b"550 5.1.1 no such user\r\n"
                } else {
                    rcpts.push(to);
                    b"250 ok\r\n"
                }
            } else if upper.starts_with("DATA") {
                write.write_all(b"354 go on\r\n").await?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).await? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                for to in rcpts.drain(..) {
                    received.lock().unwrap().push((from.clone(), to, data.clone()));
                }
                b"250 queued\r\n"
            } else if upper.starts_with("QUIT") {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                b"250 ok\r\n"
            };
            write.write_all(reply).await?;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A raw connection to the submission port.
async fn raw(server: &Server) -> (BufReader<tokio::net::tcp::OwnedReadHalf>, tokio::net::tcp::OwnedWriteHalf) {
    let s = TcpStream::connect(server.submission_addr()).await.unwrap();
    let (r, w) = s.into_split();
    let mut r = BufReader::new(r);
    let mut greeting = String::new();
    r.read_line(&mut greeting).await.unwrap();
    assert!(greeting.starts_with("220 "));
    (r, w)
}

async fn cmd(
    c: &mut (BufReader<tokio::net::tcp::OwnedReadHalf>, tokio::net::tcp::OwnedWriteHalf),
    line: &str,
) -> String {
    c.1.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
    let mut all = String::new();
    loop {
        let mut l = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), c.0.read_line(&mut l)).await.unwrap().unwrap();
        assert!(n > 0, "closed after {all:?}");
        all.push_str(&l);
        if l.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

async fn submission_and_the_outbound_queue(store: &Store) {
    setup(store);
    store.ok(&["delegate", "bob@example.com", "ann@example.com", "send-on-behalf"], None);
    store.ok(&["delegate", "carol@example.com", "ann@example.com", "send-as"], None);
    let dns = Dns::start().await;
    dns.mx("remote.test", 10, "mx.remote.test");
    dns.a("mx.remote.test", Ipv4Addr::LOCALHOST);
    let sink = Sink::start(1, &["slow@remote.test"], &["nobody@remote.test"]).await;
    let server = Server::start(
        store,
        &[
            ("KONTOR_DNS_SERVERS", &dns.addr.to_string()),
            ("KONTOR_OUTBOUND_PORT", &sink.addr.port().to_string()),
            ("KONTOR_OUTBOUND_RETRY", "300ms"),
            ("KONTOR_OUTBOUND_POLL", "200ms"),
            ("KONTOR_OUTBOUND_GIVE_UP", "3s"),
        ],
    );

    // Ann sends to a colleague (local), through an alias, and to a remote address.
    let ann = client(&server, "ann");
    ann.send(message("Ann <ann@example.com>", &["bob@example.com", "far@remote.test"], "hello both")).await.unwrap();
    assert_eq!(messages(store, "bob@example.com", "INBOX"), [(1, "Ann <ann@example.com>".into(), "hello both".into())]);
    assert_eq!(messages(store, "ann@example.com", "Sent").len(), 1, "a copy in Sent");
    let sent = store.ok(&["mailbox", "show", "ann@example.com", "Sent", "1"], None);
    assert!(sent.contains("Message-ID: <") && sent.contains("Date: "), "Message-ID and Date added: {sent}");
    // The sink refused the first RCPT (451); the queue tried again and it went through, signed.
    eventually("the remote copy arrives", || !sink.received.lock().unwrap().is_empty()).await;
    let (from, to, data) = sink.received.lock().unwrap()[0].clone();
    assert_eq!((from.as_str(), to.as_str()), ("ann@example.com", "far@remote.test"));
    assert!(data.starts_with("DKIM-Signature: v=1; a=rsa-sha256;"), "signed: {data}");
    assert!(data.contains("d=example.com") && data.contains("Subject: hello both"));
    assert!(sink.rcpt_attempts.lock().unwrap().iter().filter(|a| *a == "far@remote.test").count() >= 2);
    eventually("the queue is empty", || store.ok(&["queue", "list"], None).trim().is_empty()).await;

    // Send-as: From carol, no Sender. Send-on-behalf: From bob, Sender ann.
    ann.send(message("carol@example.com", &["dave@example.com"], "as carol")).await.unwrap();
    ann.send(message("bob@example.com", &["dave@example.com"], "for bob")).await.unwrap();
    let inbox = messages(store, "dave@example.com", "INBOX");
    assert_eq!(inbox.iter().map(|m| m.2.as_str()).collect::<Vec<_>>(), ["as carol", "for bob"]);
    let as_carol = store.ok(&["mailbox", "show", "dave@example.com", "INBOX", "1"], None);
    assert!(!as_carol.contains("Sender:"), "{as_carol}");
    let for_bob = store.ok(&["mailbox", "show", "dave@example.com", "INBOX", "2"], None);
    assert!(for_bob.contains("Sender: <ann@example.com>"), "{for_bob}");
    // The alias is Ann's own address.
    ann.send(message("info@example.com", &["dave@example.com"], "from info")).await.unwrap();
    // Nobody gave Ann dave's address, nor an outside one.
    for forged in ["dave@example.com", "someone@elsewhere.org"] {
        let e = ann.send(message(forged, &["bob@example.com"], "forged")).await.unwrap_err();
        assert!(e.to_string().contains("5.7.1") || e.to_string().contains("550"), "{forged}: {e}");
    }
    assert_eq!(messages(store, "bob@example.com", "INBOX").len(), 1, "nothing forged delivered");
    // Bob's grant taken back: refused again.
    store.ok(&["delegate", "bob@example.com", "ann@example.com", "none"], None);
    assert!(ann.send(message("bob@example.com", &["dave@example.com"], "again")).await.is_err());

    // A permanent failure (550) bounces at once; a recipient that never takes it bounces once
    // the retry window (3 s here) is over. Both DSNs go to Ann's INBOX.
    ann.send(message("ann@example.com", &["nobody@remote.test", "slow@remote.test"], "bounce me")).await.unwrap();
    eventually("two bounces", || messages(store, "ann@example.com", "INBOX").len() == 2).await;
    let inbox = messages(store, "ann@example.com", "INBOX");
    assert!(inbox.iter().all(|m| m.2 == "Undelivered mail returned to sender"), "{inbox:?}");
    let dsns: String =
        (1..=2).map(|uid| store.ok(&["mailbox", "show", "ann@example.com", "INBOX", &uid.to_string()], None)).collect();
    for want in [
        "Content-Type: multipart/report; report-type=delivery-status",
        "Final-Recipient: rfc822; nobody@remote.test",
        "Final-Recipient: rfc822; slow@remote.test",
        "Status: 5.1.1",
        "Status: 4.4.7",
        "550 5.1.1 no such user",
        "gave up after",
        "Subject: bounce me",
    ] {
        assert!(dsns.contains(want), "the DSNs say {want:?}: {dsns}");
    }
    assert!(store.ok(&["queue", "list"], None).trim().is_empty());

    // The protocol's edges: no MAIL before AUTH, wrong passwords refused, unknown local
    // recipients refused at RCPT.
    let mut c = raw(&server).await;
    let ehlo = cmd(&mut c, "EHLO client.test").await;
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    assert!(cmd(&mut c, "MAIL FROM:<ann@example.com>").await.starts_with("530 "));
    assert!(cmd(&mut c, "AUTH PLAIN AGFubkBleGFtcGxlLmNvbQB3cm9uZw==").await.starts_with("535 "), "wrong password");
    assert!(cmd(&mut c, "AUTH LOGIN").await.starts_with("334 "));
    assert!(cmd(&mut c, "YW5uQGV4YW1wbGUuY29t").await.starts_with("334 "));
    assert!(cmd(&mut c, "YW5ucyBwYXNzd29yZA==").await.starts_with("235 "), "AUTH LOGIN");
    assert!(cmd(&mut c, "MAIL FROM:<ann@example.com>").await.starts_with("250 "));
    assert!(cmd(&mut c, "RCPT TO:<ghost@example.com>").await.starts_with("550 5.1.1"));
    assert!(cmd(&mut c, "RCPT TO:<far@remote.test>").await.starts_with("250 "));
    assert!(cmd(&mut c, "RSET").await.starts_with("250 "));

    // What the header says is checked, not only the envelope: two From fields (mail programs
    // show the first), an envelope sender Ann may not use, a Sender: of the client's own.
    let mut send = async |from: &str, rcpts: &[&str], data: &str| -> String {
        let r = cmd(&mut c, &format!("MAIL FROM:<{from}>")).await;
        if !r.starts_with("250 ") {
            return r;
        }
        for to in rcpts {
            assert!(cmd(&mut c, &format!("RCPT TO:<{to}>")).await.starts_with("250 "));
        }
        assert!(cmd(&mut c, "DATA").await.starts_with("354 "));
        cmd(&mut c, &format!("{data}\r\n.")).await
    };
    let two_from = "From: carol@example.com\r\nFrom: ann@example.com\r\nSubject: two\r\n\r\nx";
    assert!(
        send(
            "ann@example.com",
            &["bob@example.com"],
            "From: dave@example.com\r\nFrom: ann@example.com\r\nSubject: t\r\n\r\nx"
        )
        .await
        .starts_with("550 5.6.0")
    );
    assert!(send("ann@example.com", &["bob@example.com"], two_from).await.starts_with("550 5.6.0"));
    assert!(
        send("dave@example.com", &["bob@example.com"], "From: ann@example.com\r\n\r\nx").await.starts_with("550 5.7.1")
    );
    let own_sender = "From: ann@example.com\r\nSender: carol@example.com\r\nTo: bob@example.com\r\n\
                      Bcc: dave@example.com\r\nSubject: sender and bcc\r\n\r\nhidden copy";
    assert!(
        send(
            "ann@example.com",
            &["bob@example.com", "dave@example.com", "twice@remote.test", "twice@REMOTE.test"],
            own_sender
        )
        .await
        .starts_with("250 ")
    );
    for (who, mailbox) in [("bob@example.com", "INBOX"), ("dave@example.com", "INBOX"), ("ann@example.com", "Sent")] {
        let listed = messages(store, who, mailbox);
        let uid = listed.iter().find(|m| m.2 == "sender and bcc").unwrap_or_else(|| panic!("{who}: {listed:?}")).0;
        let shown = store.ok(&["mailbox", "show", who, mailbox, &uid.to_string()], None);
        assert!(!shown.contains("Sender:"), "the client's Sender is dropped: {shown}");
        assert_eq!(
            shown.contains("Bcc: dave@example.com"),
            who == "ann@example.com",
            "Bcc only in Sent: {who}: {shown}"
        );
    }
    eventually("the remote copy", || sink.received.lock().unwrap().iter().any(|r| r.2.contains("hidden copy"))).await;
    let copies = sink.received.lock().unwrap().iter().filter(|r| r.2.contains("hidden copy")).count();
    assert_eq!(copies, 1, "one remote copy for a recipient given twice");
    // A domain that does not exist bounces at once (no five days of retries).
    assert!(
        send("ann@example.com", &["someone@nowhere.test"], "From: ann@example.com\r\nSubject: lost\r\n\r\nx")
            .await
            .starts_with("250 ")
    );
    eventually("a bounce for a domain that does not exist", || messages(store, "ann@example.com", "INBOX").len() == 3)
        .await;
    let dsn = store.ok(&["mailbox", "show", "ann@example.com", "INBOX", "3"], None);
    assert!(dsn.contains("Final-Recipient: rfc822; someone@nowhere.test") && dsn.contains("Status: 5.1.2"), "{dsn}");
    assert!(cmd(&mut c, "QUIT").await.starts_with("221 "));

    // From outside (MX port): stored for Bob, too big for Carol's quota. 250 for the message
    // (Bob has it), and the remote sender gets a DSN with the null sender, through the queue.
    store.ok(&["quota", "set", "carol@example.com", "1KiB"], None);
    let mx = server.smtp_addr();
    let outside = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(mx.ip().to_string()).port(mx.port()).build();
    let envelope = lettre::address::Envelope::new(
        Some("someone@remote.test".parse().unwrap()),
        vec!["bob@example.com".parse().unwrap(), "carol@example.com".parse().unwrap()],
    )
    .unwrap();
    let big = format!("From: someone@remote.test\r\nSubject: too big for one\r\n\r\n{}\r\n", "z".repeat(3000));
    outside.send_raw(&envelope, big.as_bytes()).await.unwrap();
    eventually("a DSN to the outside sender", || {
        sink.received.lock().unwrap().iter().any(|r| r.1 == "someone@remote.test")
    })
    .await;
    let (from, _, data) = sink.received.lock().unwrap().iter().find(|r| r.1 == "someone@remote.test").cloned().unwrap();
    assert_eq!(from, "", "bounces have the null sender");
    assert!(data.contains("Final-Recipient: rfc822; carol@example.com") && data.contains("Status: 5.2.2"), "{data}");
    assert!(messages(store, "bob@example.com", "INBOX").iter().any(|m| m.2 == "too big for one"));
}

/// Server A signs what it sends; server B, for remote.test, checks SPF, DKIM and DMARC against
/// the loopback DNS and records the results. Mail whose sender's SPF record does not list
/// the client's address fails SPF and DMARC there.
async fn authentication_results_of_signed_mail(store: &Store) {
    let (name, value) = setup(store);
    let receiver = Store::new(store.db).await;
    receiver.ok(&["domain", "add", "remote.test"], None);
    receiver.ok(&["user", "add", "far@remote.test", "--password-stdin"], Some("fars password\n"));
    let dns = Dns::start().await;
    dns.txt(&name, &value);
    dns.txt("example.com", "v=spf1 ip4:127.0.0.1 -all");
    dns.txt("_dmarc.example.com", "v=DMARC1; p=reject");
    dns.txt("forged.test", "v=spf1 ip4:192.0.2.1 -all");
    dns.txt("_dmarc.forged.test", "v=DMARC1; p=reject");
    dns.mx("remote.test", 10, "mx.remote.test");
    dns.a("mx.remote.test", Ipv4Addr::LOCALHOST);
    let b = Server::start(
        &receiver,
        &[("KONTOR_DNS_SERVERS", &dns.addr.to_string()), ("KONTOR_MAIL_VERIFY_INBOUND", "true")],
    );
    let a = Server::start(
        store,
        &[
            ("KONTOR_DNS_SERVERS", &dns.addr.to_string()),
            ("KONTOR_OUTBOUND_PORT", &b.smtp_addr().port().to_string()),
            ("KONTOR_OUTBOUND_POLL", "200ms"),
        ],
    );
    client(&a, "ann").send(message("ann@example.com", &["far@remote.test"], "signed")).await.unwrap();
    eventually("the mail reaches the other server", || !messages(&receiver, "far@remote.test", "INBOX").is_empty())
        .await;
    let got = receiver.ok(&["mailbox", "show", "far@remote.test", "INBOX", "1"], None);
    let results = got.split("\r\n\r\n").next().unwrap_or_default().replace("\r\n\t", " ");
    for want in ["Authentication-Results: ", "spf=pass", "dkim=pass", "header.d=example.com", "dmarc=pass"] {
        assert!(results.contains(want), "{want:?} in {results}");
    }

    // Straight to B's MX, From an address whose SPF does not allow 127.0.0.1.
    let mx = b.smtp_addr();
    let forged = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(mx.ip().to_string()).port(mx.port()).build();
    // It also claims a pass in a results header of B's name, which B drops (RFC 8601 §5).
    let raw = "From: liar@forged.test\r\nTo: far@remote.test\r\nSubject: forged\r\n\
               Authentication-Results: example.com; dkim=pass header.d=forged.test\r\n\r\nhi\r\n";
    let envelope = lettre::address::Envelope::new(
        Some("liar@forged.test".parse().unwrap()),
        vec!["far@remote.test".parse().unwrap()],
    )
    .unwrap();
    forged.send_raw(&envelope, raw.as_bytes()).await.unwrap();
    eventually("the forged mail is stored", || messages(&receiver, "far@remote.test", "INBOX").len() == 2).await;
    let got = receiver.ok(&["mailbox", "show", "far@remote.test", "INBOX", "2"], None);
    let results = got.split("\r\n\r\n").next().unwrap_or_default().replace("\r\n\t", " ");
    for want in ["spf=fail", "dkim=none", "dmarc=fail", "header.from=forged.test"] {
        assert!(results.contains(want), "{want:?} in {results}");
    }
    assert_eq!(results.matches("Authentication-Results:").count(), 1, "the forged one is gone: {results}");
    assert!(!results.contains("dkim=pass"), "{results}");
    drop(a);
    drop(b);
    receiver.drop_database().await;
}

/// RFC 3461: DSN is offered on both ports; what MAIL and RCPT ask is kept with the queue
/// entries and decides the reports: NOTIFY=NEVER none, FAILURE a bounce (RET=FULL with the
/// whole message, ENVID and ORCPT given back), SUCCESS "relayed" for a remote recipient and
/// "delivered" for a local one, also for mail from outside (to its sender, through the queue).
async fn dsn_requests_are_kept_and_honoured(store: &Store) {
    setup(store);
    let dns = Dns::start().await;
    dns.mx("remote.test", 10, "mx.remote.test");
    dns.a("mx.remote.test", Ipv4Addr::LOCALHOST);
    let sink = Sink::start(0, &[], &["nobody@remote.test", "gone@remote.test"]).await;
    let server = Server::start(
        store,
        &[
            ("KONTOR_DNS_SERVERS", &dns.addr.to_string()),
            ("KONTOR_OUTBOUND_PORT", &sink.addr.port().to_string()),
            ("KONTOR_OUTBOUND_RETRY", "300ms"),
            ("KONTOR_OUTBOUND_POLL", "200ms"),
        ],
    );
    let mut c = raw(&server).await;
    assert!(cmd(&mut c, "EHLO client.test").await.contains("250-DSN\r\n"));
    assert!(cmd(&mut c, "AUTH LOGIN").await.starts_with("334 "));
    assert!(cmd(&mut c, "YW5uQGV4YW1wbGUuY29t").await.starts_with("334 "));
    assert!(cmd(&mut c, "YW5ucyBwYXNzd29yZA==").await.starts_with("235 "));
    let long = format!("MAIL FROM:<ann@example.com> ENVID={}", "x".repeat(101));
    assert!(cmd(&mut c, &long).await.starts_with("501 "), "ENVID of more than 100 characters");
    assert!(cmd(&mut c, "MAIL FROM:<ann@example.com> RET=FULL ENVID=QQ+2B314159").await.starts_with("250 "));
    for (rcpt, reply) in [
        ("<nobody@remote.test> NOTIFY=NEVER", "250 "),
        ("<gone@remote.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;Gone+40Remote.test", "250 "),
        ("<far@remote.test> NOTIFY=SUCCESS", "250 "),
        ("<bob@example.com> NOTIFY=SUCCESS,FAILURE", "250 "),
        ("<dave@example.com> NOTIFY=NEVER", "250 "),
        ("<odd@remote.test> NOTIFY=NEVER,SUCCESS", "501 "),
    ] {
        let r = cmd(&mut c, &format!("RCPT TO:{rcpt}")).await;
        assert!(r.starts_with(reply), "{rcpt}: {r}");
    }
    assert!(cmd(&mut c, "DATA").await.starts_with("354 "));
    let data = "From: ann@example.com\r\nSubject: dsn test\r\n\r\nthe whole body\r\n.";
    assert!(cmd(&mut c, data).await.starts_with("250 "));
    assert!(cmd(&mut c, "QUIT").await.starts_with("221 "));

    eventually("the remote copy", || sink.received.lock().unwrap().iter().any(|r| r.1 == "far@remote.test")).await;
    eventually("the queue is empty", || store.ok(&["queue", "list"], None).trim().is_empty()).await;
    // Delivered (bob), relayed (far), failed (gone); nothing for nobody (NEVER) or dave.
    eventually("three reports", || messages(store, "ann@example.com", "INBOX").len() >= 3).await;
    let inbox = messages(store, "ann@example.com", "INBOX");
    assert_eq!(inbox.len(), 3, "{inbox:?}");
    let reports: Vec<String> = inbox
        .iter()
        .map(|m| store.ok(&["mailbox", "show", "ann@example.com", "INBOX", &m.0.to_string()], None))
        .collect();
    let find = |rcpt: &str| {
        reports.iter().find(|r| r.contains(&format!("Final-Recipient: rfc822; {rcpt}"))).cloned().unwrap_or_default()
    };
    let failed = find("gone@remote.test");
    for want in [
        "Subject: Undelivered mail returned to sender",
        "Original-Envelope-Id: QQ+314159",
        "Original-Recipient: rfc822;Gone@Remote.test",
        "Action: failed",
        "Status: 5.1.1",
        "Content-Type: message/rfc822",
        "the whole body",
    ] {
        assert!(failed.contains(want), "{want:?} in {failed}");
    }
    let relayed = find("far@remote.test");
    assert!(relayed.contains("Action: relayed\r\nStatus: 2.0.0") && !relayed.contains("the whole body"), "{relayed}");
    let delivered = find("bob@example.com");
    assert!(delivered.contains("Action: delivered\r\nStatus: 2.0.0"), "{delivered}");
    assert!(find("nobody@remote.test").is_empty() && find("dave@example.com").is_empty(), "{reports:?}");
    assert_eq!(messages(store, "dave@example.com", "INBOX").len(), 1, "NEVER is about reports, not delivery");

    // From outside: NOTIFY=SUCCESS at the MX gets the sender a "delivered" report (null
    // sender, through the queue); the default gets none.
    let (r, w) = TcpStream::connect(server.smtp_addr()).await.unwrap().into_split();
    let mut mx = (BufReader::new(r), w);
    let mut greeting = String::new();
    mx.0.read_line(&mut greeting).await.unwrap();
    assert!(cmd(&mut mx, "EHLO mx.remote.test").await.contains("250-DSN\r\n"));
    assert!(cmd(&mut mx, "MAIL FROM:<someone@remote.test> ENVID=abc").await.starts_with("250 "));
    assert!(cmd(&mut mx, "RCPT TO:<bob@example.com> NOTIFY=SUCCESS").await.starts_with("250 "));
    assert!(cmd(&mut mx, "RCPT TO:<carol@example.com>").await.starts_with("250 "));
    assert!(cmd(&mut mx, "DATA").await.starts_with("354 "));
    assert!(
        cmd(&mut mx, "From: someone@remote.test\r\nSubject: from outside\r\n\r\nhi\r\n.").await.starts_with("250 ")
    );
    eventually("a delivered report to the outside sender", || {
        sink.received.lock().unwrap().iter().any(|r| r.1 == "someone@remote.test")
    })
    .await;
    let got: Vec<(String, String, String)> =
        sink.received.lock().unwrap().iter().filter(|r| r.1 == "someone@remote.test").cloned().collect();
    assert_eq!(got.len(), 1, "one report (bob), none for carol: {got:?}");
    let (from, _, report) = &got[0];
    assert_eq!(from, "", "reports have the null sender");
    for want in ["Final-Recipient: rfc822; bob@example.com", "Action: delivered", "Original-Envelope-Id: abc"] {
        assert!(report.contains(want), "{want:?} in {report}");
    }
}

/// A self-signed certificate for `localhost` that a TLS client can check (name in the subject
/// alternative names, not a CA), made with the openssl command: (certificate, key) paths.
fn certificate(store: &Store) -> (String, String) {
    let dir = store.dir.path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost", "-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert.display().to_string(), key.display().to_string())
}

/// The outbound TLS policy and the sign-in at a relay (`outbound.tls`, `relay_user`,
/// `relay_password`, `ca`): `may` hands mail to a relay without STARTTLS in the clear (and
/// signs in, the relay being on this machine); `encrypt` keeps it queued while the relay offers
/// no STARTTLS; `verify` while the relay's certificate is not trusted, and sends it once
/// `outbound.ca` trusts it (to a second server's MX port, over STARTTLS).
async fn relay_tls_policy_and_sign_in(store: &Store) {
    setup(store);
    let sink = Sink::start(0, &[], &[]).await;
    let to_sink = format!("127.0.0.1:{}", sink.addr.port());
    let env = |relay: &str, tls: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("KONTOR_OUTBOUND_RELAY", relay.to_owned()),
            ("KONTOR_OUTBOUND_TLS", tls.to_owned()),
            ("KONTOR_OUTBOUND_POLL", "200ms".to_owned()),
            ("KONTOR_OUTBOUND_RETRY", "200ms".to_owned()),
        ]
    };
    let start = |vars: &[(&'static str, String)]| {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::start(store, &pairs)
    };
    let queue = || store.ok(&["queue", "list"], None);
    // Stopped off the test's thread: the sink runs on it and may be in the middle of an attempt.
    let stop = |a: Server| async move {
        tokio::task::spawn_blocking(move || a.stop()).await.unwrap();
    };

    let mut vars = env(&to_sink, "may");
    vars.push(("KONTOR_OUTBOUND_RELAY_USER", "relayuser".to_owned()));
    vars.push(("KONTOR_OUTBOUND_RELAY_PASSWORD", "relay secret".to_owned()));
    let a = start(&vars);
    client(&a, "ann").send(message("ann@example.com", &["far@remote.test"], "via the relay")).await.unwrap();
    eventually("the relay gets it", || sink.received.lock().unwrap().iter().any(|r| r.2.contains("via the relay")))
        .await;
    let auths = sink.auths.lock().unwrap().clone();
    // AUTH PLAIN with "\0relayuser\0relay secret", base64.
    assert_eq!(auths, ["AUTH PLAIN AHJlbGF5dXNlcgByZWxheSBzZWNyZXQ="], "signed in once");
    stop(a).await;

    // encrypt: the sink offers no STARTTLS, so the message waits.
    let a = start(&env(&to_sink, "encrypt"));
    client(&a, "ann").send(message("ann@example.com", &["far@remote.test"], "secret stuff")).await.unwrap();
    eventually("an attempt that found no STARTTLS", || queue().to_ascii_lowercase().contains("starttls")).await;
    assert!(!sink.received.lock().unwrap().iter().any(|r| r.2.contains("secret stuff")), "not sent in the clear");
    stop(a).await;

    // verify, to a second server's MX port with a certificate for localhost.
    let receiver = Store::new(store.db).await;
    receiver.ok(&["domain", "add", "remote.test"], None);
    receiver.ok(&["user", "add", "far@remote.test", "--password-stdin"], Some("fars password\n"));
    let (cert, key) = certificate(&receiver);
    let b = Server::start(
        &receiver,
        &[("KONTOR_TLS_CERT", &cert), ("KONTOR_TLS_KEY", &key), ("KONTOR_MAIL_VERIFY_INBOUND", "false")],
    );
    let to_b = format!("localhost:{}", b.smtp_addr().port());
    let a = start(&env(&to_b, "verify"));
    store.ok(&["queue", "flush"], None);
    eventually("an attempt that did not trust the certificate", || {
        queue().to_ascii_lowercase().contains("certificate")
    })
    .await;
    assert!(messages(&receiver, "far@remote.test", "INBOX").is_empty(), "not sent to an unchecked server");
    stop(a).await;
    let mut vars = env(&to_b, "verify");
    vars.push(("KONTOR_OUTBOUND_CA", cert.clone()));
    let a = start(&vars);
    store.ok(&["queue", "flush"], None);
    eventually("delivered over checked TLS", || !messages(&receiver, "far@remote.test", "INBOX").is_empty()).await;
    let got = receiver.ok(&["mailbox", "show", "far@remote.test", "INBOX", "1"], None);
    assert!(got.contains("Subject: secret stuff") && got.contains("with ESMTPS"), "{got}");
    eventually("the queue is empty", || queue().trim().is_empty()).await;
    drop(a);
}
