//! End-to-end: the real `kontor` binary over HTTP and its admin commands, on SQLite and on
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::many_single_char_names)]

mod support;

use reqwest::StatusCode;
use serde_json::Value;
use support::{Server, Store};

both_stores!(
    first_start_creates_store_and_admin,
    cli_users_authenticate_over_http,
    cli_manages_domains_aliases_quotas_and_app_passwords,
    rename_keeps_data_and_recreate_is_fresh,
    failed_logins_are_rate_limited,
    access_tokens,
    http_skeleton_answers_clearly,
    graceful_shutdown_and_restart,
    cli_works_offline_before_the_first_start,
    a_refused_request_keeps_its_connection,
);

async fn me(server: &Server, user: &str, password: &str) -> reqwest::Response {
    server.get("/api/me").basic_auth(user, Some(password)).send().await.unwrap()
}

async fn first_start_creates_store_and_admin(store: &Store) {
    let server = Server::start(store, &[]);
    let password = server.admin_password().expect("admin password printed on first start");
    assert!(server.banner.iter().any(|l| l.contains("admin@example.com")), "{:?}", server.banner);
    if store.db == support::Db::Sqlite {
        assert!(store.data().join("kontor.db").exists(), "SQLite store created in the data directory");
    }

    let r = server.get("/healthz").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = server.get("/readyz").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let r = me(&server, "admin@example.com", &password).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["address"], "admin@example.com");
    assert_eq!(body["admin"], true);
    assert_eq!(body["authMethod"], "password");

    for (user, pw) in [
        ("admin@example.com", "wrong password"),
        ("admin", password.as_str()),
        ("nobody@example.com", password.as_str()),
    ] {
        let r = me(&server, user, pw).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{user}");
        let challenges: Vec<_> =
            r.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        assert!(challenges.iter().any(|c| c.starts_with("Basic realm=")), "{challenges:?}");
        let body: Value = r.json().await.unwrap();
        assert!(!body.to_string().contains(&password), "never echo a password");
    }
    let r = server.get("/api/me").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
}

