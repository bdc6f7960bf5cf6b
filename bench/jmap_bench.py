#!/usr/bin/env python3
"""JMAP load generator and timer for bench/jmap.sh (standard library only, loopback only). Speaks
to any JMAP server from its session (Kontor, Cyrus): the session is found at /.well-known/jmap,
the API, upload and EventSource URLs are the session's.

  jmap_bench.py load  --base URL --user U --password P --mbox MBOX --count N [--max-size BYTES] [--start S]
  jmap_bench.py time  --base URL --user U --password P --rounds R --json OUT
                      [--smtp HOST:PORT | --lmtp HOST:PORT] [--word xylophonequartz]

`load` uploads the corpus messages (CRLF) as blobs and Email/imports them into the Inbox, 100
per request, until the Inbox holds N messages, each with its own receivedAt, one minute apart.
With N larger than the corpus the corpus is used again in rounds, every round a world of its
own: round r > 0 adds `X-Bench-Copy: r` and prefixes every Message-ID, In-Reply-To and
References id with `r<r>.`, so each copy is a distinct message (servers that name emails by
their content, like Cyrus, would otherwise fold copies into one) and the copies thread like the
original. `--max-size` leaves out larger corpus messages (the 100k mailbox reuses the smaller
ones, so the load stays bounded in time and disk). `--start S` continues a load at message S
(the same messages and times as one load of S + N).

`time` runs each operation R times (after 3 unmeasured warm-ups) on one keep-alive connection
(`--fresh`: a new connection per request) and writes the samples in milliseconds: page of 50 (Email/query inMailbox Inbox, sort receivedAt descending, limit 50, +
Email/get of those ids by back-reference with a mail-list's properties) at position 0 and at a
random position with calculateTotal; the same page sorted ascending; Email/query with a text
filter; Mailbox/get; delivery (SMTP, or LMTP for a peer without SMTP) to EventSource StateChange
(from before the transaction to the `state` event arriving).
"""
import argparse
import base64
import email.utils
import http.client
import ipaddress
import json
import mailbox
import random
import re
import smtplib
import socket
import statistics
import sys
import threading
import time
import urllib.parse

USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]
LIST_PROPERTIES = ["threadId", "mailboxIds", "keywords", "size", "receivedAt", "from", "to", "subject",
                   "preview", "hasAttachment"]


def loopback(host):
    if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
        sys.exit(f"refusing non-loopback target {host}")


class Jmap:
    """One keep-alive HTTP connection with Basic auth; URLs from the session."""

    def __init__(self, base, user, password):
        u = urllib.parse.urlsplit(base)
        loopback(u.hostname)
        self.host, self.port = u.hostname, u.port or 80
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        self.fresh = False  # a new connection for every request
        path = "/.well-known/jmap"
        for _ in range(3):  # the well-known URL redirects to the session
            status, location, data = self.request("GET", path)
            if status in (301, 302, 303, 307, 308) and location:
                path = self.path(location)
                continue
            break
        if status != 200:
            raise SystemExit(f"session: HTTP {status} {data[:300]!r}")
        self.session = json.loads(data)
        self.account = self.session["primaryAccounts"]["urn:ietf:params:jmap:mail"]
        self.api_path = self.path(self.session["apiUrl"])
        self.upload_path = self.path(self.session["uploadUrl"].replace("{accountId}", self.account))
        self.events_url = self.session.get("eventSourceUrl", "")

    def path(self, url):
        """The path (and query) of a URL of this server, absolute or relative."""
        u = urllib.parse.urlsplit(urllib.parse.urljoin(f"http://{self.host}:{self.port}/", url))
        return u.path + (f"?{u.query}" if u.query else "")

    def request(self, method, path, body=None, ctype="application/json"):
        headers = {"Authorization": self.auth}
        if body is not None:
            headers["Content-Type"] = ctype
        if self.fresh:
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.getheader("Location"), r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        raise AssertionError("unreachable")

    def http(self, method, path, body=None, ctype="application/json"):
        status, _, data = self.request(method, path, body, ctype)
        if status != 200 and status != 201:
            raise SystemExit(f"{method} {path}: HTTP {status} {data[:500]!r}")
        return json.loads(data)

    def api(self, *calls):
        body = {"using": USING, "methodCalls": [[n, a, f"c{i}"] for i, (n, a) in enumerate(calls)]}
        r = self.http("POST", self.api_path, json.dumps(body).encode())
        out = []
        for name, args, _ in r["methodResponses"]:
            if name == "error":
                raise SystemExit(f"method error: {args} for {calls}")
            out.append(args)
        return out

    def inbox(self):
        (r,) = self.api(["Mailbox/query", {"accountId": self.account, "filter": {"role": "inbox"}}])
        return r["ids"][0]


