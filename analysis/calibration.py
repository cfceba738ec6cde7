"""False-positive rates of the report's tests on null data shaped like the user's study.

:func:`calibrate` takes a data set, estimates its variance components with the report's
mixed model (:func:`analysis.study_model`: participant, participant x within terms, clip,
residual; every component estimated above zero kept, not only those the likelihood-ratio
rule would keep), simulates null studies with the same trial rows (participants, cells, clips per
cell, gaps) and no effect of any factor (:mod:`analysis.worlds`), runs each test on every
simulated study and reports how often it rejects at alpha. A valid test rejects about
alpha of the time; the Wilson 95% interval of the rate says how sure the simulation is.

Tests (keys of :data:`TESTS`): per-stratum ART (the default ART), ARTool's pooled
``Error(S)`` ART (the published form, to show how far off it is), RM-ANOVA with
Greenhouse-Geisser correction, Friedman on participant means (main effects), and the
crossed mixed model (``study_model``, Satterthwaite F; with a clip effect when clips are
replicated; random part simplified by REML likelihood-ratio tests at alpha 0.2, the
default). ``mixed_singular`` and ``mixed_maximal`` run the same model with the other
simplification rules, for comparison. The by-participant tests run on all simulated
studies at once (numpy); the mixed model is fitted per study, so it gets its own
(smaller) number of simulations.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from analysis.design import AnalysisError, effect_terms, term_name
from analysis.worlds import (Design, World, cell_mean_operator, design_from_data, simulate,
                             world_from_fit)

#: test key -> (label, generalises over clips)
TESTS = {
    "art": ("ART, per-stratum Error(S/(A*B)) (default)", False),
    "art_pooled": ("ART, pooled Error(S) (published form)", False),
    "rm_anova": ("RM-ANOVA, Greenhouse-Geisser", False),
    "friedman": ("Friedman on participant means", False),
    "mixed": ("mixed model (study_model, LRT-simplified, Satterthwaite F)", True),
    "mixed_singular": ("mixed model, singular-fit simplification only", True),
    "mixed_maximal": ("mixed model, maximal structure (no simplification)", True),
}
#: mixed-model test key -> study_model's ``simplify`` rule
MIXED_RULES = {"mixed": "lrt", "mixed_singular": "singular", "mixed_maximal": "none"}
DEFAULT_TESTS = ("art", "art_pooled", "rm_anova", "friedman", "mixed")


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion k / n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(mid - half, 0.0)), float(min(mid + half, 1.0))


def clips_replicated(design: Design) -> bool:
    """True when some cell holds more than one clip (then clips are a random factor)."""
    return bool((design.clips_per_cell() > 1).any())


def run_tests(design: Design, Y: np.ndarray, tests: Sequence[str], alpha: float,
              n_mixed: int | None = None) -> dict[tuple[str, str], np.ndarray]:
    """Reject (p < alpha) per simulated study: (test, term) -> bool array.

    ``Y`` is (n_sims, N) ratings on ``design.frame``'s rows. The mixed models run on the
    first ``n_mixed`` studies only (default: all).
    """
    unknown = [t for t in tests if t not in TESTS]
    if unknown:
        raise AnalysisError(f"unknown test(s) {unknown}", f"use some of {list(TESTS)}")
    out: dict[tuple[str, str], np.ndarray] = {}
    factors = design.factors
    op = cell_mean_operator(design)
    if op is not None:
        G, within, k = op
        n = design.n_participants
        C = (Y @ G).reshape(len(Y), n, -1)
    if "art" in tests and op is not None:
        from analysis.aligned_rank import art_arrays
        for term, (F, p) in art_arrays(C, within, k).items():
            out[("art", term)] = p < alpha
    if "rm_anova" in tests and op is not None:
        from analysis.repeated_measures import rm_anova_arrays
        for term, (F, p) in rm_anova_arrays(C, within, k).items():
            out[("rm_anova", term)] = p < alpha
    if "friedman" in tests and op is not None:
        from analysis.nonparametric import friedman_arrays
        Ck = C.reshape(len(Y), n, *k)
        for i, f in enumerate(within):
            axes = tuple(2 + j for j in range(len(k)) if j != i)
            X = Ck.mean(axis=axes) if axes else Ck
            out[("friedman", f)] = friedman_arrays(X)[1] < alpha
    if "art_pooled" in tests:
        counts = design.frame.groupby([design.subject, *factors], observed=True).size()
        if op is not None and counts.nunique() == 1:
            from analysis.aligned_rank import art_pooled_arrays
            for term, (F, p) in art_pooled_arrays(Y, design.frame, factors,
                                                  design.subject).items():
                out[("art_pooled", term)] = p < alpha
    for key, rule in MIXED_RULES.items():
        if key not in tests:
            continue
        from analysis.mixed import study_model
        m = len(Y) if n_mixed is None else min(n_mixed, len(Y))
        clip = design.clip if clips_replicated(design) else None
        rej: dict[str, list] = {term_name(t): [] for t in effect_terms(factors)}
        for s in range(m):
            d = design.frame.assign(_y=Y[s])
            try:
                tests_ = study_model(d, "_y", factors, design.subject, clip=clip,
                                     simplify=rule).tests
                p = dict(zip(tests_["term"], tests_["p"]))
            except (AnalysisError, np.linalg.LinAlgError, ValueError):
                p = {}
            for term in rej:
                rej[term].append(bool(p.get(term, 1.0) < alpha))
        for term, r in rej.items():
            out[(key, term)] = np.array(r, dtype=bool)
    return out


def rates_table(rejections: dict[tuple[str, str], np.ndarray], alpha: float,
                clip_sd: float = 0.0) -> pd.DataFrame:
    """One row per test and term: rejections, rate, Wilson 95% CI, verdict.

    With clip variance in the world (``clip_sd`` > 0), a by-participant test that rejects
    too often is marked as generalising only to the clips used (it treats the clips as
    fixed, Clark 1973), not as broken.
    """
    rows = []
    for (test, term), r in rejections.items():
        k, n = int(np.sum(r)), int(len(r))
        lo, hi = wilson(k, n)
        verdict = ("too many false positives" if lo > alpha else
                   "conservative" if hi < alpha else "ok")
        if verdict != "ok" and lo > alpha and clip_sd > 0 and not TESTS[test][1]:
            verdict = "only for the clips used"
        rows.append({"test": test, "label": TESTS[test][0], "term": term, "n_sims": n,
                     "rejections": k, "rate": k / n if n else np.nan, "ci_low": lo,
                     "ci_high": hi, "verdict": verdict,
                     "generalises_over_clips": TESTS[test][1]})
    return pd.DataFrame(rows, columns=["test", "label", "term", "n_sims", "rejections",
                                       "rate", "ci_low", "ci_high", "verdict",
                                       "generalises_over_clips"])


@dataclass
class Calibration:
    """Result of :func:`calibrate`: the rate table, the design and null world simulated."""

    table: pd.DataFrame
    design: dict
    world: World
    alpha: float
    seed: int
    seconds: float
    structure: str = ""
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "seed": self.seed, "seconds": round(self.seconds, 2),
                "design": self.design, "null_world": {"mean": self.world.mean,
                                                      "sd": self.world.sd},
                "fitted_structure": self.structure, "notes": self.notes,
                "rates": self.table.to_dict("records")}


def calibrate(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str,
              clip: str | None = None, *, n_sims: int = 500, n_mixed: int | None = 100,
              alpha: float = 0.05, seed: int = 0, tests: Sequence[str] = DEFAULT_TESTS,
              scale: tuple[int, int] | None = None, world: World | None = None
              ) -> Calibration:
    """False-positive rate of each test on null studies shaped like ``df``.

    Args:
        df: long data (one row per rating) with ``dv``, ``factors``, ``subject``, ``clip``.
        n_sims: simulated null studies for the by-participant tests.
        n_mixed: how many of them the mixed model is fitted to (None: all; ~0.1 s each).
        seed: seed of the ``numpy.random.Generator`` (same seed, same numbers).
        scale: rating range (default: the integer range of ``dv`` when it is integer).
        world: the null world to simulate (default: grand mean and variance components
            estimated from ``df`` with ``study_model(simplify="singular")``: every
            component estimated above zero is kept, so a weakly supported clip or
            participant x factor variance stays in the world the tests must survive).
    """
    from analysis.mixed import study_model

    t0 = time.perf_counter()
    if n_sims < 1:
        raise AnalysisError(f"n_sims is {n_sims}", "simulate at least one study")
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha is {alpha}", "give a level in (0, 1), e.g. 0.05")
    design = design_from_data(df, factors, subject, clip, scale, dv)
    structure = ""
    if world is None:
        y = pd.to_numeric(df[dv], errors="coerce")
        if y.isna().any():
            raise AnalysisError(f"'{dv}' has missing or non-numeric values",
                                "drop or recode them before calibrating")
        cl = clip if clip and clips_replicated(design) else None
        fit = study_model(df.assign(**{dv: y}), dv, list(factors), subject, clip=cl,
                          simplify="singular")
        world = world_from_fit(fit, float(y.mean()), factors)
        structure = fit.structure
    world = world.null()
    rng = np.random.default_rng(seed)
    Y = simulate(design, world, n_sims, rng)
    rej = run_tests(design, Y, tests, alpha, n_mixed)
    notes = []
    if cell_mean_operator(design) is None:
        notes.append("some participants lack a cell: the by-participant tests (ART, "
                     "RM-ANOVA, Friedman) cannot run on this design")
    if not clips_replicated(design):
        notes.append("one clip per cell: clip variance cannot be told apart from the "
                     "condition effects; the null world has none")
    return Calibration(rates_table(rej, alpha, world.sd.get("clip", 0.0)), design.summary(), world, alpha, seed,
                       time.perf_counter() - t0, structure, notes)


__all__ = ["calibrate", "Calibration", "run_tests", "rates_table", "wilson", "TESTS",
           "DEFAULT_TESTS", "MIXED_RULES", "clips_replicated"]
