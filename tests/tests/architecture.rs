//! The house rules of ../shared/DESIGN.md, checked on `cargo metadata`: which crate may import
//! which, and one crypto backend for the whole build.

#![allow(clippy::unwrap_used, clippy::many_single_char_names)]

use serde_json::Value;

const ADAPTERS: &[&str] = &["kontor-dav", "kontor-jmap", "kontor-imap", "kontor-pop3", "kontor-smtp", "kontor-web"];

/// Crates the domain must not know (databases, HTTP, wire formats).
const DOMAIN_FORBIDDEN: &[&str] = &[
    "sea-orm",
    "sea-orm-migration",
    "sea-query",
    "sqlx",
    "axum",
    "hyper",
    "tower",
    "tower-http",
    "quick-xml",
    "imap-codec",
    "imap-next",
    "smtp-proto",
    "rusqlite",
    "tokio-postgres",
];

/// Internal crates each crate may depend on; `None`: any.
fn allowed_internal(name: &str) -> Option<&'static [&'static str]> {
    match name {
        "kontor-domain" | "kontor-migrations" => Some(&[]),
        "kontor-storage" => Some(&["kontor-domain", "kontor-migrations"]),
        n if ADAPTERS.contains(&n) => Some(&["kontor-domain"]),
        _ => None,
    }
}

/// Every violation in a `cargo metadata` document.
fn violations(meta: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let members: Vec<&str> =
        meta["workspace_members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(id)) = (pkg["name"].as_str(), pkg["id"].as_str()) else { continue };
        if !members.contains(&id) {
            continue;
        }
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            let is_dev = dep["kind"].as_str() == Some("dev");
            if dep_name.starts_with("kontor-") {
                if let Some(allowed) = allowed_internal(name)
                    && !allowed.contains(&dep_name)
                {
                    out.push(format!("{name} must not depend on {dep_name}"));
                }
            } else if name == "kontor-domain" && !is_dev && DOMAIN_FORBIDDEN.contains(&dep_name) {
                out.push(format!("kontor-domain must not depend on {dep_name}"));
            } else if ADAPTERS.contains(&name)
                && !is_dev
                && (dep_name.starts_with("sea-") || dep_name.starts_with("sqlx"))
            {
                out.push(format!("{name} must not reach the database ({dep_name})"));
            }
        }
    }
    out
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("metadata JSON")
}

#[test]
fn crates_import_only_what_the_design_allows() {
    let meta = metadata();
    let v = violations(&meta);
    assert!(v.is_empty(), "DESIGN.md import rules broken:\n{}", v.join("\n"));
    // The check sees every crate of the design.
    let names: Vec<&str> = meta["packages"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    for c in
        ["server", "domain", "storage", "migrations", "dav", "jmap", "imap", "pop3", "smtp", "web", "tests", "bench"]
    {
        assert!(names.contains(&format!("kontor-{c}").as_str()), "missing crate kontor-{c}");
    }
}

#[test]
fn the_check_catches_violations() {
    let meta = serde_json::json!({
        "workspace_members": ["d", "i", "s"],
        "packages": [
            {"name": "kontor-domain", "id": "d", "dependencies": [{"name": "sea-orm", "kind": null}, {"name": "axum", "kind": null}]},
            {"name": "kontor-imap", "id": "i", "dependencies": [{"name": "kontor-storage", "kind": null}, {"name": "kontor-smtp", "kind": null}, {"name": "kontor-domain", "kind": null}]},
            {"name": "kontor-storage", "id": "s", "dependencies": [{"name": "kontor-domain", "kind": null}, {"name": "kontor-server", "kind": null}]},
        ]
    });
    let v = violations(&meta);
    assert_eq!(v.len(), 5, "{v:?}");
    assert!(v.iter().any(|m| m == "kontor-imap must not depend on kontor-storage"));
    assert!(v.iter().any(|m| m == "kontor-domain must not depend on sea-orm"));
    assert!(v.iter().any(|m| m == "kontor-storage must not depend on kontor-server"));
}

/// Whether the host build of the workspace (all targets) compiles `krate`.
fn builds(krate: &str) -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["tree", "--workspace", "--offline", "-e", "normal,build,dev", "--prefix", "none", "-i", krate])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() || stderr.contains("did not match any packages"), "cargo tree: {stderr}");
    out.status.success()
}

#[test]
fn one_crypto_backend() {
    assert!(builds("ring"), "ring is the chosen backend");
    assert!(!builds("aws-lc-rs") && !builds("aws-lc-sys"), "aws-lc must not be compiled beside ring");
}
