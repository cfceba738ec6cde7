"""Aligned Rank Transform ANOVA (ARTool's algorithm) and ART-C contrasts.

Matches R's ``ARTool``: ``anova(art(y ~ A*B + Error(S)))`` for repeated-measures designs,
i.e. for each effect the response is aligned (cell residual + estimated effect), ranked
(average ties, after rounding to 8 decimals), the full-factorial model with sum-to-zero
contrasts is fitted to the ranks in the error stratum of that effect, and only that
effect's F test is kept:

* effects that involve a within-subjects factor are tested in the within-subjects stratum
  (residual = ranks minus subject means, minus the fitted within-subject effects);
* effects of between-subjects factors only are tested against subject means.

For balanced data these F tests equal those of ``art(y ~ A*B + (1|S))`` with
Kenward-Roger degrees of freedom. ART-C contrasts (Elkin et al., UIST 2021) follow
``art.con(m, "A:B", adjust="holm")``: the factors of the term are merged into one factor,
re-aligned and ranked for it, and pairs of levels are compared with t tests on the ranks
(within-stratum residual df), p values adjusted (Holm by default).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.design import (AnalysisError, WithinDesign, check_columns,
                             check_within_design, effect_terms, factor_codes, levels, numeric_dv,
                             term_matrix, term_name, type3_ftests)
from analysis.multiplicity import adjust_p

#: ARTool's rank.comparison.digits default: -floor(log10(sqrt(.Machine$double.eps))) = 8.
RANK_DIGITS = 8


def _group_mean(codes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean of y within each group code, broadcast back to rows."""
    sums = np.bincount(codes, weights=y)
    counts = np.bincount(codes)
    return (sums / counts)[codes]


def _combined_codes(codes: dict[str, np.ndarray], nl: dict[str, int],
                    term: Sequence[str]) -> np.ndarray:
    """One integer code per combination of the term's factor levels."""
    c = np.zeros(len(next(iter(codes.values()))), dtype=np.int64)
    for f in term:
        c = c * nl[f] + codes[f]
    return c


def align(y: np.ndarray, codes: dict[str, np.ndarray], nl: dict[str, int],
          factors: Sequence[str], effect: Sequence[str]) -> np.ndarray:
    """ART alignment of y for one effect.

    aligned = y - mean(full cell) + sum over subsets S of effect (-1)^(|E|-|S|) mean_S.
    """
    residual = y - _group_mean(_combined_codes(codes, nl, factors), y)
    est = np.zeros_like(y)
    k = len(effect)
    for r in range(k + 1):
        for sub in itertools.combinations(effect, r):
            sign = (-1.0) ** (k - r)
            if r == 0:
                est += sign * y.mean()
            else:
                est += sign * _group_mean(_combined_codes(codes, nl, sub), y)
    return residual + est


def art_rank(aligned: np.ndarray) -> np.ndarray:
    """Average ranks of the aligned response, rounded to 8 decimals first (as ARTool)."""
    return stats.rankdata(np.round(aligned, RANK_DIGITS), method="average")


@dataclass
class _Strata:
    """Pre-computed error-strata design for one factor list."""

    design: WithinDesign
    subj: np.ndarray           # subject codes per row
    n_subj: int
    within_blocks: dict        # term -> demeaned columns
    between_blocks: dict       # term -> subject-level columns
    subj_first_row: np.ndarray


def _strata(df: pd.DataFrame, factors: Sequence[str], design: WithinDesign) -> _Strata:
    codes, nl = factor_codes(df, factors)
    subj_levels = {v: i for i, v in enumerate(pd.unique(df[design.subject]))}
    subj = df[design.subject].map(subj_levels).to_numpy()
    n_subj = len(subj_levels)
    counts = np.bincount(subj)
    within_blocks, between_blocks = {}, {}
    first = np.unique(subj, return_index=True)[1]
    for term in effect_terms(list(factors)):
        X = term_matrix(codes, nl, term)
        if any(f in design.within for f in term):
            means = np.stack([np.bincount(subj, weights=X[:, j]) / counts
                              for j in range(X.shape[1])], axis=1)[subj]
            within_blocks[term] = X - means
        else:
            between_blocks[term] = X[first]
    return _Strata(design, subj, n_subj, within_blocks, between_blocks, first)


def _stratum_tests(st: _Strata, y: np.ndarray) -> dict[tuple[str, ...], tuple]:
    """Type III F tests of every effect in its error stratum -> (F, df1, df2, p, stratum)."""
    out = {}
    if st.within_blocks:
        yw = y - _group_mean(st.subj, y)
        for term, (ss, df1, ssr, dfr) in type3_ftests(
                yw, st.within_blocks, resid_df_offset=st.n_subj).items():
            out[term] = _ftest(ss, df1, ssr, dfr, "Within")
    if st.between_blocks:
        ys = (np.bincount(st.subj, weights=y) / np.bincount(st.subj))
        ys = ys[np.unique(st.subj)]
        base = np.ones((len(ys), 1))
        for term, (ss, df1, ssr, dfr) in type3_ftests(ys, st.between_blocks, base=base).items():
            out[term] = _ftest(ss, df1, ssr, dfr, st.design.subject)
    return out


