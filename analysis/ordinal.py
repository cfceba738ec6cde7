"""Ordinal models for Likert items: proportional-odds (OrderedModel) and OrdinalGEE.

* :func:`ordered_logit` fits statsmodels' ``OrderedModel`` (cumulative logit, no random
  effects) with treatment-coded factors; coefficients and thresholds match
  ``ordinal::clm(ordered(y) ~ a + b, link = "logit")`` (same sign convention:
  logit P(y <= j) = theta_j - x'beta, so beta > 0 means higher ratings).
* :func:`ordinal_gee` fits ``OrdinalGEE`` with participant clusters: the closest
  statsmodels has to a cumulative link mixed model (``ordinal::clmm``), which it lacks.
  It estimates population-averaged (not subject-specific) effects with cluster-robust
  (sandwich) standard errors, which are valid whatever the working correlation. The
  default working correlation is independence (fast and stable; note that GEE treats the
  cumulative indicators I(y > j) as correlated binary responses, so its estimates differ
  somewhat from the maximum-likelihood proportional-odds fit);
  ``cov_struct="global_odds_ratio"`` uses Lipsitz et al.'s global odds ratio (about 2 s
  per item here) and falls back to independence when it cannot be estimated (sparse
  categories). The one used is recorded in the ``cov_struct`` column.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.design import AnalysisError, check_columns, check_factors, levels, numeric_dv


def _dummies(df: pd.DataFrame, factors: Sequence[str]) -> pd.DataFrame:
    cols = []
    for f in factors:
        lv = levels(df, f)
        for v in lv[1:]:
            cols.append(pd.Series((df[f] == v).astype(float).to_numpy(), name=f"{f}[T.{v}]"))
    return pd.concat(cols, axis=1)


def _prepare(df, dv, factors):
    check_columns(df, [dv, *factors])
    check_factors(df, factors)
    y = numeric_dv(df, dv)
    if len(np.unique(y)) < 3:
        raise AnalysisError(f"'{dv}' has fewer than 3 distinct values",
                            "ordinal models need at least three response categories")
    return y, _dummies(df.reset_index(drop=True), factors)


def ordered_logit(df: pd.DataFrame, dv: str, factors: Sequence[str]) -> pd.DataFrame:
    """Proportional-odds logistic regression; one row per coefficient and threshold.

    Columns: ``term, kind (coef|threshold), estimate, SE, z, p, odds_ratio``.
    """
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    y, X = _prepare(df, dv, factors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = OrderedModel(y, X, distr="logit").fit(method="bfgs", disp=False, maxiter=2000,
                                                     gtol=1e-8)
    k = X.shape[1]
    beta, se = res.params[:k], res.bse[:k]
    rows = [{"term": n, "kind": "coef", "estimate": float(b), "SE": float(s),
             "z": float(b / s), "p": float(2 * stats.norm.sf(abs(b / s))),
             "odds_ratio": float(np.exp(b))} for n, b, s in zip(X.columns, beta, se)]
    cats = np.unique(y)
    thr = res.model.transform_threshold_params(res.params)[1:-1]
    for j, t in enumerate(thr):
        rows.append({"term": f"{cats[j]:g}|{cats[j + 1]:g}", "kind": "threshold",
                     "estimate": float(t), "SE": np.nan, "z": np.nan, "p": np.nan,
                     "odds_ratio": np.nan})
    out = pd.DataFrame(rows)
    out.attrs["loglik"] = float(res.llf)
    return out


def ordinal_gee(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str,
                cov_struct: str = "independence") -> pd.DataFrame:
    """Ordinal GEE (cumulative logit) with participant clusters and robust SEs.

    Columns: ``term, estimate, SE, z, p, odds_ratio, cov_struct``.
    """
    from statsmodels.genmod.cov_struct import GlobalOddsRatio, Independence
    from statsmodels.genmod.generalized_estimating_equations import OrdinalGEE

    check_columns(df, [subject])
    data = df.sort_values(subject, kind="stable").reset_index(drop=True)
    y, X = _prepare(data, dv, factors)
    groups = pd.factorize(data[subject])[0]
    if cov_struct not in ("independence", "global_odds_ratio"):
        raise AnalysisError(f"unknown working correlation '{cov_struct}'",
                            "use 'independence' or 'global_odds_ratio'")
    tries = [("independence", Independence())]
    if cov_struct == "global_odds_ratio":
        tries.insert(0, ("global_odds_ratio", GlobalOddsRatio("ordinal")))
    # start from the proportional-odds fit (OrdinalGEE's intercepts are -thresholds): the
    # same solution, reached in a quarter of the time of statsmodels' own GLM start
    try:
        ol = ordered_logit(data, dv, factors)
        start = np.r_[-ol.loc[ol["kind"] == "threshold", "estimate"].to_numpy(),
                      ol.loc[ol["kind"] == "coef", "estimate"].to_numpy()]
    except (AnalysisError, ValueError, np.linalg.LinAlgError):
        start = None
    res, used = None, None
    for name, cs in tries:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = OrdinalGEE(y, X.to_numpy(), groups=groups, cov_struct=cs).fit(
                    maxiter=100, start_params=start)
            if np.all(np.isfinite(r.params)) and np.all(np.isfinite(r.bse)):
                res, used = r, name
                break
        except (ValueError, np.linalg.LinAlgError):
            continue
    if res is None:
        raise AnalysisError("the ordinal GEE did not converge",
                            "merge sparse response categories or use ordered_logit")
    k = X.shape[1]
    b = np.asarray(res.params)[-k:]
    se = np.asarray(res.bse)[-k:]
    return pd.DataFrame({"term": X.columns, "estimate": b, "SE": se, "z": b / se,
                         "p": 2 * stats.norm.sf(np.abs(b / se)), "odds_ratio": np.exp(b),
                         "cov_struct": used})
