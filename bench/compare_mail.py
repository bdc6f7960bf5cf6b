#!/usr/bin/env python3
"""Prints a bench/mail.sh run side by side: per line the median over the rounds for Kontor and the
peer (Dovecot; Postfix in front of Dovecot LMTP for SMTP), the peer's median divided by Kontor's (how
many times faster Kontor is), the issue's target, the checks (hits, sizes, errors), and the peak
RSS / PSS of each server per step.

    compare_mail.py RUN_DIR      (RUN_DIR/kontor/*.json, RUN_DIR/dovecot/*.json as mail.sh writes them)
"""
import glob
import json
import os
import statistics
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def runs(run_dir, server, prefix):
    base = os.path.join(run_dir, server, prefix)
    files = sorted(glob.glob(base + ".json") + glob.glob(base + "-[0-9]*.json"))
    return [d for d in (load(f) for f in files) if d]


def search(d, i):
    s = d.get("search") or []
    return s[i] if len(s) > i else {}


def ingest_check(d):
    return "%s/%s msgs ok, %s err, seen %s/%s" % (d.get("accepted"), d.get("attempted"), d.get("errors"),
                                              d.get("imap_after", 0) - d.get("imap_before", 0),
                                              d.get("imap_expected", 0) - d.get("imap_before", 0))


def search_check(d, i):
    s = search(d, i)
    return "%s hits" % s.get("hits") + ("" if "expected" not in s else " (exp %s)" % s["expected"])


# (label, file prefix, values of one result file (seconds), check text of one file, target ratio)
LINES = [
    ("SMTP (peer: Postfix -> Dovecot LMTP) until visible in IMAP, c=1 [s]", "smtp-c1",
     lambda d: [d.get("end_to_end_s")], ingest_check, 1),
    ("SMTP (peer: Postfix -> Dovecot LMTP) until visible in IMAP, c=8 [s]", "smtp-c8",
     lambda d: [d.get("end_to_end_s")], ingest_check, 1),
    ("IMAP APPEND 5,000 msgs (fresh store, 1 run) [s]", "append",
     lambda d: [d.get("elapsed_s")], lambda d: "%s msgs, %s err" % (d.get("messages"), d.get("errors")), 1),
    ("IMAP FETCH 1,000 full bodies [s]", "imap",
     lambda d: [d["fetch_bodies"]["elapsed_s"]],
     lambda d: "%s msgs, %s size mismatches" % (d["fetch_bodies"]["messages"], d["fetch_bodies"]["size_mismatches"]), 1),
    ("IMAP FETCH 1:* ENVELOPE BODYSTRUCTURE [s]", "imap",
     lambda d: [d["fetch_envelope_bodystructure_all"]["elapsed_s"]],
     lambda d: "%s msgs" % d["fetch_envelope_bodystructure_all"]["messages"], 1),
    ("IMAP SEARCH TEXT body marker [ms]", "imap",
     lambda d: [x * 1000 for x in search(d, 0).get("runs_s", [])], lambda d: search_check(d, 0), 100),
    ("IMAP SEARCH TEXT subject marker [ms]", "imap",
     lambda d: [x * 1000 for x in search(d, 3).get("runs_s", [])], lambda d: search_check(d, 3), 100),
    ("IMAP SEARCH BODY body marker [ms]", "imap",
     lambda d: [x * 1000 for x in search(d, 1).get("runs_s", [])], lambda d: search_check(d, 1), 1),
    ("IMAP SEARCH SUBJECT subject marker [ms]", "imap",
     lambda d: [x * 1000 for x in search(d, 2).get("runs_s", [])], lambda d: search_check(d, 2), 1),
    ("POP3 RETR all 5,000 (leave on server) [s]", "pop3",
     lambda d: [d["retr"]["elapsed_s"]],
     lambda d: "%s msgs, %s size mismatches, UIDLs unique %s%s" % (
         d["retr"]["messages"], d["retr"]["size_mismatches_vs_LIST"], d.get("uidl_unique"),
         "" if "uidl_stable_vs_file" not in d else ", stable %s" % d["uidl_stable_vs_file"]), 1),
]
MEM_STEPS = [("idle after start (peer: Postfix + Dovecot)", "rss-idle"), ("APPEND", "rss-append"), ("IMAP FETCH/SEARCH", "rss-imap"),
             ("POP3", "rss-pop3"), ("SMTP c=1 (peer: Postfix + Dovecot)", "rss-smtp-c1"),
             ("SMTP c=8 (peer: Postfix + Dovecot)", "rss-smtp-c8")]


