# Sourced by the bench scripts: kontor_bin prints the release kontor to run — $KONTOR_BIN when
# set, else one built here (cargo's output goes to stderr).
kontor_bin() {
  if [ -n "${KONTOR_BIN:-}" ]; then
    echo "$KONTOR_BIN"
    return
  fi
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kontor-target}"
  cargo build --release --locked -p kontor-server --bin kontor >&2
  echo "$CARGO_TARGET_DIR/release/kontor"
}