def _ftest(ss: float, df1: int, ssr: float, dfr: int, stratum: str) -> tuple:
    if dfr <= 0:
        raise AnalysisError("no residual degrees of freedom left for the F test",
                            "collect more participants or fewer factor levels")
    if ssr <= 1e-12 * max(abs(ss), 1.0):
        F = np.inf if ss > 1e-12 else np.nan
    else:
        F = (ss / df1) / (ssr / dfr)
    p = float(stats.f.sf(F, df1, dfr)) if np.isfinite(F) else (0.0 if F == np.inf else np.nan)
    return float(F), int(df1), int(dfr), p, stratum


def _prepare(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str):
    factors = list(factors)
    check_columns(df, [dv])
    design = check_within_design(df, factors, subject)
    y = numeric_dv(df, dv)
    if np.ptp(y) == 0:
        raise AnalysisError(f"all values of '{dv}' are equal ({y[0]:g})",
                            "there is nothing to test; report the constant instead")
    df = df.reset_index(drop=True)
    codes, nl = factor_codes(df, factors)
    return df, factors, design, y, codes, nl


def art(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str) -> pd.DataFrame:
    """Aligned Rank Transform ANOVA, one row per effect.

    Args:
        df: long format, one row per observation (replicates per subject and cell, e.g.
            clips, are allowed but must be equal in number everywhere).
        dv: response column (numeric, e.g. a 1-7 rating).
        factors: fixed factors; each is detected as within or between subjects.
        subject: participant id column.

    Returns:
        DataFrame with columns ``term, F, df1, df2, p, partial_eta2, error`` (``error`` is
        the stratum: ``Within`` or the subject column), in ARTool's term order.
    """
    df, factors, design, y, codes, nl = _prepare(df, dv, factors, subject)
    st = _strata(df, factors, design)
    rows = []
    for term in effect_terms(factors):
        ranked = art_rank(align(y, codes, nl, factors, term))
        F, df1, df2, p, stratum = _stratum_tests(st, ranked)[term]
        rows.append({"term": term_name(term), "F": F, "df1": df1, "df2": df2, "p": p,
                     "partial_eta2": _partial_eta2(F, df1, df2), "error": stratum})
    return pd.DataFrame(rows)


def _partial_eta2(F: float, df1: int, df2: int) -> float:
    if not np.isfinite(F):
        return float("nan") if np.isnan(F) else 1.0
    return F * df1 / (F * df1 + df2)


def art_checks(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str) -> pd.DataFrame:
    """ARTool's alignment checks, one row per aligned response.

    ``aligned_sum`` should be about 0; ``max_F_other`` is the largest F of the *other*
    effects in an ANOVA of the aligned (not ranked) response, which should be about 0.
    ``ok`` is True when both hold (|sum| < 1e-6 x N x range, max F < 1e-6).
    """
    df, factors, design, y, codes, nl = _prepare(df, dv, factors, subject)
    st = _strata(df, factors, design)
    rows = []
    scale = len(y) * max(np.ptp(y), 1.0)
    for term in effect_terms(factors):
        aligned = align(y, codes, nl, factors, term)
        tests = _stratum_tests(st, aligned)
        others = [v[0] for t, v in tests.items() if t != term and np.isfinite(v[0])]
        max_f = max(others) if others else 0.0
        s = float(aligned.sum())
        rows.append({"term": term_name(term), "aligned_sum": s, "max_F_other": max_f,
                     "ok": bool(abs(s) < 1e-6 * scale and max_f < 1e-6)})
    return pd.DataFrame(rows)


