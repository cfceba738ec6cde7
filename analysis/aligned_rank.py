"""Aligned Rank Transform ANOVA (ARTool's algorithm) and ART-C contrasts.

Two forms, chosen with ``error=``:

* ``error="strata"`` (default, valid for repeated measures): replicate observations (the
  clips of a condition) are first averaged to participant x cell means, and each effect is
  tested against its own error stratum, as R's ``ARTool``
  ``anova(art(y ~ A*B + Error(S/(A*B)), data = cell_means))``: for every effect E the
  cell means are aligned for E (cell residual + estimated effect), ranked (average ties,
  after rounding to 8 decimals), and E's F test on the ranks is taken from the
  participant x E stratum (``S:E``; pure between-subjects effects from ``S``). On a
  complete design this equals a univariate repeated-measures ANOVA of the aligned-ranked
  cell means (:mod:`analysis.strata`). Replicate counts may differ between cells (the
  cell means still exist; :meth:`CellMeans.fewer_replicates` names the cells).
* ``error="pooled"``: ARTool's ``anova(art(y ~ A*B + Error(S)))`` on the trial rows,
  with one pooled within-subjects stratum. Replicates then count as independent
  observations and participants' preferences for a level (participant x factor
  variance) are ignored, so its false-positive rate is far above alpha for designs like
  4 methods x 2 emotions x 2 clips (docs/analysis.md, "Calibration"). Kept to reproduce
  published analyses; for balanced data its F tests equal ``art(y ~ A*B + (1|S))`` with
  Kenward-Roger df.

ART-C contrasts (Elkin et al., UIST 2021) follow ``art.con(m, "A:B", adjust=...)``: the
factors of the term are merged into one factor, the data re-aligned and ranked for it, and
pairs of levels compared with t tests on the ranks. With ``error="strata"`` the standard
error of a contrast combines the error strata its cells span (``S:A``, ``S:B``, ``S:A:B``
for a cell of A:B) with Satterthwaite df, as ``emmeans`` does for an ``aovlist``; Holm
(default) or Tukey (studentized range) adjustment.
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
from analysis.strata import CellMeans, cell_means, stratum_basis, stratum_tests

#: the two ART forms: per-effect error strata on cell means (default) or ARTool's
#: pooled Error(participant) on trial rows (reproducing published analyses)
ERRORS = ("strata", "pooled")

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


def _check_error(error: str) -> None:
    if error not in ERRORS:
        raise AnalysisError(f"unknown ART error form {error!r}",
                            "use error='strata' (default) or error='pooled'")


def _prepare_cells(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str
                   ) -> tuple[CellMeans, pd.DataFrame, np.ndarray]:
    """Participant x cell means, their long table, and the mean response per row."""
    cm = cell_means(df, dv, factors, subject)
    if np.ptp(cm.Y) == 0:
        raise AnalysisError(f"all values of '{dv}' are equal ({cm.Y.flat[0]:g})"
                            if np.ptp(numeric_dv(df, dv)) == 0 else
                            f"all participant x cell means of '{dv}' are equal",
                            "there is nothing to test; report the constant instead")
    long = cm.long()
    return cm, long, long["y"].to_numpy()


def art(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str,
        error: str = "strata") -> pd.DataFrame:
    """Aligned Rank Transform ANOVA, one row per effect.

    Args:
        df: long format, one row per observation (replicates per participant and cell,
            e.g. clips, are averaged with ``error="strata"``; their number may differ).
        dv: response column (numeric, e.g. a 1-7 rating).
        factors: fixed factors; each is detected as within or between subjects.
        subject: participant id column.
        error: ``"strata"`` (default): each effect against its own participant x effect
            stratum on cell means (``Error(S/(A*B))``); ``"pooled"``: ARTool's
            ``Error(S)`` on trial rows, for reproducing published analyses only.

    Returns:
        DataFrame with columns ``term, F, df1, df2, p, partial_eta2, error`` (``error``
        names the stratum: ``participant_id:method`` ..., or with ``"pooled"``: ``Within``
        or the subject column), in ARTool's term order. ``attrs["error"]`` is the form,
        ``attrs["fewer_replicates"]`` lists cells where some participant has fewer
        observations (records of :meth:`CellMeans.fewer_replicates`).
    """
    _check_error(error)
    if error == "pooled":
        out = _art_pooled(df, dv, factors, subject)
        out.attrs.update(error="pooled", fewer_replicates=[])
        return out
    factors = list(factors)
    cm, long, y = _prepare_cells(df, dv, factors, subject)
    codes, nl = factor_codes(long, factors)
    n, c = cm.Y.shape
    rows = []
    for term in effect_terms(factors):
        name = term_name(term)
        R = art_rank(align(y, codes, nl, factors, term)).reshape(n, c)
        t = stratum_tests(R, cm, only=name)[0]
        F, p = float(t.F), float(t.p)
        rows.append({"term": name, "F": F, "df1": t.df1, "df2": t.df2, "p": p,
                     "partial_eta2": _partial_eta2(F, t.df1, t.df2), "error": t.error})
    out = pd.DataFrame(rows)
    out.attrs.update(error="strata", fewer_replicates=cm.fewer_replicates().to_dict("records"))
    return out


def art_arrays(Y: np.ndarray, within: Sequence[str], k_within: Sequence[int],
               subject: str = "participant") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-stratum ART of many within-subjects data sets at once.

    Args:
        Y: (..., n, c) participant x cell means (cells in C order of the within factors'
           levels, ``c = prod(k_within)``), any leading axes (e.g. simulations).
        within: the within factors' names; k_within: their numbers of levels.

    Returns:
        term -> (F, p), each of shape ``Y.shape[:-2]``; equal to :func:`art` with
        ``error="strata"`` on the same cell means.
    """
    Y = np.asarray(Y, dtype=float)
    lead = Y.shape[:-2]
    n, c = Y.shape[-2:]
    k_within = list(k_within)
    m = len(k_within)
    Yr = Y.reshape(*lead, n, *k_within)
    sa = len(lead)
    fa = [sa + 1 + i for i in range(m)]
    resid = Yr - Yr.mean(axis=sa, keepdims=True)
    out = {}
    for term in effect_terms(list(range(m))):
        est = np.zeros((1,) * Yr.ndim)
        for r in range(len(term) + 1):
            for sub in itertools.combinations(term, r):
                axes = tuple([sa] + [fa[i] for i in range(m) if i not in sub])
                est = est + (-1.0) ** (len(term) - r) * Yr.mean(axis=axes, keepdims=True)
        aligned = (resid + est).reshape(*lead, n * c)
        R = stats.rankdata(np.round(aligned, RANK_DIGITS), method="average",
                           axis=-1).reshape(*lead, n, c)
        name = term_name([within[i] for i in term])
        t = stratum_tests(R, k_within=k_within, within=within, subject=subject,
                          only=name)[0]
        out[name] = (t.F, t.p)
    return out