def corpus(path, max_size):
    out = []
    for m in mailbox.mbox(path):
        raw = m.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if max_size and len(raw) > max_size:
            continue
        out.append(raw)
    return out


ID_FIELD = re.compile(rb"^(message-id|in-reply-to|references):", re.IGNORECASE)
MSG_ID = re.compile(rb"<([^<>\s]+)>")


def copy(raw, r):
    """Round r of a corpus message: r > 0 adds X-Bench-Copy and prefixes its thread ids."""
    if r == 0:
        return raw
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines, field = [], False
    for line in head.split(b"\r\n"):
        if line[:1] not in (b" ", b"\t"):
            field = bool(ID_FIELD.match(line))
        lines.append(MSG_ID.sub(rb"<r%d.\1>" % r, line) if field else line)
    return b"X-Bench-Copy: %d\r\n" % r + b"\r\n".join(lines) + sep + body


def load(a):
    j = Jmap(a.base, a.user, a.password)
    inbox = j.inbox()
    messages = corpus(a.mbox, a.max_size)
    t0 = time.monotonic()
    start = 1_600_000_000  # 2020-09-13; message n is n minutes later
    done, batch, size = a.start, 100, 0
    end = a.start + a.count
    while done < end:
        create = {}
        for n in range(done, min(done + batch, end)):
            raw = copy(messages[n % len(messages)], n // len(messages))
            size += len(raw)
            blob = j.http("POST", j.upload_path, raw, "message/rfc822")["blobId"]
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 60 * n))
            create[f"m{n}"] = {"blobId": blob, "mailboxIds": {inbox: True}, "receivedAt": at}
        (r,) = j.api(["Email/import", {"accountId": j.account, "emails": create}])
        bad = r.get("notCreated") or {}
        if bad:
            raise SystemExit(f"import failed: {list(bad.items())[:3]}")
        done += len(create)
        if done % 5000 == 0:
            print(f"  {done} imported, {time.monotonic() - t0:.0f} s", file=sys.stderr)
    total = time.monotonic() - t0
    print(json.dumps({"messages": a.count, "distinct": a.count, "corpus_messages": len(messages), "bytes": size,
                      "seconds": round(total, 1)}))


class EventSourceRefused(Exception):
    pass


class EventStream:
    """A raw EventSource reader: `wait()` returns when the next `state` event arrives."""

    def __init__(self, j):
        self.sock = socket.create_connection((j.host, j.port), timeout=60)
        url = j.events_url.replace("{types}", "Email").replace("{closeafter}", "no").replace("{ping}", "0")
        req = (f"GET {j.path(url)} HTTP/1.1\r\nHost: {j.host}\r\n"
               f"Authorization: {j.auth}\r\nAccept: text/event-stream\r\n\r\n")
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 200 " not in head.split(b"\r\n")[0]:
            raise EventSourceRefused(head.split(b"\r\n")[0].decode(errors="replace"))

    def drain(self):
        """Drops whatever arrived since the last event (late events of an earlier delivery)."""
        self.sock.setblocking(False)
        try:
            while self.sock.recv(65536):
                pass
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(60)
        self.buf = b""

    def wait(self):
        while b"event: state" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("eventsource closed")
            self.buf += chunk
        t = time.monotonic()
        self.buf = b""  # one event per delivery; whatever else arrived belongs to it
        return t


