//! JMAP mailbox counts and mailbox queries, on SQLite and PostgreSQL: the counts a Mailbox/get
//! shows follow every way mail comes, goes and gets read (SMTP delivery, IMAP STORE, COPY,
//! MOVE and EXPUNGE, POP3 DELE, JMAP Email/set, import and destroy, a mailbox removed), a
//! colleague sees its own unread counts on a shared mailbox, a page of a mailbox in arrival
//! order is the same page in either direction and with ties, and Thread/changes names the
//! thread a removed reply was in.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

both_stores!(
    counts_follow_every_protocol,
    shared_mailbox_counts_are_the_readers_own,
    mailbox_pages_in_arrival_order,
    collapsed_threads_page_through_a_large_mailbox,
    thread_changes_name_a_removed_reply_thread
);

const USING: [&str; 2] = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"];

fn setup(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    for user in ["ann@example.com", "bob@example.com"] {
        let name = user.split('@').next().unwrap();
        store.ok(&["user", "add", user, "--password-stdin"], Some(&format!("{name}s password\n")));
    }
}

fn password(user: &str) -> String {
    format!("{}s password", user.split('@').next().unwrap())
}

struct Client {
    http: reqwest::Client,
    url: String,
    user: String,
    account: String,
}

impl Client {
    async fn login(server: &Server, user: &str) -> Self {
        let http = reqwest::Client::new();
        let r = http.get(format!("{}/jmap/session", server.url)).basic_auth(user, Some(password(user))).send();
        let session: Value = r.await.unwrap().json().await.unwrap();
        let account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"].as_str().unwrap().to_owned();
        let url = format!("{}{}", server.url, session["apiUrl"].as_str().unwrap().trim_start_matches(&server.url));
        Self { http, url, user: user.to_owned(), account }
    }

    /// One method call in `account` (default: the caller's own); its response arguments.
    async fn call(&self, name: &str, mut args: Value) -> Value {
        if args.get("accountId").is_none() {
            args["accountId"] = json!(self.account);
        }
        let body = json!({ "using": USING, "methodCalls": [[name, args, "c0"]] });
        let r = self.http.post(&self.url).basic_auth(&self.user, Some(password(&self.user))).json(&body).send();
        let v: Value = r.await.unwrap().json().await.unwrap();
        let resp = &v["methodResponses"][0];
        assert_eq!(resp[0], name, "{v}");
        resp[1].clone()
    }

    async fn role(&self, role: &str) -> String {
        self.call("Mailbox/query", json!({ "filter": { "role": role } })).await["ids"][0].as_str().unwrap().to_owned()
    }

    /// A mailbox's counts: [totalEmails, unreadEmails, totalThreads, unreadThreads].
    async fn counts_in(&self, account: &str, mailbox: &str) -> [u64; 4] {
        let r = self.call("Mailbox/get", json!({ "accountId": account, "ids": [mailbox] })).await;
        let b = &r["list"][0];
        ["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"].map(|p| b[p].as_u64().unwrap())
    }

    /// The counts as kept, checked against what Email/query counts in the mailbox.
    async fn counts(&self, mailbox: &str) -> [u64; 4] {
        let kept = self.counts_in(&self.account.clone(), mailbox).await;
        let total = |filter: Value, collapse: bool| {
            let args = json!({ "filter": filter, "collapseThreads": collapse, "calculateTotal": true, "limit": 1 });
            async move { self.call("Email/query", args).await["total"].as_u64().unwrap() }
        };
        // A filter that is not "in the mailbox" alone, so the query counts rather than reading
        // the mailbox's count.
        let all = json!({ "operator": "AND", "conditions": [{ "inMailbox": mailbox }, { "minSize": 0 }] });
        let unread = json!({ "operator": "AND", "conditions": [
            { "inMailbox": mailbox }, { "notKeyword": "$seen" }, { "notKeyword": "$draft" }] });
        let counted = [total(all.clone(), false).await, total(unread.clone(), false).await, total(all, true).await, {
            // Threads with an unread message in the mailbox.
            let r = self.call("Email/query", json!({ "filter": unread, "calculateTotal": true })).await;
            let ids = r["ids"].clone();
            let got = self.call("Email/get", json!({ "ids": ids, "properties": ["threadId"] })).await;
            let mut threads: Vec<String> =
                got["list"].as_array().unwrap().iter().map(|e| e["threadId"].as_str().unwrap().to_owned()).collect();
            threads.sort();
            threads.dedup();
            threads.len() as u64
        }];
        assert_eq!(kept, counted, "kept counts of {mailbox} agree with a count of its messages");
        kept
    }

