#!/usr/bin/env python3
"""Prints davload results of several servers side by side: median latency per operation and
concurrency, each peer's median divided by Kontor's (how many times faster Kontor is), and RSS.

    compare.py kontor.json peer1.json [peer2.json ...]   (the first file is Kontor)
"""
import json
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    runs = [r for r in (load(p) for p in sys.argv[1:]) if r]
    if not runs or runs[0].get("label") != "kontor":
        sys.exit("the first result must be Kontor's")
    labels = [r["label"] for r in runs]
    keys = []
    for r in runs:
        for row in r.get("ops", []):
            k = (row["op"], row["concurrency"])
            if k not in keys:
                keys.append(k)
    med = {r["label"]: {(x["op"], x["concurrency"]): x for x in r.get("ops", [])} for r in runs}
    head = "| op | conc | " + " | ".join(f"{l} median ms" for l in labels) + " | " + " | ".join(f"{l}/kontor" for l in labels[1:]) + " | kontor responses (expected) |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for op, conc in keys:
        cells, ratios = [], []
        k = med["kontor"].get((op, conc), {}).get("median_ms")
        for l in labels:
            m = med[l].get((op, conc), {}).get("median_ms")
            cells.append("-" if m is None else f"{m:.2f}")
            if l != "kontor":
                ratios.append("-" if not (m and k) else f"{m / k:.1f}x")
        row = med["kontor"].get((op, conc), {})
        resp = row.get("responses")
        resp_s = "-" if not resp else f"{resp[0]}" + ("" if resp[0] == resp[1] else f"..{resp[1]}")
        exp = row.get("expected")
        print(f"| {op} | {conc} | " + " | ".join(cells) + " | " + " | ".join(ratios) + f" | {resp_s} ({exp}) |")
    print()
    for r in runs:
        s = r.get("server", {}).get("after_reads") or {}
        print(f"{r['label']}: {s}")


if __name__ == "__main__":
    main()
