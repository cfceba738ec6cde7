"""Linear mixed models (statsmodels MixedLM) with Wald tests, marginal means and contrasts.

``mixedlm(df, "value ~ C(method, Sum)*C(emotion, Sum)", groups="participant_id")`` fits a
random-intercept model by REML; ``vc={"clip": "clip_id"}`` adds crossed random intercepts
(all rows in one group, one variance component per grouping column, which is how
statsmodels expresses crossed effects). Estimates match ``lme4::lmer(value ~ method*emotion
+ (1|participant_id) [+ (1|clip_id)])`` with sum-to-zero contrasts.

Per-term tests are Wald chi-square tests of all the term's coefficients (as
``car::Anova(m, type = 3, test.statistic = "Chisq")``), which is Type III when the formula
uses sum coding (``C(x, Sum)``, see :func:`factorial_formula`). statsmodels has no
Satterthwaite or Kenward-Roger degrees of freedom, so we report chi-square (and z for
contrasts) with asymptotic normal reference distributions, like ``emmeans`` with
``lmer.df = "asymptotic"``; with 48 participants the difference to Satterthwaite F tests
is small, but it is anti-conservative for very small samples.
"""
from __future__ import annotations

import itertools
import re
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.multiplicity import adjust_p
from analysis.design import AnalysisError, check_columns


def factorial_formula(dv: str, factors: Sequence[str]) -> str:
    """Full-factorial formula with sum-to-zero coding: ``dv ~ C(a, Sum)*C(b, Sum)``."""
    return f"{dv} ~ " + "*".join(f"C({f}, Sum)" for f in factors)


def _pretty(term: str) -> str:
    """``C(method, Sum):C(emotion, Sum)`` -> ``method:emotion``."""
    return re.sub(r"C\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(,[^)]*)?\)", r"\1", term)


@dataclass
class MixedLMResult:
    """A fitted mixed model and its tables (all DataFrames)."""

    fixed: pd.DataFrame        # term (column name), coef, SE, z, p, ci_low, ci_high
    tests: pd.DataFrame        # term, chi2, df, p  (Wald, per model term)
    variances: pd.DataFrame    # component, variance, sd
    n_obs: int
    n_groups: dict
    converged: bool
    result: object = field(repr=False)   # statsmodels MixedLMResults
    factors: dict = field(repr=False, default_factory=dict)  # variable -> levels

    def emmeans(self, spec: str | Sequence[str]) -> pd.DataFrame:
        """Estimated marginal means (equal weights over other factors), 95% Wald CIs."""
        return emmeans(self, spec)

    def pairwise(self, spec: str | Sequence[str], adjust: str = "holm") -> pd.DataFrame:
        """All pairwise differences of marginal means with z tests and adjusted p."""
        return pairwise(self, spec, adjust)


