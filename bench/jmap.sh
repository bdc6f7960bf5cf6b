#!/usr/bin/env bash
# JMAP, side by side: Kontor (release build, SQLite) and Cyrus 3.6 (the harness's JMAP peer,
# started with a fresh store in the same run), each with a 5,000-message and a 100,000-message
# Inbox loaded by upload + Email/import (bench/jmap_bench.py load: the corpus, and for the large
# Inbox the corpus messages up to 64 KB in rounds, each round distinct). Times, ROUNDS times each
# after warm-ups: a page of 50 (Email/query in the Inbox sorted by receivedAt + Email/get by
# back-reference) newest first, oldest first and at random positions with calculateTotal,
# Email/query with a text filter, Mailbox/get, and delivery -> EventSource StateChange (Kontor
# over SMTP; Cyrus over LMTP). Every line runs on one keep-alive connection and again with a new
# connection per request (Cyrus' keep-alive answers of more than a few KB stall ~40 ms in
# Nagle/delayed-ACK). Prints medians side by side with ratios (bench/compare_jmap.py). Needs
# root for the peer (it switches to the cyrus user).
#
#   bench/jmap.sh
#   env: ROUNDS (50), PUSH_ROUNDS (20), BIG (100000: messages of the large Inbox),
#        BIG_MAX_SIZE (65536: the large Inbox uses the corpus messages up to this size),
#        PEER (cyrus; none = Kontor only), KONTOR_BIN (a prebuilt kontor; default: cargo build
#        --release here), SERVER_CPUS (0) / CLIENT_CPUS (1): taskset lists ("" = no pinning),
#        HARNESS (../shared/harness/mail), HARNESS_WORK (/tmp/kontor-harness; holds the corpus),
#        KEEP=1 keeps the stores (e.g. for EXPLAIN QUERY PLAN on $OUT/kontor-data),
#        REUSE=RUN_DIR times a kept run again (no loading), CYRUS_INDEX_MAX (8000: larger Inboxes
#        get no Xapian index and no text line: the harness's squatter, search_batchsize 8192,
#        commits the same first batch over and over on a mailbox of more than 8192 messages)
#
# Uses the harness's peers.sh (Cyrus with its own state directory inside the run directory; its
# ports 2143 18008 2424 24190 must be free), its cyrus-index step (Xapian, for the text query)
# and users.txt (Cyrus accounts: bench for 5k, alice for 100k); nothing of them is copied here.
# Kontor listens on 18800 (HTTP), 18843 (IMAP), 18810 (POP3), 18825 (SMTP), 18887 (submission).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-50}
PUSH_ROUNDS=${PUSH_ROUNDS:-20}
BIG=${BIG:-100000}
BIG_MAX_SIZE=${BIG_MAX_SIZE:-65536}
PEER=${PEER:-cyrus}
SERVER_CPUS=${SERVER_CPUS-0}
CLIENT_CPUS=${CLIENT_CPUS-1}
HARNESS=${HARNESS:-$(cd ../shared/harness/mail && pwd)}
export HARNESS_WORK=${HARNESS_WORK:-/tmp/kontor-harness}
CORPUS=$HARNESS_WORK/mail/corpus.mbox
PY=python3
ports="18800 18843 18810 18825 18887"
if [ "$PEER" = cyrus ]; then
  [ "$(id -u)" = 0 ] || { echo "the Cyrus peer needs root (PEER=none runs Kontor alone)" >&2; exit 2; }
  ports="$ports 2143 18008 2424 24190"
fi
for p in $ports; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "port $p is in use" >&2; exit 2; fi
done
# taskset execs its command, so "${PIN_S[@]}" cmd & leaves $! = the command's own PID
PIN_S=(); [ -n "$SERVER_CPUS" ] && PIN_S=(taskset -c "$SERVER_CPUS")
PIN_C=(); [ -n "$CLIENT_CPUS" ] && PIN_C=(taskset -c "$CLIENT_CPUS")

source bench/kontor-bin.sh
K=$(kontor_bin)
if [ ! -s "$CORPUS" ]; then
  echo "generating the corpus -> $CORPUS (about 1 minute)"
  mkdir -p "$HARNESS_WORK/mail"
  "$PY" "$HARNESS/scripts/gen_corpus.py" --out "$CORPUS" >/dev/null
fi

if [ -n "${REUSE:-}" ]; then
  OUT=$(cd "$REUSE" && pwd) KEEP=1
  [ -s "$OUT/kontor-data/kontor.db" ] || { echo "$REUSE is not a kept run (KEEP=1) of bench/jmap.sh" >&2; exit 2; }
else
  OUT=$(mktemp -d /tmp/kontor-jmapbench.XXXXXX)
