#!/usr/bin/env python3
"""Writes ptable_t10.csv, Lantern's default perturbation table (threshold T = 10, N = 256).

Design (docs/disclosure.md explains it in plain words):
- a cell of 1..T-1 records is published as T with probability c/T, else as 0, chosen by its
  cell key: small counts never show, and the expected published value equals the true one;
- a cell of T or more records moves by -2..+2, never below T, most often by 0;
- counts above T+2 use the rows of T+2.
`lantern` checks the table when it loads a policy: no count can be published as 1..T-1 and every
publishable value can come from at least two counts.
Run: python3 pipelines/disclosure/make_ptable.py > pipelines/disclosure/ptable_t10.csv
"""
import sys

T, N = 10, 256


def rows():
    for c in range(1, T):
        up = round(N * c / T)
        yield (c, 0, up - 1, T - c)
        yield (c, up, N - 1, -c)
    spreads = {
        T: [(192, 0), (48, 1), (16, 2)],
        T + 1: [(64, -1), (128, 0), (48, 1), (16, 2)],
        T + 2: [(16, -2), (48, -1), (128, 0), (48, 1), (16, 2)],
    }
    for c, table in spreads.items():
        lo = 0
        for width, adj in table:
            yield (c, lo, lo + width - 1, adj)
            lo += width
        assert lo == N


out = sys.stdout
out.write("count,cell_key_min,cell_key_max,adjustment\n")
for row in rows():
    out.write(",".join(map(str, row)) + "\n")