    async fn query_ids(&self, args: Value) -> Vec<String> {
        let r = self.call("Email/query", args).await;
        r["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    }
}

/// A raw IMAP connection, logged in.
struct Imap {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Imap {
    async fn login(server: &Server, user: &str) -> Self {
        let (r, w) = tokio::net::TcpStream::connect(server.imap_addr()).await.unwrap().into_split();
        let mut imap = Self { reader: BufReader::new(r), writer: w };
        let mut greeting = String::new();
        imap.reader.read_line(&mut greeting).await.unwrap();
        imap.ok(&format!("LOGIN {user} \"{}\"", password(user))).await;
        imap
    }

    async fn ok(&mut self, text: &str) -> String {
        self.writer.write_all(format!("t {text}\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        loop {
            let mut l = String::new();
            let n =
                tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut l)).await.unwrap().unwrap();
            assert!(n > 0, "closed");
            out.push_str(&l);
            if l.starts_with("t ") {
                assert!(l.starts_with("t OK"), "{text}: {out}");
                return out;
            }
        }
    }
}

fn message(subject: &str, extra: &str) -> String {
    format!(
        "From: Xavier <x@elsewhere.org>\r\nTo: ann@example.com\r\nSubject: {subject}\r\n{extra}\r\nText of {subject}."
    )
}

/// Runs a POP3 session's commands (after logging in); every reply must be positive.
async fn pop3(server: &Server, user: &str, commands: &[&str]) {
    let s = tokio::net::TcpStream::connect(server.pop3_addr()).await.unwrap();
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    let login = [format!("USER {user}"), format!("PASS {}", password(user))];
    for c in login.iter().map(String::as_str).chain(commands.iter().copied()).chain(["QUIT"]) {
        w.write_all(format!("{c}\r\n").as_bytes()).await.unwrap();
        line.clear();
        r.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("+OK"), "{c}: {line}");
    }
}

async fn counts_follow_every_protocol(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let (inbox, archive) = (ann.role("inbox").await, ann.role("archive").await);
    assert_eq!(ann.counts(&inbox).await, [0, 0, 0, 0]);

    // SMTP: a thread of two (Plan, Re: Plan) and one on its own.
    support::deliver(
        &server,
        "ann@example.com",
        &[
            &message("Plan", "Message-ID: <plan@elsewhere.org>\r\n"),
            &message("Re: Plan", "Message-ID: <re@elsewhere.org>\r\nIn-Reply-To: <plan@elsewhere.org>\r\n"),
            &message("Other", "Message-ID: <other@elsewhere.org>\r\n"),
        ],
    )
    .await;
    assert_eq!(ann.counts(&inbox).await, [3, 3, 2, 2]);

    // IMAP STORE \Seen: one of the thread read leaves the thread unread, both read do not.
    let mut imap = Imap::login(&server, "ann@example.com").await;
    imap.ok("SELECT INBOX").await;
    imap.ok("STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(ann.counts(&inbox).await, [3, 2, 2, 2]);
    imap.ok("STORE 2 +FLAGS.SILENT (\\Seen \\Flagged)").await;
    assert_eq!(ann.counts(&inbox).await, [3, 1, 2, 1]);
    imap.ok("STORE 2 +FLAGS (\\Answered)").await;
    assert_eq!(ann.counts(&inbox).await, [3, 1, 2, 1], "other flags leave the counts");

    // IMAP MOVE and COPY.
    imap.ok("MOVE 3 Archive").await;
    assert_eq!(ann.counts(&inbox).await, [2, 0, 1, 0]);
    assert_eq!(ann.counts(&archive).await, [1, 1, 1, 1]);
    imap.ok("COPY 1 Archive").await;
    assert_eq!(ann.counts(&archive).await, [2, 1, 2, 1]);

    // JMAP: unread again shows in both mailboxes of the message; a draft is not unread.
    let plan = ann.query_ids(json!({ "filter": { "inMailbox": inbox }, "sort": [{ "property": "receivedAt" }] })).await;
    let (plan, reply) = (plan[0].clone(), plan[1].clone());
    let r = ann.call("Email/set", json!({ "update": { &plan: { "keywords/$seen": null } } })).await;
    assert!(r["updated"].get(&plan).is_some(), "{r}");
    assert_eq!(ann.counts(&inbox).await, [2, 1, 1, 1]);
    assert_eq!(ann.counts(&archive).await, [2, 2, 2, 2]);
    ann.call("Email/set", json!({ "update": { &plan: { "keywords/$draft": true } } })).await;
    assert_eq!(ann.counts(&inbox).await, [2, 0, 1, 0]);
    assert_eq!(ann.counts(&archive).await, [2, 1, 2, 1]);
    ann.call("Email/set", json!({ "update": { &plan: { "keywords": {} } } })).await;

    // JMAP mailboxIds: the reply moves to the archive, into the thread already there.
    let patch = json!({ format!("mailboxIds/{inbox}"): null, format!("mailboxIds/{archive}"): true });
    let r = ann.call("Email/set", json!({ "update": { &reply: patch } })).await;
    assert!(r["updated"].get(&reply).is_some(), "{r}");
    assert_eq!(ann.counts(&inbox).await, [1, 1, 1, 1]);
    assert_eq!(ann.counts(&archive).await, [3, 2, 2, 2]);

    // IMAP EXPUNGE in the archive (Other), JMAP destroy (Plan, from both mailboxes).
    imap.ok("SELECT Archive").await;
    imap.ok("UID STORE 1 +FLAGS (\\Deleted)").await;
    imap.ok("EXPUNGE").await;
    assert_eq!(ann.counts(&archive).await, [2, 1, 1, 1]);
    let r = ann.call("Email/set", json!({ "destroy": [&plan] })).await;
    assert_eq!(r["destroyed"], json!([plan]), "{r}");
    assert_eq!(ann.counts(&inbox).await, [0, 0, 0, 0]);
    assert_eq!(ann.counts(&archive).await, [1, 0, 1, 0]);

    // JMAP import (read, unread) and POP3 DELE.
    let blob = ann
        .http
        .post(format!("{}/jmap/upload/{}/", server.url, ann.account))
        .basic_auth(&ann.user, Some(password(&ann.user)))
        .body(message("Imported", ""))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["blobId"]
        .clone();
    let r = ann
        .call(
            "Email/import",
            json!({ "emails": {
                "a": { "blobId": blob, "mailboxIds": { &inbox: true }, "keywords": { "$seen": true } },
                "b": { "blobId": blob, "mailboxIds": { &inbox: true } } } }),
        )
        .await;
    assert_eq!(r["created"].as_object().map(serde_json::Map::len), Some(2), "{r}");
    assert_eq!(ann.counts(&inbox).await, [2, 1, 2, 1]);
    pop3(&server, "ann@example.com", &["DELE 1", "DELE 2"]).await;
    assert_eq!(ann.counts(&inbox).await, [0, 0, 0, 0]);

    // A mailbox removed with its mail: the messages filed elsewhere too keep their counts.
    let r = ann.call("Mailbox/set", json!({ "create": { "p": { "name": "Projects" } } })).await;
    let projects = r["created"]["p"]["id"].as_str().unwrap().to_owned();
    let kept = ann.query_ids(json!({ "filter": { "inMailbox": archive } })).await;
    ann.call("Email/set", json!({ "update": { &kept[0]: { format!("mailboxIds/{projects}"): true } } })).await;
    assert_eq!(ann.counts(&projects).await, [1, 0, 1, 0]);
    let r = ann.call("Mailbox/set", json!({ "destroy": [&projects], "onDestroyRemoveEmails": true })).await;
    assert_eq!(r["destroyed"], json!([projects]), "{r}");
    assert_eq!(ann.counts(&archive).await, [1, 0, 1, 0]);
}

async fn shared_mailbox_counts_are_the_readers_own(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let inbox = ann.role("inbox").await;
    support::deliver(&server, "ann@example.com", &[&message("One", ""), &message("Two", "")]).await;
    store.ok(&["share", "ann@example.com", "INBOX", "bob@example.com", "reviewer"], None);
    let bob = Client::login(&server, "bob@example.com").await;
    let ids = ann.query_ids(json!({ "filter": { "inMailbox": inbox }, "sort": [{ "property": "receivedAt" }] })).await;

    // Ann reads one: her counts change, Bob's do not.
    ann.call("Email/set", json!({ "update": { &ids[0]: { "keywords/$seen": true } } })).await;
    assert_eq!(ann.counts(&inbox).await, [2, 1, 2, 1]);
    assert_eq!(bob.counts_in(&ann.account, &inbox).await, [2, 2, 2, 2]);
    // Bob reads both (his own seen state): his counts change, Ann's do not.
    for id in &ids {
        let r =
            bob.call("Email/set", json!({ "accountId": ann.account, "update": { id: { "keywords/$seen": true } } }));
        assert!(r.await["updated"].get(id).is_some());
    }
    assert_eq!(bob.counts_in(&ann.account, &inbox).await, [2, 0, 2, 0]);
    assert_eq!(ann.counts(&inbox).await, [2, 1, 2, 1]);
    // Bob's queries in the shared mailbox see only it, in the same order as Ann's.
    let args = json!({ "accountId": ann.account, "filter": { "inMailbox": inbox }, "calculateTotal": true });
    let r = bob.call("Email/query", args).await;
    assert_eq!(r["total"], 2);
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(r["ids"], json!(newest_first));
}

async fn mailbox_pages_in_arrival_order(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let (inbox, archive) = (ann.role("inbox").await, ann.role("archive").await);
    let blob = ann
        .http
        .post(format!("{}/jmap/upload/{}/", server.url, ann.account))
        .basic_auth(&ann.user, Some(password(&ann.user)))
        .body(message("Paged", ""))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["blobId"]
        .clone();
    // 12 in the inbox, 4 arrival times (ties broken by id), every third flagged; 5 elsewhere.
    let mut emails = serde_json::Map::new();
    for n in 0..17 {
        let (mailbox, minute) = if n < 12 { (&inbox, n % 4) } else { (&archive, n) };
        let keywords = if n % 3 == 0 { json!({ "$flagged": true }) } else { json!({}) };
        emails.insert(
            format!("m{n}"),
            json!({ "blobId": blob, "mailboxIds": { mailbox: true }, "keywords": keywords,
                    "receivedAt": format!("2024-01-01T10:{minute:02}:00Z") }),
        );
    }
    let r = ann.call("Email/import", json!({ "emails": emails })).await;
    let created = &r["created"];
    let number = |id: &str| id.trim_start_matches('e').parse::<i64>().unwrap();
    // The expected order: receivedAt, then id, in the same direction.
    let mut inbox_mail: Vec<(u32, i64, String, bool)> = (0..12)
        .map(|n| {
            let id = created[format!("m{n}")]["id"].as_str().unwrap().to_owned();
            (n % 4, number(&id), id, n % 3 == 0)
        })
        .collect();
    inbox_mail.sort();
    let ascending: Vec<String> = inbox_mail.iter().map(|m| m.2.clone()).collect();
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();
    let flagged_desc: Vec<String> = inbox_mail.iter().rev().filter(|m| m.3).map(|m| m.2.clone()).collect();

    for (asc, expected) in [(true, &ascending), (false, &descending)] {
        let sort = json!([{ "property": "receivedAt", "isAscending": asc }]);
        for (position, limit) in [(0, 5), (5, 5), (10, 5), (3, 100)] {
            let r = ann
                .call(
                    "Email/query",
                    json!({ "filter": { "inMailbox": inbox }, "sort": sort, "position": position, "limit": limit,
                            "calculateTotal": true }),
                )
                .await;
            let want: Vec<&String> = expected.iter().skip(position).take(limit).collect();
            assert_eq!(r["ids"], json!(want), "asc {asc}, position {position}, limit {limit}");
            assert_eq!(r["total"], 12);
            assert_eq!(r["position"], position);
        }
    }
    // Newest first when no sort is given; a negative position counts from the end.
    assert_eq!(ann.query_ids(json!({ "filter": { "inMailbox": inbox }, "limit": 3 })).await, descending[..3]);
    let r = ann.call("Email/query", json!({ "filter": { "inMailbox": inbox }, "position": -2 })).await;
    assert_eq!(r["ids"], json!(descending[10..]));
    // With another condition, and with another sort, in the same mailbox.
    let filter = json!({ "operator": "AND", "conditions": [{ "inMailbox": inbox }, { "hasKeyword": "$flagged" }] });
    let r = ann
        .call(
            "Email/query",
            json!({ "filter": filter, "sort": [{ "property": "receivedAt", "isAscending": false }],
                    "position": 1, "limit": 2, "calculateTotal": true }),
        )
        .await;
    assert_eq!(r["ids"], json!(flagged_desc[1..3]));
    assert_eq!(r["total"], 4);
    let r = ann
        .call(
            "Email/query",
            json!({ "filter": { "inMailbox": inbox }, "sort": [{ "property": "size" }, { "property": "receivedAt" }],
                    "calculateTotal": true }),
        )
        .await;
    assert_eq!(r["total"], 12);
    assert_eq!(r["ids"], json!(ascending), "equal sizes: then by arrival");
    // Collapsed threads (imported copies are threads of their own): the same page.
    let r = ann
        .call(
            "Email/query",
            json!({ "filter": { "inMailbox": inbox }, "collapseThreads": true, "position": 2, "limit": 3,
                    "calculateTotal": true }),
        )
        .await;
    assert_eq!(r["ids"], json!(descending[2..5]));
    assert_eq!(r["total"], 12);
    // A mailbox of someone else, or none, finds nothing.
    let bob = Client::login(&server, "bob@example.com").await;
    let r = bob.call("Email/query", json!({ "filter": { "inMailbox": inbox }, "calculateTotal": true })).await;
    assert_eq!((r["ids"].clone(), r["total"].clone()), (json!([]), json!(0)));
    let r = ann.call("Email/query", json!({ "filter": { "inMailbox": "m999999" }, "calculateTotal": true })).await;
    assert_eq!((r["ids"].clone(), r["total"].clone()), (json!([]), json!(0)));
}

async fn collapsed_threads_page_through_a_large_mailbox(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let inbox = ann.role("inbox").await;
    // 100 threads of 4, each thread's messages one minute apart, thread after thread: a page of
    // collapsed threads far down reads more than the first rows.
    let mut emails = serde_json::Map::new();
    for t in 0..100 {
        for k in 0..4 {
            let extra = if k == 0 {
                format!("Message-ID: <t{t}@elsewhere.org>\r\n")
            } else {
                format!("Message-ID: <t{t}.{k}@elsewhere.org>\r\nIn-Reply-To: <t{t}@elsewhere.org>\r\n")
            };
            let blob = ann
                .http
                .post(format!("{}/jmap/upload/{}/", server.url, ann.account))
                .basic_auth(&ann.user, Some(password(&ann.user)))
                .body(message(&format!("Topic {t}"), &extra))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["blobId"]
                .clone();
            let at = utc_minute(t * 4 + k);
            emails.insert(
                format!("t{t}k{k}"),
                json!({ "blobId": blob, "mailboxIds": { &inbox: true }, "receivedAt": at }),
            );
        }
    }
    let r = ann.call("Email/import", json!({ "emails": emails })).await;
    let id = |t: u32, k: u32| r["created"][format!("t{t}k{k}")]["id"].as_str().unwrap().to_owned();
    assert_eq!(ann.counts(&inbox).await, [400, 400, 100, 100]);

    for (asc, k) in [(false, 3), (true, 0)] {
        let sort = json!([{ "property": "receivedAt", "isAscending": asc }]);
        let want: Vec<String> = (60..70).map(|n| id(if asc { n } else { 99 - n }, k)).collect();
        for filter in [
            json!({ "inMailbox": inbox }),
            json!({ "operator": "AND", "conditions": [{ "inMailbox": inbox }, { "minSize": 0 }] }),
        ] {
            let r = ann
                .call(
                    "Email/query",
                    json!({ "filter": filter, "sort": sort, "collapseThreads": true, "position": 60, "limit": 10,
                            "calculateTotal": true }),
                )
                .await;
            assert_eq!(r["ids"], json!(want), "ascending {asc}, {filter}");
            assert_eq!(r["total"], 100);
        }
    }
}

/// The UTCDate `n` minutes into 2024 (within January).
fn utc_minute(n: u32) -> String {
    let (day, rest) = (n / 1440, n % 1440);
    format!("2024-01-{:02}T{:02}:{:02}:00Z", day + 1, rest / 60, rest % 60)
}

async fn thread_changes_name_a_removed_reply_thread(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    support::deliver(
        &server,
        "ann@example.com",
        &[
            &message("Plan", "Message-ID: <plan@elsewhere.org>\r\n"),
            &message("Re: Plan", "Message-ID: <re@elsewhere.org>\r\nIn-Reply-To: <plan@elsewhere.org>\r\n"),
        ],
    )
    .await;
    let ids = ann.query_ids(json!({ "sort": [{ "property": "receivedAt" }] })).await;
    let got = ann.call("Email/get", json!({ "ids": ids, "properties": ["threadId"] })).await;
    let thread = got["list"][0]["threadId"].clone();
    assert_eq!(got["list"][1]["threadId"], thread, "the reply is in the thread");
    let state = got["state"].as_str().unwrap().to_owned();

    let r = ann.call("Email/set", json!({ "destroy": [&ids[1]] })).await;
    assert_eq!(r["destroyed"], json!([ids[1]]));
    let c = ann.call("Thread/changes", json!({ "sinceState": state })).await;
    assert_eq!(c["updated"], json!([thread]), "{c}");
    assert_eq!(c["destroyed"], json!([]), "{c}");
    let state = c["newState"].as_str().unwrap().to_owned();
    let r = ann.call("Email/set", json!({ "destroy": [&ids[0]] })).await;
    assert_eq!(r["destroyed"], json!([ids[0]]));
    let c = ann.call("Thread/changes", json!({ "sinceState": state })).await;
    assert_eq!(c["destroyed"], json!([thread]), "{c}");
}
