//! The `kontor` binary's `main`, built inside this package so that the end-to-end suites get it
//! through `CARGO_BIN_EXE_…` and cargo always rebuilds it before they run. Same code, same
//! command line; only the file name differs.

fn main() {
    std::process::exit(kontor_server::main_entry());
}
