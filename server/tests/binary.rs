//! Makes `cargo test` build the `kontor` binary (the end-to-end suites in tests/ run it), and
//! checks that it starts.

#[test]
fn prints_version_and_help() {
    let bin = env!("CARGO_BIN_EXE_kontor");
    let out = std::process::Command::new(bin).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kontor "));
    let out = std::process::Command::new(bin).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "domain", "user", "alias", "quota", "app-password"] {
        assert!(help.contains(cmd), "{help}");
    }
    let out = std::process::Command::new(bin).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
