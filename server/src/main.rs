//! The `kontor` binary.

fn main() {
    std::process::exit(kontor_server::main_entry());
}