def timed(fn, rounds):
    for _ in range(3):
        fn()
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def run_times(a):
    j = Jmap(a.base, a.user, a.password)
    j.fresh = a.fresh
    inbox = j.inbox()
    (q,) = j.api(["Email/query", {"accountId": j.account, "filter": {"inMailbox": inbox}, "calculateTotal": True,
                                  "limit": 1}])
    total = q["total"]
    sort = [{"property": "receivedAt", "isAscending": False}]
    rng = random.Random(7)
    checks = {"total": total}

    def page(position, calculate_total, sort=sort):
        def run():
            r = j.api(
                ["Email/query", {"accountId": j.account, "filter": {"inMailbox": inbox}, "sort": sort,
                                 "position": position() if callable(position) else position, "limit": 50,
                                 "calculateTotal": calculate_total}],
                ["Email/get", {"accountId": j.account, "properties": LIST_PROPERTIES,
                               "#ids": {"resultOf": "c0", "name": "Email/query", "path": "/ids"}}],
            )
            assert len(r[1]["list"]) == 50, r[1]
        return run

    def text():
        (r,) = j.api(["Email/query", {"accountId": j.account, "filter": {"inMailbox": inbox, "text": a.word},
                                      "sort": sort, "limit": 50, "calculateTotal": True}])
        checks["text_hits"] = r["total"]

    def mailboxes():
        (r,) = j.api(["Mailbox/get", {"accountId": j.account, "ids": None}])
        checks["mailboxes"] = len(r["list"])

    results = {
        "page50_first": timed(page(0, False), a.rounds),
        "page50_oldest": timed(page(0, False, [{"property": "receivedAt", "isAscending": True}]), a.rounds),
        "page50_random_total": timed(page(lambda: rng.randrange(0, total - 50), True), a.rounds),
        **({} if a.no_text else {"query_text": timed(text, a.rounds)}),
        "mailbox_get": timed(mailboxes, a.rounds),
    }
    if a.smtp or a.lmtp:
        host, port = (a.smtp or a.lmtp).rsplit(":", 1)
        loopback(host)
        try:
            stream = EventStream(j)
        except EventSourceRefused as e:
            # e.g. Cyrus without its idled daemon answers 204 No Content
            checks["push"] = f"no EventSource: {e}"
            stream = None
        lat = []
        smtp = (smtplib.SMTP if a.smtp else smtplib.LMTP)(host, int(port), timeout=60)
        for n in range(a.push_rounds + 3 if stream else 0):
            msg = (f"From: x@elsewhere.org\r\nTo: {a.rcpt or a.user}\r\nSubject: push {n}\r\n"
                   f"Date: {email.utils.formatdate()}\r\nMessage-ID: <push{n}.{time.time()}@elsewhere.org>\r\n\r\n"
                   "ping\r\n")
            stream.drain()
            got = []
            waiter = threading.Thread(target=lambda: got.append(stream.wait()), daemon=True)
            waiter.start()
            t0 = time.monotonic()
            smtp.sendmail("x@elsewhere.org", [a.rcpt or a.user], msg)
            waiter.join(30)
            if not got:
                print("no StateChange within 30 s of a delivery: no push figure", file=sys.stderr)
                lat = []
                break
            if n >= 3:
                lat.append((got[0] - t0) * 1000)
            time.sleep(0.2)
        smtp.quit()
        if lat:
            results["smtp_to_push"] = lat
    results["checks"] = checks
    with open(a.json, "w") as f:
        json.dump(results, f)
    for k, v in results.items():
        if k != "checks":
            print(f"{k:22} median {statistics.median(v):8.2f} ms  (n={len(v)})")
    print("checks:", checks)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["load", "time"])
    ap.add_argument("--base", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--mbox")
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--start", type=int, default=0, help="load: the first message number (to load in steps)")
    ap.add_argument("--max-size", type=int, default=0)
    ap.add_argument("--smtp")
    ap.add_argument("--lmtp")
    ap.add_argument("--rcpt", help="delivery address (default: --user)")
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--push-rounds", type=int, default=20)
    ap.add_argument("--word", default="xylophonequartz")
    ap.add_argument("--no-text", action="store_true", help="time: leave out the text query (no index)")
    ap.add_argument("--fresh", action="store_true",
                    help="a new connection for every request (no keep-alive: no Nagle/delayed-ACK stalls)")
    ap.add_argument("--json")
    a = ap.parse_args()
    load(a) if a.mode == "load" else run_times(a)


if __name__ == "__main__":
    main()
