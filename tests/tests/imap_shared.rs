//! Shared mailboxes and delegation over IMAP, and the IMAP4rev2 extensions, on SQLite and
//! PostgreSQL: a folder shared per role (`kontor share`, SETACL, `/api/shares`) shows under
//! `Shared/<owner>/…` with exactly the granted rights, \Seen is kept per user, what is not shared
//! stays invisible; LIST-EXTENDED/LIST-STATUS, STATUS SIZE, BINARY, QRESYNC, ENABLE IMAP4rev2.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{Server, Store};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

both_stores!(
    shared_folders_per_role,
    seen_is_kept_per_user,
    acl_commands_and_a_real_client,
    list_extended_status_and_binary,
    qresync_and_rev2,
    quota_acl_and_subscriptions_of_shared_mailboxes
);

fn setup(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["domain", "add", "other.org"], None);
    for user in ["ann@example.com", "bob@example.com", "carl@example.com", "eve@other.org"] {
        let name = user.split('@').next().unwrap();
        store.ok(&["user", "add", user, "--password-stdin"], Some(&format!("{name}s password\n")));
    }
}

async fn deliver(server: &Server, to: &str, messages: &[&str]) {
    support::deliver(server, to, messages).await;
}

struct Raw {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    /// A connection logged in as `user` (password: its name and "s password").
    async fn login(server: &Server, user: &str) -> Self {
        let (r, w) = TcpStream::connect(server.imap_addr()).await.unwrap().into_split();
        let mut raw = Self { reader: BufReader::new(r), writer: w };
        assert!(raw.line().await.starts_with("* OK "));
        let name = user.split('@').next().unwrap();
        let ok = raw.cmd("l0", &format!("LOGIN {user} \"{name}s password\"")).await;
        assert!(ok.last().unwrap().starts_with("l0 OK"), "{ok:?}");
        raw
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line)).await.unwrap().unwrap();
        assert!(n > 0, "closed");
        // A literal's bytes follow its line: read them into the same entry.
        if let Some(size) = line
            .trim_end()
            .strip_suffix('}')
            .and_then(|l| l.rsplit_once('{'))
            .and_then(|(_, n)| n.parse::<usize>().ok())
        {
            let mut data = vec![0; size];
            tokio::time::timeout(Duration::from_secs(30), self.reader.read_exact(&mut data)).await.unwrap().unwrap();
            line.push_str(&String::from_utf8_lossy(&data));
            line.push_str(&Box::pin(self.line()).await);
        }
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

    /// The tagged line of a command.
    async fn last(&mut self, tag: &str, text: &str) -> String {
        self.cmd(tag, text).await.pop().unwrap()
    }

    /// APPEND with a synchronizing literal.
    async fn append(&mut self, tag: &str, mailbox: &str, message: &str) -> String {
        self.writer.write_all(format!("{tag} APPEND {mailbox} {{{}}}\r\n", message.len()).as_bytes()).await.unwrap();
        let go = self.line().await;
        if !go.starts_with('+') {
            return go;
        }
        self.writer.write_all(format!("{message}\r\n").as_bytes()).await.unwrap();
        loop {
            let l = self.line().await;
            if l.starts_with(&format!("{tag} ")) {
                return l;
            }
        }
    }
}

const ANN_INBOX: &str = "\"Shared/ann@example.com/INBOX\"";

