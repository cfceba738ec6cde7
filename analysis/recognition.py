"""Emotion recognition: accuracy vs chance, confusion matrices, GEE binomial model.

Input: one row per recognition answer with the intended emotion (``emotion``), the
chosen label (``response_text``) and ``correct`` (0/1).

* Accuracy per method x emotion with an exact binomial test against chance (two-sided by
  default, as R's ``binom.test``) and a Clopper-Pearson 95% CI. Chance = 1 / number of
  response options (from ``scale_max - scale_min + 1`` when present, else the number of
  distinct answers seen, or given explicitly).
* Confusion matrices (intended emotion x answer) per method, counts and row proportions.
* Binomial GLMM (logit, Laplace) ``correct ~ method * emotion + (1|participant)
  [+ (1|clip)]`` (:func:`recognition_glmm`, equal to ``lme4::glmer``): subject-specific
  effects, the primary model.
* GEE binomial (logit) ``correct ~ method * emotion`` (sum coding) with participant
  clusters, exchangeable working correlation and robust (sandwich) SEs; Wald chi-square per
  term: population-averaged effects, the robustness check. The estimated working
  correlation is in the ``working_corr`` column. With an independence working correlation
  its estimates equal ``glm(binomial)``.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.design import AnalysisError, check_columns, check_factors, levels
from analysis.mixed import factorial_formula


def _correct(df: pd.DataFrame) -> pd.Series:
    c = pd.to_numeric(df["correct"], errors="coerce")
    if c.isna().any() or not c.isin([0, 1]).all():
        raise AnalysisError("'correct' must be 0 or 1 on recognition rows",
                            "fix the export or map the column with --columns")
    return c.astype(int)


def chance_level(df: pd.DataFrame) -> float:
    """1 / number of response options (scale range if given, else distinct answers)."""
    if {"scale_min", "scale_max"} <= set(df.columns):
        lo = pd.to_numeric(df["scale_min"], errors="coerce")
        hi = pd.to_numeric(df["scale_max"], errors="coerce")
        if lo.notna().all() and hi.notna().all() and (hi - lo).nunique() == 1:
            k = int((hi - lo).iloc[0]) + 1
            if k >= 2:
                return 1.0 / k
    if "response_text" in df.columns:
        k = df["response_text"].replace("", np.nan).dropna().nunique()
        k = max(k, df["emotion"].nunique())
        if k >= 2:
            return 1.0 / k
    raise AnalysisError("cannot tell the number of response options",
                        "give the chance level explicitly (--chance)")


def accuracy(df: pd.DataFrame, by: Sequence[str] = ("method", "emotion"),
             chance: float | None = None, alternative: str = "two-sided") -> pd.DataFrame:
    """Accuracy per group with exact binomial tests against chance."""
    check_columns(df, ["correct", *by])
    c = _correct(df)
    p0 = chance if chance is not None else chance_level(df)
    rows = []
    for key, g in df.groupby(list(by), observed=True, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        idx = g.index
        k, n = int(c.loc[idx].sum()), len(idx)
        bt = stats.binomtest(k, n, p0, alternative=alternative)
        ci = stats.binomtest(k, n, p0).proportion_ci(0.95, method="exact")
        rows.append({**dict(zip(by, key)), "n": n, "correct": k, "accuracy": k / n,
                     "chance": p0, "ci_low": ci.low, "ci_high": ci.high, "p": bt.pvalue})
    return pd.DataFrame(rows)


def confusion(df: pd.DataFrame, method: str | None = None, *, answer: str = "response_text"
              ) -> pd.DataFrame:
    """Counts of answers (columns) per intended emotion (rows), optionally one method."""
    check_columns(df, ["emotion", answer])
    d = df if method is None else df[df["method"] == method]
    ans = d[answer].astype(str)
    order = sorted(set(levels(df, "emotion")) | set(df[answer].astype(str).unique()),
                   key=lambda s: (s not in set(df["emotion"].astype(str)), s))
    tab = pd.crosstab(d["emotion"].astype(str), ans).reindex(
        index=[str(v) for v in levels(df, "emotion")], columns=order, fill_value=0)
    return tab.fillna(0).astype(int)


def gee_binomial(df: pd.DataFrame, factors: Sequence[str] = ("method", "emotion"),
                 subject: str = "participant_id", cov_struct: str = "exchangeable"
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """GEE logistic model of correctness; returns (coefficients, Wald tests per term)."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    check_columns(df, ["correct", subject, *factors])
    check_factors(df, list(factors))
    data = df.sort_values(subject, kind="stable").reset_index(drop=True).copy()
    data["correct"] = _correct(data)
    if data["correct"].nunique() < 2:
        raise AnalysisError("all recognition answers are equally correct",
                            "a logistic model needs both correct and wrong answers")
    cs = {"exchangeable": sm.cov_struct.Exchangeable(),
          "independence": sm.cov_struct.Independence()}[cov_struct]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smf.gee(factorial_formula("correct", factors), groups=data[subject],
                        data=data, family=sm.families.Binomial(), cov_struct=cs)
        res = model.fit(maxiter=200)
    b = res.params.to_numpy()
    V = res.cov_params().to_numpy()
    se = np.sqrt(np.diag(V))
    dep = np.asarray(res.model.cov_struct.dep_params, dtype=float).ravel()
    coef = pd.DataFrame({"term": res.params.index, "coef": b, "SE": se, "z": b / se,
                         "p": 2 * stats.norm.sf(np.abs(b / se)), "odds_ratio": np.exp(b),
                         "cov_struct": cov_struct,
                         "working_corr": float(dep[0]) if dep.size else 0.0})
    from analysis.mixed import _pretty
    rows = []
    for name, sl in model.data.model_spec.term_name_slices.items():
        if name == "Intercept":
            continue
        bb, VV = b[sl], V[sl, sl]
        chi2 = float(bb @ np.linalg.solve(VV, bb))
        rows.append({"term": _pretty(name), "chi2": chi2, "df": sl.stop - sl.start,
                     "p": float(stats.chi2.sf(chi2, sl.stop - sl.start))})
    return coef, pd.DataFrame(rows)


def recognition_glmm(df: pd.DataFrame, factors: Sequence[str] = ("method", "emotion"),
                     subject: str = "participant_id", clip: str | None = None):
    """Binomial GLMM of correctness (logit, Laplace): full factorial of ``factors`` (sum
    coding), participant intercept, and a crossed clip intercept when ``clip`` names a
    column with several levels; equals ``lme4::glmer(correct ~ method * emotion +
    (1|participant) [+ (1|clip)], family = binomial)``. Returns a
    :class:`analysis.glmm.GLMMResult` (``fixed``, ``tests``, ``variances``, ``structure``).
    """
    from analysis.glmm import factorial_glmm

    check_columns(df, ["correct", subject, *factors])
    check_factors(df, list(factors))
    data = df.reset_index(drop=True).copy()
    data["correct"] = _correct(data)
    return factorial_glmm(data, "correct", list(factors), subject, clip)