fi
chmod 755 "$OUT"   # the peer (user cyrus) reaches its state through it
mkdir -p "$OUT/kontor" "$OUT/cyrus"
export STATE=$OUT/peers   # peers.sh: a fresh state directory for this run
KPID=
cleanup() {
  [ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
  [ "$PEER" = cyrus ] && { bash "$HARNESS/peers.sh" stop cyrus >/dev/null 2>&1 || true; }
  [ "${KEEP:-0}" = 1 ] || rm -rf "$OUT/kontor-data" "$STATE/cyrus/spool" "$STATE/cyrus/search" "$STATE/cyrus/config"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "$(date +%H:%M:%S) [load $(cut -d' ' -f1-3 /proc/loadavg)] $*" | tee -a "$OUT/steps.log"; }
password() { sed -n "s/^$1://p" "$HARNESS/users.txt"; }

export KONTOR_DATA="$OUT/kontor-data" KONTOR_LOG=warn KONTOR_MAIL_VERIFY_INBOUND=false \
  KONTOR_IMAP=127.0.0.1:18843 KONTOR_POP3=127.0.0.1:18810 KONTOR_SMTP=127.0.0.1:18825 \
  KONTOR_SUBMISSION=127.0.0.1:18887
if [ -z "${REUSE:-}" ]; then
  "$K" domain add harness.test >/dev/null
  for u in small big; do echo benchpass | "$K" user add "$u@harness.test" --password-stdin >/dev/null; done
fi
"${PIN_S[@]}" "$K" serve --http 127.0.0.1:18800 > "$OUT/kontor.out" 2> "$OUT/kontor.err" &
KPID=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18800) 2>/dev/null && break; sleep 0.1; done
kill -0 "$KPID" || { echo "kontor did not start; see $OUT/kontor.err" >&2; exit 1; }
if [ "$PEER" = cyrus ]; then
  "${PIN_S[@]}" bash "$HARNESS/peers.sh" start cyrus > "$OUT/peers.log" 2>&1 || { cat "$OUT/peers.log" >&2; exit 1; }
  CPID=$(tr -d ' \n' < "$STATE/cyrus/run/master.pid")
fi

# server NAME SIZE -> "base user password delivery-option"
account() {
  case $1-$2 in
    kontor-small) echo "http://127.0.0.1:18800 small@harness.test benchpass --smtp=127.0.0.1:18825" ;;
    kontor-big) echo "http://127.0.0.1:18800 big@harness.test benchpass --smtp=127.0.0.1:18825" ;;
    cyrus-small) echo "http://127.0.0.1:18008 bench $(password bench) --lmtp=127.0.0.1:2424" ;;
    cyrus-big) echo "http://127.0.0.1:18008 alice $(password alice) --lmtp=127.0.0.1:2424" ;;
  esac
}
SERVERS=kontor; [ "$PEER" = cyrus ] && SERVERS="kontor cyrus"
for name in $SERVERS; do
  for size in small big; do
    [ -n "${REUSE:-}" ] && continue
    read -r base user pass _ <<< "$(account $name $size)"
    if [ $size = small ]; then n=5000 limit=(); else n=$BIG limit=(--max-size "$BIG_MAX_SIZE"); fi
    log "$name: load $n messages into $user (upload + Email/import)"
    "${PIN_C[@]}" "$PY" bench/jmap_bench.py load --base "$base" --user "$user" --password "$pass" --mbox "$CORPUS" \
      --count "$n" "${limit[@]}" > "$OUT/$name/load-$size.json"
    if [ $name = cyrus ] && [ "$n" -gt "${CYRUS_INDEX_MAX:-8000}" ]; then
      echo "Cyrus $user ($n messages) not indexed: the harness's squatter (search_batchsize 8192) commits the" \
        "same first batch again and again on mailboxes of more than 8192 messages (seen: 74 times in 30 min," \
        "8 GB of Xapian files), so there is no text line for it" > "$OUT/cyrus/noindex-$size"
    elif [ $name = cyrus ]; then
      log "cyrus: Xapian index of $user (peers.sh cyrus-index)"
      "${PIN_S[@]}" bash "$HARNESS/peers.sh" cyrus-index "$user" > "$OUT/cyrus/index-$user.log" 2>&1 ||
        log "  cyrus-index $user failed: see $OUT/cyrus/index-$user.log"
    fi
  done
done
du -sk "$OUT/kontor-data" > "$OUT/kontor/disk.txt"
[ "$PEER" = cyrus ] && du -sk "$STATE/cyrus" > "$OUT/cyrus/disk.txt"
for size in small big; do
  for mode in keepalive fresh; do
    for name in $SERVERS; do
      read -r base user pass delivery <<< "$(account $name $size)"
      extra=()
      if [ $mode = fresh ]; then extra=(--fresh); else extra=("$delivery" --push-rounds "$PUSH_ROUNDS"); fi
      [ $name = cyrus ] && extra+=(--rcpt "$user@harness.test")
      [ -e "$OUT/$name/noindex-$size" ] && extra+=(--no-text)
      log "$name: time $size ($mode)"
      "${PIN_C[@]}" timeout 1800 "$PY" bench/jmap_bench.py time --base "$base" --user "$user" --password "$pass" \
        --rounds "$ROUNDS" "${extra[@]}" --json "$OUT/$name/time-$size-$mode.json" > "$OUT/$name/time-$size-$mode.log" 2>&1 ||
        log "  failed: see $OUT/$name/time-$size-$mode.log"
    done
  done
done
"$PY" "$HARNESS/scripts/peer_rss.py" "$KPID" --brief > "$OUT/kontor/rss.json" 2>/dev/null || true
[ "$PEER" = cyrus ] && { "$PY" "$HARNESS/scripts/peer_rss.py" "$CPID" --brief > "$OUT/cyrus/rss.json" 2>/dev/null || true; }
log "done"
"$PY" bench/compare_jmap.py "$OUT"
cat "$OUT/steps.log"
echo "raw results: $OUT"
