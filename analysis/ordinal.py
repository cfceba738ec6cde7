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
  categories). The one used is recorded in the ``cov_struct`` column and its estimated
  global odds ratio in ``working_odds_ratio`` (1 under independence).
* :func:`clmm` is the cumulative link mixed model (participant random intercept, Laplace),
  equal to ``ordinal::clmm``: subject-specific effects, the primary ordinal model; the GEE
  is the population-averaged robustness check.
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
    dep = np.asarray(res.model.cov_struct.dep_params, dtype=float).ravel()
    return pd.DataFrame({"term": X.columns, "estimate": b, "SE": se, "z": b / se,
                         "p": 2 * stats.norm.sf(np.abs(b / se)), "odds_ratio": np.exp(b),
                         "cov_struct": used,
                         "working_odds_ratio": float(dep[0]) if used != "independence"
                         and dep.size else 1.0})


# ---------------------------------------------------------------- cumulative link mixed model
def _clmm_parts(alpha, eta, u, sigma, y, g):
    """Per-row log P(y | u) and its first two derivatives in u (logit link).

    ``alpha`` (J-1,) thresholds, ``eta`` (n,) fixed linear predictor, ``u`` (G,)
    standardised participant effects, ``y`` (n,) category index 0..J-1, ``g`` (n,) group.
    """
    from scipy.special import expit

    a = np.r_[-np.inf, alpha, np.inf]
    lin = eta + sigma * u[g]
    hi, lo = a[y + 1] - lin, a[y] - lin
    Fh, Fl = expit(hi), expit(lo)
    fh = np.where(np.isfinite(hi), Fh * (1 - Fh), 0.0)
    fl = np.where(np.isfinite(lo), Fl * (1 - Fl), 0.0)
    dfh = fh * (1 - 2 * Fh)
    dfl = fl * (1 - 2 * Fl)
    # P = F(hi) - F(lo), computed stably on the side away from 1
    P = np.where(hi < 0, Fh - Fl, expit(-lo) - expit(-hi))
    P = np.maximum(P, 1e-300)
    d1 = -(fh - fl) / P                      # d log P / d lin
    d2 = (dfh - dfl) / P - d1 ** 2           # d2 log P / d lin2
    return np.log(P), sigma * d1, sigma ** 2 * d2


def _clmm_laplace(params, y, X, g, G, J, u_store):
    """Laplace log-likelihood of the CLMM at (alpha, beta, log sigma)."""
    alpha = params[:J - 1]
    if np.any(np.diff(alpha) <= 0):
        return -np.inf
    beta = params[J - 1:-1]
    sigma = float(np.exp(params[-1]))
    eta = X @ beta
    u = u_store[0].copy()
    for _ in range(100):
        lp, d1, d2 = _clmm_parts(alpha, eta, u, sigma, y, g)
        grad = np.bincount(g, d1, G) - u
        hess = np.bincount(g, d2, G) - 1.0
        step = -grad / hess
        u = u + step
        if np.max(np.abs(step)) < 1e-12:
            break
    u_store[0] = u
    lp, d1, d2 = _clmm_parts(alpha, eta, u, sigma, y, g)
    H = 1.0 - np.bincount(g, d2, G)
    return float(lp.sum() - 0.5 * u @ u - 0.5 * np.log(H).sum())


def clmm(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str) -> pd.DataFrame:
    """Cumulative link mixed model (logit), participant random intercept, Laplace.

    ``logit P(y <= j) = theta_j - x'beta - u_participant`` with the full factorial of
    ``factors`` in sum-to-zero coding (so the method x emotion interaction is in the model),
    ``u ~ N(0, sigma^2)``; equals ``ordinal::clmm(ordered(y) ~ a * b + (1 | subject),
    link = "logit")`` (its default Laplace approximation) with ``contr.sum``. Standard errors
    (thresholds too) come from the inverse of the numerical Hessian of the Laplace
    log-likelihood, as ``clmm(..., Hess = TRUE)``.

    Returns one row per threshold and coefficient: ``term, kind (threshold|coef),
    estimate, SE, z, p, odds_ratio``; ``attrs``: ``loglik``, ``sd_participant``, ``tests``
    (Wald chi-square per model term: term, chi2, df, p).
    """
    import patsy
    from scipy import optimize

    from analysis.glmm import _num_hess
    from analysis.mixed import _pretty, factorial_formula

    check_columns(df, [dv, *factors, subject])
    check_factors(df, factors)
    data = df.reset_index(drop=True)
    yv = numeric_dv(data, dv)
    cats = np.unique(yv)
    J = len(cats)
    if J < 3:
        raise AnalysisError(f"'{dv}' has fewer than 3 distinct values",
                            "ordinal models need at least three response categories")
    y = np.searchsorted(cats, yv)
    Xd = patsy.dmatrix(factorial_formula(dv, factors).split("~", 1)[1], data)
    info = Xd.design_info
    X = np.asarray(Xd, float)[:, 1:]          # thresholds take the intercept's place
    names = info.column_names[1:]
    g, subjects = pd.factorize(data[subject])
    G = len(subjects)
    if G < 2:
        raise AnalysisError(f"only one level of '{subject}'", "a mixed model needs several")
    cum = np.cumsum(np.bincount(y, minlength=J))[:-1] / len(y)
    alpha0 = np.log(cum / (1 - cum))
    store = [np.zeros(G)]

    def nll(par):
        v = _clmm_laplace(par, y, X, g, G, J, store)
        return -v if np.isfinite(v) else 1e10

    x0 = np.r_[alpha0, np.zeros(X.shape[1]), np.log(0.5)]

    def grad(x, h=1e-6):
        out = np.zeros_like(x)
        for i in range(len(x)):
            e = np.zeros_like(x)
            e[i] = h * max(1.0, abs(x[i]))
            out[i] = (nll(x + e) - nll(x - e)) / (2 * e[i])
        return out

    res = optimize.minimize(nll, x0, jac=grad, method="BFGS",
                            options={"gtol": 1e-7, "maxiter": 1000})
    x = res.x
    H = _num_hess(nll, x, 1e-4)
    cov = np.linalg.inv(H)
    se = np.sqrt(np.diag(cov))
    est = x
    rows = []
    for j in range(J - 1):
        rows.append({"term": f"{cats[j]:g}|{cats[j + 1]:g}", "kind": "threshold",
                     "estimate": float(est[j]), "SE": float(se[j])})
    for i, n in enumerate(names):
        b, s = float(est[J - 1 + i]), float(se[J - 1 + i])
        rows.append({"term": n, "kind": "coef", "estimate": b, "SE": s})
    out = pd.DataFrame(rows)
    out["z"] = out["estimate"] / out["SE"]
    out["p"] = 2 * stats.norm.sf(np.abs(out["z"]))
    out["odds_ratio"] = np.where(out["kind"] == "coef", np.exp(out["estimate"]), np.nan)
    tests = []
    beta = est[J - 1:-1]
    Vb = cov[J - 1:-1, J - 1:-1]
    for name, sl in info.term_name_slices.items():
        if name == "Intercept":
            continue
        s = slice(sl.start - 1, sl.stop - 1)
        b = beta[s]
        chi2 = float(b @ np.linalg.solve(Vb[s, s], b))
        d = s.stop - s.start
        tests.append({"term": _pretty(name), "chi2": chi2, "df": d,
                      "p": float(stats.chi2.sf(chi2, d))})
    out.attrs["loglik"] = -float(res.fun)
    out.attrs["sd_participant"] = float(np.exp(x[-1]))
    out.attrs["tests"] = pd.DataFrame(tests)
    out.attrs["converged"] = bool(res.success)
    return out