/// Each role does what it says and no more: reviewer reads (and keeps its \Seen), author also
/// adds, editor also flags, deletes and moves out, owner also shares on. A folder not shared is
/// neither listed nor selectable; grants go only to the same domain.
async fn shared_folders_per_role(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, "ann@example.com", &["Subject: one\r\n\r\n1", "Subject: two\r\n\r\n2"]).await;
    let mut ann = Raw::login(&server, "ann@example.com").await;
    assert!(ann.last("a1", "CREATE Private").await.starts_with("a1 OK"));
    assert!(ann.append("a2", "Private", "Subject: secret\r\n\r\nsecret").await.contains("OK"));

    // Before any grant bob sees nothing of ann's.
    let mut bob = Raw::login(&server, "bob@example.com").await;
    let list = bob.cmd("b1", "LIST \"\" \"*\"").await;
    assert!(!list.iter().any(|l| l.contains("ann@example.com")), "{list:?}");
    assert!(bob.last("b2", &format!("SELECT {ANN_INBOX}")).await.starts_with("b2 NO [NONEXISTENT]"));

    // Reviewer.
    let out = store.ok(&["share", "ann@example.com", "INBOX", "bob@example.com", "reviewer"], None);
    assert!(out.contains("reviewer"), "{out}");
    let err = store.fails(&["share", "ann@example.com", "INBOX", "eve@other.org", "reviewer"], None);
    assert!(err.contains("domain"), "grants stay in the domain: {err}");
    let ns = bob.cmd("b3", "NAMESPACE").await;
    assert_eq!(ns[0], "* NAMESPACE ((\"\" \"/\")) ((\"Shared/\" \"/\")) NIL\r\n");
    let list = bob.cmd("b4", "LIST \"\" \"*\"").await;
    assert!(list.contains(&"* LIST (\\Noselect \\HasChildren) \"/\" \"Shared\"\r\n".to_owned()), "{list:?}");
    assert!(
        list.contains(&"* LIST (\\HasNoChildren) \"/\" \"Shared/ann@example.com/INBOX\"\r\n".to_owned()),
        "{list:?}"
    );
    assert!(!list.iter().any(|l| l.contains("Private")), "not shared, not listed: {list:?}");
    assert!(bob.last("b5", "SELECT \"Shared/ann@example.com/Private\"").await.starts_with("b5 NO [NONEXISTENT]"));
    assert_eq!(bob.cmd("b6", &format!("MYRIGHTS {ANN_INBOX}")).await[0], format!("* MYRIGHTS {ANN_INBOX} lrs\r\n"));
    let sel = bob.cmd("b7", &format!("SELECT {ANN_INBOX}")).await;
    assert!(sel.contains(&"* 2 EXISTS\r\n".to_owned()), "{sel:?}");
    assert!(sel.contains(&"* OK [PERMANENTFLAGS (\\Seen)] Flags and keywords\r\n".to_owned()), "{sel:?}");
    let f = bob.cmd("b8", "FETCH 1 (BODY[TEXT])").await;
    assert!(f[0].contains("BODY[TEXT] {3}\r\n1\r\n"), "{f:?}");
    assert!(bob.last("b9", "STORE 1 +FLAGS (\\Flagged)").await.starts_with("b9 NO [NOPERM]"));
    assert!(bob.append("b10", ANN_INBOX, "Subject: from bob\r\n\r\nhi").await.starts_with("b10 NO [NOPERM]"));
    assert!(ann.last("a3", "SELECT INBOX").await.starts_with("a3 OK"));
    assert!(ann.last("a4", "STORE 2 +FLAGS.SILENT (\\Deleted)").await.starts_with("a4 OK"));
    bob.cmd("b11", "NOOP").await;
    assert!(bob.last("b12", "EXPUNGE").await.starts_with("b12 NO [NOPERM]"));
    assert!(bob.last("b13", "STORE 1 -FLAGS (\\Deleted)").await.starts_with("b13 NO [NOPERM]"));
    assert!(bob.last("b14", "MOVE 1 INBOX").await.starts_with("b14 NO [NOPERM]"), "moving out needs delete");
    assert!(bob.last("b15", "DELETE \"Shared/ann@example.com/INBOX\"").await.starts_with("b15 NO [NOPERM]"));

    // Author: adds, but still does not flag.
    store.ok(&["share", "ann@example.com", "INBOX", "bob@example.com", "author"], None);
    assert!(bob.append("b16", ANN_INBOX, "Subject: from bob\r\n\r\nhi").await.contains("OK [APPENDUID"));
    assert!(bob.last("b17", "STORE 1 +FLAGS (\\Flagged)").await.starts_with("b17 NO [NOPERM]"));

    // Editor (by SETACL): flags, expunges, moves out into bob's own INBOX.
    assert!(ann.last("a5", "SETACL INBOX bob@example.com lrswipte").await.starts_with("a5 OK"));
    let st = bob.cmd("b18", "STORE 1 +FLAGS (\\Flagged)").await;
    assert!(st.last().unwrap().starts_with("b18 OK"), "{st:?}");
    assert!(st[0].contains("\\Flagged"), "{st:?}");
    let ex = bob.cmd("b19", "EXPUNGE").await;
    assert!(ex.contains(&"* 2 EXPUNGE\r\n".to_owned()), "{ex:?}");
    let mv = bob.cmd("b20", "UID MOVE 1 INBOX").await;
    assert!(mv.last().unwrap().starts_with("b20 OK"), "{mv:?}");
    assert!(mv.contains(&"* 1 EXPUNGE\r\n".to_owned()), "{mv:?}");
    let own = bob.cmd("b21", "STATUS INBOX (MESSAGES)").await;
    assert_eq!(own[0], "* STATUS \"INBOX\" (MESSAGES 1)\r\n", "moved into bob's INBOX");
    let anns = store.ok(&["mailbox", "messages", "ann@example.com"], None);
    assert_eq!(anns.lines().count(), 1, "only bob's APPEND is left in ann's INBOX: {anns}");
    assert!(anns.contains("from bob"), "{anns}");
    let bobs = store.ok(&["mailbox", "messages", "bob@example.com"], None);
    assert!(bobs.contains("\tone"), "{bobs}");

    // Owner (delegate): shares on, within the domain.
    store.ok(&["share", "ann@example.com", "INBOX", "bob@example.com", "owner"], None);
    assert!(bob.last("b22", &format!("SETACL {ANN_INBOX} carl@example.com lrs")).await.starts_with("b22 OK"));
    assert!(bob.last("b23", &format!("SETACL {ANN_INBOX} eve@other.org lrs")).await.starts_with("b23 NO [CANNOT]"));
    let acl = bob.cmd("b24", &format!("GETACL {ANN_INBOX}")).await;
    assert!(
        acl[0].contains("\"bob@example.com\" lrswipktea") && acl[0].contains("\"carl@example.com\" lrs"),
        "{acl:?}"
    );
    let mut carl = Raw::login(&server, "carl@example.com").await;
    let list = carl.cmd("c1", "LIST \"\" \"Shared/*\"").await;
    assert!(list.iter().any(|l| l.ends_with("\"Shared/ann@example.com/INBOX\"\r\n")), "{list:?}");
    assert!(!list.iter().any(|l| l.contains("Private")), "{list:?}");

    // Revoked: gone from LIST, SELECT answers as for a mailbox that does not exist.
    store.ok(&["share", "ann@example.com", "INBOX", "carl@example.com", "none"], None);
    let list = carl.cmd("c2", "LIST \"\" \"*\"").await;
    assert!(!list.iter().any(|l| l.contains("ann@example.com")), "{list:?}");
    assert!(carl.last("c3", &format!("EXAMINE {ANN_INBOX}")).await.starts_with("c3 NO [NONEXISTENT]"));

    // The whole mailbox: every folder, Private too.
    store.ok(&["share", "ann@example.com", "*", "carl@example.com", "reviewer"], None);
    let list = carl.cmd("c4", "LIST \"\" \"Shared/*\"").await;
    for name in ["INBOX", "Private", "Sent", "Trash"] {
        assert!(list.iter().any(|l| l.ends_with(&format!("\"Shared/ann@example.com/{name}\"\r\n"))), "{list:?}");
    }
    let st = carl.cmd("c5", "STATUS \"Shared/ann@example.com/Private\" (MESSAGES UNSEEN)").await;
    assert_eq!(st[0], "* STATUS \"Shared/ann@example.com/Private\" (MESSAGES 1 UNSEEN 1)\r\n");
    // Not-shared names of another user, and other users' whole namespaces, stay hidden.
    assert!(carl.last("c6", "SELECT \"Shared/bob@example.com/INBOX\"").await.starts_with("c6 NO [NONEXISTENT]"));
    assert!(carl.last("c7", "CREATE \"Shared/ann@example.com/New\"").await.starts_with("c7 NO [NOPERM]"));

    // The JSON API takes mailboxes by name too.
    let r = server
        .post("/api/shares")
        .basic_auth("ann@example.com", Some("anns password"))
        .json(&serde_json::json!({"mailbox": "Private", "grantee": "bob@example.com", "role": "reviewer"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let list = bob.cmd("b25", "LIST \"\" \"Shared/ann@example.com/%\"").await;
    assert!(list.iter().any(|l| l.ends_with("\"Shared/ann@example.com/Private\"\r\n")), "{list:?}");
    let r = server
        .post("/api/shares")
        .basic_auth("ann@example.com", Some("anns password"))
        .json(&serde_json::json!({"mailbox": "Private", "grantee": "eve@other.org", "role": "reviewer"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
}

/// \Seen of a shared folder is each user's own: the grantee's reading does not mark the owner's
/// copy and the owner's does not mark the grantee's; the grantee's own change shows in its
/// FETCH answers with a newer MODSEQ, and its IDLE hears the owner's deliveries.
async fn seen_is_kept_per_user(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, "ann@example.com", &["Subject: one\r\n\r\n1", "Subject: two\r\n\r\n2"]).await;
    store.ok(&["share", "ann@example.com", "INBOX", "bob@example.com", "editor"], None);
    let mut ann = Raw::login(&server, "ann@example.com").await;
    let mut bob = Raw::login(&server, "bob@example.com").await;
    assert!(ann.last("a1", "SELECT INBOX").await.starts_with("a1 OK"));
    let sel = bob.cmd("b1", &format!("SELECT {ANN_INBOX} (CONDSTORE)")).await;
    let highest: i64 = sel
        .iter()
        .find_map(|l| l.strip_prefix("* OK [HIGHESTMODSEQ "))
        .and_then(|l| l.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{sel:?}"));
    // bob reads message 1: \Seen for bob only.
    let f = bob.cmd("b2", "FETCH 1 (BODY[TEXT])").await;
    assert!(f.iter().any(|l| l.contains("FLAGS (\\Seen)")), "{f:?}");
    let flags = ann.cmd("a2", "FETCH 1:2 (FLAGS)").await;
    assert_eq!(flags[..2], ["* 1 FETCH (FLAGS ())\r\n", "* 2 FETCH (FLAGS ())\r\n"], "ann's \\Seen unchanged");
    // ann marks message 2 seen: not for bob.
    assert!(ann.last("a3", "STORE 2 +FLAGS.SILENT (\\Seen \\Flagged)").await.starts_with("a3 OK"));
    let noop = bob.cmd("b2a", "NOOP").await;
    assert!(noop[0].starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("), "ann's flag reaches bob: {noop:?}");
    let f = bob.cmd("b3", "FETCH 1:2 (FLAGS)").await;
    assert!(f.iter().any(|l| l.starts_with("* 1 FETCH (FLAGS (\\Seen) MODSEQ (")), "{f:?}");
    assert!(
        f.iter().any(|l| l.starts_with("* 2 FETCH (FLAGS (\\Flagged) MODSEQ (")),
        "ann's flag, not her seen: {f:?}"
    );
    // bob's own change is newer than what he saw at SELECT, and CHANGEDSINCE finds it.
    let st = bob.cmd("b4", "STORE 2 +FLAGS (\\Seen)").await;
    assert!(st[0].starts_with("* 2 FETCH (FLAGS (\\Flagged \\Seen) MODSEQ ("), "{st:?}");
    let newer: i64 = st[0].split("MODSEQ (").nth(1).unwrap().split(')').next().unwrap().parse().unwrap();
    assert!(newer > highest, "{newer} > {highest}");
    let since = bob.cmd("b5", &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {})", newer - 1)).await;
    assert_eq!(since.len(), 2, "only message 2: {since:?}");
    let st = bob.cmd("b6", "STATUS INBOX (UNSEEN)").await;
    assert!(st.last().unwrap().starts_with("b6 OK"), "{st:?}");
    let st = ann.cmd("a4", "STATUS INBOX (UNSEEN)").await;
    assert_eq!(st[0], "* STATUS \"INBOX\" (UNSEEN 1)\r\n", "ann read only message 2: {st:?}");
    let st = bob.cmd("b7", &format!("STATUS {ANN_INBOX} (UNSEEN)")).await;
    assert_eq!(st[0], format!("* STATUS {ANN_INBOX} (UNSEEN 0)\r\n"), "{st:?}");
    // bob unmarks: still only his.
    assert!(bob.last("b8", "STORE 1 -FLAGS.SILENT (\\Seen)").await.starts_with("b8 OK"));
    let st = bob.cmd("b9", &format!("STATUS {ANN_INBOX} (UNSEEN)")).await;
    assert_eq!(st[0], format!("* STATUS {ANN_INBOX} (UNSEEN 1)\r\n"), "{st:?}");
    // ann's other session hears nothing of bob's seen changes, but bob's IDLE hears ann's mail.
    let noop = ann.cmd("a5", "NOOP").await;
    assert_eq!(noop.len(), 1, "{noop:?}");
    bob.writer.write_all(b"b10 IDLE\r\n").await.unwrap();
    assert!(bob.line().await.starts_with('+'));
    deliver(&server, "ann@example.com", &["Subject: three\r\n\r\n3"]).await;
    assert_eq!(bob.line().await, "* 3 EXISTS\r\n");
    bob.writer.write_all(b"DONE\r\n").await.unwrap();
    assert!(bob.line().await.starts_with("b10 OK"));
}

/// GETACL, LISTRIGHTS, MYRIGHTS, SETACL with +/-, DELETEACL; a real client (Python imaplib)
/// reading a shared folder.
async fn acl_commands_and_a_real_client(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, "ann@example.com", &["Subject: shared hello\r\n\r\nhello bob"]).await;
    let mut ann = Raw::login(&server, "ann@example.com").await;
    assert!(ann.cmd("a0", "CAPABILITY").await[0].contains(" ACL RIGHTS=texk"));
    assert_eq!(ann.cmd("a1", "MYRIGHTS INBOX").await[0], "* MYRIGHTS \"INBOX\" lrswipkxtea\r\n");
    assert!(ann.last("a2", "SETACL INBOX bob@example.com lr").await.starts_with("a2 OK"));
    assert!(ann.last("a3", "SETACL INBOX bob@example.com +s").await.starts_with("a3 OK"));
    let acl = ann.cmd("a4", "GETACL INBOX").await;
    assert_eq!(acl[0], "* ACL \"INBOX\" \"ann@example.com\" lrswipkxtea \"bob@example.com\" lrs\r\n");
    let lr = ann.cmd("a5", "LISTRIGHTS INBOX bob@example.com").await;
    assert_eq!(lr[0], "* LISTRIGHTS \"INBOX\" \"bob@example.com\" \"\" lr s w ip k x te a\r\n");
    assert!(ann.last("a6", "SETACL INBOX bob@example.com lrz").await.starts_with("a6 BAD"));
    assert!(ann.last("a7", "SETACL INBOX nobody@example.com lr").await.starts_with("a7 NO"));
    assert!(ann.last("a8", "SETACL INBOX ann@example.com lr").await.starts_with("a8 NO"));
    assert!(ann.last("a9", "SETACL INBOX anyone lr").await.starts_with("a9 NO"));
    assert!(ann.last("a10", "SETACL Nowhere bob@example.com lr").await.starts_with("a10 NO [NONEXISTENT]"));
    let mut bob = Raw::login(&server, "bob@example.com").await;
    assert!(bob.last("b1", &format!("GETACL {ANN_INBOX}")).await.starts_with("b1 NO [NOPERM]"));
    assert!(bob.last("b2", &format!("SETACL {ANN_INBOX} carl@example.com lr")).await.starts_with("b2 NO [NOPERM]"));
    assert!(bob.last("b3", &format!("MYRIGHTS {ANN_INBOX}")).await.starts_with("b3 OK"));

    let python = std::env::var("KONTOR_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import imaplib, sys, json
host, port = sys.argv[1], int(sys.argv[2])
out = {}
m = imaplib.IMAP4(host, port, timeout=30)
m.login("bob@example.com", "bobs password")
out["namespace"] = m.namespace()[1][0].decode()
out["list"] = [b.decode() for b in m.list()[1]]
typ, data = m.select('"Shared/ann@example.com/INBOX"')
out["select"] = [typ, data[0].decode()]
typ, data = m.fetch("1", "(FLAGS BODY[TEXT])")
out["body"] = data[0][1].decode()
out["flags"] = m.fetch("1", "(FLAGS)")[1][0].decode()
typ, data = m.store("1", "+FLAGS", "(\\Flagged)")
out["store"] = typ
out["myrights"] = m.myrights('"Shared/ann@example.com/INBOX"')[1][0].decode()
m.logout()
a = imaplib.IMAP4(host, port, timeout=30)
a.login("ann@example.com", "anns password")
out["deleteacl"] = a.deleteacl("INBOX", "bob@example.com")[0]
out["getacl"] = a.getacl("INBOX")[1][0].decode()
a.select("INBOX")
out["ann_flags"] = a.fetch("1", "(FLAGS)")[1][0].decode()
a.logout()
print(json.dumps(out))
"#;
    let run = std::process::Command::new(&python)
        .args(["-c", script, "127.0.0.1", &server.imap_addr().port().to_string()])
        .output()
        .expect("python runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let out: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(out["namespace"], "((\"\" \"/\")) ((\"Shared/\" \"/\")) NIL", "{out}");
    let list: Vec<&str> = out["list"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(list.contains(&"(\\HasNoChildren) \"/\" \"Shared/ann@example.com/INBOX\""), "{list:?}");
    assert_eq!(out["select"], serde_json::json!(["OK", "1"]), "{out}");
    assert_eq!(out["body"], "hello bob\r\n", "{out}");
    assert!(out["flags"].as_str().unwrap().contains("FLAGS (\\Seen)"), "{out}");
    assert_eq!(out["store"], "NO", "reviewer cannot flag: {out}");
    assert_eq!(out["myrights"], "\"Shared/ann@example.com/INBOX\" lrs", "{out}");
    assert_eq!(out["deleteacl"], "OK", "{out}");
    assert_eq!(out["getacl"], "\"INBOX\" \"ann@example.com\" lrswipkxtea", "{out}");
    assert_eq!(out["ann_flags"], "1 (FLAGS ())", "bob's reading left ann's \\Seen alone: {out}");
    let list = bob.cmd("b4", "LIST \"\" \"*\"").await;
    assert!(!list.iter().any(|l| l.contains("Shared")), "{list:?}");
}

const MIXED: &str = "Subject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe, =\r\nWelt\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--b--";

/// LIST-EXTENDED and LIST-STATUS, STATUS SIZE, CREATE with USE, BINARY.
async fn list_extended_status_and_binary(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, "ann@example.com", &["Subject: a\r\n\r\n1", MIXED]).await;
    let mut c = Raw::login(&server, "ann@example.com").await;
    let caps = c.cmd("a0", "CAPABILITY").await;
    for cap in ["IMAP4rev2", "LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE", "BINARY", "QRESYNC", "CREATE-SPECIAL-USE"] {
        assert!(caps[0].contains(&format!(" {cap}")), "{cap}: {caps:?}");
    }
    assert!(c.last("a1", "CREATE Work/Deep").await.starts_with("a1 OK"));
    assert!(c.last("a2", "UNSUBSCRIBE Work").await.starts_with("a2 OK"));
    let l = c.cmd("a3", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"W*\"").await;
    assert_eq!(
        l[..2],
        [
            "* LIST () \"/\" \"Work\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Work/Deep\"\r\n"
        ],
        "{l:?}"
    );
    let l = c.cmd("a4", "LIST (SPECIAL-USE) \"\" \"*\"").await;
    assert_eq!(l.len(), 6, "the five special-use mailboxes: {l:?}");
    assert!(l.iter().any(|x| x == "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"), "{l:?}");
    let l =
        c.cmd("a5", "LIST \"\" (\"INBOX\" \"Work\") RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UNSEEN SIZE))").await;
    assert_eq!(l[0], "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n", "{l:?}");
    assert!(l[1].starts_with("* STATUS \"INBOX\" (MESSAGES 2 UNSEEN 2 SIZE "), "{l:?}");
    assert_eq!(l[2], "* LIST (\\HasChildren) \"/\" \"Work\"\r\n", "{l:?}");
    assert_eq!(l[3], "* STATUS \"Work\" (MESSAGES 0 UNSEEN 0 SIZE 0)\r\n", "{l:?}");
    assert!(c.last("a6", "LIST (RECURSIVEMATCH) \"\" \"*\"").await.starts_with("a6 BAD"));
    assert!(c.last("a7", "LIST \"\" \"*\" RETURN (BOGUS)").await.starts_with("a7 BAD"));
    let size: u64 = {
        let st = c.cmd("a8", "STATUS INBOX (SIZE MESSAGES DELETED HIGHESTMODSEQ)").await;
        assert!(st[0].contains(" MESSAGES 2 DELETED 0 HIGHESTMODSEQ "), "{st:?}");
        st[0].split("SIZE ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap()
    };
    let fetched = c.cmd("a9", "EXAMINE INBOX").await;
    assert!(fetched.last().unwrap().starts_with("a9 OK"));
    let sizes = c.cmd("a10", "FETCH 1:2 RFC822.SIZE").await;
    let sum: u64 = sizes[..2]
        .iter()
        .map(|l| l.split("RFC822.SIZE ").nth(1).unwrap().trim_end_matches(")\r\n").parse::<u64>().unwrap())
        .sum();
    assert_eq!(size, sum, "STATUS SIZE is the sum of RFC822.SIZE");
    // The counts follow a change of flags, and HIGHESTMODSEQ is what SELECT reports.
    assert!(c.last("a10a", "SELECT INBOX").await.starts_with("a10a OK"));
    assert!(c.last("a10b", "STORE 2 +FLAGS (\\Deleted \\Seen)").await.starts_with("a10b OK"));
    let st = c.cmd("a10c", "STATUS INBOX (MESSAGES UNSEEN DELETED SIZE HIGHESTMODSEQ)").await;
    let sel = c.cmd("a10d", "SELECT INBOX").await;
    let top = sel.iter().find_map(|l| l.strip_prefix("* OK [HIGHESTMODSEQ ")).and_then(|l| l.split(']').next());
    let want =
        format!("* STATUS \"INBOX\" (MESSAGES 2 UNSEEN 1 DELETED 1 SIZE {size} HIGHESTMODSEQ {})\r\n", top.unwrap());
    assert!(st.contains(&want), "{st:?} {sel:?}");
    assert!(c.last("a11", "CREATE Old (USE (\\Archive))").await.starts_with("a11 NO [USEATTR]"));
    assert!(c.last("a12", "CREATE Shared/Mine").await.starts_with("a12 NO [NOPERM]"), "the shared namespace");
    assert!(c.last("a13", "RENAME Work Shared").await.starts_with("a13 NO [NOPERM]"));
    // BINARY: quoted-printable and base64 undone; unknown encodings refused.
    let b = c.cmd("b1", "FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1])").await;
    assert_eq!(b[0], "* 2 FETCH (BINARY[1] {13}\r\nGrüße, Welt BINARY.SIZE[1] 13)\r\n", "{b:?}");
    c.writer.write_all(b"b2 FETCH 2 (BINARY.PEEK[2])\r\n").await.unwrap();
    let head = c.line_raw().await;
    assert_eq!(head, "* 2 FETCH (BINARY[2] ~{4}\r\n", "NUL bytes come as literal8");
    let mut data = [0u8; 4];
    c.reader.read_exact(&mut data).await.unwrap();
    assert_eq!(data, [0, 1, 2, 3]);
    assert_eq!(c.line_raw().await, ")\r\n");
    assert!(c.line_raw().await.starts_with("b2 OK"));
    assert!(c.last("b3", "FETCH 2 (BINARY.PEEK[3])").await.starts_with("b3 NO [UNKNOWN-CTE]"));
    assert!(c.last("b4", "FETCH 2 (BINARY[1.MIME])").await.starts_with("b4 BAD"));
    let p = c.cmd("b5", "FETCH 2 (BINARY.PEEK[1]<0.4>)").await;
    assert_eq!(p[0], "* 2 FETCH (BINARY[1]<0> {4}\r\nGr\u{fc})\r\n", "{p:?}");
}

impl Raw {
    /// One line as sent, without reading a literal after it.
    async fn line_raw(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line)).await.unwrap().unwrap();
        line
    }
}

/// QRESYNC: SELECT with QRESYNC answers VANISHED (EARLIER) and the changed flags, removals are
/// VANISHED once enabled, UID FETCH … (CHANGEDSINCE n VANISHED). ENABLE IMAP4rev2: SEARCH
/// answers ESEARCH, SELECT has no RECENT but a LIST.
async fn qresync_and_rev2(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(
        &server,
        "ann@example.com",
        &["Subject: 1\r\n\r\n1", "Subject: 2\r\n\r\n2", "Subject: 3\r\n\r\n3", "Subject: 4\r\n\r\n4"],
    )
    .await;
    let mut c = Raw::login(&server, "ann@example.com").await;
    let sel = c.cmd("a1", "SELECT INBOX (CONDSTORE)").await;
    let grab = |lines: &[String], code: &str| -> i64 {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("* OK [{code} ")))
            .and_then(|l| l.split(']').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{code}: {lines:?}"))
    };
    let (validity, modseq) = (grab(&sel, "UIDVALIDITY"), grab(&sel, "HIGHESTMODSEQ"));
    assert!(c.last("a2", "SELECT INBOX (QRESYNC (1 1))").await.starts_with("a2 BAD"), "QRESYNC must be enabled");
    // Changes while the client is away: 2 and 3 go, 4 gets a flag.
    let mut other = Raw::login(&server, "ann@example.com").await;
    assert!(other.last("o1", "SELECT INBOX").await.starts_with("o1 OK"));
    assert!(other.last("o2", "STORE 2:3 +FLAGS.SILENT (\\Deleted)").await.starts_with("o2 OK"));
    assert!(other.last("o3", "EXPUNGE").await.starts_with("o3 OK"));
    assert!(other.last("o4", "UID STORE 4 +FLAGS.SILENT (\\Flagged)").await.starts_with("o4 OK"));
    assert_eq!(c.cmd("a3", "ENABLE QRESYNC").await[0], "* ENABLED QRESYNC\r\n");
    let re = c.cmd("a4", &format!("SELECT INBOX (QRESYNC ({validity} {modseq} 1:4))")).await;
    assert!(re.contains(&"* VANISHED (EARLIER) 2:3\r\n".to_owned()), "{re:?}");
    assert!(re.iter().any(|l| l.starts_with("* 2 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (")), "{re:?}");
    assert!(!re.iter().any(|l| l.contains("FETCH (UID 1 ")), "unchanged: {re:?}");
    let known = c.cmd("a5", &format!("SELECT INBOX (QRESYNC ({validity} {modseq} 3:4))")).await;
    assert_eq!(known[0], "* OK [CLOSED] Previous mailbox closed\r\n", "{known:?}");
    assert!(known.contains(&"* VANISHED (EARLIER) 3\r\n".to_owned()), "within the known UIDs: {known:?}");
    let stale = c.cmd("a6", &format!("SELECT INBOX (QRESYNC ({} {modseq}))", validity + 1)).await;
    assert!(!stale.iter().any(|l| l.contains("VANISHED")), "another UIDVALIDITY: {stale:?}");
    let v = c.cmd("a7", &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")).await;
    assert_eq!(v[0], "* VANISHED (EARLIER) 2:3\r\n", "{v:?}");
    assert!(v[1].starts_with("* 2 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ ("), "{v:?}");
    assert!(c.last("a8", &format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")).await.starts_with("a8 BAD"));
    // Removals are now VANISHED, in this session and from another.
    assert!(c.last("a9", "STORE 1 +FLAGS.SILENT (\\Deleted)").await.starts_with("a9 OK"));
    let ex = c.cmd("a10", "EXPUNGE").await;
    assert_eq!(ex[0], "* VANISHED 1\r\n", "{ex:?}");
    assert!(other.last("o5", "SELECT INBOX").await.starts_with("o5 OK"));
    assert!(other.last("o6", "STORE 1 +FLAGS.SILENT (\\Deleted)").await.starts_with("o6 OK"));
    assert!(other.cmd("o7", "EXPUNGE").await[0] == "* 1 EXPUNGE\r\n", "no QRESYNC there");
    let noop = c.cmd("a11", "NOOP").await;
    assert_eq!(noop[0], "* VANISHED 4\r\n", "{noop:?}");

    // IMAP4rev2.
    let attached = "Subject: 6\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n\
                    Content-Disposition: attachment; filename*=utf-8''Gr%C3%BC%C3%9Fe.txt\r\n\r\n6";
    deliver(&server, "ann@example.com", &["Subject: 5\r\n\r\n5", attached]).await;
    // A file name that is not ASCII: RFC 2231-encoded for an IMAP4rev1 client, UTF-8 for rev2.
    assert!(c.last("a12", "SELECT INBOX").await.starts_with("a12 OK"));
    let rev1 = c.cmd("a13", "UID FETCH 6 BODYSTRUCTURE").await;
    assert!(rev1[0].contains("(\"ATTACHMENT\" (\"FILENAME*\" \"utf-8''Gr%C3%BC%C3%9Fe.txt\"))"), "{rev1:?}");
    let mut r = Raw::login(&server, "ann@example.com").await;
    assert_eq!(r.cmd("r1", "ENABLE IMAP4rev2").await[0], "* ENABLED IMAP4rev2\r\n");
    let sel = r.cmd("r2", "SELECT inbox").await;
    assert!(!sel.iter().any(|l| l.contains("RECENT") || l.contains("[UNSEEN ")), "{sel:?}");
    assert!(sel.contains(&"* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n".to_owned()), "{sel:?}");
    let s = r.cmd("r3", "SEARCH ALL").await;
    assert_eq!(s[0], "* ESEARCH (TAG \"r3\") ALL 1:2\r\n", "{s:?}");
    let s = r.cmd("r4", "UID SEARCH SUBJECT nothing-like-this").await;
    assert_eq!(s[0], "* ESEARCH (TAG \"r4\") UID\r\n", "{s:?}");
    let s = r.cmd("r5", "SEARCH RETURN (COUNT) ALL").await;
    assert_eq!(s[0], "* ESEARCH (TAG \"r5\") COUNT 2\r\n", "{s:?}");
    let rev2 = r.cmd("r6", "UID FETCH 6 BODYSTRUCTURE").await;
    assert!(rev2[0].contains("(\"ATTACHMENT\" (\"FILENAME*\" {11}\r\nGrüße.txt))"), "{rev2:?}");
}

/// On a shared mailbox, GETQUOTAROOT names the owner's quota root (whose use the message there
/// counts against) to those who see the mailbox; SETACL and DELETEACL on a mailbox leave what a
/// grant on the whole account gives alone (NO [CANNOT]); SUBSCRIBE and UNSUBSCRIBE are the
/// user's own.
async fn quota_acl_and_subscriptions_of_shared_mailboxes(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    deliver(&server, "ann@example.com", &["Subject: q\r\n\r\nquota"]).await;
    store.ok(&["quota", "set", "ann@example.com", "1MiB"], None);
    store.ok(&["share", "ann@example.com", "INBOX", "bob@example.com", "author"], None);
    let mut ann = Raw::login(&server, "ann@example.com").await;
    assert!(ann.last("a0", "CREATE Private").await.starts_with("a0 OK"));

    // QUOTA: the owner's root, for those who see one of its mailboxes.
    let mut bob = Raw::login(&server, "bob@example.com").await;
    let q = bob.cmd("b1", &format!("GETQUOTAROOT {ANN_INBOX}")).await;
    assert_eq!(
        q[..2],
        [
            "* QUOTAROOT \"Shared/ann@example.com/INBOX\" \"Shared/ann@example.com\"\r\n",
            "* QUOTA \"Shared/ann@example.com\" (STORAGE 1 1024)\r\n"
        ],
        "{q:?}"
    );
    let q = bob.cmd("b2", "GETQUOTA \"Shared/ann@example.com\"").await;
    assert_eq!(q[0], "* QUOTA \"Shared/ann@example.com\" (STORAGE 1 1024)\r\n", "{q:?}");
    let q = bob.cmd("b3", "GETQUOTAROOT INBOX").await;
    assert_eq!(q[..2], ["* QUOTAROOT \"INBOX\" \"\"\r\n", "* QUOTA \"\" ()\r\n"], "bob's own: {q:?}");
    let hidden = bob.last("b4", "GETQUOTAROOT \"Shared/ann@example.com/Private\"").await;
    assert!(hidden.starts_with("b4 NO [NONEXISTENT]"), "{hidden}");
    assert!(bob.last("b5", "GETQUOTA \"Shared/carl@example.com\"").await.starts_with("b5 NO [NONEXISTENT]"));
    assert!(bob.last("b6", "GETQUOTA \"Shared/ann@example.com/INBOX\"").await.starts_with("b6 NO [NONEXISTENT]"));
    let mut carl = Raw::login(&server, "carl@example.com").await;
    assert!(carl.last("c1", &format!("GETQUOTAROOT {ANN_INBOX}")).await.starts_with("c1 NO [NONEXISTENT]"));
    assert!(carl.last("c2", "GETQUOTA \"Shared/ann@example.com\"").await.starts_with("c2 NO [NONEXISTENT]"));

    // ACL: a grant on the whole account reaches every mailbox and is changed by its owner only.
    store.ok(&["share", "ann@example.com", "*", "carl@example.com", "reviewer"], None);
    let carls = |acl: &[String]| {
        acl[0]
            .split(" \"carl@example.com\" ")
            .nth(1)
            .map(|r| r.split_whitespace().next().unwrap_or_default().to_owned())
    };
    let acl = ann.cmd("a1", "GETACL INBOX").await;
    assert_eq!(carls(&acl).as_deref(), Some("lrs"), "{acl:?}");
    for (tag, cmd) in [
        ("a2", "DELETEACL INBOX carl@example.com"),
        ("a3", "SETACL INBOX carl@example.com -s"),
        ("a4", "SETACL INBOX carl@example.com lr"),
    ] {
        assert!(ann.last(tag, cmd).await.starts_with(&format!("{tag} NO [CANNOT]")), "{cmd}");
    }
    assert_eq!(ann.cmd("a5", "GETACL INBOX").await[0], acl[0], "nothing changed");
    // More than the account gives is a grant on the mailbox, and can be taken back to it.
    assert!(ann.last("a6", "SETACL INBOX carl@example.com +w").await.starts_with("a6 OK"));
    assert_eq!(carls(&ann.cmd("a7", "GETACL INBOX").await).as_deref(), Some("lrsw"));
    assert!(ann.last("a8", "SETACL INBOX carl@example.com lrs").await.starts_with("a8 OK"));
    assert_eq!(carls(&ann.cmd("a9", "GETACL INBOX").await).as_deref(), Some("lrs"));
    assert!(carl.last("c3", &format!("SELECT {ANN_INBOX}")).await.starts_with("c3 OK"), "carl still reads it");
    // Once the account-wide grant is gone, DELETEACL removes the rest.
    store.ok(&["share", "ann@example.com", "*", "carl@example.com", "none"], None);
    assert!(ann.last("a10", "DELETEACL INBOX carl@example.com").await.starts_with("a10 OK"));
    assert_eq!(carls(&ann.cmd("a11", "GETACL INBOX").await), None);
    assert!(carl.last("c4", &format!("EXAMINE {ANN_INBOX}")).await.starts_with("c4 NO [NONEXISTENT]"));

    // Subscriptions: a shared mailbox is subscribed until the user unsubscribes, for itself.
    let subscribed = |lines: &[String]| lines.iter().any(|l| l.contains("\"Shared/ann@example.com/INBOX\""));
    assert!(subscribed(&bob.cmd("b7", "LSUB \"\" \"Shared/*\"").await));
    assert!(bob.last("b8", &format!("UNSUBSCRIBE {ANN_INBOX}")).await.starts_with("b8 OK"));
    assert!(!subscribed(&bob.cmd("b9", "LSUB \"\" \"*\"").await));
    assert!(!subscribed(&bob.cmd("b10", "LIST (SUBSCRIBED) \"\" \"*\"").await));
    let all = bob.cmd("b11", "LIST \"\" \"Shared/*\" RETURN (SUBSCRIBED)").await;
    let line = all.iter().find(|l| l.contains("\"Shared/ann@example.com/INBOX\"")).unwrap();
    assert!(!line.contains("\\Subscribed"), "still listed, not subscribed: {line}");
    let mut again = Raw::login(&server, "bob@example.com").await;
    assert!(!subscribed(&again.cmd("d1", "LSUB \"\" \"*\"").await), "kept across sessions");
    // The owner's own subscription is untouched.
    assert!(ann.cmd("a12", "LSUB \"\" INBOX").await.iter().any(|l| l.contains("\"INBOX\"")));
    assert!(bob.last("b12", &format!("SUBSCRIBE {ANN_INBOX}")).await.starts_with("b12 OK"));
    let list = bob.cmd("b13", "LIST (SUBSCRIBED) \"\" \"*\"").await;
    assert!(list.iter().any(|l| l.contains("\\Subscribed") && l.contains("\"Shared/ann@example.com/INBOX\"")));
    let private = bob.last("b14", "UNSUBSCRIBE \"Shared/ann@example.com/Private\"").await;
    assert!(private.starts_with("b14 NO [NONEXISTENT]"), "{private}");
}
