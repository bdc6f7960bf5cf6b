#!/usr/bin/env bash
# Mail, side by side: Kontor (release build, SQLite) against Dovecot (IMAP, POP3) and Postfix (SMTP,
# relaying to Dovecot LMTP) started on this machine in the same run. APPENDs the 5,000-message
# corpus into each, times FETCH of 1,000 full bodies, ENVELOPE+BODYSTRUCTURE of all, SEARCH
# (TEXT/BODY body marker, TEXT/SUBJECT subject marker), POP3 RETR of all, and SMTP ingestion of
# 2,000 messages until IMAP shows them at concurrency 1 and 8; prints medians, the ratios to Kontor
# and peak RSS/PSS (bench/compare_mail.py). Needs root (the peers switch users).
#
#   bench/mail.sh
#   env: ROUNDS (3: runs of each step except APPEND, which loads a fresh store once),
#        INGEST_COUNT (2000), KONTOR_BIN (a prebuilt kontor; default: cargo build --release here),
#        SERVER_CPUS (0) / CLIENT_CPUS (1): taskset lists for the servers and the clients ("" = no pinning),
#        HARNESS (default ../shared/harness/mail), HARNESS_WORK (default /tmp/kontor-harness; holds the corpus),
#        KEEP=1 keeps the run directory's stores (default: only results and logs are kept)
#
# Uses the harness's peers.sh, gen_corpus.py and load scripts; nothing of them is copied here. The
# peers get a fresh state directory inside the run directory; their ports (1143 1110 1124 1025 14190)
# must be free. Kontor listens on 18900 (HTTP), 18943 (IMAP), 18910 (POP3), 18925 (SMTP), 18987.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
INGEST_COUNT=${INGEST_COUNT:-2000}
SERVER_CPUS=${SERVER_CPUS-0}
CLIENT_CPUS=${CLIENT_CPUS-1}
HARNESS=${HARNESS:-$(cd ../shared/harness/mail && pwd)}
export HARNESS_WORK=${HARNESS_WORK:-/tmp/kontor-harness}
CORPUS=$HARNESS_WORK/mail/corpus.mbox
S=$HARNESS/scripts
PY=python3
[ "$(id -u)" = 0 ] || { echo "mail.sh needs root (the peers run as vmail/postfix)" >&2; exit 2; }
for p in 1143 1110 1124 1025 14190 18900 18943 18910 18925 18987; do
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
  "$PY" "$S/gen_corpus.py" --out "$CORPUS" >/dev/null
fi

OUT=$(mktemp -d /tmp/kontor-mailbench.XXXXXX)
chmod 755 "$OUT"   # the peers (vmail, postfix) reach their state through it
mkdir -p "$OUT/kontor" "$OUT/dovecot"
export STATE=$OUT/peers   # peers.sh: a fresh state directory for this run
KPID= RSS_W=
cleanup() {
  [ -n "$RSS_W" ] && kill "$RSS_W" 2>/dev/null
  [ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
  bash "$HARNESS/peers.sh" stop all >/dev/null 2>&1 || true
  [ "${KEEP:-0}" = 1 ] || rm -rf "$OUT/kontor-data" "$STATE/maildirs" "$STATE/postfix/spool"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "$(date +%H:%M:%S) $*" | tee -a "$OUT/steps.log"; }
ps -eo pcpu,pid,etime,comm --sort=-pcpu | head -15 > "$OUT/ps-start.txt"
cat /proc/loadavg > "$OUT/loadavg-start.txt"

# Kontor: a temporary store, its own ports, no inbound DNS checks, unlimited quota (the default).
export KONTOR_DATA="$OUT/kontor-data" KONTOR_LOG=warn KONTOR_MAIL_VERIFY_INBOUND=false \
  KONTOR_IMAP=127.0.0.1:18943 KONTOR_POP3=127.0.0.1:18910 KONTOR_SMTP=127.0.0.1:18925 \
  KONTOR_SUBMISSION=127.0.0.1:18987
"$K" domain add harness.test >/dev/null
echo benchpass | "$K" user add bench@harness.test --password-stdin >/dev/null
# Kontor wants passwords of 8 characters or more; the peers' ingestion accounts have "pass"
for u in smtp1 smtp8; do echo ingestpass | "$K" user add "$u@harness.test" --password-stdin >/dev/null; done
"${PIN_S[@]}" "$K" serve --http 127.0.0.1:18900 > "$OUT/kontor.out" 2> "$OUT/kontor.err" &
KPID=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18943) 2>/dev/null && break; sleep 0.1; done
kill -0 "$KPID" || { echo "kontor did not start; see $OUT/kontor.err" >&2; exit 1; }

