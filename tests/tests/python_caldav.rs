//! python-caldav's own integration suite (tests/test_caldav.py of the caldav 3.6.0 sdist) run
//! against Kontor on SQLite and PostgreSQL, expecting every feature: no compatibility profile,
//! except that scheduling (RFC 6638) is declared absent until Kontor implements it, so those
//! tests skip. `scripts/test` installs the suite and sets `KONTOR_CALDAV_SRC` and
//! `KONTOR_PYTHON`; without them this test fails.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

use support::{Server, Store};

both_stores!(python_caldav_suite_passes);

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

async fn python_caldav_suite_passes(store: &Store) {
    let src = std::env::var("KONTOR_CALDAV_SRC")
        .expect("KONTOR_CALDAV_SRC: the unpacked caldav 3.6.0 sdist (scripts/test fetches it)");
    let python = std::env::var("KONTOR_PYTHON").expect("KONTOR_PYTHON: python with caldav and pytest (scripts/test)");
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["user", "add", "pc@example.com", "--password-stdin"], Some("python caldav\n"));
    let server = Server::start(store, &[]);

    // Each run gets its own copy: the suite reads its server list from a file inside it.
    let dir = store.data().join("caldav-suite");
    copy_dir(std::path::Path::new(&src), &dir);
    std::fs::write(
        dir.join("tests/caldav_test_servers.yaml"),
        format!(
            "test-servers:\n  KontorUnderTest:\n    type: external\n    enabled: true\n    name: KontorUnderTest\n    url: \"{}/\"\n    username: \"pc@example.com\"\n    password: \"python caldav\"\n    features:\n      scheduling:\n        support: unsupported\n",
            server.url
        ),
    )
    .unwrap();
    let out = Command::new("timeout")
        .arg("900")
        .arg(&python)
        .args(["-m", "pytest", "tests/test_caldav.py", "-k", "KontorUnderTest", "-p", "no:cacheprovider"])
        .args(["-o", "asyncio_default_fixture_loop_scope=function", "-q", "-rfEs"])
        // The suite's own testPrincipals calls its deprecated principals(), and the suite turns
        // warnings into errors.
        .args(["-W", "ignore:principals() is deprecated:DeprecationWarning"])
        .current_dir(&dir)
        .env("PYTHON_CALDAV_TEST_EMBEDDED", "0")
        .env("PYTHON_CALDAV_TEST_DOCKER", "0")
        .env("PYTHON_CALDAV_TEST_EXTERNAL", "1")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "python-caldav suite failed:\n{report}");
    let summary = report.lines().rev().find(|l| l.contains(" passed")).unwrap_or_default().to_owned();
    let passed: usize = summary
        .split(" passed")
        .next()
        .and_then(|s| s.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 60 && !summary.contains("failed") && !summary.contains("error"), "{summary}\n{report}");
    // Only the scheduling tests may skip.
    for line in report.lines().filter(|l| l.starts_with("SKIPPED")) {
        assert!(line.to_lowercase().contains("schedul"), "unexpected skip: {line}\n{report}");
    }
    server.stop();
}
