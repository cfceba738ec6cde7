"""Benchmark: planning 48 participants (counterbalanced orders + every step of every session).

Ours: ``vr_study.study.plan.build_plan`` (Williams design from a closed-form construction)
for the Chhatre et al. template (4 methods x 2 emotions = 8 cells), reading a real stimulus
library, plus the plan CSV. Baseline: the naive approach of searching
``itertools.permutations`` of the cells with backtracking for a set of orders in which each
cell appears once per position and each ordered pair once (first-order carry-over balance),
then building the same plans. For 6 cells the baseline finds a square; for 8 cells it does
not finish within the time cap, so only a lower bound on the ratio is reported.

Usage: python benchmarks/plan.py [--quick]. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vr_study.library import StimulusLibrary  # noqa: E402
from vr_study.motion import MotionClip  # noqa: E402
from vr_study.study import counterbalancing as cb  # noqa: E402
from vr_study.study.plan import build_plan, plans_csv  # noqa: E402
from vr_study.study.spec import parse_spec  # noqa: E402
from vr_study.study.stimuli import clips_by_cell  # noqa: E402

SPEC = """\
study: {{id: bench, participants: 48}}
factors:
  method: {methods}
  emotion: [happy, neutral]
stimuli: {{library: {library}}}
trials:
  kind: playback
  practice: {{trials: 1, utterances: [practice]}}
  attention_checks: {{after_trials: [3]}}
  breaks: {{every_trials: 4}}
"""


class Timeout(Exception):
    pass


def naive_balanced_rows(n: int, deadline: float) -> list[list[int]]:
    """Backtracking over itertools.permutations for a carry-over balanced square (the baseline)."""
    perms = list(itertools.permutations(range(n)))
    by_first = {i: [p for p in perms if p[0] == i] for i in range(n)}  # symmetry: row k starts with k
    rows: list[tuple[int, ...]] = []
    used_pos = [set() for _ in range(n)]
    used_pairs: set[tuple[int, int]] = set()

    def rec() -> bool:
        k = len(rows)
        if k == n:
            return True
        if time.monotonic() > deadline:
            raise Timeout
        for p in by_first[k]:
            if all(p[i] not in used_pos[i] for i in range(n)) and not any(q in used_pairs for q in zip(p, p[1:])):
                rows.append(p)
                for i in range(n):
                    used_pos[i].add(p[i])
                used_pairs.update(zip(p, p[1:]))
                if rec():
                    return True
                rows.pop()
                for i in range(n):
                    used_pos[i].discard(p[i])
                used_pairs.difference_update(zip(p, p[1:]))
        return False

    if not rec():
        raise ValueError(f"no balanced square for n={n}")
    return [list(r) for r in rows]


def make_library(root: Path, methods: list[str]) -> None:
    lib = StimulusLibrary.open(root, create=True)
    for m in methods:
        for e in ("happy", "neutral"):
            lib.add_clip(MotionClip.zeros(30, 30.0, num_expression=10, num_betas=10, method=m, emotion=e,
                                          utterance="greeting", seed=0))
    lib.add_clip(MotionClip.zeros(30, 30.0, num_expression=10, num_betas=10, method=methods[0], emotion="happy",
                                  utterance="practice", seed=0))  # practice has its own stimulus


def plan_ours(spec, n_participants: int) -> tuple[float, str]:
    t0 = time.perf_counter()
    library = clips_by_cell(spec)
    plans = [build_plan(spec, f"P{i:02d}", library) for i in range(1, n_participants + 1)]
    text = plans_csv(spec, plans)
    return time.perf_counter() - t0, text


def plan_baseline(spec, n_participants: int, cap_s: float) -> float:
    """Same plans, but the order rows come from the naive permutation search."""
    t0 = time.perf_counter()
    rows = naive_balanced_rows(len(spec.cells), time.monotonic() + cap_s)
    original = cb.rows_for
    cb.rows_for = lambda design, n: rows if design == "williams" and n == len(rows) else original(design, n)
    try:
        library = clips_by_cell(spec)
        plans = [build_plan(spec, f"P{i:02d}", library) for i in range(1, n_participants + 1)]
        plans_csv(spec, plans)
    finally:
        cb.rows_for = original
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter cap for the baseline (finishes < 60 s)")
    args = ap.parse_args()
    cap = 15.0 if args.quick else 120.0
    repeats = 3 if args.quick else 10
    result: dict[str, object] = {"benchmark": "plan", "participants": 48, "baseline": "itertools.permutations "
                                 "backtracking search for a carry-over balanced square", "baseline_cap_s": cap}
    with tempfile.TemporaryDirectory() as tmp:
        for methods in (["emage", "talkshow", "amuse", "reconstruction"], ["emage", "talkshow", "amuse"]):
            n = 2 * len(methods)
            lib = Path(tmp) / f"lib{n}"
            make_library(lib, methods)
            spec = parse_spec(SPEC.format(methods=json.dumps(methods), library=str(lib)), "bench.yaml")
            ours = min(plan_ours(spec, 48)[0] for _ in range(repeats))
            result[f"ours_{n}_cells_s"] = round(ours, 5)
            try:
                base = plan_baseline(spec, 48, cap)
                result[f"baseline_{n}_cells_s"] = round(base, 5)
                result[f"ratio_{n}_cells"] = round(base / ours, 2)
            except Timeout:
                result[f"baseline_{n}_cells_s"] = None
                result[f"baseline_{n}_cells_finished"] = False
                result[f"ratio_{n}_cells_at_least"] = round(cap / ours, 1)
            print(f"{n} cells: ours {ours * 1000:.1f} ms for 48 participants; baseline "
                  f"{result[f'baseline_{n}_cells_s'] if result[f'baseline_{n}_cells_s'] is not None else f'> {cap} s'}")
    result["ours_under_1s"] = bool(result["ours_8_cells_s"] < 1.0)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
