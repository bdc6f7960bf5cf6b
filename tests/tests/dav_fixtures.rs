//! Request/response fixtures for the DAV layer, run in order against a fresh server on SQLite
//! and PostgreSQL. Each `tests/fixtures/dav/NN-name.http` holds one request — a line
//! `METHOD /path`, header lines, a blank line, the body — then `=== STATUS` and what the
//! answer must show: `contains: TEXT`, `lacks: TEXT`, `header NAME: TEXT`. The user is
//! ann@example.com; bob@example.com is a colleague who shared nothing.

#![allow(clippy::unwrap_used)]

mod support;

use reqwest::Method;
use support::{Server, Store};

both_stores!(dav_fixtures_hold);

struct Fixture {
    name: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    status: u16,
    checks: Vec<String>,
}

fn load() -> Vec<Fixture> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dav");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "http"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let (request, expect) = text.split_once("\n=== ").unwrap_or_else(|| panic!("{}: no === line", p.display()));
            let mut lines = request.lines();
            let (method, path) = lines.next().unwrap().split_once(' ').unwrap();
            let mut headers = Vec::new();
            for l in lines.by_ref() {
                if l.is_empty() {
                    break;
                }
                let (k, v) = l.split_once(':').unwrap();
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            let body = lines.collect::<Vec<_>>().join("\r\n");
            let mut expect = expect.lines();
            let status = expect.next().unwrap().trim().parse().unwrap();
            Fixture {
                name: p.file_name().unwrap().to_string_lossy().into_owned(),
                method: method.to_owned(),
                path: path.to_owned(),
                headers,
                body,
                status,
                checks: expect.map(str::to_owned).filter(|l| !l.trim().is_empty()).collect(),
            }
        })
        .collect()
}

async fn dav_fixtures_hold(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["user", "add", "ann@example.com", "--password-stdin"], Some("anns password\n"));
    store.ok(&["user", "add", "bob@example.com", "--password-stdin"], Some("bobs password\n"));
    let server = Server::start(store, &[]);
    let fixtures = load();
    assert!(fixtures.len() >= 10, "fixtures found: {}", fixtures.len());
    let client = reqwest::Client::new();
    for f in fixtures {
        let mut req = client
            .request(Method::from_bytes(f.method.as_bytes()).unwrap(), format!("{}{}", server.url, f.path))
            .basic_auth("ann@example.com", Some("anns password"))
            .body(f.body.clone());
        for (k, v) in &f.headers {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        assert_eq!(status, f.status, "{}: status\n{text}", f.name);
        for check in &f.checks {
            if let Some(want) = check.strip_prefix("contains: ") {
                assert!(text.contains(want), "{}: body lacks {want:?}\n{text}", f.name);
            } else if let Some(unwanted) = check.strip_prefix("lacks: ") {
                assert!(!text.contains(unwanted), "{}: body has {unwanted:?}\n{text}", f.name);
            } else if let Some(h) = check.strip_prefix("header ") {
                let (name, want) = h.split_once(": ").unwrap();
                let got = headers
                    .get_all(name.trim())
                    .iter()
                    .map(|v| v.to_str().unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(", ");
                assert!(got.contains(want), "{}: header {name} is {got:?}, wanted {want:?}", f.name);
            } else {
                panic!("{}: unknown check {check:?}", f.name);
            }
        }
    }
    server.stop();
}
