"""Descriptive statistics per condition and item."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.design import check_columns


def describe(df: pd.DataFrame, dv: str, by: Sequence[str], subject: str = "participant_id",
             bounds: tuple[float, float] | None = None) -> pd.DataFrame:
    """n, mean, SD, median, quartiles, IQR and a 95% CI of the mean per group.

    ``n`` counts responses, ``n_participants`` participants. mean/SD/median/IQR describe
    the responses; the 95% CI is a t interval over participant means (each participant's
    responses in the group averaged first), so repeated clips do not shrink it falsely;
    ``participant_mean`` is its centre. With ``bounds`` (the rating scale's min, max) the
    interval is clipped to the scale, since a mean rating cannot leave it; ``ci_clipped``
    says where that happened (the t interval itself ignores the bounds).
    """
    check_columns(df, [dv, subject, *by])
    w = df[[subject, *by]].copy()
    w["_y"] = pd.to_numeric(df[dv], errors="coerce")
    w = w.dropna(subset=["_y"])
    rows = []
    for key, g in w.groupby(list(by), observed=True, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        y = g["_y"].to_numpy()
        pm = g.groupby(subject, observed=True)["_y"].mean().to_numpy()
        q1, med, q3 = np.percentile(y, [25, 50, 75])
        m = float(pm.mean())
        if len(pm) > 1:
            half = stats.t.ppf(0.975, len(pm) - 1) * pm.std(ddof=1) / np.sqrt(len(pm))
        else:
            half = np.nan
        rows.append({**dict(zip(by, key)), "n": len(y), "n_participants": len(pm),
                     "mean": float(y.mean()), "sd": float(y.std(ddof=1)) if len(y) > 1 else np.nan,
                     "median": float(med), "q1": float(q1), "q3": float(q3),
                     "iqr": float(q3 - q1), "participant_mean": m,
                     "ci_low": m - half, "ci_high": m + half})
    out = pd.DataFrame(rows)
    if bounds is not None and len(out):
        lo, hi = bounds
        clipped = (out["ci_low"] < lo) | (out["ci_high"] > hi)
        out["ci_low"] = out["ci_low"].clip(lower=lo)
        out["ci_high"] = out["ci_high"].clip(upper=hi)
        out["ci_clipped"] = clipped
    return out


def scale_bounds(df: pd.DataFrame) -> tuple[float, float] | None:
    """(min, max) of the rating scale from ``scale_min``/``scale_max`` (None if unknown)."""
    if not {"scale_min", "scale_max"} <= set(df.columns):
        return None
    lo = pd.to_numeric(df["scale_min"], errors="coerce").min()
    hi = pd.to_numeric(df["scale_max"], errors="coerce").max()
    return (float(lo), float(hi)) if np.isfinite(lo) and np.isfinite(hi) and hi > lo else None


#: below this many participants the report warns that results are preliminary
SMALL_N = 12


def small_n_warning(n_participants: int) -> str | None:
    """The report's warning for a small sample (None when n >= :data:`SMALL_N`)."""
    if n_participants >= SMALL_N:
        return None
    return (f"only {n_participants} participants (fewer than {SMALL_N}): power is low, effect "
            "sizes and variance components are imprecise, and asymptotic tests (chi-square, z, "
            "GEE robust SEs) are anti-conservative; treat the results as preliminary and rely "
            "on the small-sample F tests")


def ci_caption(bounds: tuple[float, float] | None) -> str:
    """What the report says about its confidence intervals."""
    if bounds is None:
        return " (95% CI: t interval over participant means; scale bounds unknown, not clipped)"
    return (f" (95% CI: t interval over participant means, clipped to the scale "
            f"{bounds[0]:g}..{bounds[1]:g}; ci_clipped marks where)")
