#!/usr/bin/env bash
# Makes server/link-order.txt: the functions a release server executes under a mail, JMAP and
# DAV workload, hottest first, as symbol names of this very build. server/build.rs hands the
# list to the linker (LLD --symbol-ordering-file), which lays those functions out together, so
# the code a running server touches fills a few MB of pages instead of being spread over the
# whole binary (the kernel maps code in 64 KB windows around each page touched).
#
#   bench/link-order.sh          (needs valgrind and python3; builds the release binary first)
#   env: KONTOR_BIN (a prebuilt release kontor with symbols), HARNESS, HARNESS_WORK (corpus)
#
# Run it again after dependency or feature changes (symbol names carry a hash of the crate's
# build settings; names the build no longer has are ignored, so a stale list only costs memory).
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${HARNESS:-$(cd ../shared/harness/mail && pwd)}
export HARNESS_WORK=${HARNESS_WORK:-/tmp/kontor-harness}
CORPUS=$HARNESS_WORK/mail/corpus.mbox
S=$HARNESS/scripts
command -v valgrind >/dev/null || { echo "link-order.sh needs valgrind" >&2; exit 2; }
for p in 18900 18943 18910 18925 18987; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "port $p is in use" >&2; exit 2; fi
done
source bench/kontor-bin.sh
K=$(kontor_bin)
if [ ! -s "$CORPUS" ]; then
  mkdir -p "$HARNESS_WORK/mail"
  python3 "$S/gen_corpus.py" --out "$CORPUS" >/dev/null
fi
OUT=$(mktemp -d /tmp/kontor-linkorder.XXXXXX)
VPID=
cleanup() { [ -n "$VPID" ] && kill "$VPID" 2>/dev/null; rm -rf "$OUT/data"; }
trap cleanup EXIT
export KONTOR_DATA="$OUT/data" KONTOR_LOG=warn KONTOR_MAIL_VERIFY_INBOUND=false \
  KONTOR_IMAP=127.0.0.1:18943 KONTOR_POP3=127.0.0.1:18910 KONTOR_SMTP=127.0.0.1:18925 \
  KONTOR_SUBMISSION=127.0.0.1:18987
"$K" domain add harness.test >/dev/null
echo benchpass | "$K" user add bench@harness.test --password-stdin >/dev/null
for u in smtp1 smtp8; do echo ingestpass | "$K" user add "$u@harness.test" --password-stdin >/dev/null; done
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$OUT/callgrind.out" --compress-strings=no \
  --compress-pos=no --dump-instr=no --collect-jumps=no "$K" serve --http 127.0.0.1:18900 \
  > "$OUT/kontor.out" 2> "$OUT/kontor.err" &
VPID=$!
for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/18943) 2>/dev/null && break; sleep 0.2; done
kill -0 "$VPID" || { echo "kontor did not start under valgrind; see $OUT/kontor.err" >&2; exit 1; }
python3 "$S/imap_append_load.py" --port 18943 --user bench@harness.test --password benchpass --mbox "$CORPUS" \
  --count 300 > "$OUT/append.log" 2>&1
python3 "$S/imap_bench.py" --port 18943 --user bench@harness.test --password benchpass --fetch 200 \
  --fetch-batch 50 --common-word Zanzibar > "$OUT/imap.log" 2>&1
python3 "$S/pop3_bench.py" --port 18910 --user bench@harness.test --password benchpass \
  --uidl-file "$OUT/uidl.json" > "$OUT/pop3.log" 2>&1
for c in 1 8; do
  python3 "$S/smtp_ingest.py" --proto smtp --port 18925 --rcpt "smtp$c@harness.test" --mbox "$CORPUS" --count 100 \
    --concurrency $c --max-seconds 600 --imap-wait-timeout 600 \
    --imap-wait "127.0.0.1:18943:smtp$c@harness.test:ingestpass:INBOX" > "$OUT/smtp-c$c.log" 2>&1
done
curl -sf -u bench@harness.test:benchpass http://127.0.0.1:18900/jmap/session > /dev/null
curl -sf -u bench@harness.test:benchpass -H 'Content-Type: application/json' http://127.0.0.1:18900/jmap/api -d \
  '{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[["Mailbox/get",{},"0"],
   ["Email/query",{"limit":50,"sort":[{"property":"receivedAt","isAscending":false}]},"1"],
   ["Email/get",{"#ids":{"resultOf":"1","name":"Email/query","path":"/ids"}},"2"]]}' > /dev/null
curl -sf -u bench@harness.test:benchpass -X PROPFIND -H 'Depth: 1' http://127.0.0.1:18900/dav/ > /dev/null
kill -TERM "$VPID"; wait "$VPID" || true; VPID=
# callgrind's cost lines: the functions of the kontor object, by instructions spent in them
python3 - "$OUT/callgrind.out" "$(basename "$K")" > server/link-order.txt <<'PY'
import collections, re, sys
cost, ob, fn, after_calls = collections.Counter(), None, None, False
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("ob="):
        ob = line[3:].strip()
    elif line.startswith("fn="):
        fn = re.sub(r"'\d+$", "", line[3:].strip()) if ob and ob.endswith(sys.argv[2]) else None
        if fn:
            cost[fn] += 0
    elif line.startswith("calls="):
        after_calls = True  # the next cost line is a call's inclusive cost, not this function's
    elif line[:1].isdigit() or line[:1] in "+-*":
        if after_calls:
            after_calls = False
        elif fn:
            parts = line.split()
            if len(parts) > 1 and parts[1].isdigit():
                cost[fn] += int(parts[1])
for name, _ in sorted(cost.items(), key=lambda x: (-x[1], x[0])):
    print(name)
PY
echo "server/link-order.txt: $(wc -l < server/link-order.txt) functions (run kept in $OUT)"
