"""Repeated-measures ANOVA on cell means with Greenhouse-Geisser correction.

Matches R's ``afex::aov_ez(id, dv, data, within=...)`` (univariate tests, Type III) with
``anova_table = list(es = c("pes", "ges"), correction = "GG")``: replicates (e.g. the clips
of a condition) are first averaged per subject and cell, each effect is tested against its
own effect x subject error term, epsilon is Greenhouse-Geisser's estimate from the
covariance of the effect's orthonormal contrasts, and both partial and generalized eta
squared (Olejnik & Algina 2003; all factors manipulated) are reported. Mauchly's test of
sphericity is given for effects with more than one df.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import linalg, stats

from analysis.strata import orthonormal_contrasts, stratum_basis
from analysis.design import (AnalysisError, check_columns, check_factors, effect_terms,
                             levels, participant_cell_means, term_name)


def cell_means(df: pd.DataFrame, dv: str, within: Sequence[str], subject: str
               ) -> tuple[np.ndarray, list[list]]:
    """Subject x cell matrix of means (cells in C order of ``within`` levels)."""
    check_columns(df, [dv, subject, *within])
    check_factors(df, within)
    lv = [levels(df, f) for f in within]
    wide = participant_cell_means(df, dv, within, subject,
                                  "drop incomplete participants or use the mixed model (analysis.mixedlm)")
    if len(wide) < 2:
        raise AnalysisError("fewer than two participants", "collect more data")
    return wide.to_numpy(dtype=float), lv


def rm_anova(df: pd.DataFrame, dv: str, within: Sequence[str], subject: str) -> pd.DataFrame:
    """Univariate repeated-measures ANOVA, one row per effect.

    Returns columns ``term, F, df1, df2, p, eps_gg, df1_gg, df2_gg, p_gg, partial_eta2,
    ges, mauchly_W, mauchly_p, SS, SS_error``. For one-df effects epsilon is 1 and
    Mauchly's test is not defined (NaN).
    """
    within = list(within)
    Y, lv = cell_means(df, dv, within, subject)
    if np.ptp(Y) == 0:
        raise AnalysisError(f"all values of '{dv}' are equal", "there is nothing to test")
    n = Y.shape[0]
    k_levels = [len(v) for v in lv]
    ss_subjects = Y.shape[1] * float(((Y.mean(axis=1) - Y.mean()) ** 2).sum())
    rows, ss_err_total = [], 0.0
    # sums of squares at rounding level (e.g. ratings identical across a factor) are zero
    tiny = 1e-12 * float(((Y - Y.mean()) ** 2).sum())
    for term in effect_terms(within):
        mats = []
        for f, k in zip(within, k_levels):
            mats.append(orthonormal_contrasts(k) if f in term
                        else np.ones((k, 1)) / np.sqrt(k))
        C = mats[0]
        for M in mats[1:]:
            C = np.kron(C, M)
        Z = Y @ C
        m = Z.mean(axis=0)
        D = Z - m
        ss = n * float(m @ m)
        ss_err = float((D ** 2).sum())
        ss, ss_err = (0.0 if ss <= tiny else ss), (0.0 if ss_err <= tiny else ss_err)
        ss_err_total += ss_err
        p_ = C.shape[1]
        df1, df2 = p_, p_ * (n - 1)
        # no variation at all (identical ratings): the test is undefined, not infinite
        F = (ss / df1) / (ss_err / df2) if ss_err > 0 else (np.inf if ss > 0 else np.nan)
        S = D.T @ D / (n - 1)
        if p_ > 1 and ss_err > 0:
            eps = float(np.trace(S) ** 2 / (p_ * np.trace(S @ S)))
            W, mp = _mauchly(S, n)
        else:
            eps, W, mp = 1.0, np.nan, np.nan
        rows.append({"term": term_name(term), "F": F, "df1": df1, "df2": df2,
                     "p": float(stats.f.sf(F, df1, df2)),
                     "eps_gg": eps, "df1_gg": df1 * eps, "df2_gg": df2 * eps,
                     "p_gg": float(stats.f.sf(F, df1 * eps, df2 * eps)),
                     "partial_eta2": ss / (ss + ss_err) if ss + ss_err > 0 else np.nan, "SS": ss, "SS_error": ss_err,
                     "mauchly_W": W, "mauchly_p": mp})
    out = pd.DataFrame(rows)
    out["ges"] = out["SS"] / (out["SS"] + ss_subjects + ss_err_total)
    cols = ["term", "F", "df1", "df2", "p", "eps_gg", "df1_gg", "df2_gg", "p_gg",
            "partial_eta2", "ges", "mauchly_W", "mauchly_p", "SS", "SS_error"]
    return out[cols]


def _mauchly(S: np.ndarray, n: int) -> tuple[float, float]:
    """Mauchly's W and its chi-square p value for an orthonormal-contrast covariance S."""
    p = S.shape[0]
    tr = np.trace(S)
    det = float(linalg.det(S))
    if tr <= 0:
        return np.nan, np.nan
    W = det / (tr / p) ** p
    if W <= 0:
        return float(max(W, 0.0)), 0.0
    df = n - 1
    rho = 1 - (2 * p * p + p + 2) / (6 * p * df)
    # second-order term of the chi-square approximation (as R's mauchly.test)
    w2 = ((p + 2) * (p - 1) * (p - 2) * (2 * p ** 3 + 6 * p * p + 3 * p + 2)
          / (288 * (df * p * rho) ** 2))
    z = -df * rho * np.log(W)
    f = p * (p + 1) / 2 - 1
    pr1, pr2 = stats.chi2.sf(z, f), stats.chi2.sf(z, f + 4)
    return float(W), float(pr1 + w2 * (pr2 - pr1))


def rm_anova_arrays(Y: np.ndarray, within: Sequence[str], k_within: Sequence[int]
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Greenhouse-Geisser RM-ANOVA of many data sets at once.

    Args:
        Y: (..., n, c) participant x cell means (C order of the within factors' levels).

    Returns:
        term -> (F, p_gg) arrays of shape ``Y.shape[:-2]``; equal to :func:`rm_anova`'s
        ``F`` and ``p_gg`` on the same cell means.
    """
    Y = np.asarray(Y, dtype=float)
    n = Y.shape[-2]
    out = {}
    for term in effect_terms(list(within)):
        idx = tuple(i for i, f in enumerate(within) if f in term)
        Z = Y @ stratum_basis(k_within, idx)                     # (..., n, p)
        m = Z.mean(axis=-2)
        D = Z - m[..., None, :]
        p_ = Z.shape[-1]
        ss = n * (m ** 2).sum(axis=-1)
        ss_err = (D ** 2).sum(axis=(-2, -1))
        with np.errstate(divide="ignore", invalid="ignore"):
            F = (ss / p_) / (ss_err / (p_ * (n - 1)))
            if p_ > 1:
                S = np.swapaxes(D, -1, -2) @ D
                tr = np.trace(S, axis1=-2, axis2=-1)
                eps = tr ** 2 / (p_ * (S * np.swapaxes(S, -1, -2)).sum(axis=(-2, -1)))
            else:
                eps = np.ones_like(F)
        p = stats.f.sf(F, p_ * eps, p_ * (n - 1) * eps)
        out[term_name(term)] = (F, p)
    return out
