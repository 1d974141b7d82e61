#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The figures from the samples of handover-sampler.c (tests/integration/test-handover.sh):

  report OUT WANT_LINKS    the figures: samples, the longest time with fewer than WANT_LINKS links,
                           the longest time the charge counter did not advance, whether it ever went
                           back, and how many distinct link-id sets were seen; as KEY=VALUE lines.
"""
import sys

def report(out, want):
    rows = []
    with open(out) as f:
        for line in f:
            t, l, c = line.split()
            rows.append((float(t), [] if l == "-" else l.split(","), None if c == "?" else int(c)))
    # Longest span with fewer than `want` links: from the first such sample to the next good one.
    gap_links = 0.0
    start = None
    for t, l, _ in rows:
        if len(l) < want and start is None:
            start = t
        elif len(l) >= want and start is not None:
            gap_links = max(gap_links, t - start)
            start = None
    if start is not None and rows:
        gap_links = max(gap_links, rows[-1][0] - start)
    # Longest span without the counter advancing (unreadable counts as not advancing), and whether
    # it ever went back (a new map: the counting started again from zero).
    stall = 0.0
    went_back = False
    last_t, last_c = None, None
    for t, _, c in rows:
        if c is None:
            continue
        if last_c is None:
            last_t, last_c = t, c
            continue
        if c < last_c:
            went_back = True
        if c != last_c:
            stall = max(stall, t - last_t)
            last_t, last_c = t, c
    if rows and last_t is not None:
        stall = max(stall, rows[-1][0] - last_t)
    sets = []
    for _, l, _ in rows:
        if l and l not in sets:
            sets.append(l)
    print("SAMPLES=%d" % len(rows))
    print("SPAN_S=%.1f" % (rows[-1][0] - rows[0][0] if rows else 0))
    print("GAP_LINKS_S=%.2f" % gap_links)
    print("STALL_S=%.2f" % stall)
    print("WENT_BACK=%d" % went_back)
    print("LINK_SETS=%d" % len(sets))
    print("CHARGES_FIRST=%s" % next((c for _, _, c in rows if c is not None), "?"))
    print("CHARGES_LAST=%s" % next((c for _, _, c in reversed(rows) if c is not None), "?"))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "report":
        report(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
