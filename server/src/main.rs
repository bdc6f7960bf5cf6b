//! The `kontor` binary.

/// jemalloc instead of glibc's malloc: with glibc, threads that allocate (tokio's workers and
/// blocking threads, SQLite's connection threads) get arenas of their own that keep what bursts
/// of mail bodies used; the mail benchmark's server grew to 190 MB PSS (106 MB with one arena).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(kontor_server::main_entry());
}