def _art_pooled(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str
                ) -> pd.DataFrame:
    """ARTool's ``Error(S)`` form on trial rows (replicates equal in number everywhere)."""
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


def art_checks(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str,
               error: str = "strata") -> pd.DataFrame:
    """ARTool's alignment checks, one row per aligned response.

    ``aligned_sum`` should be about 0; ``max_F_other`` is the largest F of the *other*
    effects in an ANOVA of the aligned (not ranked) response, which should be about 0.
    ``ok`` is True when both hold (|sum| < 1e-6 x N x range, max F < 1e-6). With
    ``error="strata"`` the checks run on the participant x cell means.
    """
    _check_error(error)
    factors = list(factors)
    if error == "pooled":
        df, factors, design, y, codes, nl = _prepare(df, dv, factors, subject)
        st = _strata(df, factors, design)

        def tests(v):
            return {term_name(t): r[0] for t, r in _stratum_tests(st, v).items()}
    else:
        cm, long, y = _prepare_cells(df, dv, factors, subject)
        codes, nl = factor_codes(long, factors)

        def tests(v):
            return {t.term: float(t.F) for t in stratum_tests(v.reshape(cm.Y.shape), cm)}
    rows = []
    scale = len(y) * max(np.ptp(y), 1.0)
    for term in effect_terms(factors):
        aligned = align(y, codes, nl, factors, term)
        others = [F for t, F in tests(aligned).items()
                  if t != term_name(term) and np.isfinite(F)]
        max_f = max(others) if others else 0.0
        s = float(aligned.sum())
        rows.append({"term": term_name(term), "aligned_sum": s, "max_F_other": max_f,
                     "ok": bool(abs(s) < 1e-6 * scale and max_f < 1e-6)})
    return pd.DataFrame(rows)


ADJUSTS = ("holm", "tukey", "bonferroni", "fdr_bh", "none")


