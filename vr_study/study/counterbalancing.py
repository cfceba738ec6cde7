"""Orders of conditions: pure functions over condition indices ``0..n-1``.

Each design returns a list of rows; a row is one order (a permutation of ``range(n)``).
Participants are assigned to rows cyclically, so a study is complete and balanced when the
number of participants is a multiple of the number of rows.

- :func:`williams`: balanced Latin square (Williams 1949). Each condition appears once in
  each position, and each ordered pair of conditions is adjacent exactly once (n even,
  n rows) or exactly twice (n odd: the square plus its mirror image, 2n rows).
- :func:`latin`: cyclic Latin square (position-balanced only).
- :func:`permutations`: all n! orders.
- :func:`random_order`: one seeded random order per participant.
"""
from __future__ import annotations

import hashlib
import itertools
import math
from collections import Counter

import numpy as np


def williams(n: int) -> list[list[int]]:
    """Williams design for ``n`` conditions: n rows (n even) or 2n rows (n odd)."""
    if n < 1:
        raise ValueError("need at least one condition")
    # first row 0, 1, n-1, 2, n-2, ...; row r adds r (mod n) to every entry
    first = [0]
    lo, hi = 1, n - 1
    while len(first) < n:
        first.append(lo)
        lo += 1
        if len(first) < n:
            first.append(hi)
            hi -= 1
    rows = [[(c + r) % n for c in first] for r in range(n)]
    if n % 2 == 1 and n > 1:
        rows += [list(reversed(row)) for row in rows]
    return rows


def latin(n: int) -> list[list[int]]:
    """Cyclic Latin square: row r is r, r+1, ..., (mod n)."""
    return [[(r + c) % n for c in range(n)] for r in range(n)]


def permutations(n: int) -> list[list[int]]:
    """Every order of ``n`` conditions (n! rows; refuses n > 8)."""
    if n > 8:
        raise ValueError(f"{math.factorial(n)} permutations of {n} conditions is too many; use williams")
    return [list(p) for p in itertools.permutations(range(n))]


def derived_seed(study_seed: int, participant_number: int, purpose: str = "") -> int:
    """A 63-bit seed from the study seed and the participant number (stable across runs)."""
    h = hashlib.sha256(f"{study_seed}:{participant_number}:{purpose}".encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def random_order(n: int, seed: int) -> list[int]:
    """A seeded uniformly random order of ``n`` conditions."""
    return [int(i) for i in np.random.default_rng(seed).permutation(n)]


def rows_for(design: str, n: int) -> list[list[int]] | None:
    """Rows of a fixed design, or None for ``random`` (drawn per participant)."""
    if design == "williams":
        return williams(n)
    if design == "latin":
        return latin(n)
    if design == "permutations":
        return permutations(n)
    if design == "fixed":
        return [list(range(n))]
    if design == "random":
        return None
    raise ValueError(f"unknown design {design!r}")


def order_for(design: str, n: int, row_index: int, seed: int) -> list[int]:
    """The order of participant row ``row_index`` (cyclic over the design's rows)."""
    rows = rows_for(design, n)
    if rows is None:
        return random_order(n, seed)
    return rows[row_index % len(rows)]


def n_rows(design: str, n: int) -> int:
    """Rows in one complete replication of the design (1 for ``random``)."""
    rows = rows_for(design, n)
    return 1 if rows is None else len(rows)


# -- balance properties (used by tests and by ``study plan`` to report) -------------------------
def position_counts(rows: list[list[int]]) -> np.ndarray:
    """(n, n) counts: [condition, position]."""
    n = len(rows[0])
    out = np.zeros((n, n), dtype=int)
    for row in rows:
        for pos, c in enumerate(row):
            out[c, pos] += 1
    return out


def carryover_counts(rows: list[list[int]]) -> np.ndarray:
    """(n, n) counts of ordered adjacent pairs: [first, second]."""
    n = len(rows[0])
    out = np.zeros((n, n), dtype=int)
    for row in rows:
        for a, b in zip(row, row[1:]):
            out[a, b] += 1
    return out


def is_position_balanced(rows: list[list[int]]) -> bool:
    pc = position_counts(rows)
    return bool((pc == pc[0, 0]).all())


def is_carryover_balanced(rows: list[list[int]]) -> bool:
    """Every ordered pair of distinct conditions adjacent equally often."""
    cc = carryover_counts(rows)
    off = cc[~np.eye(len(cc), dtype=bool)]
    return bool(off.size == 0 or (off == off[0]).all())


def pair_counts(sequences: list[list[str]]) -> Counter:
    """Ordered adjacent pairs of labels over many sequences."""
    c: Counter = Counter()
    for seq in sequences:
        c.update(zip(seq, seq[1:]))
    return c