def values(run_dir, server, prefix, fn):
    out, checks = [], []
    for d in runs(run_dir, server, prefix):
        try:
            out += [v for v in fn[0](d) if v is not None]
            checks.append(fn[1](d))
        except (KeyError, TypeError):
            checks.append("bad result")
    return out, checks


def fmt(v):
    return "-" if v is None else ("%.1f" % v if v >= 10 else "%.3g" % v)


def mem(run_dir, server, prefix):
    """Peak RSS over the step's rounds and the PSS at that peak, in MB."""
    peak = None
    for f in glob.glob(os.path.join(run_dir, server, prefix + "*.json")):
        d = load(f)
        if not d:
            continue
        s = d.get("at_peak") or d  # rss-idle is one sample, the others a --watch peak
        if s and (peak is None or s.get("rss_total_kb", 0) > peak["rss_total_kb"]):
            peak = s
    return peak


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    run_dir = sys.argv[1]
    print("| line | n | Kontor median | Dovecot median | Dovecot/Kontor | target | met | Kontor check | Dovecot check |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, prefix, fn, check, target in LINES:
        kv, kc = values(run_dir, "kontor", prefix, (fn, check))
        pv, pc = values(run_dir, "dovecot", prefix, (fn, check))
        km = statistics.median(kv) if kv else None
        pm = statistics.median(pv) if pv else None
        ratio = pm / km if km and pm else None
        met = "-" if ratio is None else ("yes" if ratio >= target else "**no**")
        uniq = lambda c: "; ".join(sorted(set(c))) or "-"
        print("| %s | %d | %s | %s | %s | >= %gx | %s | %s | %s |" % (
            label, min(len(kv), len(pv)), fmt(km), fmt(pm), "-" if ratio is None else "%.2fx" % ratio,
            target, met, uniq(kc), uniq(pc)))
    print()
    print("| memory, peak RSS during (PSS at that sample) | Kontor RSS MB | Kontor PSS MB | peer RSS MB | peer PSS MB | peer procs | RSS peer/Kontor | PSS peer/Kontor |")
    print("|---|---|---|---|---|---|---|---|")
    overall = {"kontor": None, "dovecot": None}
    for label, prefix in MEM_STEPS:
        k, p = mem(run_dir, "kontor", prefix), mem(run_dir, "dovecot", prefix)
        for name, s in (("kontor", k), ("dovecot", p)):
            if s and (overall[name] is None or s["rss_total_kb"] > overall[name]["rss_total_kb"]):
                overall[name] = s
        row(label, k, p)
    row("**whole run**", overall["kontor"], overall["dovecot"])
    print()
    for f in ("loadavg-start.txt", "loadavg-end.txt"):
        try:
            print("%s: %s" % (f[:-4], open(os.path.join(run_dir, f)).read().strip()))
        except OSError:
            pass
    try:
        steps = [float(line.split()[0]) for line in open(os.path.join(run_dir, "loadavg-steps.txt"))]
        print("1-min loadavg at the start of the steps: min %.2f, median %.2f, max %.2f (2 cores: server on one,"
              " client on the other)" % (min(steps), statistics.median(steps), max(steps)))
    except (OSError, ValueError):
        pass


def row(label, k, p):
    mb = lambda s, key: None if not s else s.get(key, 0) / 1024
    kr, kp, pr, pp = mb(k, "rss_total_kb"), mb(k, "pss_total_kb"), mb(p, "rss_total_kb"), mb(p, "pss_total_kb")
    ratio = lambda a, b: "%.2fx" % (a / b) if a and b else "-"
    print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
        label, fmt(kr), fmt(kp), fmt(pr), fmt(pp), "-" if not p else p.get("processes"),
        ratio(pr, kr), ratio(pp, kp)))


if __name__ == "__main__":
    main()
