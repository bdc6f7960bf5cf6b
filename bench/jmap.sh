#!/usr/bin/env bash
# JMAP: Kontor (release build, SQLite) with a 5,000-message and a 100,000-message Inbox, loaded by
# Email/import of uploaded blobs (bench/jmap_bench.py load). Times, ROUNDS times each after
# warm-ups: a page of 50 (Email/query in the Inbox sorted by receivedAt + Email/get by
# back-reference) at position 0 and at random positions with calculateTotal, Email/query with a
# text filter, Mailbox/get, and SMTP delivery -> EventSource StateChange; prints medians and p90.
# No peer: Cyrus (the harness's JMAP peer) is not installed here, so the figures are absolute.
#
#   bench/jmap.sh
#   env: ROUNDS (50), PUSH_ROUNDS (20), BIG (100000: messages of the large Inbox),
#        BIG_MAX_SIZE (65536: the large Inbox reuses the corpus messages up to this size),
#        KONTOR_BIN (a prebuilt kontor; default: cargo build --release here),
#        SERVER_CPUS (0) / CLIENT_CPUS (1): taskset lists ("" = no pinning),
#        HARNESS (../shared/harness/mail), HARNESS_WORK (/tmp/kontor-harness; holds the corpus),
#        KEEP=1 keeps the store (e.g. for EXPLAIN QUERY PLAN on $OUT/kontor-data)
#
# Kontor listens on 18800 (HTTP), 18843 (IMAP), 18810 (POP3), 18825 (SMTP), 18887 (submission).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-50}
PUSH_ROUNDS=${PUSH_ROUNDS:-20}
BIG=${BIG:-100000}
BIG_MAX_SIZE=${BIG_MAX_SIZE:-65536}
SERVER_CPUS=${SERVER_CPUS-0}
CLIENT_CPUS=${CLIENT_CPUS-1}
HARNESS=${HARNESS:-$(cd ../shared/harness/mail && pwd)}
export HARNESS_WORK=${HARNESS_WORK:-/tmp/kontor-harness}
CORPUS=$HARNESS_WORK/mail/corpus.mbox
PY=python3
for p in 18800 18843 18810 18825 18887; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "port $p is in use" >&2; exit 2; fi
done
PIN_S=(); [ -n "$SERVER_CPUS" ] && PIN_S=(taskset -c "$SERVER_CPUS")
PIN_C=(); [ -n "$CLIENT_CPUS" ] && PIN_C=(taskset -c "$CLIENT_CPUS")

if [ -n "${KONTOR_BIN:-}" ]; then
  K=$KONTOR_BIN
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kontor-target}"
  cargo build --release --locked -p kontor-server --bin kontor
  K="$CARGO_TARGET_DIR/release/kontor"
fi
if [ ! -s "$CORPUS" ]; then
  echo "generating the corpus -> $CORPUS (about 1 minute)"
  mkdir -p "$HARNESS_WORK/mail"
  "$PY" "$HARNESS/scripts/gen_corpus.py" --out "$CORPUS" >/dev/null
fi

OUT=$(mktemp -d /tmp/kontor-jmapbench.XXXXXX)
KPID=
cleanup() {
  [ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] || rm -rf "$OUT/kontor-data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "$(date +%H:%M:%S) [load $(cut -d' ' -f1-3 /proc/loadavg)] $*" | tee -a "$OUT/steps.log"; }

export KONTOR_DATA="$OUT/kontor-data" KONTOR_LOG=warn KONTOR_MAIL_VERIFY_INBOUND=false \
  KONTOR_IMAP=127.0.0.1:18843 KONTOR_POP3=127.0.0.1:18810 KONTOR_SMTP=127.0.0.1:18825 \
  KONTOR_SUBMISSION=127.0.0.1:18887
"$K" domain add harness.test >/dev/null
for u in small big; do echo benchpass | "$K" user add "$u@harness.test" --password-stdin >/dev/null; done
"${PIN_S[@]}" "$K" serve --http 127.0.0.1:18800 > "$OUT/kontor.out" 2> "$OUT/kontor.err" &
KPID=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18800) 2>/dev/null && break; sleep 0.1; done
kill -0 "$KPID" || { echo "kontor did not start; see $OUT/kontor.err" >&2; exit 1; }

B=(--base http://127.0.0.1:18800 --password benchpass)
log "load 5,000 messages (Email/import)"
"${PIN_C[@]}" "$PY" bench/jmap_bench.py load "${B[@]}" --user small@harness.test --mbox "$CORPUS" --count 5000 \
  > "$OUT/load-small.json"
log "load $BIG messages (Email/import, corpus messages up to $BIG_MAX_SIZE bytes reused)"
"${PIN_C[@]}" "$PY" bench/jmap_bench.py load "${B[@]}" --user big@harness.test --mbox "$CORPUS" --count "$BIG" \
  --max-size "$BIG_MAX_SIZE" > "$OUT/load-big.json"
du -sk "$OUT/kontor-data" > "$OUT/disk.txt"
for u in small big; do
  log "time $u"
  "${PIN_C[@]}" timeout 1800 "$PY" bench/jmap_bench.py time "${B[@]}" --user "$u@harness.test" \
    --smtp 127.0.0.1:18825 --rounds "$ROUNDS" --push-rounds "$PUSH_ROUNDS" --json "$OUT/time-$u.json" \
    > "$OUT/time-$u.log"
done
log "done"

"$PY" - "$OUT" <<'EOF'
import json, statistics, sys
out = sys.argv[1]
def p90(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
rows = [("page of 50, position 0 (query+get)", "page50_first"),
        ("page of 50, random position, calculateTotal", "page50_random_total"),
        ("Email/query text filter (+ total)", "query_text"),
        ("Mailbox/get (all)", "mailbox_get"),
        ("SMTP delivery -> EventSource StateChange", "smtp_to_push")]
res = {u: json.load(open(f"{out}/time-{u}.json")) for u in ("small", "big")}
loads = {u: json.load(open(f"{out}/load-{u}.json")) for u in ("small", "big")}
print()
print(f"Kontor JMAP, SQLite, release build; no peer (Cyrus not installed): absolute figures, ms")
for u in ("small", "big"):
    l = loads[u]
    print(f"  {u}: {l['messages']} messages ({l['distinct']} distinct) loaded in {l['seconds']} s; "
          f"checks {res[u]['checks']}")
print()
print(f"| {'operation':46} | {'5k median':>9} | {'5k p90':>7} | {'100k median':>11} | {'100k p90':>8} |")
print(f"|{'-' * 48}|{'-' * 11}|{'-' * 9}|{'-' * 13}|{'-' * 10}|")
for label, key in rows:
    s, b = res["small"][key], res["big"][key]
    print(f"| {label:46} | {statistics.median(s):9.2f} | {p90(s):7.2f} | {statistics.median(b):11.2f} | {p90(b):8.2f} |")
target = statistics.median(res["big"]["page50_first"])
print()
print(f"target: page of 50 <= 10 ms median on 100k: {target:.2f} ms -> {'met' if target <= 10 else 'NOT met'}")
EOF
cat "$OUT/steps.log"
echo "raw results: $OUT"