def art_contrasts(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str,
                  term: str | Sequence[str], adjust: str = "holm") -> pd.DataFrame:
    """ART-C pairwise contrasts for the levels of a term (one factor or an interaction).

    Args:
        term: ``"method"`` or ``"method:emotion"`` (or a list of factor names).
        adjust: p-value adjustment passed to statsmodels' multipletests (``"holm"``,
            ``"bonferroni"``, ``"fdr_bh"``, or ``"none"``).

    Returns:
        DataFrame ``contrast, level1, level2, estimate, SE, df, t, p_unadjusted, p``;
        estimates are differences of mean ranks (level1 - level2), as in ``art.con``.
    """
    tfactors = term.split(":") if isinstance(term, str) else list(term)
    factors = list(factors)
    unknown = [f for f in tfactors if f not in factors]
    if unknown:
        raise AnalysisError(f"term {unknown} is not among the factors {factors}",
                            "name a term made of the given factors, e.g. 'A' or 'A:B'")
    df, factors, design, y, codes, nl = _prepare(df, dv, factors, subject)
    if len(tfactors) == 1:
        model_factors, merged = factors, tfactors[0]
        work = df
    else:
        merged = ":".join(tfactors)
        work = df.copy()
        # keep the level order of the crossed factors (first factor varies slowest)
        lv = [levels(df, f) for f in tfactors]
        labels = [",".join(str(v) for v in combo) for combo in itertools.product(*lv)]
        work[merged] = pd.Categorical(
            work[tfactors].astype(str).agg(",".join, axis=1), categories=labels)
        model_factors = [merged] + [f for f in factors if f not in tfactors]
        design = check_within_design(work, model_factors, subject)
        codes, nl = factor_codes(work, model_factors)
    ranked = art_rank(align(y, codes, nl, model_factors, (merged,)))
    lv = levels(work, merged)
    est, cov, df_res = _marginal_fit(work, ranked, model_factors, merged, design, codes, nl)
    rows = []
    for i, j in itertools.combinations(range(len(lv)), 2):
        L = np.zeros(len(lv))
        L[i], L[j] = 1.0, -1.0
        e = float(L @ est)
        se = float(np.sqrt(L @ cov @ L))
        t = e / se if se > 0 else np.nan
        p = float(2 * stats.t.sf(abs(t), df_res)) if np.isfinite(t) else np.nan
        rows.append({"contrast": f"{lv[i]} - {lv[j]}", "level1": lv[i], "level2": lv[j],
                     "estimate": e, "SE": se, "df": df_res, "t": t, "p_unadjusted": p})
    out = pd.DataFrame(rows)
    out["p"] = adjust_p(out["p_unadjusted"].to_numpy(), adjust)
    return out


def _marginal_fit(df: pd.DataFrame, y: np.ndarray, factors: Sequence[str], target: str,
                  design: WithinDesign, codes: dict, nl: dict):
    """Marginal means of ``target`` (equal weights over other factors) and their covariance.

    Within-subject targets use the subject-demeaned fit (subject fixed effects); between
    targets use subject means. Returns (means, covariance, residual df).
    """
    terms = effect_terms(list(factors))
    target_within = target in design.within
    subj_levels = {v: i for i, v in enumerate(pd.unique(df[design.subject]))}
    subj = df[design.subject].map(subj_levels).to_numpy()
    counts = np.bincount(subj)
    blocks = []
    tcols = None
    col = 0
    if target_within:
        use = [t for t in terms if any(f in design.within for f in t)]
        for t in use:
            X = term_matrix(codes, nl, t)
            X = X - (np.stack([np.bincount(subj, weights=X[:, j]) / counts
                               for j in range(X.shape[1])], axis=1)[subj])
            if t == (target,):
                tcols = slice(col, col + X.shape[1])
            blocks.append(X)
            col += X.shape[1]
        X = np.hstack(blocks)
        yy = y - _group_mean(subj, y)
        dof_off = len(counts)
        intercept = float(y.mean())
    else:
        first = np.unique(subj, return_index=True)[1]
        use = [t for t in terms if all(f in design.between for f in t)]
        blocks.append(np.ones((len(first), 1)))
        col = 1
        for t in use:
            Xt = term_matrix(codes, nl, t)[first]
            if t == (target,):
                tcols = slice(col, col + Xt.shape[1])
            blocks.append(Xt)
            col += Xt.shape[1]
        X = np.hstack(blocks)
        yy = (np.bincount(subj, weights=y) / counts)[np.unique(subj)]
        dof_off = 0
        intercept = None
    XtX_inv = np.linalg.pinv(X.T @ X)
    beta = XtX_inv @ X.T @ yy
    r = yy - X @ beta
    df_res = len(yy) - np.linalg.matrix_rank(X) - dof_off
    sigma2 = float(r @ r) / df_res
    k = nl[target]
    C = np.vstack([np.eye(k - 1), -np.ones((1, k - 1))])  # level effects from sum coding
    b = beta[tcols]
    V = sigma2 * XtX_inv[tcols, tcols]
    base = intercept if intercept is not None else float(beta[0])
    means = base + C @ b
    return means, C @ V @ C.T, int(df_res)


def art_all(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str) -> dict:
    """Convenience: ANOVA table, checks and Holm ART-C contrasts for every effect."""
    table = art(df, dv, factors, subject)
    checks = art_checks(df, dv, factors, subject)
    contrasts = {t: art_contrasts(df, dv, factors, subject, t, "holm")
                 for t in table["term"]}
    return {"anova": table, "checks": checks, "contrasts": contrasts}


__all__ = ["art", "art_checks", "art_contrasts", "align", "art_rank", "art_all"]
