"""Friedman test with Kendall's W, and pairwise Wilcoxon signed-rank tests (Holm).

Both work on participant means: every participant's responses are averaged per level of
the factor (over the other factors and replicates), so each participant contributes one
value per level, as in the GENEA-style analyses.

* Friedman: ``friedman.test(y ~ factor | subject)`` in R (tie-corrected chi-square);
  Kendall's W = chi2 / (N (k - 1)).
* Wilcoxon: ``wilcox.test(x, y, paired = TRUE, exact = FALSE, correct = TRUE)``: zero
  differences dropped, average ranks, normal approximation with tie and continuity
  correction. V = sum of positive ranks (level1 - level2). Effect sizes: the matched-pairs
  rank-biserial correlation (W+ - W-) / (W+ + W-) and r = z / sqrt(n) with n the number of
  non-zero pairs.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from analysis.multiplicity import adjust_p
from analysis.design import AnalysisError, check_columns, levels, participant_cell_means


def subject_level_means(df: pd.DataFrame, dv: str, factor: str, subject: str) -> pd.DataFrame:
    """Wide table: one row per subject, one column per level, cell = mean response."""
    check_columns(df, [dv, factor, subject])
    lv = levels(df, factor)
    if len(lv) < 2:
        raise AnalysisError(f"factor '{factor}' has a single level ({lv})",
                            "nonparametric comparisons need at least two levels")
    return participant_cell_means(df, dv, [factor], subject, "drop incomplete participants for this test")


def friedman(df: pd.DataFrame, dv: str, factor: str, subject: str) -> pd.DataFrame:
    """Friedman rank-sum test of one within factor; one row with Kendall's W."""
    wide = subject_level_means(df, dv, factor, subject)
    X = wide.to_numpy()
    n, k = X.shape
    if n < 2:
        raise AnalysisError("fewer than two participants", "collect more data")
    if np.ptp(X) == 0:
        raise AnalysisError(f"all values of '{dv}' are equal", "there is nothing to test")
    chi2, p = friedman_arrays(X)
    return pd.DataFrame([{"factor": factor, "chi2": float(chi2), "df": k - 1,
                          "p": float(p), "n": n, "k": k,
                          "kendall_w": float(chi2 / (n * (k - 1)))}])


def wilcoxon_signed_rank(x: np.ndarray, y: np.ndarray) -> dict:
    """Paired Wilcoxon signed-rank test of x - y (normal approx., tie + continuity corr.)."""
    d = np.asarray(x, float) - np.asarray(y, float)
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return {"n": 0, "V": 0.0, "W_minus": 0.0, "z": np.nan, "p": 1.0,
                "rank_biserial": 0.0, "r": np.nan}
    r = stats.rankdata(np.abs(d))
    v = float(r[d > 0].sum())
    wm = float(r[d < 0].sum())
    mean = n * (n + 1) / 4
    _, t = np.unique(r, return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - (t ** 3 - t).sum() / 48
    z = (v - mean - np.sign(v - mean) * 0.5) / np.sqrt(var) if var > 0 else np.nan
    p = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else 1.0
    return {"n": n, "V": v, "W_minus": wm, "z": float(z), "p": min(p, 1.0),
            "rank_biserial": (v - wm) / (v + wm), "r": float(z / np.sqrt(n))}


def wilcoxon_pairwise(df: pd.DataFrame, dv: str, factor: str, subject: str,
                      adjust: str = "holm") -> pd.DataFrame:
    """All pairs of levels of a within factor: Wilcoxon signed-rank on participant means.

    Returns columns ``level1, level2, n, V, W_minus, z, p_unadjusted, p, rank_biserial, r,
    median_diff`` (``median_diff`` = median of level1 - level2 over participants).
    """
    wide = subject_level_means(df, dv, factor, subject)
    rows = []
    for a, b in itertools.combinations(wide.columns, 2):
        res = wilcoxon_signed_rank(wide[a].to_numpy(), wide[b].to_numpy())
        rows.append({"level1": a, "level2": b, "n": res["n"], "V": res["V"],
                     "W_minus": res["W_minus"], "z": res["z"], "p_unadjusted": res["p"],
                     "rank_biserial": res["rank_biserial"], "r": res["r"],
                     "median_diff": float(np.median(wide[a] - wide[b]))})
    out = pd.DataFrame(rows)
    out["p"] = adjust_p(out["p_unadjusted"].to_numpy(), adjust)
    cols = ["level1", "level2", "n", "V", "W_minus", "z", "p_unadjusted", "p",
            "rank_biserial", "r", "median_diff"]
    return out[cols]


def friedman_arrays(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Friedman chi-square and p of many data sets at once.

    Args:
        X: (..., n, k) participant x level means.

    Returns:
        (chi2, p) of shape ``X.shape[:-2]``, equal to :func:`friedman` (tie-corrected).
    """
    X = np.asarray(X, dtype=float)
    n, k = X.shape[-2:]
    R = stats.rankdata(X, axis=-1)
    # tie correction: sum over rows of sum(t^3 - t) over tie groups, from sorted ranks
    Xs = np.sort(X, axis=-1)
    same = np.concatenate([np.zeros(Xs.shape[:-1] + (1,), bool),
                           Xs[..., 1:] == Xs[..., :-1]], axis=-1)
    # run lengths: for each element, size of its tie group counted once at the group end
    run = np.zeros(Xs.shape[:-1], dtype=float)
    ties = np.zeros(X.shape[:-2], dtype=float)
    for j in range(k):
        run = np.where(same[..., j], run + 1, 1.0)
        end = np.ones_like(run, dtype=bool) if j == k - 1 else ~same[..., j + 1]
        ties = ties + np.where(end, run ** 3 - run, 0.0).sum(axis=-1)
    Rj = R.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = 12 * ((Rj - n * (k + 1) / 2) ** 2).sum(axis=-1) / (
            n * k * (k + 1) - ties / (k - 1))
    return chi2, stats.chi2.sf(chi2, k - 1)
