//! End-to-end suites live in `tests/`; `src/bin/kontor-under-test.rs` is the binary they run.
