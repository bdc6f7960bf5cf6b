//! JMAP (RFC 8620/8621) end to end, on SQLite and PostgreSQL, with reqwest as the client: the
//! session from the well-known URL, mailboxes, reading and searching mail, back-references,
//! changes across protocols (IMAP STORE → Email/changes, Email/set → IMAP FETCH), push over
//! EventSource after an SMTP delivery, a colleague's shared mailbox per role, blobs, and the
//! errors a client's mistakes get.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

both_stores!(
    session_and_mailboxes,
    reading_and_searching_mail,
    changes_across_protocols,
    errors_and_limits,
    push_after_delivery,
    shared_mailbox_per_role,
    blobs_up_and_down,
    compose_send_and_vacation,
    import_parse_and_snippets,
    websocket_requests_and_push,
    push_subscription,
    principals_share_notifications_and_copy
);

const USING: [&str; 6] = [
    "urn:ietf:params:jmap:core",
    "urn:ietf:params:jmap:mail",
    "urn:ietf:params:jmap:quota",
    "urn:ietf:params:jmap:submission",
    "urn:ietf:params:jmap:vacationresponse",
    "urn:ietf:params:jmap:principals",
];

fn setup(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    for user in ["ann@example.com", "bob@example.com"] {
        let name = user.split('@').next().unwrap();
        store.ok(&["user", "add", user, "--password-stdin"], Some(&format!("{name}s password\n")));
    }
}

struct Client {
    http: reqwest::Client,
    user: String,
    password: String,
    session: Value,
    account: String,
}

impl Client {
    /// Logs in with only the server's URL, the user and the password: the well-known URL leads
    /// to the session, which names the API and the account.
    async fn login(server: &Server, user: &str) -> Self {
        let http = reqwest::Client::new();
        let password = format!("{}s password", user.split('@').next().unwrap());
        let r = http
            .get(format!("{}/.well-known/jmap", server.url))
            .basic_auth(user, Some(&password))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the well-known URL leads to the session");
        let session: Value = r.json().await.unwrap();
        let account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"].as_str().unwrap().to_owned();
        Self { http, user: user.into(), password, session, account }
    }

    async fn request(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.session["apiUrl"].as_str().unwrap())
            .basic_auth(&self.user, Some(&self.password))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Runs method calls (`[name, args]` pairs, call ids c0, c1, …); returns the responses.
    async fn calls(&self, calls: &[(&str, Value)]) -> Vec<Value> {
        let calls: Vec<Value> =
            calls.iter().enumerate().map(|(n, (name, args))| json!([name, args, format!("c{n}")])).collect();
        let r = self.request(&json!({ "using": USING, "methodCalls": calls })).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["methodResponses"].as_array().unwrap().clone()
    }

    /// One method call; its response arguments (the response must be that method's).
    async fn call(&self, name: &str, mut args: Value) -> Value {
        if args.get("accountId").is_none() {
            args["accountId"] = json!(self.account);
        }
        let r = self.calls(&[(name, args)]).await;
        assert_eq!(r[0][0], name, "{r:?}");
        r[0][1].clone()
    }

    /// The id of the mailbox with this role.
    async fn role(&self, role: &str) -> String {
        let r = self.call("Mailbox/query", json!({ "filter": { "role": role } })).await;
        r["ids"][0].as_str().unwrap().to_owned()
    }
}

/// A message with a subject and text.
fn message(subject: &str, body: &str, extra: &str) -> String {
    format!("From: Xavier <x@elsewhere.org>\r\nTo: ann@example.com\r\nSubject: {subject}\r\n{extra}\r\n{body}")
}

