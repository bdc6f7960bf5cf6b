//! litmus (WebDAV conformance: basic, copymove, props, locks, http) against the file drive, on
//! SQLite and PostgreSQL. `scripts/test` installs litmus; without it this test fails.

#![allow(clippy::unwrap_used)]

mod support;

use support::{Server, Store};

both_stores!(litmus_passes_on_the_file_drive);

async fn litmus_passes_on_the_file_drive(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["user", "add", "lit@example.com", "--password-stdin"], Some("litmus password\n"));
    let server = Server::start(store, &[]);
    let url = format!("{}/dav/files/lit@example.com/", server.url);
    let work = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("litmus")
        .args(["-k", &url, "lit@example.com", "litmus password"])
        .current_dir(work.path())
        .output()
        .expect("litmus is needed for this test (scripts/test installs it: apt-get install litmus)");
    let text = String::from_utf8_lossy(&out.stdout);
    let summaries: Vec<&str> = text.lines().filter(|l| l.contains("<- summary for")).collect();
    for suite in ["basic", "copymove", "props", "locks", "http"] {
        let line = summaries
            .iter()
            .find(|l| l.contains(&format!("`{suite}'")))
            .unwrap_or_else(|| panic!("{suite} did not run:\n{text}"));
        assert!(line.contains(" 0 failed"), "{line}\n{text}");
    }
    assert!(out.status.success(), "{text}");
}
