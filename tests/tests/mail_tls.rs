//! TLS for the mail protocols on SQLite and PostgreSQL, driven by Python's smtplib, poplib and
//! imaplib (real clients): STARTTLS on submission and the MX port, implicit TLS on the
//! submissions port (RFC 8314), STLS and implicit TLS for POP3, STARTTLS and implicit TLS for IMAP. Passwords are refused in the clear from
//! other machines; here (loopback) the test checks what the server offers and that mail sent
//! over TLS arrives and reads back over TLS.

#![allow(clippy::unwrap_used)]

mod support;

use support::{Server, Store};

both_stores!(submission_and_pop3_over_tls);

/// A self-signed certificate for localhost, made with the openssl command.
fn certificate(store: &Store) -> (String, String) {
    let dir = store.dir.path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert.display().to_string(), key.display().to_string())
}

fn python(script: &str, args: &[String]) -> String {
    let python = std::env::var("KONTOR_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python).arg("-c").arg(script).args(args).output().expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const CLIENTS: &str = r#"
import imaplib, poplib, smtplib, socket, ssl, sys
from email.message import EmailMessage
host, sub, subs, mx, pop, pops, imap, imaps = sys.argv[1], *map(int, sys.argv[2:9])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def mail(subject):
    m = EmailMessage()
    m["From"] = "ann@example.com"
    m["To"] = "bob@example.com"
    m["Subject"] = subject
    m.set_content("sent over TLS")
    return m

# Submission with STARTTLS: TLS offered, then AUTH over it.
s = smtplib.SMTP(host, sub, timeout=30)
s.ehlo()
assert s.has_extn("starttls"), s.esmtp_features
s.starttls(context=ctx)
s.ehlo()
assert not s.has_extn("starttls"), "STARTTLS is not offered twice"
s.login("ann@example.com", "anns password")
s.send_message(mail("starttls"))
s.quit()
print("submission starttls ok")

# What a client sends in the clear after STARTTLS is dropped, not run inside TLS (RFC 3207 §6).
raw = socket.create_connection((host, sub), timeout=30)
f = raw.makefile("rb")
f.readline()
raw.sendall(b"EHLO x\r\n")
while not f.readline().startswith(b"250 "):
    pass
raw.sendall(b"STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n")
assert f.readline().startswith(b"220"), "STARTTLS answered"
tls = ctx.wrap_socket(raw)
tf = tls.makefile("rb")
tls.sendall(b"EHLO x\r\n")
first = tf.readline()
assert first.startswith(b"250-"), first
tls.sendall(b"QUIT\r\n")
tls.close()
print("starttls injection dropped")

# Implicit TLS (port 465).
s = smtplib.SMTP_SSL(host, subs, context=ctx, timeout=30)
s.login("ann@example.com", "anns password")
s.send_message(mail("implicit"))
s.quit()
print("submissions ok")

# The MX port offers STARTTLS too.
s = smtplib.SMTP(host, mx, timeout=30)
s.ehlo()
assert s.has_extn("starttls")
s.starttls(context=ctx)
s.ehlo()
s.sendmail("x@elsewhere.org", ["bob@example.com"], "Subject: mx over tls\r\n\r\nhi\r\n")
s.quit()
print("mx starttls ok")

def subjects(p):
    p.user("bob@example.com")
    p.pass_("bobs password")
    count = len(p.list()[1])
    out = []
    for i in range(1, count + 1):
        lines = p.retr(i)[1]
        out += [l.decode() for l in lines if l.startswith(b"Subject: ")]
    p.quit()
    return sorted(out)

p = poplib.POP3(host, pop, timeout=30)
assert "STLS" in p.capa(), p.capa()
p.stls(context=ctx)
assert "STLS" not in p.capa(), "STLS is not offered over TLS"
print("pop3 stls", subjects(p))
print("pop3s", subjects(poplib.POP3_SSL(host, pops, context=ctx, timeout=30)))

def imap_subjects(m):
    assert "STARTTLS" not in m.capabilities, m.capabilities
    m.login("bob@example.com", "bobs password")
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subjects = sorted(part[1].decode().strip() for part in data if isinstance(part, tuple))
    m.logout()
    return subjects

m = imaplib.IMAP4(host, imap, timeout=30)
assert "STARTTLS" in m.capabilities, m.capabilities
m.starttls(ssl_context=ctx)
print("imap starttls", imap_subjects(m))
print("imaps", imap_subjects(imaplib.IMAP4_SSL(host, imaps, ssl_context=ctx, timeout=30)))
"#;

async fn submission_and_pop3_over_tls(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    for u in ["ann", "bob"] {
        store.ok(&["user", "add", &format!("{u}@example.com"), "--password-stdin"], Some(&format!("{u}s password\n")));
    }
    let (cert, key) = certificate(store);
    let server = Server::start(
        store,
        &[
            ("KONTOR_TLS_CERT", &cert),
            ("KONTOR_TLS_KEY", &key),
            ("KONTOR_SUBMISSIONS", "127.0.0.1:0"),
            ("KONTOR_POP3S", "127.0.0.1:0"),
            ("KONTOR_IMAPS", "127.0.0.1:0"),
        ],
    );
    let port = |label: &str| {
        let prefix = format!("{label} listening on ");
        let addr = server.banner.iter().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("{label}"));
        addr.rsplit_once(':').unwrap().1.to_owned()
    };
    let out = python(
        CLIENTS,
        &[
            "127.0.0.1".into(),
            port("SUBMISSION"),
            port("SUBMISSIONS"),
            port("SMTP"),
            port("POP3"),
            port("POP3S"),
            port("IMAP"),
            port("IMAPS"),
        ],
    );
    let want = "Subject: implicit', 'Subject: mx over tls', 'Subject: starttls']";
    assert!(out.contains("submission starttls ok") && out.contains("submissions ok") && out.contains("mx starttls ok"));
    assert!(out.contains("starttls injection dropped"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("pop3 stls") && l.ends_with(want)), "{out}");
    assert!(out.lines().any(|l| l.starts_with("pop3s") && l.ends_with(want)), "{out}");
    for label in ["imap starttls", "imaps"] {
        assert!(out.lines().any(|l| l.starts_with(label) && l.ends_with(want)), "{label}: {out}");
    }
    // Mail that came in over TLS says so in its Received: header.
    let shown = store.ok(&["mailbox", "show", "bob@example.com", "INBOX", "1"], None);
    assert!(shown.contains("with ESMTPSA"), "{shown}");
}
