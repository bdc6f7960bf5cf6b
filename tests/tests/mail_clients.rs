//! Real mail programs against the running server, on SQLite and PostgreSQL: mutt sends in
//! batch mode through the submission port (AUTH), and fetchmail downloads over POP3 leaving
//! mail on the server: the second run finds nothing new, a third one only what came since.
//! `./scripts/test` installs both (apt-get).

#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Command, Output};

use support::{Server, Store};

both_stores!(mutt_sends_and_fetchmail_leaves_mail_on_the_server);

fn program(name: &str) -> Command {
    let path = ["/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} is needed for this test (./scripts/test installs it with apt-get)"));
    Command::new(path)
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// mutt in batch mode: the body on standard input, sent through `smtp_url`.
fn mutt_send(home: &std::path::Path, muttrc: &std::path::Path, subject: &str, body: &str) {
    use std::io::Write as _;
    let mut child = program("mutt")
        .env("HOME", home)
        .args(["-n", "-F"])
        .arg(muttrc)
        .args(["-s", subject, "bob@example.com"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "mutt: {}", show(&out));
}

async fn mutt_sends_and_fetchmail_leaves_mail_on_the_server(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    for u in ["ann", "bob"] {
        store.ok(&["user", "add", &format!("{u}@example.com"), "--password-stdin"], Some(&format!("{u}s password\n")));
    }
    let server = Server::start(store, &[]);
    let dir = store.dir.path();

    // mutt, batch mode: the message comes on standard input, AUTH over the submission port.
    let sub = server.submission_addr();
    let muttrc = dir.join("muttrc");
    std::fs::write(
        &muttrc,
        format!(
            "set from = \"Ann <ann@example.com>\"\nset smtp_url = \"smtp://ann%40example.com@127.0.0.1:{}/\"\n\
             set smtp_pass = \"anns password\"\nset ssl_starttls = no\nset ssl_force_tls = no\n\
             set record = \"\"\nset use_from = yes\nset charset = \"utf-8\"\nset send_charset = \"utf-8\"\n",
            sub.port()
        ),
    )
    .unwrap();
    for i in 1..=2 {
        mutt_send(dir, &muttrc, &format!("from mutt {i}"), &format!("Grüße number {i}.\n"));
    }
    let listed = store.ok(&["mailbox", "messages", "bob@example.com", "INBOX"], None);
    assert!(listed.contains("from mutt 1") && listed.contains("from mutt 2"), "{listed}");
    assert_eq!(store.ok(&["mailbox", "messages", "ann@example.com", "Sent"], None).lines().count(), 2);

    // fetchmail: keep mail on the server, remember UIDLs, hand each message to a file.
    let pop3 = server.pop3_addr();
    let (rc, ids, mbox) = (dir.join("fetchmailrc"), dir.join("fetchids"), dir.join("fetched"));
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\nset no syslog\npoll 127.0.0.1 protocol POP3 port {} uidl auth password\n  \
             user \"bob@example.com\" there with password \"bobs password\" is root here\n  \
             keep sslproto \"\" mda \"cat >> {}\"\n",
            pop3.port(),
            mbox.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let fetch = || {
        let out = program("fetchmail")
            .env("HOME", dir)
            .args(["-f"])
            .arg(&rc)
            .arg("-i")
            .arg(&ids)
            .args(["--nodetach", "-v"])
            .output()
            .unwrap();
        // 0: mail was fetched; 1: there was none.
        assert!(matches!(out.status.code(), Some(0 | 1)), "fetchmail: {}", show(&out));
        let text = String::from_utf8_lossy(&std::fs::read(&mbox).unwrap_or_default()).into_owned();
        (out.status.code(), text.matches("Subject: from mutt").count(), format!("{text}\n{}", show(&out)))
    };
    let (code, count, text) = fetch();
    assert_eq!((code, count), (Some(0), 2), "{text}");
    assert!(text.contains("Grüße number 1."), "{text}");
    // Left on the server, and fetchmail knows both: nothing new the second time.
    let (code, count, _) = fetch();
    assert_eq!((code, count), (Some(1), 2));
    assert_eq!(store.ok(&["mailbox", "messages", "bob@example.com", "INBOX"], None).lines().count(), 2);
    // Only the new one the third time.
    mutt_send(dir, &muttrc, "from mutt 3", "three\n");
    let (code, count, _) = fetch();
    assert_eq!((code, count), (Some(0), 3));
}
