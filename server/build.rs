//! Link order. The functions a running server executes are laid out next to each other at the
//! start of its code, in the order `link-order.txt` lists them, instead of spread over the
//! whole 20 MB: the kernel maps a binary's code into a process in 64 KB windows around each
//! page it touches, so code that is used scattered among code that is not made most of the
//! binary resident. `bench/link-order.sh` makes the list from a run of the release build under
//! callgrind (the symbols executed, hottest first); names that a later build no longer has are
//! ignored, so a stale list costs only memory, never correctness.
//!
//! Only for release builds on x86-64 Linux, whose linker is LLD (Rust's default there since
//! 1.90); LLD's `--symbol-ordering-file` does the ordering.

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let target = std::env::var("TARGET").unwrap_or_default();
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let list = std::path::Path::new(&dir).join("link-order.txt");
    if release && target == "x86_64-unknown-linux-gnu" && list.is_file() {
        println!("cargo:rustc-link-arg-bin=kontor=-Wl,--symbol-ordering-file={}", list.display());
        println!("cargo:rustc-link-arg-bin=kontor=-Wl,--no-warn-symbol-ordering");
    }
    // Relative relocations packed (DT_RELR): the 55,000 pointers the loader fixes up at start
    // are described in a few KB instead of a 1.3 MB table that was read at every start and
    // stayed resident (1.3 MB less of the server's memory). The loader of glibc 2.36 and later
    // reads them; the binary then needs that glibc, so only where the one it is built with is.
    if release && target == "x86_64-unknown-linux-gnu" && glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bin=kontor=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the C library here is glibc of at least `major.minor` (`getconf` prints
/// "glibc 2.36").
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = std::process::Command::new("getconf").arg("GNU_LIBC_VERSION").output() else { return false };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else { return false };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}
