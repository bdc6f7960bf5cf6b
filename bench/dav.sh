#!/usr/bin/env bash
# CalDAV/CardDAV load, side by side: Kontor (release build, SQLite) against Xandikos and Radicale
# started on this machine in the same run. Loads 2,000 events (part recurring) and 2,000 vCards
# into each, times the read operations, and prints medians, the ratios to Kontor, and RSS.
#
#   bench/dav.sh [EVENTS]            default 2000
#   env: PEERS (default "xandikos radicale"), HARNESS (default ../shared/harness/dav),
#        HARNESS_WORK (default /tmp/kontor-harness),
#        VENV (the harness venv with radicale, xandikos; made by $HARNESS/setup_tools.sh)
#
# Uses the harness's peers.sh (start-perf) and load/davload.py; nothing of them is copied here.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-2000}
HARNESS=${HARNESS:-$(cd ../shared/harness/dav && pwd)}
export HARNESS_WORK=${HARNESS_WORK:-/tmp/kontor-harness}
export VENV=${VENV:-$HARNESS_WORK/dav/venv}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kontor-target}"
[ -x "$VENV/bin/radicale" ] || { echo "run $HARNESS/setup_tools.sh first (no venv at $VENV)" >&2; exit 2; }
PY="$VENV/bin/python"

cargo build --release --locked -p kontor-server --bin kontor
K="$CARGO_TARGET_DIR/release/kontor"
OUT=$(mktemp -d /tmp/kontor-bench.XXXXXX)
DATA="$OUT/kontor-data"
export KONTOR_DATA="$DATA" KONTOR_LOG=warn
"$K" domain add bench.test >/dev/null
echo testpass | "$K" user add test@bench.test --password-stdin >/dev/null
"$K" serve --http 127.0.0.1:18800 > "$OUT/kontor.out" 2> "$OUT/kontor.err" &
KPID=$!
trap 'kill $KPID 2>/dev/null; bash "$HARNESS/peers/peers.sh" stop >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:18800/healthz && break; sleep 0.2; done
PIN= bash "$HARNESS/peers/peers.sh" start-perf >/dev/null

pid_of() { cat "$HARNESS_WORK/dav/peers/$1/pid"; }
run() { # label base user calendar addressbook pid
  "$PY" "$HARNESS/load/davload.py" --base-url "$2" --user "$3" --password testpass \
    --calendar "$4" --addressbook "$5" --create --events "$EVENTS" --cards "$EVENTS" \
    --server-pid "$6" --label "$1" --json-out "$OUT/$1.json" > "$OUT/$1.log" 2>&1 \
    || { echo "davload against $1 failed; see $OUT/$1.log" >&2; tail -5 "$OUT/$1.log" >&2; }
}
run kontor http://127.0.0.1:18800 test@bench.test /dav/calendars/test@bench.test/bench/ /dav/addressbooks/test@bench.test/bench/ "$KPID"
results=("$OUT/kontor.json")
for peer in ${PEERS:-xandikos radicale}; do
  case $peer in
    xandikos) run xandikos http://127.0.0.1:8090 test /test/calendars/bench/ /test/contacts/bench/ "$(pid_of xandikos-perf)" ;;
    radicale) run radicale http://127.0.0.1:5240 test /test/bench-cal/ /test/bench-ab/ "$(pid_of radicale-perf)" ;;
    *) echo "unknown peer $peer" >&2; exit 2 ;;
  esac
  results+=("$OUT/$peer.json")
done
"$PY" bench/compare.py "${results[@]}"
echo "raw results: $OUT"
