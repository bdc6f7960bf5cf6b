//! The binary refuses a bad configuration with the key named and a non-zero exit.

#![allow(clippy::unwrap_used, clippy::many_single_char_names)]

mod support;

#[test]
fn bad_configuration_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kontor.toml");
    for (text, key) in [
        ("[http]\nlisten = \"not an address\"\n", "http.listen"),
        ("[htp]\nlisten = \"127.0.0.1:1\"\n", "htp"),
        ("[database]\nurl = \"mysql://x/y\"\n", "database.url"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let out = std::process::Command::new(support::binary())
            .args(["--config", cfg.to_str().unwrap(), "--data", dir.path().join("d").to_str().unwrap(), "serve"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(key), "{text}: {err}");
    }
    let out = std::process::Command::new(support::binary())
        .args(["--data", dir.path().join("d").to_str().unwrap(), "serve"])
        .env("KONTOR_HTTP", "nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http.listen"));
}