def mixedlm(df: pd.DataFrame, formula: str, groups: str, *, vc: dict[str, str] | None = None,
            reml: bool = True) -> MixedLMResult:
    """Fit a linear mixed model with random intercepts.

    Args:
        df: long-format data, one row per observation.
        formula: patsy formula, e.g. ``factorial_formula("value", ["method", "emotion"])``.
        groups: column with the participant id (random intercept per participant).
        vc: extra crossed random intercepts, name -> column (e.g. ``{"clip": "clip_id"}``).
        reml: REML (default, as lmer) or ML.
    """
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    check_columns(df, [groups, *(vc or {}).values()])
    data = df.reset_index(drop=True).copy()
    dv = formula.split("~")[0].strip()
    check_columns(data, [dv])
    y = pd.to_numeric(data[dv], errors="coerce")
    if y.isna().any():
        raise AnalysisError(f"'{dv}' has {int(y.isna().sum())} missing or non-numeric values",
                            "recode or drop them before fitting the mixed model")
    data[dv] = y
    if y.nunique() < 2:
        raise AnalysisError(f"all values of '{dv}' are equal", "there is nothing to model")
    if data[groups].nunique() < 2:
        raise AnalysisError(f"only one level of '{groups}'", "a mixed model needs several")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", FutureWarning)  # xtol/ftol do reach scipy's Powell
        if vc:
            data["_all"] = 1
            vcf = {"participant": f"0 + C({groups})"}
            vcf.update({name: f"0 + C({col})" for name, col in vc.items()})
            model = smf.mixedlm(formula, data, groups="_all", vc_formula=vcf, re_formula="0")
        else:
            model = smf.mixedlm(formula, data, groups=data[groups])
        res = None
        for method in ("powell", "nm", "lbfgs"):
            try:
                res = model.fit(reml=reml, method=[method], xtol=1e-10, ftol=1e-12,
                                maxiter=5000)
            except (np.linalg.LinAlgError, ValueError):
                continue
            if res.converged:
                break
    if res is None:
        raise AnalysisError("the mixed model could not be fitted (singular fit)",
                            "simplify the model (fewer random effects or factors)")
    k = len(res.fe_params)
    b = res.fe_params.to_numpy()
    V = res.cov_params().to_numpy()[:k, :k]
    se = np.sqrt(np.diag(V))
    z = b / se
    fixed = pd.DataFrame({"term": res.fe_params.index, "coef": b, "SE": se, "z": z,
                          "p": 2 * stats.norm.sf(np.abs(z)),
                          "ci_low": b - 1.959963984540054 * se,
                          "ci_high": b + 1.959963984540054 * se})
    info = model.data.model_spec
    rows = []
    for name, sl in info.term_name_slices.items():
        if name == "Intercept":
            continue
        bb, VV = b[sl], V[sl, sl]
        chi2 = float(bb @ np.linalg.solve(VV, bb))
        d = sl.stop - sl.start
        rows.append({"term": _pretty(name), "chi2": chi2, "df": d,
                     "p": float(stats.chi2.sf(chi2, d))})
    tests = pd.DataFrame(rows)
    if vc:
        names = sorted(["participant", *vc.keys()])  # statsmodels orders vc names
        var = list(zip(names, np.asarray(res.vcomp, dtype=float)))
    else:
        var = [("participant", float(res.cov_re.iloc[0, 0]))]
    var.append(("residual", float(res.scale)))
    variances = pd.DataFrame(var, columns=["component", "variance"])
    variances["sd"] = np.sqrt(variances["variance"].clip(lower=0))
    factors = {}
    for fac, fi in info.factor_infos.items():
        if fi.type == "categorical":
            factors[_pretty(fac.code)] = (fac.code, list(fi.categories))
    n_groups = {"participant": int(data[groups].nunique())}
    for name, col in (vc or {}).items():
        n_groups[name] = int(data[col].nunique())
    return MixedLMResult(fixed, tests, variances, len(data), n_groups, bool(res.converged),
                         res, factors)


def _grid_L(fit: MixedLMResult, spec: Sequence[str]) -> tuple[list, np.ndarray]:
    from patsy import build_design_matrices

    unknown = [s for s in spec if s not in fit.factors]
    if unknown:
        raise AnalysisError(f"{unknown} not a factor of the model ({list(fit.factors)})",
                            "name factors that appear in the formula")
    names = list(fit.factors)
    levels = [fit.factors[n][1] for n in names]
    grid = pd.DataFrame(list(itertools.product(*levels)), columns=names)
    X = np.asarray(build_design_matrices([fit.result.model.data.model_spec], grid)[0])
    keys = grid[list(spec)].astype(str).agg(",".join, axis=1) if len(spec) > 1 else \
        grid[spec[0]].astype(str)
    target = [",".join(map(str, c)) for c in itertools.product(
        *[fit.factors[s][1] for s in spec])]
    L = np.vstack([X[(keys == t).to_numpy()].mean(axis=0) for t in target])
    return target, L


def emmeans(fit: MixedLMResult, spec: str | Sequence[str]) -> pd.DataFrame:
    """Estimated marginal means of a factor (or factor combination ``"a:b"``)."""
    spec = spec.split(":") if isinstance(spec, str) else list(spec)
    target, L = _grid_L(fit, spec)
    k = len(fit.fixed)
    b = fit.fixed["coef"].to_numpy()
    V = fit.result.cov_params().to_numpy()[:k, :k]
    m = L @ b
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, V, L))
    return pd.DataFrame({"level": target, "emmean": m, "SE": se,
                         "ci_low": m - 1.959963984540054 * se,
                         "ci_high": m + 1.959963984540054 * se})


def pairwise(fit: MixedLMResult, spec: str | Sequence[str], adjust: str = "holm"
             ) -> pd.DataFrame:
    """Pairwise contrasts of marginal means: estimate, SE, z, p (adjusted)."""
    spec = spec.split(":") if isinstance(spec, str) else list(spec)
    target, L = _grid_L(fit, spec)
    k = len(fit.fixed)
    b = fit.fixed["coef"].to_numpy()
    V = fit.result.cov_params().to_numpy()[:k, :k]
    rows = []
    for i, j in itertools.combinations(range(len(target)), 2):
        c = L[i] - L[j]
        e = float(c @ b)
        se = float(np.sqrt(c @ V @ c))
        z = e / se
        rows.append({"contrast": f"{target[i]} - {target[j]}", "level1": target[i],
                     "level2": target[j], "estimate": e, "SE": se, "z": z,
                     "p_unadjusted": float(2 * stats.norm.sf(abs(z)))})
    out = pd.DataFrame(rows)
    out["p"] = adjust_p(out["p_unadjusted"].to_numpy(), adjust)
    return out
