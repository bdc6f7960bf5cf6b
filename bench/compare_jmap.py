#!/usr/bin/env python3
"""Prints a bench/jmap.sh run side by side: per line the median (and p90) of Kontor and of the
peer (Cyrus) with the 5,000- and the 100,000-message Inbox, and the peer's median divided by
Kontor's (how many times faster Kontor is); first on one keep-alive connection, then with a new
connection per request; then loads, checks, disk and RSS.

    compare_jmap.py RUN_DIR      (RUN_DIR/{kontor,cyrus}/{load,time}-*.json as jmap.sh writes them)
"""
import json
import os
import statistics
import sys

LINES = [("page of 50, newest first (query+get)", "page50_first"),
         ("page of 50, oldest first (query+get)", "page50_oldest"),
         ("page of 50, random position, calculateTotal", "page50_random_total"),
         ("Email/query text filter (+ total)", "query_text"),
         ("Mailbox/get (all)", "mailbox_get"),
         ("delivery -> EventSource StateChange", "smtp_to_push")]
SIZES = [("small", "5k"), ("big", "100k")]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def size_label(run, size, default):
    """The Inbox's size as loaded (5k, 100k, ...)."""
    n = (load(os.path.join(run, "kontor", f"load-{size}.json")) or {}).get("messages")
    if not n:
        return default
    return f"{n / 1000:g}k" if n >= 1000 else str(n)


def p90(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]


def cell(v):
    return f"{statistics.median(v):8.2f} ({p90(v):7.2f})" if v else f"{'n/a':>18}"


def ratio(k, p):
    return f"{statistics.median(p) / statistics.median(k):6.1f}x" if k and p else f"{'':>7}"


def main():
    run = sys.argv[1]
    servers = [s for s in ("kontor", "cyrus") if os.path.isdir(os.path.join(run, s))
               and any(f.startswith("time-") for f in os.listdir(os.path.join(run, s)))]
    res = {(s, size, mode): load(os.path.join(run, s, f"time-{size}-{mode}.json")) or {}
           for s in servers for size, _ in SIZES for mode in ("keepalive", "fresh")}
    global SIZES
    SIZES = [(size, size_label(run, size, default)) for size, default in SIZES]
    peer = "cyrus" in servers
    print()
    print("JMAP, Kontor (SQLite, release build) and Cyrus 3.6 (the harness's peer), same corpus, same client;")
    print("milliseconds, median (p90); ratio = Cyrus median / Kontor median (how many times faster Kontor is)")
    for mode, title in (("keepalive", "one keep-alive connection"), ("fresh", "a new connection per request")):
        print()
        print(f"## {title}")
        head = f"| {'operation':44} |"
        rule = f"|{'-' * 46}|"
        for _, label in SIZES:
            head += f" {'Kontor ' + label:>18} |" + (f" {'Cyrus ' + label:>18} | {'ratio':>7} |" if peer else "")
            rule += f"{'-' * 20}|" + (f"{'-' * 20}|{'-' * 9}|" if peer else "")
        print(head)
        print(rule)
        for label, key in LINES:
            if mode == "fresh" and key == "smtp_to_push":
                continue
            row = f"| {label:44} |"
            for size, _ in SIZES:
                k = res[("kontor", size, mode)].get(key)
                row += f" {cell(k)} |"
                if peer:
                    c = res[("cyrus", size, mode)].get(key)
                    row += f" {cell(c)} | {ratio(k, c)} |"
            print(row)
    print()
    for s in servers:
        for size, label in SIZES:
            lo = load(os.path.join(run, s, f"load-{size}.json")) or {}
            checks = res[(s, size, "keepalive")].get("checks")
            if lo:
                rate = lo["messages"] / lo["seconds"] if lo.get("seconds") else 0
                print(f"{s} {label}: {lo['messages']} messages ({lo.get('bytes', 0) / 1e6:.0f} MB) loaded in "
                      f"{lo['seconds']} s ({rate:.0f}/s); checks {checks}")
        disk = load(os.path.join(run, s, "rss.json"))
        try:
            with open(os.path.join(run, s, "disk.txt")) as f:
                kb = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            kb = 0
        print(f"{s}: store {kb / 1024:.0f} MB on disk; memory at the end {disk}")
    for s in servers:
        for size, _ in SIZES:
            try:
                with open(os.path.join(run, s, f"noindex-{size}")) as f:
                    print(f.read().strip())
            except OSError:
                pass
    k = res[("kontor", "big", "keepalive")].get("page50_first")
    if k:
        m = statistics.median(k)
        print()
        print(f"target: page of 50 <= 10 ms median on 100k: {m:.2f} ms on {SIZES[1][1]} -> "
              f"{'met' if m <= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
