//! The WebDAV file drive over raw HTTP, on SQLite and PostgreSQL: CRUD, properties, quota,
//! privacy between users, bad input.

#![allow(clippy::unwrap_used)]

mod support;

use reqwest::{Method, StatusCode};
use support::{Server, Store};

both_stores!(drive_crud_and_properties, drive_quota_privacy_and_bad_input, shared_folders_follow_the_role);

fn m(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

struct Client<'a> {
    server: &'a Server,
    user: &'a str,
    password: &'a str,
}

impl Client<'_> {
    fn req(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(m(method), format!("{}/dav/files/{path}", self.server.url))
            .basic_auth(self.user, Some(self.password))
    }
}

fn setup(store: &Store) -> Server {
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["user", "add", "ann@example.com", "--password-stdin"], Some("anns password\n"));
    store.ok(&["user", "add", "bob@example.com", "--password-stdin", "--quota", "1KiB"], Some("bobs password\n"));
    Server::start(store, &[("KONTOR_QUOTA_MAX_ITEM_SIZE", "4KiB")])
}

async fn drive_crud_and_properties(store: &Store) {
    let server = setup(store);
    let ann = Client { server: &server, user: "ann@example.com", password: "anns password" };
    let r = ann.req("OPTIONS", "ann@example.com/").send().await.unwrap();
    assert!(r.headers()["dav"].to_str().unwrap().contains('2'));

    assert_eq!(ann.req("MKCOL", "ann@example.com/docs/").send().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(
        ann.req("MKCOL", "ann@example.com/docs/").send().await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(ann.req("MKCOL", "ann@example.com/nope/deeper/").send().await.unwrap().status(), StatusCode::CONFLICT);

    let r = ann
        .req("PUT", "ann@example.com/docs/r%C3%A9sum%C3%A9.txt")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = ann.req("GET", "ann@example.com/docs/r%C3%A9sum%C3%A9.txt").send().await.unwrap();
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "hello");

    // Conditional writes.
    let r = ann
        .req("PUT", "ann@example.com/docs/r%C3%A9sum%C3%A9.txt")
        .header("if-match", "\"stale\"")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = ann
        .req("PUT", "ann@example.com/docs/r%C3%A9sum%C3%A9.txt")
        .header("if-none-match", "*")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = ann
        .req("PUT", "ann@example.com/docs/r%C3%A9sum%C3%A9.txt")
        .header("if-match", &etag)
        .body("hello again")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_ne!(r.headers()["etag"].to_str().unwrap(), etag);

    // Dead properties round-trip, with their namespaces.
    let patch = r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:kontor:test">
        <D:set><D:prop><Z:colour>blue &amp; <Z:b>bold</Z:b></Z:colour></D:prop></D:set></D:propertyupdate>"#;
    let r = ann.req("PROPPATCH", "ann@example.com/docs/").body(patch).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let find = r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><Q:colour xmlns:Q="urn:kontor:test"/><Q:none xmlns:Q="urn:kontor:test"/></D:prop></D:propfind>"#;
    let r = ann.req("PROPFIND", "ann@example.com/docs/").header("depth", "1").body(find).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let text = r.text().await.unwrap();
    assert!(text.contains("blue &amp; <b xmlns=\"urn:kontor:test\">bold</b>"), "{text}");
    assert!(text.contains("/dav/files/ann@example.com/docs/r%C3%A9sum%C3%A9.txt"), "{text}");
    assert!(text.contains("HTTP/1.1 404"), "unknown property reported missing: {text}");
    let r = ann.req("PROPFIND", "ann@example.com/docs/").header("depth", "infinity").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("propfind-finite-depth"));
    let r = ann.req("PROPPATCH", "ann@example.com/docs/").body(r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getetag>x</D:getetag></D:prop></D:set></D:propertyupdate>"#).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("HTTP/1.1 403"), "live properties are protected");

    // Copy, move, delete.
    let dest = format!("{}/dav/files/ann@example.com/copy.txt", server.url);
    let r =
        ann.req("COPY", "ann@example.com/docs/r%C3%A9sum%C3%A9.txt").header("destination", &dest).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = ann
        .req("COPY", "ann@example.com/docs/r%C3%A9sum%C3%A9.txt")
        .header("destination", &dest)
        .header("overwrite", "F")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let moved = format!("{}/dav/files/ann@example.com/archive/", server.url);
    assert_eq!(
        ann.req("MOVE", "ann@example.com/docs/").header("destination", &moved).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        ann.req("GET", "ann@example.com/docs/r%C3%A9sum%C3%A9.txt").send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ann.req("GET", "ann@example.com/archive/r%C3%A9sum%C3%A9.txt").send().await.unwrap().text().await.unwrap(),
        "hello again"
    );
    assert_eq!(ann.req("DELETE", "ann@example.com/archive/").send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(ann.req("GET", "ann@example.com/copy.txt").send().await.unwrap().text().await.unwrap(), "hello again");
    assert_eq!(ann.req("DELETE", "ann@example.com/").send().await.unwrap().status(), StatusCode::FORBIDDEN);
}

async fn drive_quota_privacy_and_bad_input(store: &Store) {
    let server = setup(store);
    let ann = Client { server: &server, user: "ann@example.com", password: "anns password" };
    let bob = Client { server: &server, user: "bob@example.com", password: "bobs password" };

    // Bob's quota is 1 KiB: a 600-byte file fits, a second one does not, and nothing is written.
    assert_eq!(
        bob.req("PUT", "bob@example.com/a.bin").body(vec![1u8; 600]).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let r = bob.req("PUT", "bob@example.com/b.bin").body(vec![2u8; 600]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(bob.req("GET", "bob@example.com/b.bin").send().await.unwrap().status(), StatusCode::NOT_FOUND);
    // Ann's files are limited by quota.max_item_size (4 KiB here).
    let r = ann.req("PUT", "ann@example.com/big.bin").body(vec![0u8; 5000]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Bob cannot see or touch Ann's drive, and learns nothing about what is in it.
    assert_eq!(
        ann.req("PUT", "ann@example.com/secret.txt").body("ann only").send().await.unwrap().status(),
        StatusCode::CREATED
    );
    for (method, path) in [
        ("GET", "ann@example.com/secret.txt"),
        ("PROPFIND", "ann@example.com/"),
        ("PUT", "ann@example.com/x"),
        ("DELETE", "ann@example.com/secret.txt"),
    ] {
        let body = if method == "PUT" { "x" } else { "" };
        let r = bob.req(method, path).header("depth", "1").body(body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert!(!r.text().await.unwrap().contains("ann only"));
    }
    let r = reqwest::Client::new()
        .get(format!("{}/dav/files/ann@example.com/secret.txt", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));

    // Bad input: clear 400s, never 500, nothing written.
    for body in [
        "<D:propfind xmlns:D=\"DAV:\"><D:prop>",
        "<!DOCTYPE x [<!ENTITY big \"boom\">]><D:propfind xmlns:D=\"DAV:\"><D:prop>&big;</D:prop></D:propfind>",
        "<x:propfind><x:prop/></x:propfind>",
        "not xml at all",
    ] {
        let r = ann.req("PROPFIND", "ann@example.com/").header("depth", "0").body(body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let r = ann
        .req("PROPPATCH", "ann@example.com/secret.txt")
        .body("<D:propertyupdate xmlns:D=\"DAV:\"><D:set>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = ann.req("GET", "ann@example.com/..%2Fbob@example.com/a.bin").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = ann
        .req("MOVE", "ann@example.com/secret.txt")
        .header("destination", format!("{}/dav/files/bob@example.com/stolen.txt", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(ann.req("GET", "ann@example.com/secret.txt").send().await.unwrap().text().await.unwrap(), "ann only");
}

async fn shared_folders_follow_the_role(store: &Store) {
    let server = setup(store);
    let ann = Client { server: &server, user: "ann@example.com", password: "anns password" };
    let bob = Client { server: &server, user: "bob@example.com", password: "bobs password" };
    for dir in ["ann@example.com/team/", "ann@example.com/team/plans/", "ann@example.com/private/"] {
        assert_eq!(ann.req("MKCOL", dir).send().await.unwrap().status(), StatusCode::CREATED);
    }
    for (file, body) in
        [("ann@example.com/team/plans/q3.txt", "Q3 plan"), ("ann@example.com/private/diary.txt", "secret")]
    {
        assert_eq!(ann.req("PUT", file).body(body).send().await.unwrap().status(), StatusCode::CREATED);
    }
    let share = |role: &'static str| {
        reqwest::Client::new()
            .post(format!("{}/api/shares", server.url))
            .basic_auth("ann@example.com", Some("anns password"))
            .json(&serde_json::json!({ "url": "/dav/files/ann@example.com/team/", "grantee": "bob@example.com", "role": role }))
            .send()
    };
    let listing = |c: &Client<'_>| {
        c.req("PROPFIND", "bob@example.com/")
            .header("depth", "1")
            .body("<D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/></D:prop></D:propfind>")
            .send()
    };

    // Nothing shared yet: Bob's drive shows nothing of Ann's.
    let mine = listing(&bob).await.unwrap().text().await.unwrap();
    assert!(!mine.contains("shared-"), "{mine}");
    assert_eq!(share("reviewer").await.unwrap().status(), StatusCode::OK);
    let mine = listing(&bob).await.unwrap().text().await.unwrap();
    let at = mine.find("/dav/files/bob@example.com/shared-").expect("shared folder at the top of Bob's drive");
    let shared = mine[at + "/dav/files/".len()..].split('<').next().unwrap().to_owned();
    // The grant covers the folders below: Bob lists and reads them, may not write or delete.
    let inside = bob
        .req("PROPFIND", &shared)
        .header("depth", "1")
        .body("<D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/></D:prop></D:propfind>")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(inside.contains("plans/"), "{inside}");
    let r = bob.req("GET", &format!("{shared}plans/q3.txt")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "Q3 plan");
    let r = bob.req("PUT", &format!("{shared}plans/q4.txt")).body("mine").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("need-privileges"));
    assert_eq!(
        bob.req("DELETE", &format!("{shared}plans/q3.txt")).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // What was not shared stays invisible, by any path.
    assert_eq!(
        bob.req("GET", "ann@example.com/private/diary.txt").send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.req("GET", "ann@example.com/team/plans/q3.txt").send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Editor: Bob writes into Ann's folder; the bytes count against Ann's quota, not his (1 KiB).
    assert_eq!(share("editor").await.unwrap().status(), StatusCode::OK);
    let big = "x".repeat(2000);
    let r = bob.req("PUT", &format!("{shared}plans/q4.txt")).body(big.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(ann.req("GET", "ann@example.com/team/plans/q4.txt").send().await.unwrap().text().await.unwrap(), big);
    assert_eq!(
        bob.req("DELETE", &format!("{shared}plans/q3.txt")).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );

    // Revoked: gone from Bob's drive and unreachable.
    assert_eq!(share("none").await.unwrap().status(), StatusCode::OK);
    assert!(!listing(&bob).await.unwrap().text().await.unwrap().contains("shared-"));
    assert_eq!(bob.req("GET", &format!("{shared}plans/q4.txt")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}
