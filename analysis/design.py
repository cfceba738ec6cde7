"""Factorial design helpers: checks, sum-to-zero codings, Type III sums of squares.

These are the small pieces of linear-model machinery that ART, the repeated-measures
ANOVA and the contrasts share. Everything works on long-format pandas DataFrames with one
row per observation; factors are columns whose distinct values are the levels (sorted).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd


class AnalysisError(ValueError):
    """An analysis cannot run on this data; the message says why and what to do.

    The report catches it, records the analysis as skipped (with this message) and goes on.
    """

    def __init__(self, problem: str, fix: str = ""):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}" if fix else problem)


def levels(df: pd.DataFrame, factor: str) -> list:
    """Sorted distinct levels of a factor column (categorical order if categorical)."""
    col = df[factor]
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [c for c in col.cat.categories if (col == c).any()]
    return sorted(col.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))


def effect_terms(factors: Sequence[str]) -> list[tuple[str, ...]]:
    """All main effects and interactions of a full-factorial design, lowest order first."""
    out: list[tuple[str, ...]] = []
    for k in range(1, len(factors) + 1):
        out.extend(itertools.combinations(factors, k))
    return out


def term_name(term: Sequence[str]) -> str:
    """R-style term label: ``method:emotion``."""
    return ":".join(term)


def check_columns(df: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise AnalysisError naming any missing column."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise AnalysisError(f"column(s) {missing} not in the data (have {list(df.columns)})",
                            "pass the right column names (or map them with --columns)")


def numeric_dv(df: pd.DataFrame, dv: str) -> np.ndarray:
    """The dependent variable as float64; raises AnalysisError on non-numeric or missing."""
    y = pd.to_numeric(df[dv], errors="coerce")
    bad = y.isna() & df[dv].notna()
    if bad.any():
        examples = df.loc[bad, dv].astype(str).unique()[:3].tolist()
        raise AnalysisError(f"'{dv}' has {int(bad.sum())} non-numeric value(s), e.g. {examples}",
                            "recode them as numbers or drop those rows")
    if y.isna().any():
        raise AnalysisError(f"'{dv}' has {int(y.isna().sum())} missing value(s)",
                            "drop the rows with missing responses first")
    return y.to_numpy(dtype=float)


def check_factors(df: pd.DataFrame, factors: Sequence[str]) -> None:
    """Every factor needs at least two levels."""
    for f in factors:
        lv = levels(df, f)
        if len(lv) < 2:
            raise AnalysisError(f"factor '{f}' has a single level ({lv})",
                                "drop it from the factors or include data for more levels")


@dataclass(frozen=True)
class WithinDesign:
    """A checked repeated-measures design: which factors vary within subjects."""

    subject: str
    within: tuple[str, ...]
    between: tuple[str, ...]
    replicates: int  # observations per subject x within-cell (equal everywhere)


def participant_cell_means(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str,
                           fix: str) -> pd.DataFrame:
    """Wide table: one row per subject, one column per cell of ``factors`` (all level
    combinations, in level order; plain levels for one factor), cell = mean of ``dv``.

    Raises :class:`AnalysisError` with ``fix`` when a subject lacks a cell.
    """
    factors = list(factors)
    work = df[[subject, *factors]].copy()
    work["_y"] = numeric_dv(df, dv)
    lv = [levels(df, f) for f in factors]
    wide = work.pivot_table(index=subject, columns=factors, values="_y", aggfunc="mean", observed=False)
    cols = pd.MultiIndex.from_product(lv, names=factors) if len(factors) > 1 else lv[0]
    wide = wide.reindex(columns=cols)
    missing = wide.isna().any(axis=1)
    if missing.any():
        what = f"some level of '{factors[0]}'" if len(factors) == 1 else f"some combination of {factors}"
        raise AnalysisError(
            f"empty cells: {int(missing.sum())} participant(s) (e.g. "
            f"{missing[missing].index[:3].tolist()}) have no data for {what}", fix)
    return wide


def check_within_design(df: pd.DataFrame, factors: Sequence[str], subject: str) -> WithinDesign:
    """Classify factors as within/between subjects and check the design is complete.

    Complete means: every subject has every combination of its within factors, each with
    the same number of observations (replicates, e.g. two clips per condition), and every
    between-subjects cell has at least one subject with the same count.
    """
    check_columns(df, [*factors, subject])
    if len(factors) == 0:
        raise AnalysisError("no factors given", "name at least one factor")
    check_factors(df, factors)
    within, between = [], []
    for f in factors:
        per_subject = df.groupby(subject, observed=True)[f].nunique()
        if (per_subject == 1).all():
            between.append(f)
        else:
            within.append(f)
    counts = df.groupby([subject, *factors], observed=True).size()
    n_cells_expected = int(np.prod([len(levels(df, f)) for f in within])) if within else 1
    per_subj_cells = counts.groupby(level=0).size()
    if (per_subj_cells != n_cells_expected).any():
        bad = per_subj_cells[per_subj_cells != n_cells_expected].index[:3].tolist()
        raise AnalysisError(
            f"empty cells: subject(s) {bad} lack some combination of {within}",
            "this analysis needs complete repeated-measures data; drop incomplete "
            "participants or use the mixed model (analysis.mixedlm), which allows gaps")
    if counts.nunique() != 1:
        raise AnalysisError(
            f"unbalanced data: cells have between {counts.min()} and {counts.max()} "
            "observations per subject",
            "average replicates per subject and cell first, or use the mixed model "
            "(analysis.mixedlm), which allows unbalanced data")
    if between:
        cells = df.groupby(between, observed=True)[subject].nunique()
        full = int(np.prod([len(levels(df, f)) for f in between]))
        if len(cells) != full:
            raise AnalysisError(f"empty between-subjects cells for {between}",
                                "every combination of between factors needs participants")
    return WithinDesign(subject, tuple(within), tuple(between), int(counts.iloc[0]))


def sum_coding(codes: np.ndarray, n_levels: int) -> np.ndarray:
    """Sum-to-zero (R's contr.sum) coding of integer level codes -> (N, n_levels-1)."""
    X = np.zeros((len(codes), n_levels - 1))
    for j in range(n_levels - 1):
        X[:, j] = (codes == j).astype(float)
    X[codes == n_levels - 1, :] = -1.0
    return X


def term_matrix(codes: dict[str, np.ndarray], n_levels: dict[str, int],
                term: Sequence[str]) -> np.ndarray:
    """Columns of a (possibly interaction) term under sum-to-zero coding."""
    X = np.ones((len(next(iter(codes.values()))), 1))
    for f in term:
        C = sum_coding(codes[f], n_levels[f])
        X = (X[:, :, None] * C[:, None, :]).reshape(len(X), -1)
    return X


def factor_codes(df: pd.DataFrame, factors: Sequence[str]) -> tuple[dict, dict]:
    """Integer codes (by sorted level) and level counts for each factor."""
    codes, nl = {}, {}
    for f in factors:
        lv = levels(df, f)
        mapping = {v: i for i, v in enumerate(lv)}
        codes[f] = df[f].map(mapping).to_numpy()
        nl[f] = len(lv)
    return codes, nl


def rss(X: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Residual sum of squares and rank of a least-squares fit of y on X."""
    if X.shape[1] == 0:
        return float(y @ y), 0
    beta, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ beta
    return float(r @ r), int(rank)


def type3_ftests(y: np.ndarray, blocks: dict[tuple[str, ...], np.ndarray],
                 base: np.ndarray | None = None, resid_df_offset: int = 0
                 ) -> dict[tuple[str, ...], tuple[float, int, float, int]]:
    """Type III F tests: each term's SS = RSS(model without it) - RSS(full model).

    ``blocks`` maps term -> its sum-coded columns; ``base`` holds always-present columns
    (intercept). ``resid_df_offset`` is subtracted from the residual df (used when y and
    the columns were demeaned within subjects, which removes one df per subject).
    Returns term -> (SS, df1, SS_resid, df_resid).
    """
    n = len(y)
    parts = [base] if base is not None else []
    X_full = np.hstack(parts + list(blocks.values())) if (parts or blocks) else np.zeros((n, 0))
    rss_full, rank_full = rss(X_full, y)
    df_res = n - rank_full - resid_df_offset
    out = {}
    for term in blocks:
        others = [b for t, b in blocks.items() if t != term]
        X_red = np.hstack(parts + others) if (parts or others) else np.zeros((n, 0))
        rss_red, rank_red = rss(X_red, y)
        out[term] = (rss_red - rss_full, rank_full - rank_red, rss_full, df_res)
    return out
