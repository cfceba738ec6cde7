"""Error strata of a repeated-measures (split-plot) design on participant x cell means.

A study in which every participant rates every within-subjects cell (method x emotion),
possibly several clips per cell, is analysed on the participant x cell table of means.
Each effect is then tested against its own error stratum, as R's
``aov(y ~ A*B + Error(S/(A*B)))`` does for one observation per participant and cell: an
effect whose within-subjects part is W (e.g. ``method`` or ``group:method``) is tested
against the participant x W interaction (``S:W``), pure between-subjects effects against
the participants (``S``).

Everything here works on arrays with any leading axes (``(..., n, c)``: n participants, c
within cells in C order of the within factors' levels), so the calibration can test
thousands of simulated data sets in one call.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.design import (AnalysisError, check_columns, check_factors, effect_terms,
                             factor_codes, levels, numeric_dv, term_matrix, term_name)


def orthonormal_contrasts(k: int) -> np.ndarray:
    """(k, k-1) orthonormal contrasts orthogonal to the constant (Helmert, normalised)."""
    C = np.zeros((k, k - 1))
    for j in range(1, k):
        C[:j, j - 1] = 1.0
        C[j, j - 1] = -float(j)
    return C / np.linalg.norm(C, axis=0)


def stratum_basis(k_within: Sequence[int], w: Sequence[int]) -> np.ndarray:
    """(c, d_W) orthonormal basis of the within effect W (indices into the within factors).

    Kronecker product of orthonormal contrasts for the factors in W and the normalised
    constant for the others; W empty gives the (c, 1) constant (the participant stratum).
    """
    B = np.ones((1, 1))
    for i, k in enumerate(k_within):
        M = orthonormal_contrasts(k) if i in w else np.ones((k, 1)) / np.sqrt(k)
        B = np.kron(B, M)
    return B


@dataclass
class CellMeans:
    """The participant x within-cell table of means of one response.

    ``Y[i, j]`` is participant ``subjects[i]``'s mean over their observations in within
    cell j (cells in C order of ``within_levels``); ``counts[i, j]`` how many observations
    (e.g. clips) that mean averages. ``between`` holds each participant's between-subjects
    factor levels (one row per participant, same order).
    """

    Y: np.ndarray
    counts: np.ndarray
    subjects: list
    subject: str
    within: list[str]
    within_levels: list[list]
    between: pd.DataFrame
    factors: list[str]

    @property
    def k_within(self) -> list[int]:
        return [len(v) for v in self.within_levels]

    def long(self, values: np.ndarray | None = None) -> pd.DataFrame:
        """One row per participant x within cell: subject, factors, ``y`` (or ``values``)."""
        combos = list(itertools.product(*self.within_levels)) if self.within else [()]
        n, c = len(self.subjects), len(combos)
        out = pd.DataFrame({self.subject: np.repeat(np.array(self.subjects, dtype=object), c)})
        for j, f in enumerate(self.within):
            out[f] = np.tile(np.array([cb[j] for cb in combos], dtype=object), n)
        for f in self.between.columns:
            out[f] = np.repeat(self.between[f].to_numpy(), c)
        out["y"] = (self.Y if values is None else values).reshape(-1)
        return out

    def fewer_replicates(self) -> pd.DataFrame:
        """Cells where some participant has fewer observations than the most any has.

        Columns: the within factors, ``min``, ``max`` (observations per participant), and
        ``participants_with_fewer``. Empty when every participant x cell mean averages the
        same number of observations.
        """
        combos = list(itertools.product(*self.within_levels)) if self.within else [()]
        top = int(self.counts.max())
        rows = []
        for j, cb in enumerate(combos):
            col = self.counts[:, j]
            if col.min() < top:
                rows.append({**dict(zip(self.within, cb)), "min": int(col.min()),
                             "max": int(col.max()),
                             "participants_with_fewer": int((col < top).sum())})
        return pd.DataFrame(rows, columns=[*self.within, "min", "max",
                                           "participants_with_fewer"])


def split_factors(df: pd.DataFrame, factors: Sequence[str], subject: str
                  ) -> tuple[list[str], list[str]]:
    """Classify factors as within (varies inside some participant) or between subjects."""
    within, between = [], []
    for f in factors:
        per_subject = df.groupby(subject, observed=True)[f].nunique()
        (between if (per_subject == 1).all() else within).append(f)
    return within, between


def cell_means(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str,
               fix: str = "drop incomplete participants, or use the mixed model "
                          "(analysis.study_model), which allows gaps") -> CellMeans:
    """Average replicates to participant x cell means (replicate counts may differ).

    Raises :class:`AnalysisError` when a column is missing, a factor has one level, the
    response is not numeric, a participant lacks a within cell, or a between-subjects cell
    is empty.
    """
    factors = list(factors)
    if not factors:
        raise AnalysisError("no factors given", "name at least one factor")
    check_columns(df, [dv, subject, *factors])
    check_factors(df, factors)
    y = numeric_dv(df, dv)
    within, between = split_factors(df, factors, subject)
    subjects = list(pd.unique(df[subject]))
    wl = [levels(df, f) for f in within]
    work = df[[subject, *factors]].copy()
    work["_y"] = y
    if within:
        g = work.groupby([subject, *within], observed=True)["_y"]
        cols = pd.MultiIndex.from_product(wl, names=within) if len(within) > 1 else wl[0]
        mean = g.mean().unstack(within).reindex(index=subjects, columns=cols)
        cnt = g.size().unstack(within).reindex(index=subjects, columns=cols)
    else:
        g = work.groupby(subject, observed=True)["_y"]
        mean = g.mean().reindex(subjects).to_frame()
        cnt = g.size().reindex(subjects).to_frame()
    missing = mean.isna().any(axis=1)
    if missing.any():
        raise AnalysisError(
            f"empty cells: {int(missing.sum())} participant(s) (e.g. "
            f"{missing[missing].index[:3].tolist()}) have no data for some combination of "
            f"{within}", fix)
    if len(subjects) < 2:
        raise AnalysisError("fewer than two participants", "collect more data")
    btab = work.groupby(subject, observed=True)[between].first().reindex(subjects) \
        if between else pd.DataFrame(index=subjects)
    if between:
        full = int(np.prod([len(levels(df, f)) for f in between]))
        if len(btab.drop_duplicates()) != full:
            raise AnalysisError(f"empty between-subjects cells for {between}",
                                "every combination of between factors needs participants")
    return CellMeans(mean.to_numpy(dtype=float), cnt.to_numpy(dtype=int), subjects, subject,
                     within, wl, btab.reset_index(drop=True), factors)


def _projection(X: np.ndarray) -> tuple[np.ndarray, int]:
    """Hat matrix of the column space of X and its rank."""
    if X.shape[1] == 0:
        return np.zeros((X.shape[0], X.shape[0])), 0
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    r = int((s > s.max() * 1e-10).sum())
    U = U[:, :r]
    return U @ U.T, r


@dataclass
class StratumTest:
    """One effect's F test in its error stratum; arrays over the leading axes."""

    term: str
    error: str
    SS: np.ndarray
    SS_error: np.ndarray
    df1: int
    df2: int

    @property
    def F(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            F = (self.SS / self.df1) / (self.SS_error / self.df2)
        F = np.where(self.SS_error <= 1e-12 * np.maximum(np.abs(self.SS), 1.0),
                     np.where(self.SS > 1e-12, np.inf, np.nan), F)
        return F

    @property
    def p(self) -> np.ndarray:
        F = self.F
        with np.errstate(invalid="ignore"):
            p = stats.f.sf(F, self.df1, self.df2)
        return np.where(np.isposinf(F), 0.0, p)


def stratum_tests(R: np.ndarray, cm: CellMeans | None = None, *,
                  k_within: Sequence[int] | None = None, within: Sequence[str] | None = None,
                  subject: str = "participant", between: pd.DataFrame | None = None,
                  factors: Sequence[str] | None = None, only: str | None = None
                  ) -> list[StratumTest]:
    """F test of every effect against its own error stratum (``Error(S/(W1*W2...))``).

    Args:
        R: (..., n, c) participant x within-cell values (e.g. aligned ranks of cell means).
        cm: the :class:`CellMeans` giving the design (or pass k_within, within, subject,
            between yourself).
        factors: order of the factors for term names and order (default: within, then
            between).
        only: compute just this term (name as ``"method:emotion"``).

    Returns:
        one :class:`StratumTest` per effect, in :func:`effect_terms` order of the factors.
    """
    if cm is not None:
        k_within, within, subject, between = cm.k_within, cm.within, cm.subject, cm.between
        factors = cm.factors
    within = list(within or [])
    k_within = list(k_within or [])
    n = R.shape[-2]
    between = between if between is not None else pd.DataFrame(index=range(n))
    bfac = list(between.columns)
    codes, nl = factor_codes(between, bfac) if bfac else ({}, {})
    bblocks = {t: term_matrix(codes, nl, t) for t in effect_terms(bfac)} if bfac else {}
    X_full = np.hstack([np.ones((n, 1)), *bblocks.values()])
    H_full, rank_full = _projection(X_full)
    resid = np.eye(n) - H_full
    # reduced fits: drop the intercept (the within effect itself) or one between term
    reduced = {(): _projection(np.hstack(list(bblocks.values())) if bblocks
                               else np.zeros((n, 0)))}
    for t in bblocks:
        reduced[t] = _projection(np.hstack([np.ones((n, 1)), *[b for u, b in bblocks.items()
                                                                if u != t]]))
    df_err_per = n - rank_full
    if df_err_per <= 0:
        raise AnalysisError("no residual degrees of freedom left for the F test",
                            "collect more participants or fewer factor levels")
    factors = list(factors) if factors is not None else [*within, *bfac]
    order = {f: i for i, f in enumerate(factors)}
    out = []
    for w in [()] + [tuple(x) for x in effect_terms(list(range(len(within))))]:
        label = subject if not w else f"{subject}:" + ":".join(within[i] for i in w)
        candidates = ([((), reduced[()])] if w else []) + [(t, reduced[t]) for t in bblocks]
        named = [(term_name(sorted([*(within[i] for i in w), *bt], key=order.get)), bt, hr)
                 for bt, hr in candidates]
        named = [x for x in named if only is None or x[0] == only]
        if not named:
            continue
        B = stratum_basis(k_within, w)
        Z = R @ B                                   # (..., n, d_W)
        dW = B.shape[1]
        ss_err = np.einsum("...ij,ik,...kj->...", Z, resid, Z)
        for names, bterm, (H_red, rank_red) in named:
            D = H_full - H_red
            ss = np.einsum("...ij,ik,...kj->...", Z, D, Z)
            out.append(StratumTest(names, label, ss, ss_err,
                                   dW * (rank_full - rank_red), dW * df_err_per))
    rank_of = {term_name(t): i for i, t in enumerate(effect_terms(factors))}
    return sorted(out, key=lambda s: rank_of[s.term])


__all__ = ["CellMeans", "cell_means", "split_factors", "stratum_tests", "StratumTest",
           "orthonormal_contrasts", "stratum_basis"]
