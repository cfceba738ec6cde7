"""Descriptive statistics per condition and item."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.design import check_columns


def describe(df: pd.DataFrame, dv: str, by: Sequence[str], subject: str = "participant_id"
             ) -> pd.DataFrame:
    """n, mean, SD, median, quartiles, IQR and a 95% CI of the mean per group.

    ``n`` counts responses, ``n_participants`` participants. mean/SD/median/IQR describe
    the responses; the 95% CI is a t interval over participant means (each participant's
    responses in the group averaged first), so repeated clips do not shrink it falsely.
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
                     "iqr": float(q3 - q1), "ci_low": m - half, "ci_high": m + half})
    return pd.DataFrame(rows)