# Peers: Dovecot (IMAP, POP3, LMTP) and Postfix (SMTP -> Dovecot LMTP), pinned like Kontor.
"${PIN_S[@]}" bash "$HARNESS/peers.sh" start dovecot > "$OUT/peers.log" 2>&1 || { cat "$OUT/peers.log" >&2; exit 1; }
"${PIN_S[@]}" bash "$HARNESS/peers.sh" start postfix >> "$OUT/peers.log" 2>&1 || { cat "$OUT/peers.log" >&2; exit 1; }
DPID=$(tr -d ' \n' < "$STATE/dovecot/run/master.pid")
PPID_=$(tr -d ' \n' < "$STATE/postfix/spool/pid/master.pid")
"$PY" "$S/peer_rss.py" "$KPID" --brief > "$OUT/kontor/rss-idle.json"
"$PY" "$S/peer_rss.py" "$DPID" "$PPID_" --brief > "$OUT/dovecot/rss-idle.json"

# server NAME -> "imap_port pop3_port smtp_port login-suffix ingest-password pids..."
server() {
  case $1 in
    kontor) echo "18943 18910 18925 @harness.test ingestpass $KPID" ;;
    dovecot) echo "1143 1110 1025 - pass $DPID $PPID_" ;;
  esac
}
rss_start() { # NAME STEP PIDS...: peak RSS (and PSS at that moment) of the trees during the step
  local name=$1 step=$2; shift 2
  "${PIN_C[@]}" "$PY" "$S/peer_rss.py" "$@" --watch 1800 --interval 0.5 --brief --out "$OUT/$name/rss-$step.json" >/dev/null 2>&1 &
  RSS_W=$!; }
rss_stop() { kill "$RSS_W" 2>/dev/null || true; wait "$RSS_W" 2>/dev/null || true; RSS_W=; }
step() { # NAME STEP PIDS -- command...: runs the client pinned, bounded, with an RSS watcher
  local name=$1 st=$2 pids=$3; shift 4
  rss_start "$name" "$st" $pids
  echo "$(cat /proc/loadavg)" >> "$OUT/loadavg-steps.txt"
  "${PIN_C[@]}" timeout 1800 "$@" > "$OUT/$name/$st.log" 2>&1 || log "  $name $st failed (exit $?): see $OUT/$name/$st.log"
  rss_stop
}

for name in kontor dovecot; do
  read -r imap pop smtp suffix ipass pids <<< "$(server $name)"; [ "$suffix" = - ] && suffix=
  ipids=$([ $name = kontor ] && echo "$pids" || echo "$DPID")
  log "$name: APPEND 5,000 messages"
  step $name append "$ipids" -- "$PY" "$S/imap_append_load.py" --port "$imap" --user "bench$suffix" \
    --password benchpass --mbox "$CORPUS" --count 5000 --json "$OUT/$name/append.json"
done
for r in $(seq 1 "$ROUNDS"); do
  for name in kontor dovecot; do
    read -r imap pop smtp suffix ipass pids <<< "$(server $name)"; [ "$suffix" = - ] && suffix=
    ipids=$([ $name = kontor ] && echo "$pids" || echo "$DPID")
    log "$name: IMAP FETCH/SEARCH round $r"
    # the fourth search (--common-word) is SEARCH TEXT with the subject marker
    step $name imap-$r "$ipids" -- "$PY" "$S/imap_bench.py" --port "$imap" --user "bench$suffix" --password benchpass \
      --fetch 1000 --fetch-batch 50 --expect-body 37 --expect-subject 69 --common-word Zanzibar \
      --json "$OUT/$name/imap-$r.json"
    log "$name: POP3 RETR all round $r"
    step $name pop3-$r "$ipids" -- "$PY" "$S/pop3_bench.py" --port "$pop" --user "bench$suffix" --password benchpass \
      --uidl-file "$OUT/$name/pop3-uidl.json" --json "$OUT/$name/pop3-$r.json"
  done
done
for c in 1 8; do
  for r in $(seq 1 "$ROUNDS"); do
    for name in kontor dovecot; do
      read -r imap pop smtp suffix ipass pids <<< "$(server $name)"; [ "$suffix" = - ] && suffix=
      log "$name: SMTP ingestion of $INGEST_COUNT, concurrency $c, round $r"
      step $name smtp-c$c-$r "$pids" -- "$PY" "$S/smtp_ingest.py" --proto smtp --port "$smtp" \
        --rcpt "smtp$c@harness.test" --mbox "$CORPUS" --count "$INGEST_COUNT" --concurrency $c \
        --max-seconds 600 --imap-wait-timeout 600 --imap-wait "127.0.0.1:$imap:smtp$c$suffix:$ipass:INBOX" \
        --json "$OUT/$name/smtp-c$c-$r.json"
    done
  done
done
cat /proc/loadavg > "$OUT/loadavg-end.txt"
ps -eo pcpu,pid,etime,comm --sort=-pcpu | head -15 > "$OUT/ps-end.txt"
du -sk "$OUT/kontor-data" "$STATE/maildirs" > "$OUT/disk.txt" 2>/dev/null || true
"$PY" bench/compare_mail.py "$OUT"
echo "raw results: $OUT"
