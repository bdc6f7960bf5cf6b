//! vdirsyncer (a real CalDAV/CardDAV client) syncs a calendar and an address book both ways
//! through Kontor, on SQLite and PostgreSQL. `scripts/test` installs vdirsyncer 0.21 into a
//! virtualenv and points `KONTOR_VDIRSYNCER` at it; without it this test fails.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::{Server, Store};

both_stores!(vdirsyncer_syncs_both_ways);

fn vdirsyncer() -> String {
    std::env::var("KONTOR_VDIRSYNCER").unwrap_or_else(|_| {
        let venv =
            std::path::Path::new(&std::env::var("HOME").unwrap_or_default()).join(".cache/kontor-venv/bin/vdirsyncer");
        if venv.exists() { venv.display().to_string() } else { "vdirsyncer".into() }
    })
}

fn config(dir: &Path, replica: &str, url: &str) -> std::path::PathBuf {
    let cfg = dir.join(format!("config.{replica}"));
    let root = dir.join(replica);
    let mut text = format!("[general]\nstatus_path = \"{}/status.{replica}/\"\n", dir.display());
    for (pair, kind, collection, ext) in [("cal", "caldav", "calendar", "ics"), ("card", "carddav", "contacts", "vcf")]
    {
        text.push_str(&format!(
            "\n[pair {pair}]\na = \"{pair}_local\"\nb = \"{pair}_remote\"\ncollections = [\"{collection}\"]\nconflict_resolution = \"b wins\"\n\
             \n[storage {pair}_local]\ntype = \"filesystem\"\npath = \"{}/{pair}/\"\nfileext = \".{ext}\"\n\
             \n[storage {pair}_remote]\ntype = \"{kind}\"\nurl = \"{url}\"\nusername = \"vd@example.com\"\npassword = \"vdirsyncer password\"\n",
            root.display()
        ));
    }
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn run(cfg: &Path, args: &[&str]) {
    let mut child = Command::new(vdirsyncer())
        .arg("-c")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("vdirsyncer is needed for this test (scripts/test installs it): {e}"));
    // `discover` asks before creating local collections.
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"y\ny\ny\ny\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "vdirsyncer {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

async fn vdirsyncer_syncs_both_ways(store: &Store) {
    store.ok(&["domain", "add", "example.com"], None);
    store.ok(&["user", "add", "vd@example.com", "--password-stdin"], Some("vdirsyncer password\n"));
    let server = Server::start(store, &[]);
    let url = format!("{}/", server.url);
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (config(work.path(), "A", &url), config(work.path(), "B", &url));
    let (cal_a, card_a) = (work.path().join("A/cal/calendar"), work.path().join("A/card/contacts"));
    let (cal_b, card_b) = (work.path().join("B/cal/calendar"), work.path().join("B/card/contacts"));
    std::fs::create_dir_all(&cal_a).unwrap();
    std::fs::create_dir_all(&card_a).unwrap();
    run(&a, &["discover"]);
    for i in 1..=3 {
        let rrule = if i == 1 { "RRULE:FREQ=WEEKLY;COUNT=10\r\n" } else { "" };
        std::fs::write(
            cal_a.join(format!("ev-{i}.ics")),
            format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kontor-test//EN\r\nBEGIN:VEVENT\r\nUID:ev-{i}\r\nDTSTAMP:20260101T000000Z\r\n\
                 DTSTART:2026030{i}T100000Z\r\nDTEND:2026030{i}T110000Z\r\n{rrule}SUMMARY:event {i}\r\nX-KONTOR-TEST;X-P=v:kept\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            ),
        )
        .unwrap();
        std::fs::write(
            card_a.join(format!("card-{i}.vcf")),
            format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-{i}\r\nFN:Person {i}\r\nN:{i};Person;;;\r\nEMAIL:p{i}@example.org\r\nEND:VCARD\r\n"),
        )
        .unwrap();
    }
    run(&a, &["sync"]);
    run(&b, &["discover"]);
    run(&b, &["sync"]);
    assert_eq!(files(&cal_b).len(), 3, "events reached replica B: {:?}", files(&cal_b));
    assert_eq!(files(&card_b).len(), 3, "cards reached replica B: {:?}", files(&card_b));
    let pulled: String = files(&cal_b).iter().map(|f| std::fs::read_to_string(cal_b.join(f)).unwrap()).collect();
    assert!(pulled.contains("X-KONTOR-TEST;X-P=v:kept"), "unknown properties round-trip: {pulled}");

    // Edit on B, delete on A; both changes cross over.
    let first = cal_b.join(&files(&cal_b)[0]);
    let edited = std::fs::read_to_string(&first).unwrap().replace("SUMMARY:event", "SUMMARY:changed by B, event");
    std::fs::write(&first, edited).unwrap();
    run(&b, &["sync"]);
    std::fs::remove_file(card_a.join(&files(&card_a)[0])).unwrap();
    run(&a, &["sync"]);
    run(&b, &["sync"]);
    let on_a: String = files(&cal_a).iter().map(|f| std::fs::read_to_string(cal_a.join(f)).unwrap()).collect();
    assert!(on_a.contains("SUMMARY:changed by B"), "B's edit reached A");
    assert_eq!(files(&card_b).len(), 2, "A's delete reached B");
}
