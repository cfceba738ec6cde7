"""Binomial (logit) generalized linear mixed models by the Laplace approximation.

Same model and criterion as ``lme4::glmer(y ~ ..., family = binomial)`` with its default
``nAGQ = 1`` (Bates et al. 2015, J. Stat. Softw. 67(1), section 5; lme4 ``glmer`` /
``optimizeGlmer`` stage 2): random intercepts ``b = Lambda u``, ``u ~ N(0, I)``; for given
(theta, beta) the conditional mode of u is found by penalised iteratively reweighted least
squares (Newton on ``log p(y|u) - |u|^2/2``), and the Laplace deviance::

    -2 log L ~ sum_i d_i(y_i, mu_i) + |u|^2 + log|Lambda Z'W Z Lambda + I|

(d_i the binomial deviance residuals, W = diag(mu(1-mu))) is minimised over theta and beta
jointly. As ``vcov(glmer)`` (lme4 >= 1.1-8, ``use.hessian = TRUE``), the fixed-effect
covariance is the beta block of twice the inverse Hessian of that deviance in (theta,
beta), computed here by central differences. Per-term Wald chi-square tests use the term's
sum-coded coefficients (as ``car::Anova(m, type = 3)``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from analysis.design import AnalysisError, check_columns


@dataclass
class GLMMResult:
    """A fitted binomial GLMM.

    ``fixed``: term, coef, SE, z, p, odds_ratio; ``tests``: term, chi2, df, p (Wald, Type
    III); ``variances``: component -> variance of the random intercept (logit scale);
    ``structure``: random part in lme4 syntax; ``loglik``: Laplace log-likelihood.
    """

    fixed: pd.DataFrame
    tests: pd.DataFrame
    variances: dict
    structure: str
    loglik: float
    n_obs: int
    converged: bool
    theta: np.ndarray = field(repr=False, default=None)
    cov_beta: np.ndarray = field(repr=False, default=None)


def _mode(eta0: np.ndarray, y: np.ndarray, ZL: np.ndarray, u0: np.ndarray
          ) -> tuple[np.ndarray, float]:
    """Conditional mode u and Laplace deviance for fixed linear predictor part eta0."""
    u = u0.copy()
    q = ZL.shape[1]

    def pen_dev(u):
        eta = eta0 + ZL @ u
        # -2 log p(y|eta) for Bernoulli: 2 * softplus(-eta) if y=1 else 2 * softplus(eta)
        return 2.0 * float(np.sum(np.logaddexp(0.0, np.where(y > 0, -eta, eta)))) + u @ u

    cur = pen_dev(u)
    for _ in range(100):
        eta = eta0 + ZL @ u
        mu = special.expit(eta)
        w = mu * (1 - mu)
        H = (ZL.T * w) @ ZL + np.eye(q)
        g = ZL.T @ (y - mu) - u
        step = np.linalg.solve(H, g)
        t = 1.0
        while True:
            new = pen_dev(u + t * step)
            if new <= cur + 1e-12 or t < 1e-8:
                break
            t /= 2
        u = u + t * step
        done = abs(cur - new) < 1e-13 * (1 + abs(new)) and np.max(np.abs(t * step)) < 1e-10
        cur = new
        if done:
            break
    eta = eta0 + ZL @ u
    mu = special.expit(eta)
    w = mu * (1 - mu)
    H = (ZL.T * w) @ ZL + np.eye(q)
    sign, logdet = np.linalg.slogdet(H)
    return u, cur + logdet


def _laplace(params, y, X, Zs, owners, k, u_store):
    theta, beta = params[:k], params[k:]
    ZL = Zs * theta[owners][None, :]
    u, dev = _mode(X @ beta, y, ZL, u_store[0])
    u_store[0] = u
    return dev


def _num_grad(f, x, h=1e-5):
    g = np.zeros_like(x)
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = h * max(1.0, abs(x[i]))
        g[i] = (f(x + e) - f(x - e)) / (2 * e[i])
    return g


def _num_hess(f, x, h=1e-4):
    n = len(x)
    H = np.zeros((n, n))
    steps = h * np.maximum(1.0, np.abs(x))
    f0 = f(x)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = steps[i]
        H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / steps[i] ** 2
        for j in range(i + 1, n):
            ej = np.zeros(n)
            ej[j] = steps[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                 + f(x - ei - ej)) / (4 * steps[i] * steps[j])
    return H


def fit_binomial_glmm(y: np.ndarray, X: np.ndarray, groups: list[tuple[str, np.ndarray]]
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
    """Laplace fit -> (beta, cov_beta, theta (random-intercept SDs), loglik, converged).

    ``groups``: (name, integer codes (n,)) per random intercept.
    """
    y = np.asarray(y, float)
    n, p = X.shape
    cols, owners = [], []
    for k, (_, codes) in enumerate(groups):
        m = int(codes.max()) + 1
        Z = np.zeros((n, m))
        Z[np.arange(n), codes] = 1.0
        cols.append(Z)
        owners.append(np.full(m, k))
    Zs = np.hstack(cols)
    owners = np.concatenate(owners)
    k = len(groups)
    # start: the ordinary logistic regression, theta = 1 (as lme4's stage 1 does)
    import statsmodels.api as sm
    try:
        beta0 = np.asarray(sm.GLM(y, X, family=sm.families.Binomial()).fit().params)
    except Exception:  # noqa: BLE001 - separation etc.: start at zero
        beta0 = np.zeros(p)
    store = [np.zeros(Zs.shape[1])]

    def f(x):
        x = np.asarray(x, float)
        return _laplace(np.r_[np.abs(x[:k]), x[k:]], y, X, Zs, owners, k, store)

    x0 = np.r_[np.ones(k), beta0]
    res = optimize.minimize(f, x0, jac=lambda x: _num_grad(f, x), method="BFGS",
                            options={"gtol": 1e-6, "maxiter": 500})
    x = np.r_[np.abs(res.x[:k]), res.x[k:]]
    dev = f(x)
    H = _num_hess(f, x)
    try:
        cov = 2 * np.linalg.inv(H)[k:, k:]
        if not np.all(np.diag(cov) > 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov = 2 * np.linalg.inv(_num_hess(lambda b: f(np.r_[x[:k], b]), x[k:]))
    converged = bool(res.success) or float(np.max(np.abs(_num_grad(f, x)))) < 1e-3
    return x[k:], cov, x[:k], -dev / 2, converged


_RANDOM = re.compile(r"\+?\s*\(\s*1\s*\|\s*([^)]+?)\s*\)")


def glmm_binomial(df: pd.DataFrame, formula: str, groups: str | None = None, *,
                  vc: dict[str, str] | None = None) -> GLMMResult:
    """Logistic mixed model with random intercepts (Laplace), like ``glmer(binomial)``.

    Args:
        df: one row per binary response.
        formula: fixed part, e.g. ``"correct ~ C(method, Sum)*C(emotion, Sum)"``; lme4
            terms ``(1|g)`` may be appended.
        groups: participant column (component ``participant``) or None.
        vc: more random intercepts, name -> column (e.g. ``{"clip": "clip_id"}``).
    """
    import patsy

    from analysis.mixed import _codes, _pretty

    specs = [("participant", groups)] if groups else []
    specs += [(n, c) for n, c in (vc or {}).items()]
    specs += [(g.replace(" ", ""), g.replace(" ", "")) for g in _RANDOM.findall(formula)]
    if not specs:
        raise AnalysisError("no random effects given", "pass groups=, vc= or (1|g) terms")
    fixed_formula = re.sub(r"\+\s*$", "", _RANDOM.sub("", formula)).strip()
    dv = fixed_formula.split("~")[0].strip()
    check_columns(df, [dv])
    data = df.reset_index(drop=True)
    y = pd.to_numeric(data[dv], errors="coerce")
    if y.isna().any() or not y.isin([0, 1]).all():
        raise AnalysisError(f"'{dv}' must be 0 or 1 on every row", "recode it before fitting")
    if y.nunique() < 2:
        raise AnalysisError(f"all values of '{dv}' are equal",
                            "a logistic model needs both outcomes")
    X = patsy.dmatrix(fixed_formula.split("~", 1)[1], data, NA_action="raise")
    info = X.design_info
    X = np.asarray(X, float)
    grp = []
    for name, spec in specs:
        codes, n_lev = _codes(data, spec)
        if n_lev < 2:
            raise AnalysisError(f"only one level of '{spec}'", "a random effect needs several")
        grp.append((name, codes))
    beta, cov, theta, ll, conv = fit_binomial_glmm(y.to_numpy(float), X, grp)
    se = np.sqrt(np.diag(cov))
    z = beta / se
    fixed = pd.DataFrame({"term": info.column_names, "coef": beta, "SE": se, "z": z,
                          "p": 2 * stats.norm.sf(np.abs(z)), "odds_ratio": np.exp(beta)})
    rows = []
    for name, sl in info.term_name_slices.items():
        if name == "Intercept":
            continue
        b, V = beta[sl], cov[sl, sl]
        chi2 = float(b @ np.linalg.solve(V, b))
        d = sl.stop - sl.start
        rows.append({"term": _pretty(name), "chi2": chi2, "df": d,
                     "p": float(stats.chi2.sf(chi2, d))})
    variances = {name: float(t * t) for (name, _), t in zip(specs, theta)}
    structure = " + ".join(f"(1 | {s})" for _, s in specs)
    return GLMMResult(fixed, pd.DataFrame(rows), variances, structure, float(ll), len(data),
                      conv, theta, cov)


def factorial_glmm(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str,
                   clip: str | None = None) -> GLMMResult:
    """``dv ~ factors (full factorial, sum coding) + (1|subject) [+ (1|clip)]``."""
    from analysis.mixed import factorial_formula

    check_columns(df, [dv, *factors, subject] + ([clip] if clip else []))
    vc = {"clip": clip} if clip and df[clip].nunique() > 1 else None
    return glmm_binomial(df, factorial_formula(dv, factors), subject, vc=vc)