async fn session_and_mailboxes(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let s = &ann.session;
    assert_eq!(s["username"], "ann@example.com");
    let core = &s["capabilities"]["urn:ietf:params:jmap:core"];
    assert_eq!(core["maxCallsInRequest"], 32);
    assert!(core["maxSizeUpload"].as_u64().unwrap() > 0);
    assert_eq!(s["accounts"][&ann.account]["isPersonal"], true);
    assert!(s["apiUrl"].as_str().unwrap().starts_with("http://127.0.0.1:"));

    let got = ann.call("Mailbox/get", json!({ "ids": null })).await;
    let roles: Vec<&str> = got["list"].as_array().unwrap().iter().filter_map(|m| m["role"].as_str()).collect();
    for role in ["inbox", "drafts", "sent", "junk", "trash", "archive"] {
        assert!(roles.contains(&role), "{role} in {roles:?}");
    }
    let state = got["state"].as_str().unwrap().to_owned();
    let inbox = got["list"].as_array().unwrap().iter().find(|m| m["role"] == "inbox").unwrap();
    assert_eq!(inbox["myRights"]["mayAddItems"], true);
    assert_eq!(inbox["totalEmails"], 0);

    // Create a folder and a child in one call (the child names its parent by creation id).
    let r = ann
        .call(
            "Mailbox/set",
            json!({ "create": {
                "p": { "name": "Projects", "parentId": null },
                "k": { "name": "Kontor", "parentId": "#p" },
            }}),
        )
        .await;
    let projects = r["created"]["p"]["id"].as_str().unwrap().to_owned();
    let kontor = r["created"]["k"]["id"].as_str().unwrap().to_owned();
    let got = ann.call("Mailbox/get", json!({ "ids": [&kontor], "properties": ["name", "parentId"] })).await;
    assert_eq!(got["list"][0]["parentId"], json!(projects));
    assert_eq!(got["list"][0]["name"], "Kontor");

    // The same name twice under one parent is refused; so is a slash in a name.
    let r = ann.call("Mailbox/set", json!({ "create": { "x": { "name": "Projects" }, "y": { "name": "a/b" } } })).await;
    assert_eq!(r["notCreated"]["x"]["type"], "alreadyExists");
    assert_eq!(r["notCreated"]["y"]["type"], "invalidProperties");

    let changes = ann.call("Mailbox/changes", json!({ "sinceState": state })).await;
    let created: Vec<&str> = changes["created"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(created.contains(&projects.as_str()) && created.contains(&kontor.as_str()), "{changes}");

    // Rename, then destroy: a mailbox with a child cannot go first.
    let r =
        ann.call("Mailbox/set", json!({ "update": { &kontor: { "name": "Kontor 2" } }, "destroy": [&projects] })).await;
    assert!(r["updated"].get(&kontor).is_some(), "{r}");
    assert_eq!(r["notDestroyed"][&projects]["type"], "mailboxHasChild");
    let r = ann.call("Mailbox/set", json!({ "destroy": [&kontor, &projects] })).await;
    assert_eq!(r["destroyed"].as_array().unwrap().len(), 2, "{r}");
    let r = ann.call("Mailbox/get", json!({ "ids": [&kontor] })).await;
    assert_eq!(r["notFound"], json!([kontor]));

    // The special-use folders stay.
    let trash = ann.role("trash").await;
    let r = ann.call("Mailbox/set", json!({ "destroy": [&trash] })).await;
    assert!(r["notDestroyed"][&trash].is_object(), "{r}");
}

async fn reading_and_searching_mail(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let multipart = "From: Xavier <x@elsewhere.org>\r\nTo: Ann <ann@example.com>, bob@example.com\r\n\
        Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= with report\r\nMessage-ID: <first@elsewhere.org>\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\r\nThe quarterly numbers are attached.\r\n--XX\r\n\
        Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=report.pdf\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n";
    let reply = message(
        "Re: Grüße with report",
        "Thanks, the zebra numbers look fine.",
        "In-Reply-To: <first@elsewhere.org>\r\nReferences: <first@elsewhere.org>\r\n",
    );
    let html = "From: News <news@elsewhere.org>\r\nTo: ann@example.com\r\nSubject: Newsletter\r\n\
        MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>world</b></p>\r\n";
    support::deliver(&server, "ann@example.com", &[multipart, &reply, html]).await;
    let ann = Client::login(&server, "ann@example.com").await;
    let inbox = ann.role("inbox").await;

    // Query and get in one request: the get takes the query's ids by reference.
    let r = ann
        .calls(&[
            (
                "Email/query",
                json!({ "accountId": ann.account, "filter": { "inMailbox": inbox },
                        "sort": [{ "property": "receivedAt", "isAscending": false }], "calculateTotal": true }),
            ),
            (
                "Email/get",
                json!({ "accountId": ann.account,
                        "#ids": { "resultOf": "c0", "name": "Email/query", "path": "/ids" },
                        "properties": ["subject", "from", "to", "threadId", "mailboxIds", "keywords", "hasAttachment",
                                       "preview", "textBody", "attachments", "bodyValues", "header:Subject:asText",
                                       "messageId", "size", "receivedAt", "sentAt"],
                        "fetchTextBodyValues": true }),
            ),
        ])
        .await;
    assert_eq!(r[0][1]["total"], 3, "{r:?}");
    let list = r[1][1]["list"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    // Newest first: the newsletter, the reply, the first message.
    assert_eq!(list[0]["subject"], "Newsletter");
    let first = &list[2];
    assert_eq!(first["subject"], "Grüße with report");
    assert_eq!(first["header:Subject:asText"], "Grüße with report");
    assert_eq!(first["from"], json!([{ "name": "Xavier", "email": "x@elsewhere.org" }]));
    assert_eq!(first["to"][1], json!({ "name": null, "email": "bob@example.com" }));
    assert_eq!(first["messageId"], json!(["first@elsewhere.org"]));
    assert_eq!(first["hasAttachment"], true);
    assert_eq!(first["mailboxIds"], json!({ &inbox: true }));
    assert_eq!(first["keywords"], json!({}));
    let text_part = first["textBody"][0]["partId"].as_str().unwrap();
    assert_eq!(first["bodyValues"][text_part]["value"].as_str().unwrap().trim(), "The quarterly numbers are attached.");
    let attachment = &first["attachments"][0];
    assert_eq!(attachment["name"], "report.pdf");
    assert_eq!(attachment["type"], "application/pdf");
    // The reply is in the first message's thread.
    assert_eq!(list[1]["threadId"], first["threadId"]);
    let thread = ann.call("Thread/get", json!({ "ids": [first["threadId"]] })).await;
    assert_eq!(thread["list"][0]["emailIds"], json!([first["id"], list[1]["id"]]));

    // The attachment's blob downloads decoded.
    let url = ann.session["downloadUrl"]
        .as_str()
        .unwrap()
        .replace("{accountId}", &ann.account)
        .replace("{blobId}", attachment["blobId"].as_str().unwrap())
        .replace("{name}", "report.pdf")
        .replace("{type}", "application/pdf");
    let r = ann.http.get(url).basic_auth(&ann.user, Some(&ann.password)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.4\n");

    // Full-text search, and the standard filters.
    let q = |filter: Value| ann.call("Email/query", json!({ "filter": filter }));
    assert_eq!(q(json!({ "text": "zebra" })).await["ids"], json!([list[1]["id"]]));
    assert_eq!(q(json!({ "body": "quarterly" })).await["ids"], json!([first["id"]]));
    assert_eq!(q(json!({ "from": "news@" })).await["ids"], json!([list[0]["id"]]));
    assert_eq!(q(json!({ "subject": "grüße" })).await["ids"].as_array().unwrap().len(), 2);
    assert_eq!(q(json!({ "hasAttachment": true })).await["ids"], json!([first["id"]]));
    let or = q(json!({ "operator": "OR", "conditions": [{ "text": "zebra" }, { "text": "world" }] })).await;
    assert_eq!(or["ids"].as_array().unwrap().len(), 2);
    let not = q(json!({ "operator": "NOT", "conditions": [{ "text": "zebra" }] })).await;
    assert_eq!(not["ids"].as_array().unwrap().len(), 2);
    assert_eq!(q(json!({ "text": "no such words anywhere" })).await["ids"], json!([]));

    // Threads collapsed: two conversations.
    let r = ann
        .call(
            "Email/query",
            json!({ "filter": { "inMailbox": inbox }, "collapseThreads": true, "calculateTotal": true }),
        )
        .await;
    assert_eq!(r["total"], 2, "{r}");
    // Windows: position, limit, anchor.
    let r = ann.call("Email/query", json!({ "position": 1, "limit": 1 })).await;
    assert_eq!((r["ids"].clone(), r["position"].clone()), (json!([list[1]["id"]]), json!(1)));
    let r = ann.call("Email/query", json!({ "anchor": list[1]["id"], "anchorOffset": 1, "limit": 5 })).await;
    assert_eq!(r["ids"], json!([first["id"]]));
    let r = ann.call("Email/query", json!({ "position": -1 })).await;
    assert_eq!(r["ids"], json!([first["id"]]));
    // Sorted by subject, ascending: base subjects "grüße…", "grüße…", "newsletter".
    let r = ann.call("Email/query", json!({ "sort": [{ "property": "subject" }] })).await;
    assert_eq!(r["ids"][2], list[0]["id"]);

    // Mailbox counts follow.
    let r = ann.call("Mailbox/get", json!({ "ids": [&inbox] })).await;
    assert_eq!((r["list"][0]["totalEmails"].clone(), r["list"][0]["unreadEmails"].clone()), (json!(3), json!(3)));
    assert_eq!(r["list"][0]["totalThreads"], 2);
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
        assert!(ok.last().unwrap().starts_with("t OK"), "{ok:?}");
        imap
    }

    async fn cmd(&mut self, text: &str) -> Vec<String> {
        self.writer.write_all(format!("t {text}\r\n").as_bytes()).await.unwrap();
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            let n =
                tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut l)).await.unwrap().unwrap();
            assert!(n > 0, "closed");
            let done = l.starts_with("t ");
            lines.push(l);
            if done {
                return lines;
            }
        }
    }
}