def art_contrasts(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str,
                  term: str | Sequence[str], adjust: str = "holm",
                  error: str = "strata") -> pd.DataFrame:
    """ART-C pairwise contrasts for the levels of a term (one factor or an interaction).

    Args:
        term: ``"method"`` or ``"method:emotion"`` (or a list of factor names).
        adjust: ``"holm"`` (default), ``"tukey"`` (studentized range over the term's
            levels, as emmeans), ``"bonferroni"``, ``"fdr_bh"`` or ``"none"``.
        error: ``"strata"`` (default; cell means, each contrast against the strata its
            cells span, Satterthwaite df) or ``"pooled"`` (ARTool's ``Error(S)`` form).

    Returns:
        DataFrame ``contrast, level1, level2, estimate, SE, df, t, p_unadjusted, p``;
        estimates are differences of mean ranks (level1 - level2), as in ``art.con``.
    """
    _check_error(error)
    if adjust not in ADJUSTS:
        raise AnalysisError(f"unknown p-value adjustment '{adjust}'",
                            f"use one of {', '.join(ADJUSTS)}")
    tfactors = term.split(":") if isinstance(term, str) else list(term)
    factors = list(factors)
    unknown = [f for f in tfactors if f not in factors]
    if unknown:
        raise AnalysisError(f"term {unknown} is not among the factors {factors}",
                            "name a term made of the given factors, e.g. 'A' or 'A:B'")
    if error == "pooled":
        df, factors, design, y, codes, nl = _prepare(df, dv, factors, subject)
        work = df
    else:
        cm, work, y = _prepare_cells(df, dv, factors, subject)
        design = WithinDesign(subject, tuple(cm.within), tuple(cm.between.columns), 1)
        codes, nl = factor_codes(work, factors)
    if len(tfactors) == 1:
        model_factors, merged = factors, tfactors[0]
    else:
        merged = ":".join(tfactors)
        work = work.copy()
        # keep the level order of the crossed factors (first factor varies slowest)
        lv = [levels(work, f) for f in tfactors]
        labels = [",".join(str(v) for v in combo) for combo in itertools.product(*lv)]
        work[merged] = pd.Categorical(
            work[tfactors].astype(str).agg(",".join, axis=1), categories=labels)
        model_factors = [merged] + [f for f in factors if f not in tfactors]
        if error == "pooled":
            design = check_within_design(work, model_factors, subject)
        codes, nl = factor_codes(work, model_factors)
    ranked = art_rank(align(y, codes, nl, model_factors, (merged,)))
    lv = levels(work, merged)
    pairs = list(itertools.combinations(range(len(lv)), 2))
    in_between = [f in design.between for f in tfactors]
    if error == "strata" and all(f in design.within for f in tfactors):
        est, se, dfs = _strata_contrasts(cm, ranked, tfactors, pairs)
    elif error == "strata" and any(in_between) and not all(in_between):
        raise AnalysisError(
            f"ART-C for '{merged}' mixes between- and within-subjects factors",
            "test the factors separately, or use error='pooled'")
    else:
        means, cov, df_res = _marginal_fit(work, ranked, model_factors, merged, design,
                                           codes, nl)
        est, se, dfs = [], [], []
        for i, j in pairs:
            L = np.zeros(len(lv))
            L[i], L[j] = 1.0, -1.0
            est.append(float(L @ means))
            se.append(float(np.sqrt(L @ cov @ L)))
            dfs.append(df_res)
    rows = []
    for (i, j), e, s_, d in zip(pairs, est, se, dfs):
        t = e / s_ if s_ > 0 else np.nan
        p = float(2 * stats.t.sf(abs(t), d)) if np.isfinite(t) else np.nan
        rows.append({"contrast": f"{lv[i]} - {lv[j]}", "level1": lv[i], "level2": lv[j],
                     "estimate": e, "SE": s_, "df": d, "t": t, "p_unadjusted": p})
    out = pd.DataFrame(rows)
    if adjust == "tukey":
        k = len(lv)
        out["p"] = [float(stats.studentized_range.sf(abs(t) * np.sqrt(2), k, d))
                    if np.isfinite(t) else np.nan for t, d in zip(out["t"], out["df"])]
    else:
        out["p"] = adjust_p(out["p_unadjusted"].to_numpy(), adjust)
    return out


