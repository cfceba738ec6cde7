"""Objective vs perceptual: rank correlations of per-clip metrics with mean ratings.

As in GENEA 2022: each clip's mean rating (over participants) is correlated with each
objective metric of that clip (beat consistency, L1 diversity, jerk, ...). Spearman's rho
with the t approximation and Kendall's tau-b with the normal approximation (R's
``cor.test(..., exact = FALSE)``); Holm-adjusted over the metrics of one item.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.multiplicity import adjust_p
from analysis.design import AnalysisError, check_columns

#: metric columns of the generators' per-clip metrics CSV that we correlate by default
DEFAULT_METRICS = ("bc", "l1div", "jerk_mean", "accel_mean", "face_mse", "face_lvd")


def clip_means(ratings: pd.DataFrame, dv: str = "value_scored", clip: str = "clip_id",
               item: str = "item") -> pd.DataFrame:
    """Mean rating per clip and item: columns ``clip_id, item, mean_rating, n``."""
    check_columns(ratings, [dv, clip, item])
    w = ratings[[clip, item]].copy()
    w["_y"] = pd.to_numeric(ratings[dv], errors="coerce")
    g = w.dropna().groupby([clip, item], observed=True)["_y"]
    out = g.agg(["mean", "size"]).reset_index()
    return out.rename(columns={clip: "clip_id", "mean": "mean_rating", "size": "n"})


def objective_correlations(ratings: pd.DataFrame, metrics: pd.DataFrame,
                           metric_columns: Sequence[str] | None = None,
                           dv: str = "value_scored") -> pd.DataFrame:
    """Spearman and Kendall correlations of metric vs mean rating, per item and metric.

    Returns columns ``item, metric, n_clips, rho, rho_p, tau, tau_p, rho_p_holm``.
    """
    check_columns(metrics, ["clip_id"])
    cm = clip_means(ratings, dv)
    cols = [c for c in (metric_columns or DEFAULT_METRICS) if c in metrics.columns]
    if not cols:
        wanted = list(metric_columns or DEFAULT_METRICS)
        raise AnalysisError(f"the metrics table has none of {wanted}",
                            "pass a metrics CSV from 'vr-study metrics'")
    met = metrics.groupby("clip_id", as_index=False)[cols].mean(numeric_only=True)
    joined = cm.merge(met, on="clip_id", how="inner")
    if joined.empty:
        raise AnalysisError("no clip_id in the metrics matches a rated clip",
                            "check that the metrics CSV covers the study's clips")
    rows = []
    for item, g in joined.groupby("item", observed=True):
        part = []
        for m in cols:
            sub = g[["mean_rating", m]].dropna()
            n = len(sub)
            if n < 4 or sub[m].nunique() < 2 or sub["mean_rating"].nunique() < 2:
                part.append({"item": item, "metric": m, "n_clips": n, "rho": np.nan,
                             "rho_p": np.nan, "tau": np.nan, "tau_p": np.nan})
                continue
            rho, rp = stats.spearmanr(sub["mean_rating"], sub[m])
            tau, tp = stats.kendalltau(sub["mean_rating"], sub[m], method="asymptotic")
            part.append({"item": item, "metric": m, "n_clips": n, "rho": float(rho),
                         "rho_p": float(rp), "tau": float(tau), "tau_p": float(tp)})
        p = pd.DataFrame(part)
        p["rho_p_holm"] = adjust_p(p["rho_p"].to_numpy(), "holm")
        rows.append(p)
    return pd.concat(rows, ignore_index=True)
