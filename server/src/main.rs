//! The `kontor` binary.

/// jemalloc instead of glibc's malloc: with glibc, threads that allocate (tokio's workers and
/// blocking threads, SQLite's connection threads) get arenas of their own that keep what bursts
/// of mail bodies used; the mail benchmark's server grew to 190 MB PSS (106 MB with one arena).
/// It is also the C code's malloc (the crate's unprefixed symbols): SQLite's page caches and
/// statements otherwise sat in glibc arenas of their own (12 MB in three for three connections
/// after an IMAP benchmark round). Its options are compiled in (.cargo/config.toml): freed
/// pages go back to the kernel after a second, blocks of 1 MiB and more when freed. Tried and
/// left: `oversize_threshold:262144` (messages of 256 KiB and more faulted in again on every
/// read: a fifth more CPU for a FETCH of bodies, for 1 MB less peak), `background_thread:true` (bursts peaked 20 MB higher: purging waits for the
/// thread), `dirty_decay_ms:0` (about 8 MB less after a burst, but a FETCH of 1,000 bodies up
/// to twice as slow: every freed buffer is faulted in again), `tcache:false` (5 MB less during
/// POP3, APPEND's CPU time up by a fifth). Kept: `tcache_max:4096` (threads cache freed blocks
/// of up to 4 KiB, not 32: 2 to 3 MB less at the peaks, the same CPU).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(kontor_server::main_entry());
}
