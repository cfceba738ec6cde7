"""Which utterance each main trial plays: a Latin square of utterances over the cells.

With ``U`` utterances and the cells of the design numbered first factor slowest, cell ``j``
of the participant with index ``p`` (0-based: ``P01`` -> 0) in repetition ``r`` plays
utterance ``(c[j] + p + r) mod U``, where ``c[j] = sum_f w_f * level_index_f(j) mod U`` is a
fixed offset per cell. Consequences:

- across participants: every ``U`` consecutive participants together hear each
  utterance x cell pairing exactly once (the rows of a Latin square rotate by participant),
  so each pairing is equally often heard when N is a multiple of ``U``;
- within a participant: the weights ``w`` are chosen (exhaustively, among ``0..U-1`` per
  factor) so that each utterance is heard as equally often as possible overall and within
  every level of every factor (each method and each emotion). With 4 methods x 2 emotions
  and 2 or 4 utterances it is exact: e.g. with 2 utterances each method plays one
  utterance happy and the other neutral, and each emotion hears both utterances twice.

Pure functions; :func:`balance` measures the result from real plans (``study plan``
prints it, the tests assert it).
"""
from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

#: Largest weight search (U ** number of factors candidates); beyond it w = (1, 1, ...).
MAX_WEIGHT_CANDIDATES = 4096


def _level_indices(level_counts: tuple[int, ...]) -> list[tuple[int, ...]]:
    return list(itertools.product(*[range(n) for n in level_counts]))


def _imbalance(offsets: list[int], idx: list[tuple[int, ...]], level_counts: tuple[int, ...], n_utt: int
               ) -> tuple[int, int]:
    def spread(values: list[int]) -> int:
        c = Counter(values)
        counts = [c.get(u, 0) for u in range(n_utt)]
        return max(counts) - min(counts)

    total = spread(offsets)
    within = 0
    for f, n in enumerate(level_counts):
        for lv in range(n):
            within += spread([o for o, ix in zip(offsets, idx) if ix[f] == lv])
    return total, within


@lru_cache(maxsize=64)
def cell_offsets(level_counts: tuple[int, ...], n_utterances: int) -> tuple[int, ...]:
    """Offset ``c[j]`` of every cell (cells in spec order: first factor slowest)."""
    if n_utterances < 1:
        raise ValueError("need at least one utterance")
    idx = _level_indices(level_counts)
    nf = len(level_counts)
    if n_utterances ** nf > MAX_WEIGHT_CANDIDATES:
        candidates = [(1,) * nf]
    else:
        candidates = list(itertools.product(range(n_utterances), repeat=nf))
    best = None
    for w in candidates:
        offs = [sum(wi * ii for wi, ii in zip(w, ix)) % n_utterances for ix in idx]
        score = _imbalance(offs, idx, level_counts, n_utterances)
        if best is None or score < best[0]:
            best = (score, offs)
    return tuple(best[1])


def utterance_for(offsets: tuple[int, ...], cell_index: int, participant_index: int, repetition: int,
                  n_utterances: int) -> int:
    """Index of the utterance cell ``cell_index`` plays for this participant and repetition."""
    return (offsets[cell_index] + participant_index + repetition) % n_utterances


@dataclass(frozen=True)
class Balance:
    """How evenly utterances fall on conditions in a set of plans (see :func:`balance`)."""
    utterances: tuple[str, ...]
    per_participant_equal: bool  # every participant hears every utterance equally often
    per_level_equal: bool  # ... and equally often within each level of each factor
    pairing_counts: dict[tuple[str, str], int]  # (cell label, utterance) -> times heard over all plans
    pairings_equal: bool  # every utterance x cell pairing heard equally often across participants
    reasons: tuple[str, ...]  # why a property does not hold

    def summary(self) -> str:
        yn = {True: "yes", False: "no"}
        counts = sorted(set(self.pairing_counts.values()))
        return (f"utterances ({len(self.utterances)}: {', '.join(self.utterances)}): each participant hears each "
                f"equally often: {yn[self.per_participant_equal]}; within every method/emotion level: "
                f"{yn[self.per_level_equal]}; each utterance x condition pairing equally often across "
                f"participants: {yn[self.pairings_equal]} ({'/'.join(map(str, counts))} times)"
                + (f" ({'; '.join(self.reasons)})" if self.reasons else ""))


def balance(trials: list[list[tuple[dict[str, str], str]]], factors: dict[str, list[str]]) -> Balance:
    """Measure utterance balance: ``trials[p]`` lists participant p's main trials as
    ``(cell levels, utterance)``."""
    utts = sorted({u for plan in trials for _, u in plan})
    per_part = per_level = True
    reasons: list[str] = []
    pairs: Counter = Counter()
    for plan in trials:
        c = Counter(u for _, u in plan)
        if len({c.get(u, 0) for u in utts}) > 1:
            per_part = False
        for f, levels in factors.items():
            for lv in levels:
                cl = Counter(u for cell, u in plan if cell.get(f) == lv)
                if len({cl.get(u, 0) for u in utts}) > 1:
                    per_level = False
        for cell, u in plan:
            pairs[("/".join(cell.values()), u)] += 1
    cells = sorted({"/".join(cell.values()) for plan in trials for cell, _ in plan})
    full = {(cl, u): pairs.get((cl, u), 0) for cl in cells for u in utts}
    pairings_equal = len(set(full.values())) <= 1
    n_cells = len(cells)
    if utts and n_cells % len(utts):
        reasons.append(f"{n_cells} conditions are not a multiple of {len(utts)} utterances")
    if utts and len(trials) % len(utts):
        reasons.append(f"{len(trials)} participants are not a multiple of {len(utts)} utterances")
    return Balance(tuple(utts), per_part and bool(utts), per_level and bool(utts), full, pairings_equal and bool(utts),
                   tuple(reasons))