async fn changes_across_protocols(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    support::deliver(&server, "ann@example.com", &[&message("One", "first", ""), &message("Two", "second", "")]).await;
    let ann = Client::login(&server, "ann@example.com").await;
    let ids = ann.call("Email/query", json!({ "sort": [{ "property": "receivedAt" }] })).await["ids"].clone();
    let (one, two) = (ids[0].as_str().unwrap().to_owned(), ids[1].as_str().unwrap().to_owned());
    let state = ann.call("Email/get", json!({ "ids": [] })).await["state"].as_str().unwrap().to_owned();
    let query_state = ann.call("Email/query", json!({})).await["queryState"].as_str().unwrap().to_owned();

    // IMAP STORE → Email/changes says the message changed, Email/get shows the keyword.
    let mut imap = Imap::login(&server, "ann@example.com", "anns password").await;
    imap.cmd("SELECT INBOX").await;
    let r = imap.cmd("STORE 1 +FLAGS (\\Flagged)").await;
    assert!(r.last().unwrap().starts_with("t OK"), "{r:?}");
    let c = ann.call("Email/changes", json!({ "sinceState": state })).await;
    assert_eq!(c["updated"], json!([one]), "{c}");
    assert_eq!(c["created"], json!([]));
    let state = c["newState"].as_str().unwrap().to_owned();
    let got = ann.call("Email/get", json!({ "ids": [&one], "properties": ["keywords"] })).await;
    assert_eq!(got["list"][0]["keywords"], json!({ "$flagged": true }));
    assert_eq!(got["state"], json!(state));

    // Email/set → IMAP FETCH FLAGS sees it.
    let r = ann
        .call("Email/set", json!({ "update": { &two: { "keywords/$seen": true, "keywords/$answered": true } } }))
        .await;
    assert!(r["updated"].get(&two).is_some(), "{r}");
    // The session learns of changes at NOOP (as at IDLE), then FETCH shows them.
    imap.cmd("NOOP").await;
    let flags = imap.cmd("FETCH 2 (FLAGS)").await.join("");
    assert!(flags.contains("\\Seen") && flags.contains("\\Answered"), "{flags}");

    // Moving to the archive (mailboxIds patch) shows up in IMAP too.
    let (inbox, archive) = (ann.role("inbox").await, ann.role("archive").await);
    let r = ann
        .call("Email/set", json!({ "update": { &two: { format!("mailboxIds/{inbox}"): null, format!("mailboxIds/{archive}"): true } } }))
        .await;
    assert!(r["updated"].get(&two).is_some(), "{r}");
    let status = imap.cmd("STATUS Archive (MESSAGES)").await.join("");
    assert!(status.contains("MESSAGES 1"), "{status}");
    let got = ann.call("Email/get", json!({ "ids": [&two], "properties": ["mailboxIds"] })).await;
    assert_eq!(got["list"][0]["mailboxIds"], json!({ &archive: true }));
    // An email must stay in some mailbox; other properties are immutable.
    let r =
        ann.call("Email/set", json!({ "update": { &two: { "mailboxIds": {} }, &one: { "subject": "new" } } })).await;
    assert_eq!(r["notUpdated"][&two]["type"], "invalidProperties");
    assert_eq!(r["notUpdated"][&one]["properties"], json!(["subject"]));

    // IMAP EXPUNGE → destroyed; a new delivery → created.
    imap.cmd("STORE 1 +FLAGS (\\Deleted)").await;
    imap.cmd("EXPUNGE").await;
    support::deliver(&server, "ann@example.com", &[&message("Three", "third", "")]).await;
    let c = ann.call("Email/changes", json!({ "sinceState": state })).await;
    assert_eq!(c["destroyed"], json!([one]), "{c}");
    assert_eq!(c["created"].as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c["updated"], json!([two]), "{c}");
    let three = c["created"][0].as_str().unwrap().to_owned();
    // Paging through changes with maxChanges.
    let c1 = ann.call("Email/changes", json!({ "sinceState": state, "maxChanges": 1 })).await;
    assert_eq!(c1["hasMoreChanges"], true, "{c1}");
    // The query's changes: what left and what came, and where.
    let qc = ann.call("Email/queryChanges", json!({ "sinceQueryState": query_state, "calculateTotal": true })).await;
    let removed: Vec<&str> = qc["removed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(removed.contains(&one.as_str()), "{qc}");
    assert!(qc["added"].as_array().unwrap().iter().any(|a| a["id"] == json!(three) && a["index"] == 0), "{qc}");
    assert_eq!(qc["total"], 2);

    // Email/set destroy → IMAP no longer has it; a state from before the log is refused.
    let r = ann.call("Email/set", json!({ "destroy": [&three] })).await;
    assert_eq!(r["destroyed"], json!([three]), "{r}");
    let status = imap.cmd("STATUS INBOX (MESSAGES)").await.join("");
    assert!(status.contains("MESSAGES 0"), "{status}");
    let r = ann.calls(&[("Email/changes", json!({ "accountId": ann.account, "sinceState": "999999" }))]).await;
    assert_eq!(r[0][0], "error");
    assert_eq!(r[0][1]["type"], "cannotCalculateChanges");
}

async fn errors_and_limits(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let bob = Client::login(&server, "bob@example.com").await;
    let problem = |v: &Value| v["type"].as_str().unwrap().to_owned();

    let r = ann.request(&json!({ "using": ["urn:example:nope"], "methodCalls": [] })).await;
    assert_eq!(r.status(), 400);
    assert_eq!(problem(&r.json().await.unwrap()), "urn:ietf:params:jmap:error:unknownCapability");
    let r = ann
        .http
        .post(ann.session["apiUrl"].as_str().unwrap())
        .basic_auth(&ann.user, Some(&ann.password))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(problem(&r.json().await.unwrap()), "urn:ietf:params:jmap:error:notJSON");
    let r = ann.request(&json!({ "methodCalls": [] })).await;
    assert_eq!(problem(&r.json().await.unwrap()), "urn:ietf:params:jmap:error:notRequest");
    let many: Vec<Value> = (0..33).map(|n| json!(["Core/echo", {}, format!("e{n}")])).collect();
    let r = ann.request(&json!({ "using": USING, "methodCalls": many })).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (problem(&v), v["limit"].clone()),
        ("urn:ietf:params:jmap:error:limit".into(), json!("maxCallsInRequest"))
    );
    let r = ann
        .http
        .post(ann.session["apiUrl"].as_str().unwrap())
        .basic_auth(&ann.user, Some("wrong"))
        .json(&json!({ "using": USING, "methodCalls": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Method-level errors leave the other calls alone.
    let r = ann
        .calls(&[
            ("Core/echo", json!({ "hello": "world" })),
            ("Nope/get", json!({})),
            ("Email/get", json!({ "accountId": ann.account, "ids": [], "properties": ["nonsense"] })),
            ("Email/get", json!({ "accountId": ann.account, "#ids": { "resultOf": "zz", "name": "Email/query", "path": "/ids" } })),
            ("Mailbox/get", json!({ "accountId": bob.account })),
            ("Email/query", json!({ "accountId": ann.account, "filter": { "colour": "red" } })),
            ("Email/get", json!({ "accountId": ann.account, "ids": vec!["e1"; 1001] })),
            ("Email/query", json!({ "accountId": ann.account, "sort": [{ "property": "colour" }] })),
            ("Email/changes", json!({ "accountId": ann.account })),
        ])
        .await;
    assert_eq!(r[0], json!(["Core/echo", { "hello": "world" }, "c0"]));
    let kinds: Vec<&str> = r[1..].iter().map(|x| x[1]["type"].as_str().unwrap_or("?")).collect();
    assert_eq!(
        kinds,
        [
            "unknownMethod",
            "invalidArguments",
            "invalidResultReference",
            "accountNotFound",
            "unsupportedFilter",
            "requestTooLarge",
            "unsupportedSort",
            "invalidArguments"
        ]
    );
    // Bob cannot read Ann's mail by guessing ids.
    support::deliver(&server, "ann@example.com", &[&message("Private", "secret text", "")]).await;
    let id = ann.call("Email/query", json!({})).await["ids"][0].clone();
    let r = bob.call("Email/get", json!({ "ids": [&id] })).await;
    assert_eq!(r["notFound"], json!([id]));
    let r = bob.call("Email/set", json!({ "destroy": [&id] })).await;
    assert_eq!(r["notDestroyed"][id.as_str().unwrap()]["type"], "notFound");
    assert_eq!(ann.call("Email/get", json!({ "ids": [&id] })).await["list"].as_array().unwrap().len(), 1);
}

async fn push_after_delivery(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let state = ann.call("Email/get", json!({ "ids": [] })).await["state"].as_str().unwrap().to_owned();
    let url = ann.session["eventSourceUrl"]
        .as_str()
        .unwrap()
        .replace("{types}", "Email,Mailbox")
        .replace("{closeafter}", "state")
        .replace("{ping}", "0");
    let mut stream = ann.http.get(url).basic_auth(&ann.user, Some(&ann.password)).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    support::deliver(&server, "ann@example.com", &[&message("Pushed", "hello", "")]).await;
    let mut text = String::new();
    // The stream ends after the first state event (closeafter=state).
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(30), stream.chunk()).await.unwrap().unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    assert!(text.starts_with("event: state"), "{text}");
    let change: Value = serde_json::from_str(data).unwrap();
    assert_eq!(change["@type"], "StateChange");
    let new_state = change["changed"][&ann.account]["Email"].as_str().unwrap();
    assert_ne!(new_state, state);
    assert!(change["changed"][&ann.account].get("Thread").is_none(), "only the types asked for: {change}");
    let c = ann.call("Email/changes", json!({ "sinceState": state })).await;
    assert_eq!(c["newState"], json!(new_state));
    assert_eq!(c["created"].as_array().unwrap().len(), 1);
}

async fn shared_mailbox_per_role(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let r = ann.call("Mailbox/set", json!({ "create": { "t": { "name": "Team" } } })).await;
    let team = r["created"]["t"]["id"].as_str().unwrap().to_owned();
    let inbox = ann.role("inbox").await;
    support::deliver(
        &server,
        "ann@example.com",
        &[&message("Team news", "for the team", ""), &message("Mine", "private", "")],
    )
    .await;
    let ids = ann.call("Email/query", json!({ "sort": [{ "property": "receivedAt" }] })).await["ids"].clone();
    let (news, mine) = (ids[0].as_str().unwrap().to_owned(), ids[1].as_str().unwrap().to_owned());
    ann.call("Email/set", json!({ "update": { &news: { "mailboxIds": { &team: true } } } })).await;
    store.ok(&["share", "ann@example.com", "Team", "bob@example.com", "reviewer"], None);

    // Bob's session has Ann's account, with only the shared folder in it.
    let bob = Client::login(&server, "bob@example.com").await;
    let shared = &bob.session["accounts"][&ann.account];
    assert_eq!(shared["isPersonal"], false, "{}", bob.session);
    assert_eq!(shared["name"], "ann@example.com");
    let boxes = bob.call("Mailbox/get", json!({ "accountId": ann.account, "ids": null })).await;
    let list = boxes["list"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{boxes}");
    assert_eq!(list[0]["id"], json!(team));
    assert_eq!(list[0]["myRights"]["mayReadItems"], true);
    assert_eq!(list[0]["myRights"]["mayAddItems"], false);
    assert_eq!(list[0]["myRights"]["maySetKeywords"], false);
    assert_eq!(list[0]["myRights"]["maySetSeen"], true);

    let q = bob.call("Email/query", json!({ "accountId": ann.account })).await;
    assert_eq!(q["ids"], json!([news]), "only mail of the shared folder: {q}");
    let r = bob
        .call(
            "Email/get",
            json!({ "accountId": ann.account, "ids": [&news, &mine], "properties": ["subject", "mailboxIds"] }),
        )
        .await;
    assert_eq!(r["list"][0]["subject"], "Team news");
    assert_eq!(r["notFound"], json!([mine]));
    let r = bob.call("Mailbox/get", json!({ "accountId": ann.account, "ids": [&inbox] })).await;
    assert_eq!(r["notFound"], json!([inbox]));

    // A reviewer marks read (its own seen state) but cannot flag, move or delete.
    let r = bob
        .call("Email/set", json!({ "accountId": ann.account, "update": { &news: { "keywords/$seen": true } } }))
        .await;
    assert!(r["updated"].get(&news).is_some(), "{r}");
    let r = bob
        .call(
            "Email/set",
            json!({ "accountId": ann.account, "update": { &news: { "keywords/$flagged": true } }, "destroy": [&news] }),
        )
        .await;
    assert_eq!(r["notUpdated"][&news]["type"], "forbidden", "{r}");
    assert_eq!(r["notDestroyed"][&news]["type"], "forbidden", "{r}");
    let bob_view =
        bob.call("Email/get", json!({ "accountId": ann.account, "ids": [&news], "properties": ["keywords"] })).await;
    assert_eq!(bob_view["list"][0]["keywords"], json!({ "$seen": true }));
    let ann_view = ann.call("Email/get", json!({ "ids": [&news], "properties": ["keywords"] })).await;
    assert_eq!(ann_view["list"][0]["keywords"], json!({}), "Ann's own seen state is hers");
    // Searches on $seen ask the searcher's own seen state too.
    let seen = json!({ "accountId": ann.account, "filter": { "hasKeyword": "$seen" } });
    assert_eq!(bob.call("Email/query", seen).await["ids"], json!([news]));
    let unseen = json!({ "accountId": ann.account, "filter": { "notKeyword": "$seen" } });
    assert_eq!(bob.call("Email/query", unseen).await["ids"], json!([]));
    let mine_seen = ann.call("Email/query", json!({ "filter": { "hasKeyword": "$seen" } })).await;
    assert_eq!(mine_seen["ids"], json!([]), "Bob's reading is not Ann's: {mine_seen}");
    // Bob cannot make folders in Ann's account.
    let r =
        bob.call("Mailbox/set", json!({ "accountId": ann.account, "create": { "x": { "name": "Mine now" } } })).await;
    assert_eq!(r["notCreated"]["x"]["type"], "forbidden");

    // As editor, Bob may flag.
    store.ok(&["share", "ann@example.com", "Team", "bob@example.com", "editor"], None);
    let r = bob
        .call("Email/set", json!({ "accountId": ann.account, "update": { &news: { "keywords/$flagged": true } } }))
        .await;
    assert!(r["updated"].get(&news).is_some(), "{r}");
    let ann_view = ann.call("Email/get", json!({ "ids": [&news], "properties": ["keywords"] })).await;
    assert_eq!(ann_view["list"][0]["keywords"], json!({ "$flagged": true }));
}

async fn blobs_up_and_down(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let bob = Client::login(&server, "bob@example.com").await;
    let upload = ann.session["uploadUrl"].as_str().unwrap().replace("{accountId}", &ann.account);
    let data = b"some bytes \x00\x01\x02 of a file".to_vec();
    let r = ann
        .http
        .post(&upload)
        .basic_auth(&ann.user, Some(&ann.password))
        .header("content-type", "application/x-test")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let up: Value = r.json().await.unwrap();
    assert_eq!((up["size"].clone(), up["type"].clone()), (json!(data.len()), json!("application/x-test")));
    let blob = up["blobId"].as_str().unwrap().to_owned();
    let download = |c: &Client, account: &str| {
        c.session["downloadUrl"]
            .as_str()
            .unwrap()
            .replace("{accountId}", account)
            .replace("{blobId}", &blob)
            .replace("{name}", "file.bin")
            .replace("{type}", "")
    };
    let r = ann.http.get(download(&ann, &ann.account)).basic_auth(&ann.user, Some(&ann.password)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-test");
    assert_eq!(r.bytes().await.unwrap().to_vec(), data);
    // Not Bob's: neither through Ann's account nor his own.
    for account in [&ann.account, &bob.account] {
        let r = bob.http.get(download(&bob, account)).basic_auth(&bob.user, Some(&bob.password)).send().await.unwrap();
        assert_eq!(r.status(), 404);
    }
    let r = bob.call("Blob/copy", json!({ "fromAccountId": ann.account, "blobIds": [&blob] })).await;
    assert_eq!(r["notCopied"][&blob]["type"], "notFound");
    // Uploading into someone else's account is refused.
    let other = bob.session["uploadUrl"].as_str().unwrap().replace("{accountId}", &ann.account);
    let r = bob.http.post(other).basic_auth(&bob.user, Some(&bob.password)).body("x").send().await.unwrap();
    assert_eq!(r.status(), 403);
}

/// Uploads bytes; the blob id.
async fn upload(c: &Client, media: &str, data: &[u8]) -> String {
    let url = c.session["uploadUrl"].as_str().unwrap().replace("{accountId}", &c.account);
    let r = c.http.post(url).basic_auth(&c.user, Some(&c.password)).header("content-type", media).body(data.to_vec());
    let v: Value = r.send().await.unwrap().json().await.unwrap();
    v["blobId"].as_str().unwrap().to_owned()
}

async fn compose_send_and_vacation(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let bob = Client::login(&server, "bob@example.com").await;
    let identities = ann.call("Identity/get", json!({})).await;
    let identity = &identities["list"][0];
    assert_eq!(identity["email"], "ann@example.com");
    let (drafts, sent) = (ann.role("drafts").await, ann.role("sent").await);

    // Bob is away.
    let r = bob
        .call(
            "VacationResponse/set",
            json!({ "update": { "singleton": { "isEnabled": true, "subject": "Away", "textBody": "Back on Monday." } } }),
        )
        .await;
    assert!(r["updated"].get("singleton").is_some(), "{r}");
    let v = bob.call("VacationResponse/get", json!({})).await;
    assert_eq!((v["list"][0]["isEnabled"].clone(), v["list"][0]["subject"].clone()), (json!(true), json!("Away")));

    // A draft with text, HTML and an uploaded attachment, then sent, moved to Sent.
    let pdf = upload(&ann, "application/pdf", b"%PDF-1.4 fake").await;
    let r = ann
        .calls(&[
            (
                "Email/set",
                json!({ "accountId": ann.account, "create": { "d": {
                    "mailboxIds": { &drafts: true },
                    "keywords": { "$draft": true, "$seen": true },
                    "from": [{ "name": "Ann", "email": "ann@example.com" }],
                    "to": [{ "name": "Bob", "email": "bob@example.com" }],
                    "subject": "Plans für Montag",
                    "header:X-Project:asText": "Kontor",
                    "textBody": [{ "partId": "t", "type": "text/plain" }],
                    "htmlBody": [{ "partId": "h", "type": "text/html" }],
                    "attachments": [{ "blobId": pdf, "type": "application/pdf", "name": "plan.pdf", "disposition": "attachment" }],
                    "bodyValues": { "t": { "value": "See the plan." }, "h": { "value": "<p>See the <b>plan</b>.</p>" } },
                } } }),
            ),
            (
                "EmailSubmission/set",
                json!({ "accountId": ann.account,
                        "create": { "s": { "identityId": identity["id"], "emailId": "#d" } },
                        "onSuccessUpdateEmail": { "#s": {
                            format!("mailboxIds/{drafts}"): null, format!("mailboxIds/{sent}"): true, "keywords/$draft": null } } }),
            ),
        ])
        .await;
    assert_eq!(r[0][0], "Email/set", "{r:?}");
    let email = r[0][1]["created"]["d"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r[1][0], "EmailSubmission/set", "{r:?}");
    assert_eq!(r[1][1]["created"]["s"]["undoStatus"], "final", "{r:?}");
    assert_eq!(r[2][0], "Email/set", "the implicit Email/set follows: {r:?}");
    assert!(r[2][1]["updated"].get(&email).is_some(), "{r:?}");
    let got = ann
        .call("Email/get", json!({ "ids": [&email], "properties": ["mailboxIds", "keywords", "subject", "attachments", "header:X-Project:asText"] }))
        .await;
    let e = &got["list"][0];
    assert_eq!(e["mailboxIds"], json!({ &sent: true }));
    assert_eq!(e["keywords"], json!({ "$seen": true }));
    assert_eq!(e["subject"], "Plans für Montag");
    assert_eq!(e["header:X-Project:asText"], "Kontor");
    assert_eq!(e["attachments"][0]["name"], "plan.pdf");
    // Sent once: no second copy in Sent.
    let in_sent = ann.call("Email/query", json!({ "filter": { "inMailbox": sent } })).await;
    assert_eq!(in_sent["ids"], json!([email]));

    // Bob has it, with the text and the attachment.
    let q = bob.call("Email/query", json!({ "filter": { "subject": "Montag" } })).await;
    let got = bob
        .call("Email/get", json!({ "ids": q["ids"], "properties": ["from", "textBody", "bodyValues", "attachments"], "fetchTextBodyValues": true }))
        .await;
    let e = &got["list"][0];
    assert_eq!(e["from"][0]["email"], "ann@example.com");
    let part = e["textBody"][0]["partId"].as_str().unwrap();
    assert_eq!(e["bodyValues"][part]["value"], "See the plan.");
    assert_eq!(e["attachments"][0]["type"], "application/pdf");

    // Ann got Bob's vacation response, once.
    let away = ann.call("Email/query", json!({ "filter": { "subject": "Away" } })).await;
    assert_eq!(away["ids"].as_array().unwrap().len(), 1, "{away}");
    let got = ann
        .call(
            "Email/get",
            json!({ "ids": away["ids"], "properties": ["from", "header:Auto-Submitted:asText", "inReplyTo"] }),
        )
        .await;
    assert_eq!(got["list"][0]["from"][0]["email"], "bob@example.com");
    assert_eq!(got["list"][0]["header:Auto-Submitted:asText"], "auto-replied");
    let r = ann
        .calls(&[
            ("Email/set", json!({ "accountId": ann.account, "create": { "d2": {
                "mailboxIds": { &drafts: true }, "from": [{ "email": "ann@example.com" }], "to": [{ "email": "bob@example.com" }],
                "subject": "Second", "textBody": [{ "partId": "t" }], "bodyValues": { "t": { "value": "again" } } } } })),
            ("EmailSubmission/set", json!({ "accountId": ann.account, "create": { "s": { "identityId": identity["id"], "emailId": "#d2" } } })),
        ])
        .await;
    assert!(r[1][1]["created"]["s"].is_object(), "{r:?}");
    let away = ann.call("Email/query", json!({ "filter": { "subject": "Away" } })).await;
    assert_eq!(away["ids"].as_array().unwrap().len(), 1, "one response per sender: {away}");

    // Sending as someone else is refused; a submission cannot be called back.
    let r = ann
        .calls(&[
            ("Email/set", json!({ "accountId": ann.account, "create": { "f": {
                "mailboxIds": { &drafts: true }, "from": [{ "email": "bob@example.com" }], "to": [{ "email": "ann@example.com" }],
                "subject": "Forged", "textBody": [{ "partId": "t" }], "bodyValues": { "t": { "value": "x" } } } } })),
            ("EmailSubmission/set", json!({ "accountId": ann.account, "create": { "s": { "identityId": identity["id"], "emailId": "#f" } } })),
        ])
        .await;
    assert_eq!(r[1][1]["notCreated"]["s"]["type"], "forbiddenFrom", "{r:?}");
    let subs = ann.call("EmailSubmission/query", json!({})).await;
    let first = subs["ids"][0].as_str().unwrap().to_owned();
    let r = ann.call("EmailSubmission/set", json!({ "update": { &first: { "undoStatus": "canceled" } } })).await;
    assert_eq!(r["notUpdated"][&first]["type"], "cannotUnsend");
    let got = ann.call("EmailSubmission/get", json!({ "ids": [&first] })).await;
    assert_eq!(got["list"][0]["emailId"], json!(email));
    assert_eq!(got["list"][0]["envelope"]["rcptTo"][0]["email"], "bob@example.com");
    // Bad drafts: no mailbox, a property the server sets, an unknown part.
    let r = ann
        .call(
            "Email/set",
            json!({ "create": {
            "a": { "subject": "no mailbox" },
            "b": { "mailboxIds": { &drafts: true }, "size": 5 },
            "c": { "mailboxIds": { &drafts: true }, "textBody": [{ "partId": "nope" }] } } }),
        )
        .await;
    for k in ["a", "b", "c"] {
        assert_eq!(r["notCreated"][k]["type"], "invalidProperties", "{k}: {r}");
    }
}

async fn import_parse_and_snippets(store: &Store) {
    setup(store);
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let inbox = ann.role("inbox").await;
    let raw = message("Imported zebra", "The zebra crossed the road at noon.", "Message-ID: <imp@elsewhere.org>\r\n");
    let blob = upload(&ann, "message/rfc822", raw.as_bytes()).await;
    let parsed = ann.call("Email/parse", json!({ "blobIds": [&blob, "nonsense"], "fetchTextBodyValues": true })).await;
    assert_eq!(parsed["parsed"][&blob]["subject"], "Imported zebra", "{parsed}");
    assert_eq!(parsed["parsed"][&blob]["messageId"], json!(["imp@elsewhere.org"]));
    assert_eq!(parsed["notFound"], json!(["nonsense"]));
    let r = ann
        .call(
            "Email/import",
            json!({ "emails": { "i": { "blobId": blob, "mailboxIds": { &inbox: true }, "keywords": { "$seen": true },
                                                          "receivedAt": "2024-01-31T10:00:00Z" } } }),
        )
        .await;
    let id = r["created"]["i"]["id"].as_str().unwrap().to_owned();
    assert_ne!(r["oldState"], r["newState"]);
    let got = ann.call("Email/get", json!({ "ids": [&id], "properties": ["receivedAt", "keywords", "blobId"] })).await;
    assert_eq!(got["list"][0]["receivedAt"], "2024-01-31T10:00:00Z");
    assert_eq!(got["list"][0]["keywords"], json!({ "$seen": true }));
    assert_eq!(got["list"][0]["blobId"], json!(blob));
    let r = ann
        .call(
            "Email/import",
            json!({ "emails": { "x": { "blobId": "f".repeat(64), "mailboxIds": { &inbox: true } } } }),
        )
        .await;
    assert_eq!(r["notCreated"]["x"]["type"], "blobNotFound");

    let s = ann.call("SearchSnippet/get", json!({ "filter": { "text": "zebra" }, "emailIds": [&id, "e999999"] })).await;
    assert_eq!(s["list"][0]["subject"], "Imported <mark>zebra</mark>");
    assert!(s["list"][0]["preview"].as_str().unwrap().contains("The <mark>zebra</mark> crossed"), "{s}");
    assert_eq!(s["notFound"], json!(["e999999"]));
}

async fn websocket_requests_and_push(store: &Store) {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    setup(store);
    let server = Server::start(store, &[]);
    support::deliver(&server, "ann@example.com", &[&message("Hello", "first", "")]).await;
    let ann = Client::login(&server, "ann@example.com").await;
    let ws = &ann.session["capabilities"]["urn:ietf:params:jmap:websocket"];
    assert_eq!(ws["supportsPush"], true);
    let mut req = ws["url"].as_str().unwrap().into_client_request().unwrap();
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "ann@example.com:anns password");
    req.headers_mut().insert("authorization", format!("Basic {auth}").parse().unwrap());
    req.headers_mut().insert("sec-websocket-protocol", "jmap".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "jmap");
    // A request and its response, matched by id.
    let request = json!({ "@type": "Request", "id": "r1", "using": USING,
                          "methodCalls": [["Email/query", { "accountId": ann.account }, "q"]] });
    socket.send(Message::Text(request.to_string().into())).await.unwrap();
    let v = read(&mut socket).await;
    assert_eq!((v["@type"].clone(), v["requestId"].clone()), (json!("Response"), json!("r1")), "{v}");
    assert_eq!(v["methodResponses"][0][1]["ids"].as_array().unwrap().len(), 1);
    // A bad request gets a RequestError with the id.
    socket
        .send(Message::Text(
            json!({ "@type": "Request", "id": "r2", "using": ["urn:x"], "methodCalls": [] }).to_string().into(),
        ))
        .await
        .unwrap();
    let v = read(&mut socket).await;
    assert_eq!((v["@type"].clone(), v["requestId"].clone()), (json!("RequestError"), json!("r2")), "{v}");

    // Push on: a flag set over IMAP arrives as a StateChange.
    let before = ann.call("Email/get", json!({ "ids": [] })).await["state"].clone();
    socket
        .send(Message::Text(json!({ "@type": "WebSocketPushEnable", "dataTypes": ["Email"] }).to_string().into()))
        .await
        .unwrap();
    let mut imap = Imap::login(&server, "ann@example.com", "anns password").await;
    imap.cmd("SELECT INBOX").await;
    imap.cmd("STORE 1 +FLAGS (\\Flagged)").await;
    let v = read(&mut socket).await;
    assert_eq!(v["@type"], "StateChange", "{v}");
    let state = v["changed"][&ann.account]["Email"].clone();
    assert_ne!(state, before);
    assert_eq!(ann.call("Email/get", json!({ "ids": [] })).await["state"], state);
    assert!(v["changed"][&ann.account].get("Mailbox").is_none(), "only the types asked for: {v}");
    socket.close(None).await.unwrap();
}

/// The next JSON text message of a WebSocket (bounded wait).
async fn read(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    use futures_util::StreamExt;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), socket.next()).await.unwrap().unwrap().unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// A loopback HTTP endpoint that answers 201 to every POST and hands over the bodies.
async fn push_endpoint() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push/ann", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Bounded: one request of at most 1 MiB.
                while buf.len() < 1 << 20 {
                    let Ok(n) = s.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            let _ = tx.send(serde_json::from_str(&body[..len]).unwrap_or(Value::Null));
                            let _ = s
                                .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                                .await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, rx)
}

async fn push_subscription(store: &Store) {
    setup(store);
    let (url, mut posted) = push_endpoint().await;
    let allowed = url.rsplit_once("/push/").unwrap().0.to_owned() + "/push/";
    let server = Server::start(store, &[("KONTOR_JMAP_PUSH_ALLOWED", allowed.as_str())]);
    let ann = Client::login(&server, "ann@example.com").await;
    let mut next = async || tokio::time::timeout(Duration::from_secs(30), posted.recv()).await.unwrap().unwrap();

    // Only allowed URLs; no encrypted push.
    let r = ann
        .call(
            "PushSubscription/set",
            json!({ "create": {
            "bad": { "deviceClientId": "d1", "url": "http://127.0.0.1:9/elsewhere" },
            "enc": { "deviceClientId": "d1", "url": url, "keys": { "p256dh": "x", "auth": "y" } } } }),
        )
        .await;
    assert_eq!(r["notCreated"]["bad"]["type"], "forbidden", "{r}");
    assert_eq!(r["notCreated"]["enc"]["type"], "invalidProperties", "{r}");

    let r = ann
        .call(
            "PushSubscription/set",
            json!({ "create": { "s": { "deviceClientId": "d1", "url": url, "types": ["Email"] } } }),
        )
        .await;
    let id = r["created"]["s"]["id"].as_str().unwrap().to_owned();
    let verification = next().await;
    assert_eq!(verification["@type"], "PushVerification");
    assert_eq!(verification["pushSubscriptionId"], json!(id));
    // Nothing is pushed before the client proves it got the code; a wrong code is refused.
    let r = ann.call("PushSubscription/set", json!({ "update": { &id: { "verificationCode": "wrong" } } })).await;
    assert_eq!(r["notUpdated"][&id]["type"], "invalidProperties");
    support::deliver(&server, "ann@example.com", &[&message("Before", "not pushed", "")]).await;
    let r = ann
        .call(
            "PushSubscription/set",
            json!({ "update": { &id: { "verificationCode": verification["verificationCode"] } } }),
        )
        .await;
    assert!(r["updated"].get(&id).is_some(), "{r}");
    let got = ann.call("PushSubscription/get", json!({ "ids": null })).await;
    assert_eq!(got["list"][0]["verificationCode"], verification["verificationCode"]);
    assert!(got["list"][0].get("url").is_none(), "the URL is not given back");

    support::deliver(&server, "ann@example.com", &[&message("After", "pushed", "")]).await;
    // The dispatcher may still post for the change before the verification (what it reads then
    // is the state now, which is fine): wait for the post that names the current state.
    let now = ann.call("Email/get", json!({ "ids": [] })).await["state"].clone();
    let mut change = next().await;
    for _ in 0..3 {
        if change["changed"][&ann.account]["Email"] == now {
            break;
        }
        change = next().await;
    }
    assert_eq!(change["@type"], "StateChange", "{change}");
    assert_eq!(change["changed"][&ann.account]["Email"], now, "{change}");
    assert!(change["changed"][&ann.account].get("Mailbox").is_none(), "only the types asked for");

    let r = ann.call("PushSubscription/set", json!({ "destroy": [&id] })).await;
    assert_eq!(r["destroyed"], json!([id]));
    assert_eq!(ann.call("PushSubscription/get", json!({})).await["list"], json!([]));

    // A colleague's device hears that something was shared with it, and then of changes in
    // the shared folder of Ann's account.
    let bob = Client::login(&server, "bob@example.com").await;
    let r =
        bob.call("PushSubscription/set", json!({ "create": { "s": { "deviceClientId": "d2", "url": url } } })).await;
    let bob_sub = r["created"]["s"]["id"].as_str().unwrap().to_owned();
    // A StateChange for Ann's destroyed subscription may still be on its way (posted before
    // the destroy); the verification follows it.
    let mut verification = next().await;
    for _ in 0..3 {
        if verification["@type"] == "PushVerification" {
            break;
        }
        verification = next().await;
    }
    assert_eq!(verification["pushSubscriptionId"], json!(bob_sub), "{verification}");
    bob.call(
        "PushSubscription/set",
        json!({ "update": { &bob_sub: { "verificationCode": verification["verificationCode"] } } }),
    )
    .await;
    let inbox = ann.role("inbox").await;
    let bob_p = format!("p{}", &bob.account[1..]);
    let r = ann
        .call("Mailbox/set", json!({ "update": { &inbox: { "shareWith": { &bob_p: { "mayReadItems": true } } } } }))
        .await;
    assert!(r["updated"].get(&inbox).is_some(), "{r}");
    let notices = bob.call("ShareNotification/get", json!({ "ids": [] })).await["state"].clone();
    let mut change = next().await;
    for _ in 0..3 {
        if change["changed"][&bob.account].get("ShareNotification").is_some() {
            break;
        }
        change = next().await;
    }
    assert_eq!(change["changed"][&bob.account]["ShareNotification"], notices, "{change}");
    assert!(
        change["changed"].get(&ann.account).is_none_or(|a| a.get("ShareNotification").is_none()),
        "Ann's notices are not Bob's: {change}"
    );
    support::deliver(&server, "ann@example.com", &[&message("Shared", "Bob's device hears of it", "")]).await;
    let state = bob.call("Email/get", json!({ "accountId": ann.account, "ids": [] })).await["state"].clone();
    let mut change = next().await;
    for _ in 0..3 {
        if change["changed"][&ann.account]["Email"] == state {
            break;
        }
        change = next().await;
    }
    assert_eq!(change["changed"][&ann.account]["Email"], state, "{change}");
}

/// RFC 9670: the directory as Principal objects, Mailbox `shareWith`, the grantee's
/// ShareNotifications (from JMAP and from the CLI) with their changes, and Email/copy out of a
/// colleague's shared mailbox.
async fn principals_share_notifications_and_copy(store: &Store) {
    setup(store);
    store.ok(&["user", "add", "carl@example.com", "--password-stdin"], Some("carls password\n"));
    let server = Server::start(store, &[]);
    let ann = Client::login(&server, "ann@example.com").await;
    let bob = Client::login(&server, "bob@example.com").await;
    let principal = |c: &Client| format!("p{}", &c.account[1..]);
    let (ann_p, bob_p) = (principal(&ann), principal(&bob));

    // The session names the principals capability and the account's owner.
    let caps = &ann.session["accounts"][&ann.account]["accountCapabilities"];
    assert_eq!(caps["urn:ietf:params:jmap:principals"]["currentUserPrincipalId"], json!(ann_p), "{caps}");
    assert_eq!(caps["urn:ietf:params:jmap:principals:owner"]["principalId"], json!(ann_p));
    assert_eq!(ann.session["primaryAccounts"]["urn:ietf:params:jmap:principals"], json!(ann.account));

    // The directory: every user of the domain, found by email, name or text.
    let all = ann.call("Principal/get", json!({ "ids": null })).await;
    let emails: Vec<&str> = all["list"].as_array().unwrap().iter().filter_map(|p| p["email"].as_str()).collect();
    for e in ["ann@example.com", "bob@example.com", "carl@example.com"] {
        assert!(emails.contains(&e), "{all}");
    }
    let me = all["list"].as_array().unwrap().iter().find(|p| p["id"] == json!(ann_p)).unwrap();
    assert_eq!(me["type"], "individual");
    assert!(me["accounts"].get(&ann.account).is_some(), "Ann reaches her own account: {me}");
    let r = ann.call("Principal/query", json!({ "filter": { "email": "bob@" } })).await;
    assert_eq!(r["ids"], json!([bob_p]), "{r}");
    let r = ann
        .call("Principal/query", json!({ "filter": { "operator": "OR", "conditions": [{ "text": "carl" }, { "name": "bob" }] }, "sort": [{ "property": "email" }] }))
        .await;
    assert_eq!(r["ids"].as_array().unwrap().len(), 2, "{r}");
    let r = ann.call("Principal/get", json!({ "ids": [&bob_p, "p999999"], "properties": ["email", "accounts"] })).await;
    assert_eq!(r["list"][0]["email"], "bob@example.com");
    assert_eq!(r["list"][0]["accounts"], Value::Null, "Bob shared nothing with Ann yet: {r}");
    assert_eq!(r["notFound"], json!(["p999999"]));
    let r = ann.calls(&[("Principal/query", json!({ "accountId": ann.account, "filter": { "colour": "red" } }))]).await;
    assert_eq!(r[0][1]["type"], "unsupportedFilter", "{r:?}");

    let notes_before = bob.call("ShareNotification/get", json!({ "ids": null })).await;
    assert_eq!(notes_before["list"], json!([]), "{notes_before}");
    let state0 = notes_before["state"].as_str().unwrap().to_owned();

    // Ann shares a folder with Bob over JMAP: shareWith shows it, Bob is told.
    let r = ann.call("Mailbox/set", json!({ "create": { "t": { "name": "Team" } } })).await;
    let team = r["created"]["t"]["id"].as_str().unwrap().to_owned();
    support::deliver(&server, "ann@example.com", &[&message("Team news", "for the team", "")]).await;
    let news = ann.call("Email/query", json!({})).await["ids"][0].as_str().unwrap().to_owned();
    ann.call("Email/set", json!({ "update": { &news: { "mailboxIds": { &team: true }, "keywords/$flagged": true } } }))
        .await;
    let r = ann
        .call(
            "Mailbox/set",
            json!({ "update": { &team: { "shareWith": { &bob_p: { "mayReadItems": true, "maySetSeen": true } } } } }),
        )
        .await;
    assert!(r["updated"].get(&team).is_some(), "{r}");
    let got = ann.call("Mailbox/get", json!({ "ids": [&team], "properties": ["name", "shareWith"] })).await;
    let granted = &got["list"][0]["shareWith"][&bob_p];
    assert_eq!(granted["mayReadItems"], true, "{got}");
    assert_eq!(granted["mayAddItems"], false, "{got}");
    assert_eq!(granted["maySetKeywords"], false, "{got}");

    let notes = bob.call("ShareNotification/get", json!({ "ids": null })).await;
    let list = notes["list"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{notes}");
    let first = &list[0];
    assert_eq!(first["objectType"], "Mailbox");
    assert_eq!(first["objectAccountId"], json!(ann.account));
    assert_eq!(first["objectId"], json!(team));
    assert_eq!(first["name"], "Team");
    assert_eq!(first["oldRights"], Value::Null, "Bob had no rights before: {first}");
    assert_eq!(first["newRights"]["mayReadItems"], true, "{first}");
    assert_eq!(first["changedBy"]["email"], "ann@example.com");
    assert_eq!(first["changedBy"]["principalId"], json!(ann_p));
    let first_id = first["id"].as_str().unwrap().to_owned();
    let r = bob.call("ShareNotification/changes", json!({ "sinceState": state0 })).await;
    assert_eq!(r["created"], json!([first_id]), "{r}");
    let state1 = r["newState"].as_str().unwrap().to_owned();
    // Nobody else is told, and Ann's Principal object for Bob now... stays without accounts;
    // Bob's view of Ann reaches her account.
    let carl = Client::login(&server, "carl@example.com").await;
    assert_eq!(carl.call("ShareNotification/get", json!({})).await["list"], json!([]));
    let r = bob.call("Principal/get", json!({ "ids": [&ann_p], "properties": ["accounts"] })).await;
    assert!(r["list"][0]["accounts"].get(&ann.account).is_some(), "{r}");
    // Bob may not pass the folder on.
    let r = bob
        .call(
            "Mailbox/set",
            json!({ "accountId": ann.account, "update": { &team: { format!("shareWith/{}", principal(&carl)): { "mayReadItems": true } } } }),
        )
        .await;
    assert_eq!(r["notUpdated"][&team]["type"], "forbidden", "{r}");

    // A change made with the CLI (editor) is a second notice, from the old rights to the new.
    store.ok(&["share", "ann@example.com", "Team", "bob@example.com", "editor"], None);
    let r =
        bob.call("ShareNotification/query", json!({ "sort": [{ "property": "created", "isAscending": false }] })).await;
    let ids = r["ids"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 2, "{r}");
    assert_eq!(ids[1], json!(first_id), "newest first: {r}");
    let second_id = ids[0].as_str().unwrap().to_owned();
    let second = bob.call("ShareNotification/get", json!({ "ids": [&second_id] })).await;
    assert_eq!(second["list"][0]["oldRights"]["maySetKeywords"], false, "{second}");
    assert_eq!(second["list"][0]["newRights"]["maySetKeywords"], true, "{second}");
    let r = bob.call("ShareNotification/query", json!({ "filter": { "objectType": "Calendar" } })).await;
    assert_eq!(r["ids"], json!([]), "{r}");

    // Bob dismisses the first: it is gone, and /changes says so.
    let r = bob
        .call("ShareNotification/set", json!({ "destroy": [&first_id], "create": { "x": { "name": "mine" } } }))
        .await;
    assert_eq!(r["destroyed"], json!([first_id]), "{r}");
    assert_eq!(r["notCreated"]["x"]["type"], "forbidden", "notices are the server's: {r}");
    let r = bob.call("ShareNotification/changes", json!({ "sinceState": state1 })).await;
    assert_eq!(r["created"], json!([second_id]), "{r}");
    assert_eq!(r["destroyed"], json!([first_id]), "{r}");
    let r = bob.call("ShareNotification/get", json!({ "ids": [&first_id] })).await;
    assert_eq!(r["notFound"], json!([first_id]));
    let r = bob.calls(&[("ShareNotification/get", json!({ "accountId": ann.account }))]).await;
    assert_eq!(r[0][1]["type"], "accountNotFound", "notices live in one's own account: {r:?}");

    // Email/copy: Bob copies the shared message into his own Inbox, keywords kept.
    let bob_inbox = bob.role("inbox").await;
    let r = bob
        .call(
            "Email/copy",
            json!({ "fromAccountId": ann.account, "accountId": bob.account,
                "create": { "c": { "id": &news, "mailboxIds": { &bob_inbox: true } } } }),
        )
        .await;
    let copy = r["created"]["c"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    let got =
        bob.call("Email/get", json!({ "ids": [&copy], "properties": ["subject", "keywords", "mailboxIds"] })).await;
    assert_eq!(got["list"][0]["subject"], "Team news", "{got}");
    assert_eq!(got["list"][0]["keywords"]["$flagged"], true, "{got}");
    assert_eq!(got["list"][0]["mailboxIds"], json!({ &bob_inbox: true }));
    // A copy needs a mailbox of the target account, and an original the caller may read.
    let r = bob
        .call(
            "Email/copy",
            json!({ "fromAccountId": ann.account, "accountId": bob.account,
                "create": { "a": { "id": &news, "mailboxIds": { &team: true } }, "b": { "id": "e999999", "mailboxIds": { &bob_inbox: true } } } }),
        )
        .await;
    assert_eq!(r["notCreated"]["a"]["type"], "invalidProperties", "{r}");
    assert_eq!(r["notCreated"]["b"]["type"], "notFound", "{r}");
    // With onSuccessDestroyOriginal the original leaves Ann's folder (an editor may remove).
    let r = bob
        .calls(&[(
            "Email/copy",
            json!({ "fromAccountId": ann.account, "accountId": bob.account, "onSuccessDestroyOriginal": true,
                "create": { "m": { "id": &news, "mailboxIds": { &bob_inbox: true } } } }),
        )])
        .await;
    assert_eq!(r[0][0], "Email/copy", "{r:?}");
    assert!(r[0][1]["created"]["m"]["id"].is_string(), "{r:?}");
    assert_eq!(r[1][0], "Email/set", "{r:?}");
    assert_eq!(r[1][1]["destroyed"], json!([news]), "{r:?}");
    let q = ann.call("Email/query", json!({ "filter": { "inMailbox": &team } })).await;
    assert_eq!(q["ids"], json!([]), "{q}");

    // Ann revokes with a shareWith patch: Bob is told his rights are gone.
    let r = ann.call("Mailbox/set", json!({ "update": { &team: { format!("shareWith/{bob_p}"): null } } })).await;
    assert!(r["updated"].get(&team).is_some(), "{r}");
    let r =
        bob.call("ShareNotification/query", json!({ "sort": [{ "property": "created", "isAscending": false }] })).await;
    let last = bob.call("ShareNotification/get", json!({ "ids": [&r["ids"][0]] })).await;
    assert_eq!(last["list"][0]["newRights"], Value::Null, "{last}");
    assert_eq!(last["list"][0]["oldRights"]["mayRemoveItems"], true, "{last}");
}