async fn cli_users_authenticate_over_http(store: &Store) {
    let server = Server::start(store, &[]);
    // While the server runs.
    let out =
        store.ok(&["user", "add", "bob@example.com", "--password-stdin", "--quota", "2GiB"], Some("bobs secret pw\n"));
    assert!(out.contains("bob@example.com"), "{out}");
    assert_eq!(me(&server, "bob@example.com", "bobs secret pw").await.status(), StatusCode::OK);
    assert_eq!(me(&server, "bob@example.com", "not it").await.status(), StatusCode::UNAUTHORIZED);
    let body: Value = me(&server, "Bob@Example.COM", "bobs secret pw").await.json().await.unwrap();
    assert_eq!(body["quota"]["limit"], 2u64 << 30);
    assert_eq!(body["admin"], false);

    // A generated password is printed once and works.
    let out = store.ok(&["user", "add", "carol@example.com"], None);
    let pw = out.lines().find_map(|l| l.strip_prefix("password (shown once): ")).expect("generated password printed");
    assert_eq!(me(&server, "carol@example.com", pw).await.status(), StatusCode::OK);
    let out = store.ok(&["user", "passwd", "carol@example.com", "--password-stdin"], Some("carols new password\n"));
    assert!(out.contains("changed"));
    assert_eq!(me(&server, "carol@example.com", pw).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(me(&server, "carol@example.com", "carols new password").await.status(), StatusCode::OK);

    // Errors: one clear line, non-zero exit.
    for (args, expect) in [
        (vec!["user", "add", "bob@example.com", "--password-stdin"], "already exists"),
        (vec!["user", "add", "x@unknown.org", "--password-stdin"], "domain unknown.org not found"),
        (vec!["user", "add", "no-domain", "--password-stdin"], "expected name@domain"),
        (vec!["user", "add", "x@example.com", "--password-stdin", "--quota", "lots"], "bad size"),
        (vec!["user", "remove", "ghost@example.com"], "not found"),
    ] {
        let err = store.fails(&args, Some("long enough password\n"));
        assert!(err.contains(expect), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    let err = store.fails(&["user", "add", "short@example.com", "--password-stdin"], Some("short\n"));
    assert!(err.contains("too short"), "{err}");

    let list = store.ok(&["user", "list"], None);
    for u in ["admin@example.com", "bob@example.com", "carol@example.com"] {
        assert!(list.contains(u), "{list}");
    }
    store.ok(&["user", "remove", "bob@example.com"], None);
    assert_eq!(me(&server, "bob@example.com", "bobs secret pw").await.status(), StatusCode::UNAUTHORIZED);
}

async fn cli_manages_domains_aliases_quotas_and_app_passwords(store: &Store) {
    let server = Server::start(store, &[]);
    store.ok(&["domain", "add", "Second.Example"], None);
    let err = store.fails(&["domain", "add", "second.example"], None);
    assert!(err.contains("already exists"), "{err}");
    assert!(store.fails(&["domain", "add", "bad_domain!"], None).contains("bad domain name"));
    let list = store.ok(&["domain", "list"], None);
    assert_eq!(list.lines().collect::<Vec<_>>(), ["example.com", "second.example"]);

    store.ok(&["user", "add", "dora@second.example", "--password-stdin"], Some("doras password\n"));
    store.ok(&["alias", "add", "sales@second.example", "dora@second.example"], None);
    assert!(store.ok(&["alias", "list"], None).contains("sales@second.example -> dora@second.example"));
    assert!(
        store.fails(&["alias", "add", "dora@second.example", "admin@example.com"], None).contains("already exists")
    );
    assert!(store.fails(&["domain", "remove", "second.example"], None).contains("remove them first"));

    let out = store.ok(&["quota", "set", "dora@second.example", "500MB"], None);
    assert!(out.contains("500.0 MiB"), "{out}");
    let body: Value = me(&server, "dora@second.example", "doras password").await.json().await.unwrap();
    assert_eq!(body["quota"]["limit"], 500u64 << 20);
    store.ok(&["quota", "set", "dora@second.example", "unlimited"], None);
    let body: Value = me(&server, "dora@second.example", "doras password").await.json().await.unwrap();
    assert_eq!(body["quota"]["limit"], Value::Null);

    let out = store.ok(&["app-password", "add", "dora@second.example", "Phone"], None);
    let secret = out.rsplit(": ").next().unwrap().trim().to_owned();
    let r = me(&server, "dora@second.example", &secret).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["authMethod"], "app-password");
    let r = server.post("/api/token").basic_auth("dora@second.example", Some(&secret)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a revocable app password mints no long-lived token");
    assert!(store.ok(&["app-password", "list", "dora@second.example"], None).starts_with("Phone\t"));
    store.ok(&["app-password", "revoke", "dora@second.example", "Phone"], None);
    assert_eq!(me(&server, "dora@second.example", &secret).await.status(), StatusCode::UNAUTHORIZED);
    assert!(store.fails(&["app-password", "revoke", "dora@second.example", "Phone"], None).contains("not found"));

    store.ok(&["alias", "remove", "sales@second.example"], None);
    store.ok(&["user", "remove", "dora@second.example"], None);
    store.ok(&["domain", "remove", "second.example"], None);
    assert_eq!(store.ok(&["domain", "list"], None).trim(), "example.com");
}

async fn rename_keeps_data_and_recreate_is_fresh(store: &Store) {
    let server = Server::start(store, &[]);
    store.ok(&["user", "add", "info@example.com", "--password-stdin", "--quota", "1GiB"], Some("info password\n"));
    let before: Value = me(&server, "info@example.com", "info password").await.json().await.unwrap();
    let out = store.ok(&["user", "rename", "info@example.com", "archive@example.com"], None);
    assert!(out.contains("archive@example.com"), "{out}");
    let after: Value = me(&server, "archive@example.com", "info password").await.json().await.unwrap();
    assert_eq!(after["id"], before["id"], "same account, same data");
    assert_eq!(after["quota"]["limit"], 1u64 << 30);
    assert_eq!(me(&server, "info@example.com", "info password").await.status(), StatusCode::UNAUTHORIZED);

    store.ok(&["user", "add", "info@example.com", "--password-stdin"], Some("the new info pw\n"));
    let fresh: Value = me(&server, "info@example.com", "the new info pw").await.json().await.unwrap();
    assert_ne!(fresh["id"], before["id"]);
    assert_eq!(fresh["quota"]["limit"], Value::Null);
    let err = store.fails(&["user", "rename", "info@example.com", "archive@example.com"], None);
    assert!(err.contains("already exists"), "{err}");
}

async fn failed_logins_are_rate_limited(store: &Store) {
    let server = Server::start(store, &[]);
    store.ok(&["user", "add", "eve@example.com", "--password-stdin"], Some("eves password\n"));
    // The default allows a burst of 10 failures per account.
    for n in 0..10 {
        assert_eq!(
            me(&server, "eve@example.com", &format!("guess {n}")).await.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {n}"
        );
    }
    // The allowance is charged before the password is checked: the next try is refused unchecked,
    // the right password included.
    let r = me(&server, "eve@example.com", "eves password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "blocked even with the right password");
    let r = me(&server, "Eve@Example.COM.", "guess 11").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "another spelling of the address shares the allowance");
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    // Another account from the same address is still served.
    let admin = server.admin_password().unwrap();
    assert_eq!(me(&server, "admin@example.com", &admin).await.status(), StatusCode::OK);
}

async fn access_tokens(store: &Store) {
    let server = Server::start(store, &[]);
    let admin = server.admin_password().unwrap();
    let r = server.post("/api/token").basic_auth("admin@example.com", Some(&admin)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    let token = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    let r = server.get("/api/me").bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["authMethod"], "token");
    let r = server.get("/api/me").bearer_auth(format!("{token}x")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = server.post("/api/token").bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "tokens do not mint tokens");
    // A new password ends existing tokens.
    store.ok(&["user", "passwd", "admin@example.com", "--password-stdin"], Some("another admin password\n"));
    let r = server.get("/api/me").bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn http_skeleton_answers_clearly(store: &Store) {
    let server = Server::start(store, &[("KONTOR_HTTP_MAX_BODY", "1KiB")]);
    let admin = server.admin_password().unwrap();
    let r = server.get("/healthz").send().await.unwrap();
    let id = r.headers().get("x-request-id").expect("request id").to_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);
    let r = server.get("/healthz").header("x-request-id", "client-chosen-id").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "client-chosen-id");

    let r = server
        .post("/api/token")
        .basic_auth("admin@example.com", Some(&admin))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("too large"), "{body}");

    let r = server.get("/no/such/thing").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    let r = server.get("/metrics").header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let text = server.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(text.contains("kontor_http_requests_total"), "{text}");
    assert!(text.contains("kontor_build_info"), "{text}");
}

async fn graceful_shutdown_and_restart(store: &Store) {
    let server = Server::start(store, &[]);
    let admin = server.admin_password().unwrap();
    let (code, rest) = server.stop();
    assert_eq!(code, Some(0), "clean exit on SIGTERM");
    assert!(rest.iter().any(|l| l == "Kontor stopped"), "{rest:?}");
    let again = Server::start(store, &[]);
    assert_eq!(again.admin_password(), None, "the password is printed on the first start only");
    assert_eq!(me(&again, "admin@example.com", &admin).await.status(), StatusCode::OK);
    let (code, _) = again.stop();
    assert_eq!(code, Some(0));
}

async fn cli_works_offline_before_the_first_start(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["user", "add", "first@example.com", "--password-stdin", "--admin"], Some("first users password\n"));
    let server = Server::start(store, &[]);
    assert_eq!(server.admin_password(), None, "a store with a domain is not bootstrapped again");
    let r = me(&server, "first@example.com", "first users password").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["admin"], true);
    // Any key can be set with --set as well.
    let out = store.kontor(&["--set", "http.max_body=lots", "user", "list"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http.max_body"));
    assert!(store.ok(&["--set", "log.level=error", "user", "list"], None).contains("first@example.com"));
}

/// A client sends its first request without credentials and repeats it on the same connection
/// after the 401. The refusal must not leave the body unread and the connection closing under
/// the client (python-caldav then failed with "connection closed without response").
async fn a_refused_request_keeps_its_connection(store: &Store) {
    use std::io::{Read, Write};
    let server = Server::start(store, &[]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let body = "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/></D:prop></D:propfind>";
        // Headers first, the body a moment later, as HTTP libraries write them.
        write!(s, "PROPFIND /dav/ HTTP/1.1\r\nHost: t\r\nDepth: 0\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        s.write_all(body.as_bytes()).unwrap();
        let first = read_response(&mut s);
        assert!(first.starts_with("HTTP/1.1 401"), "{first}");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let second = read_response(&mut s);
        assert!(second.starts_with("HTTP/1.1 200"), "the connection still serves: {second:?}");
    })
    .await
    .unwrap();

    fn read_response(s: &mut std::net::TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Headers, then as many body bytes as Content-Length says.
        loop {
            let n = s.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break;
                }
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}
