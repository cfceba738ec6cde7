"""Power before data collection, from the same simulator as the calibration.

:func:`power` simulates studies of a design with fixed effects on the rating scale (e.g.
one method rated 0.5 points higher) and the variance components of a world (defaults
:data:`DEFAULT_SD`, or estimated from pilot data), and reports how often each test
rejects; :func:`n_for_power` searches the number of participants that reaches a target
power (default 80 %) for one test and term.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analysis.calibration import rates_table, run_tests
from analysis.design import AnalysisError
from analysis.worlds import Design, World, simulate

#: SDs (rating points, 1-7 scale) used when no pilot data is given: values of the order
#: seen in VR animation rating studies (participant 0.6, participant x method 0.3, clip
#: 0.3, residual 1.0), the same as analysis.simulate_study's latent model.
DEFAULT_SD = {"participant": 0.6, "participant:method": 0.3, "clip": 0.3, "residual": 1.0}


def parse_effects(specs: Sequence[str], design: Design) -> dict[str, dict]:
    """``["method=0.5", "emotion=happy:0.3,neutral:0"]`` -> factor -> {level: shift}.

    A single number d spreads the factor's levels evenly over d rating points (first
    level lowest; two levels: the difference is d); ``level:shift,...`` gives each level's
    shift (levels not named: 0).

    Interactions of two factors, ``"a:b=..."`` -> ``"a:b"`` -> {``"level_a,level_b"``:
    shift}, cell shifts on top of the main effects: ``method:emotion=d`` puts +d/4 on the
    cells (first a, first b) and (last a, last b) and -d/4 on (first a, last b) and (last
    a, first b), so the difference of differences between those four cells is d rating
    points (2 x 2: the whole interaction); ``method:emotion=EMAGE*happy:0.4,...`` shifts
    single cells (``*`` joins the levels).
    """
    out: dict[str, dict] = {}
    for spec in specs:
        if "=" not in spec:
            raise AnalysisError(f"effect {spec!r} is not FACTOR=SIZE",
                                "write e.g. method=0.5 or method=EMAGE:0.5,TalkSHOW:0")
        f, v = (x.strip() for x in spec.split("=", 1))
        fs = [x.strip() for x in f.split(":")]
        bad = [x for x in fs if x not in design.factors]
        if bad or len(fs) > 2:
            raise AnalysisError(f"effect on {f!r}, which is not a factor of the design",
                                f"use one of {design.factors}, or two joined by ':' "
                                "for their interaction")
        lvs = [[str(x) for x in pd.unique(design.frame[x].astype(str))] for x in fs]

        def num(x: str) -> float:
            try:
                return float(x)
            except ValueError:
                raise AnalysisError(f"effect size in {spec!r} is not a number",
                                    "give rating points, e.g. method=0.5") from None
        if len(fs) == 2:
            f = ":".join(fs)
            if ":" in v:
                shifts = {}
                for part in v.split(","):
                    name, val = part.rsplit(":", 1)
                    cell = [x.strip() for x in name.split("*")]
                    if len(cell) != 2 or cell[0] not in lvs[0] or cell[1] not in lvs[1]:
                        raise AnalysisError(
                            f"effect on unknown cell {name.strip()!r} of {f!r}",
                            f"write LEVEL*LEVEL:POINTS with levels {lvs[0]} and {lvs[1]}")
                    shifts[f"{cell[0]},{cell[1]}"] = num(val)
            else:
                d = num(v) / 4
                (a0, a1), (b0, b1) = (lvs[0][0], lvs[0][-1]), (lvs[1][0], lvs[1][-1])
                shifts = {f"{a0},{b0}": d, f"{a1},{b1}": d, f"{a0},{b1}": -d,
                          f"{a1},{b0}": -d}
            out[f] = shifts
            continue
        lv = lvs[0]
        if ":" in v:
            shifts = {}
            for part in v.split(","):
                name, val = part.rsplit(":", 1)
                if name.strip() not in lv:
                    raise AnalysisError(f"effect on unknown level {name.strip()!r} of {f!r}",
                                        f"levels are {lv}")
                shifts[name.strip()] = num(val)
        else:
            d = num(v)
            shifts = {name: d * i / (len(lv) - 1) - d / 2 for i, name in enumerate(lv)}
        out[f] = shifts
    if not out:
        raise AnalysisError("no effect given", "name at least one, e.g. --effect method=0.5")
    return out


def power(design: Design, world: World, *, n_sims: int = 500, n_mixed: int | None = 100,
          alpha: float = 0.05, seed: int = 0,
          tests: Sequence[str] = ("art", "rm_anova", "friedman", "mixed")) -> pd.DataFrame:
    """Rejection rate (power for terms with an effect) of each test and term."""
    rng = np.random.default_rng(seed)
    Y = simulate(design, world, n_sims, rng)
    t = rates_table(run_tests(design, Y, tests, alpha, n_mixed), alpha)
    return t.drop(columns=["verdict"]).rename(columns={"rate": "power"})


def clip_limited_power(design: Design, world: World, factor: str, alpha: float = 0.05
                       ) -> float:
    """Power of a test that generalises over clips with infinitely many participants.

    With participants averaged out, a term's effect is judged against the clip-to-clip
    variance: F = (variance of the clip means explained by the term) / (clip variance)
    with df (term df, clips - cells) and noncentrality sum over clips of r_c^2 / sd_clip^2,
    where r is the world's cell shifts (main effects and interactions) with the lower-order
    terms projected out, weighted by clips per cell (a main effect: its shifts centred).
    ``factor`` is a factor or an interaction ``"a:b"``. 1.0 when the world has no clip
    variance or no effect on the term.
    """
    from scipy import stats

    sd = float(world.sd.get("clip", 0.0))
    fs = factor.split(":")
    if sd <= 0 or factor not in world.effects:
        return 1.0
    clips = design.frame.drop_duplicates(design.clip).reset_index(drop=True)
    shift = np.zeros(len(clips))
    for term, sh in world.effects.items():
        cols = term.split(":")
        if not set(cols) <= set(fs):
            continue
        key = clips[cols].astype(str).agg(",".join, axis=1)
        shift += key.map({str(k): float(v) for k, v in sh.items()}).fillna(0.0).to_numpy()
    # project out the terms below ``factor`` (intercept, and main effects for "a:b")
    cols_ = [np.ones(len(clips))]
    if len(fs) > 1:
        for f in fs:
            cols_ += [(clips[f].astype(str) == lv).to_numpy(float)
                      for lv in pd.unique(clips[f].astype(str))[1:]]
    B = np.column_stack(cols_)
    r = shift - B @ np.linalg.lstsq(B, shift, rcond=None)[0]
    ncp = float((r * r).sum() / sd ** 2)
    df1 = int(np.prod([clips[f].nunique() - 1 for f in fs]))
    n_cells = int(len(clips.groupby(design.factors, observed=True)))
    df2 = len(clips) - n_cells
    if df2 <= 0:
        return 0.0
    return float(stats.ncf.sf(stats.f.isf(alpha, df1, df2), df1, df2, ncp))


def n_for_power(design: Design, world: World, test: str, term: str, *, target: float = 0.8,
                n_sims: int = 200, alpha: float = 0.05, seed: int = 0, n_max: int = 256
                ) -> int | None:
    """Smallest number of participants (>= 4) with power >= target for ``test``/``term``
    (bisection on the simulated power; the same seed at every N); None above ``n_max``
    or when clips limit the power below the target (:func:`clip_limited_power`)."""
    if test == "mixed" and clip_limited_power(design, world, term, alpha) < target:
        return None

    def pw(n: int) -> float:
        rng = np.random.default_rng(seed)
        Y = simulate(design.with_participants(n), world, n_sims, rng)
        r = run_tests(design.with_participants(n), Y, [test], alpha)
        if (test, term) not in r:
            raise AnalysisError(f"test {test!r} has no term {term!r}",
                                f"terms: {sorted(t for _, t in r)}")
        return float(np.mean(r[(test, term)]))

    lo, hi = 4, 8
    if pw(lo) >= target:
        return lo
    while pw(hi) < target:
        lo, hi = hi, hi * 2
        if hi > n_max:
            return None if pw(n_max) < target else _bisect(pw, lo, n_max, target)
    return _bisect(pw, lo, hi, target)


def _bisect(pw, lo: int, hi: int, target: float) -> int:
    """Smallest n in (lo, hi] with pw(n) >= target, given pw(lo) < target <= pw(hi)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pw(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


__all__ = ["power", "n_for_power", "parse_effects", "clip_limited_power", "DEFAULT_SD"]