def _strata_contrasts(cm: CellMeans, ranked: np.ndarray, tfactors: Sequence[str],
                      pairs: list) -> tuple[list, list, list]:
    """Pairwise differences of the term's cell means of ranks, SE and Satterthwaite df.

    A contrast L of within cells has variance sum_W ||B_W' L||^2 MS_W / n over the
    within strata W (B_W: orthonormal basis, MS_W: residual mean square of S:W).
    """
    n, c = cm.Y.shape
    R = ranked.reshape(n, c)
    combos = list(itertools.product(*cm.within_levels))
    idx = [cm.within.index(f) for f in tfactors]
    keys = [tuple(cb[i] for i in idx) for cb in combos]
    targets = list(itertools.product(*[cm.within_levels[i] for i in idx]))
    A = np.zeros((c, len(targets)))
    for j, k in enumerate(keys):
        A[j, targets.index(k)] = 1.0
    A /= A.sum(axis=0, keepdims=True)
    bfac = list(cm.between.columns)
    if bfac:
        codes, nl = factor_codes(cm.between, bfac)
        X = np.hstack([np.ones((n, 1))] + [term_matrix(codes, nl, t)
                                             for t in effect_terms(bfac)])
    else:
        X = np.ones((n, 1))
    Q, _ = np.linalg.qr(X)
    rank = np.linalg.matrix_rank(X)
    strata = []
    for w in effect_terms(list(range(len(cm.within)))):
        B = stratum_basis(cm.k_within, w)
        Z = R @ B
        Zr = Z - Q @ (Q.T @ Z)
        dfw = B.shape[1] * (n - rank)
        strata.append((B, float((Zr ** 2).sum()) / dfw, dfw))
    means = R.mean(axis=0) @ A
    est, se, dfs = [], [], []
    for i, j in pairs:
        L = A[:, i] - A[:, j]
        parts = [(float(((B.T @ L) ** 2).sum()) * ms / n, d) for B, ms, d in strata]
        parts = [(v, d) for v, d in parts if v > 1e-15]
        var = sum(v for v, _ in parts)
        df_s = var ** 2 / sum(v ** 2 / d for v, d in parts) if var > 0 else np.nan
        est.append(float(means[i] - means[j]))
        se.append(float(np.sqrt(var)))
        dfs.append(float(df_s))
    return est, se, dfs


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


def art_all(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str,
            error: str = "strata") -> dict:
    """Convenience: ANOVA table, checks and Holm ART-C contrasts for every effect."""
    table = art(df, dv, factors, subject, error)
    checks = art_checks(df, dv, factors, subject, error)
    contrasts = {t: art_contrasts(df, dv, factors, subject, t, "holm", error)
                 for t in table["term"]}
    return {"anova": table, "checks": checks, "contrasts": contrasts}


__all__ = ["art", "art_arrays", "art_checks", "art_contrasts", "align", "art_rank", "art_all",
           "ERRORS", "ADJUSTS"]


def art_pooled_arrays(Y: np.ndarray, frame: pd.DataFrame, factors: Sequence[str],
                      subject: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """ARTool's pooled ``Error(S)`` ART of many data sets on the same trial rows.

    Args:
        Y: (..., N) responses, one column per row of ``frame``.
        frame: the N design rows (subject and within factors; equal replicates).

    Returns:
        term -> (F, p), equal to :func:`art` with ``error="pooled"`` per data set.
        Alignment and the within-stratum F tests are linear maps of the rows, built once.
    """
    factors = list(factors)
    frame = frame.reset_index(drop=True)
    N = len(frame)
    codes, nl = factor_codes(frame, factors)
    subj = pd.factorize(frame[subject])[0]
    n_subj = int(subj.max()) + 1

    def avg(c: np.ndarray) -> np.ndarray:
        G = np.zeros((N, int(c.max()) + 1))
        G[np.arange(N), c] = 1.0
        return G @ (G / G.sum(axis=0)).T                        # row -> its group mean

    P_subj = avg(subj)
    blocks = {}
    for t in effect_terms(factors):
        X = term_matrix(codes, nl, t)
        blocks[t] = X - P_subj @ X
    proj = {}
    X_full = np.hstack(list(blocks.values()))
    H_full = X_full @ np.linalg.pinv(X_full)
    rank_full = np.linalg.matrix_rank(X_full)
    resid = np.eye(N) - P_subj - H_full
    df_res = N - rank_full - n_subj
    for t in blocks:
        Xr = np.hstack([b for u, b in blocks.items() if u != t])
        proj[t] = (H_full - Xr @ np.linalg.pinv(Xr), rank_full - np.linalg.matrix_rank(Xr))
    P_cell = avg(_combined_codes(codes, nl, factors))
    out = {}
    Y = np.asarray(Y, dtype=float)
    for term in effect_terms(factors):
        A = np.eye(N) - P_cell
        for r in range(len(term) + 1):
            for sub in itertools.combinations(term, r):
                M = np.full((N, N), 1.0 / N) if r == 0 else avg(_combined_codes(codes, nl, sub))
                A = A + (-1.0) ** (len(term) - r) * M
        R = stats.rankdata(np.round(Y @ A.T, RANK_DIGITS), method="average", axis=-1)
        D, df1 = proj[term]
        ss = np.einsum("...i,ij,...j->...", R, D, R)
        sse = np.einsum("...i,ij,...j->...", R, resid, R)
        with np.errstate(divide="ignore", invalid="ignore"):
            F = (ss / df1) / (sse / df_res)
        out[term_name(term)] = (F, stats.f.sf(F, df1, df_res))
    return out
