"""Linear mixed models with REML, Satterthwaite / Kenward-Roger F tests, marginal means.

* :func:`mixedlm` fits exactly the random intercepts it is given, so a published
  ``lmer`` model can be reproduced: ``mixedlm(df, "value ~ C(method, Sum)*C(emotion, Sum)",
  "participant_id", vc={"clip": "clip_id"})`` is ``lmer(value ~ method*emotion +
  (1|participant_id) + (1|clip_id))`` with sum-to-zero contrasts; lme4-style terms in the
  formula work too (``"value ~ C(method, Sum) + (1|participant_id) +
  (1|participant_id:method)"``), and a ``vc`` value may name an interaction of columns
  (``"participant_id:method"``).
* :func:`study_model` fits the report's default model: participant intercept plus
  participant x within-factor intercepts, plus a crossed clip intercept when a clip column
  is given, simplified from that maximal structure by REML likelihood-ratio tests at
  alpha 0.2 (Matuschek et al. 2017; ``simplify="lrt"``, or ``"singular"`` / ``"none"``).
  ``fit.structure`` states the kept structure in lme4 syntax, ``fit.steps`` each step.

Every fit is REML (:mod:`analysis.lmm`); ``fit.fixed`` holds ``(X'V^-1 X)^-1`` standard
errors and Satterthwaite t tests; ``fit.tests`` holds one F test per model term (Type III:
all the term's sum-coded coefficients are zero, as ``lmerTest::anova(m, type = 3)``) with
Satterthwaite denominator df by default or Kenward-Roger (``ddf="Kenward-Roger"``, as
``anova(m, ddf = "Kenward-Roger")`` / pbkrtest). Marginal means and pairwise contrasts use
t tests with the same df method (as ``emmeans`` with ``lmer.df = "satterthwaite"`` or
``"kenward-roger"``).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.design import AnalysisError, check_columns
from analysis.lmm import REMLFit, VCBlock, fit_reml
from analysis.multiplicity import adjust_p

DDF = ("Satterthwaite", "Kenward-Roger")
_RANDOM = re.compile(r"\+?\s*\(\s*1\s*\|\s*([^)]+?)\s*\)")


def factorial_formula(dv: str, factors: Sequence[str]) -> str:
    """Full-factorial formula with sum-to-zero coding: ``dv ~ C(a, Sum)*C(b, Sum)``."""
    return f"{dv} ~ " + "*".join(f"C({f}, Sum)" for f in factors)


def _pretty(term: str) -> str:
    """``C(method, Sum):C(emotion, Sum)`` -> ``method:emotion``."""
    return re.sub(r"C\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(,[^)]*)?\)", r"\1", term)


@dataclass
class MixedLMResult:
    """A fitted linear mixed model and its tables (all DataFrames).

    ``fixed``: term, coef, SE, df, t, p, ci_low, ci_high (Satterthwaite / KR df);
    ``tests``: term, F, df1, df2, p (Type III F per model term);
    ``variances``: component, variance, sd (random-effect and residual variances);
    ``structure``: the random part in lme4 syntax, e.g. ``(1 | participant_id) + (1 | clip_id)``;
    ``steps``: how :func:`study_model` reached it (one row per component tested or dropped).
    """

    fixed: pd.DataFrame
    tests: pd.DataFrame
    variances: pd.DataFrame
    structure: str
    n_obs: int
    n_groups: dict
    converged: bool
    ddf: str
    formula: str
    fit: REMLFit = field(repr=False)
    design_info: object = field(repr=False, default=None)
    factors: dict = field(repr=False, default_factory=dict)  # variable -> (code, levels)
    dropped: list = field(default_factory=list)  # components removed (singular or LRT)
    simplify: str = "none"  # rule that chose the random part ("lrt", "singular", "none")
    #: study_model's selection steps: component, spec, reason, variance, LR, df, p, decision
    steps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["component", "spec", "reason", "variance", "LR", "df", "p", "decision"]))

    @property
    def variance_components(self) -> dict[str, float]:
        """Component name -> estimated variance (rating units squared), incl. residual."""
        return dict(zip(self.variances["component"], self.variances["variance"].astype(float)))

    def emmeans(self, spec: str | Sequence[str]) -> pd.DataFrame:
        """Estimated marginal means (equal weights over other factors), 95% t CIs."""
        return emmeans(self, spec)

    def pairwise(self, spec: str | Sequence[str], adjust: str = "holm") -> pd.DataFrame:
        """All pairwise differences of marginal means with t tests and adjusted p."""
        return pairwise(self, spec, adjust)

    def contrast_df(self, l: np.ndarray) -> float:
        """Denominator df of a single contrast ``l'beta`` by this fit's df method."""
        if self.ddf == "Kenward-Roger":
            return self.fit.contrast_df_kr(l)
        return self.fit.contrast_df(l)

    def selection_text(self) -> str:
        """The selection steps in words, e.g. ``clip_id dropped (LRT, alpha 0.2: variance
        0.0247, LR = 0.48, df = 1, p = .490); ...``; empty when nothing was tested or
        dropped."""
        out = []
        for r in self.steps.itertuples():
            if np.isfinite(r.LR):
                p = f"{r.p:.3f}".lstrip("0") if r.p >= 0.001 else "< .001"
                p = p if p.startswith("<") else f"= {p}"
                out.append(f"{r.spec} {r.decision} ({r.reason}: variance {r.variance:.3g}, "
                           f"LR = {r.LR:.2f}, df = {int(r.df)}, p {p})")
            else:
                out.append(f"{r.spec} {r.decision} ({r.reason})")
        return "; ".join(out)

    def cov_beta(self) -> np.ndarray:
        """Covariance of the fixed effects used for tests (KR-adjusted under KR)."""
        return self.fit.cov_beta_kr if self.ddf == "Kenward-Roger" else self.fit.cov_beta


def _split_formula(formula: str) -> tuple[str, list[str]]:
    """Remove lme4 ``(1|g)`` terms from a formula -> (fixed formula, grouping specs)."""
    groups = _RANDOM.findall(formula)
    fixed = _RANDOM.sub("", formula).strip()
    fixed = re.sub(r"\+\s*$", "", fixed).strip()
    if fixed.endswith("~"):
        fixed += " 1"
    return fixed, groups


def _codes(data: pd.DataFrame, spec: str) -> tuple[np.ndarray, int]:
    cols = [c.strip() for c in spec.split(":")]
    check_columns(data, cols)
    key = data[cols[0]].astype(str)
    for c in cols[1:]:
        key = key + "\x1f" + data[c].astype(str)
    codes, uniq = pd.factorize(key)
    return codes, len(uniq)


def _random_terms(groups: str | None, vc: dict | None, formula_groups: list[str]
                  ) -> list[tuple[str, str]]:
    """(component name, grouping spec) pairs, in the order given."""
    terms: list[tuple[str, str]] = []
    if groups:
        terms.append(("participant", groups))
    for name, spec in (vc or {}).items():
        spec = ":".join(spec) if isinstance(spec, (list, tuple)) else spec
        terms.append((name, spec))
    for g in formula_groups:
        terms.append((g.replace(" ", ""), g.replace(" ", "")))
    return terms


def _prepare(df: pd.DataFrame, formula: str, specs: list[str]):
    import patsy

    fixed_formula, _ = _split_formula(formula)
    data = df.reset_index(drop=True).copy()
    dv = fixed_formula.split("~")[0].strip()
    check_columns(data, [dv])
    for s in specs:
        check_columns(data, [c.strip() for c in s.split(":")])
    y = pd.to_numeric(data[dv], errors="coerce")
    if y.isna().any():
        raise AnalysisError(f"'{dv}' has {int(y.isna().sum())} missing or non-numeric values",
                            "recode or drop them before fitting the mixed model")
    data[dv] = y
    if y.nunique() < 2:
        raise AnalysisError(f"all values of '{dv}' are equal", "there is nothing to model")
    try:
        X = patsy.dmatrix(fixed_formula.split("~", 1)[1], data, NA_action="raise")
    except patsy.PatsyError as e:
        raise AnalysisError(f"bad model formula '{formula}': {e}".splitlines()[0],
                            "write it like factorial_formula(dv, factors)") from None
    return data, y.to_numpy(float), np.asarray(X, float), X.design_info, fixed_formula


def _structure(terms: Sequence[tuple[str, str]]) -> str:
    return " + ".join(f"(1 | {spec})" for _, spec in terms) or "(none)"


def _reml(data, y, X, terms, theta0=None) -> REMLFit:
    blocks = []
    for name, spec in terms:
        codes, n_lev = _codes(data, spec)
        if n_lev < 2:
            raise AnalysisError(f"only one level of '{spec}'", "a random effect needs several")
        blocks.append(VCBlock(name, codes, n_lev))
    try:
        return fit_reml(y, X, blocks, theta0)
    except np.linalg.LinAlgError:
        raise AnalysisError("the mixed model could not be fitted (rank-deficient or singular "
                            "design)", "check for empty cells or simplify the model") from None


def _fit(data, y, X, info, fixed_formula, terms, ddf, theta0=None, dropped=()):
    if ddf not in DDF:
        raise AnalysisError(f"unknown ddf '{ddf}'", f"use one of {list(DDF)}")
    fit = _reml(data, y, X, terms, theta0)
    return _result(fit, data, info, fixed_formula, terms, ddf, list(dropped))


def _result(fit: REMLFit, data, info, fixed_formula, terms, ddf, dropped) -> MixedLMResult:
    cov = fit.cov_beta_kr if ddf == "Kenward-Roger" else fit.cov_beta
    b = fit.beta
    se = np.sqrt(np.diag(cov))
    p_ = len(b)
    dfs = []
    for j in range(p_):
        e = np.zeros(p_)
        e[j] = 1.0
        dfs.append(fit.contrast_df_kr(e) if ddf == "Kenward-Roger" else fit.contrast_df(e))
    dfs = np.asarray(dfs)
    t = b / se
    crit = stats.t.ppf(0.975, dfs)
    fixed = pd.DataFrame({"term": info.column_names, "coef": b, "SE": se, "df": dfs, "t": t,
                          "p": 2 * stats.t.sf(np.abs(t), dfs),
                          "ci_low": b - crit * se, "ci_high": b + crit * se})
    rows = []
    for name, sl in info.term_name_slices.items():
        if name == "Intercept":
            continue
        L = np.eye(p_)[sl]
        F, df1, df2, p = fit.ftest(L, ddf)
        rows.append({"term": _pretty(name), "F": F, "df1": df1, "df2": df2, "p": p})
    tests = pd.DataFrame(rows, columns=["term", "F", "df1", "df2", "p"])
    var = fit.variances
    variances = pd.DataFrame({"component": list(var), "variance": list(var.values())})
    variances["sd"] = np.sqrt(variances["variance"].clip(lower=0))
    factors = {}
    for fac, fi in info.factor_infos.items():
        if fi.type == "categorical":
            factors[_pretty(fac.code)] = (fac.code, list(fi.categories))
    n_groups = {name: int(len(fit.blups[name])) for name, _ in terms}
    return MixedLMResult(fixed, tests, variances, _structure(terms), fit.n, n_groups,
                         fit.converged, ddf, fixed_formula, fit, info, factors, dropped)


def mixedlm(df: pd.DataFrame, formula: str, groups: str | None = None, *,
            vc: dict[str, str] | None = None, ddf: str = "Satterthwaite") -> MixedLMResult:
    """Fit a linear mixed model with exactly the given random intercepts, by REML.

    Args:
        df: long-format data, one row per observation.
        formula: patsy formula for the fixed part, e.g. ``factorial_formula("value",
            ["method", "emotion"])``; may also carry lme4 terms ``(1|g)``, ``(1|a:b)``.
        groups: column with the participant id (component ``participant``), or None.
        vc: more random intercepts, component name -> column or ``"col1:col2"``
            (crossed, e.g. ``{"clip": "clip_id"}``; nested, e.g.
            ``{"participant:method": "participant_id:method"}``).
        ddf: ``"Satterthwaite"`` (default, lmerTest) or ``"Kenward-Roger"`` (pbkrtest).
    """
    _, fg = _split_formula(formula)
    terms = _random_terms(groups, vc, fg)
    if not terms:
        raise AnalysisError("no random effects given",
                            "pass groups= (participant column), vc= or (1|g) terms")
    data, y, X, info, fixed_formula = _prepare(df, formula, [s for _, s in terms])
    if groups and data[groups].nunique() < 2:
        raise AnalysisError(f"only one level of '{groups}'", "a mixed model needs several")
    return _fit(data, y, X, info, fixed_formula, terms, ddf)


SIMPLIFY = ("lrt", "singular", "none")


def _fit_dropping_singular(data, y, X, terms, theta0, singular_tol, steps, dropped,
                           drop_singular=True):
    """REML fit of ``terms``; components that cannot be estimated, or (``drop_singular``)
    are estimated at zero, are removed and the model refitted. Returns (fit, kept terms)."""
    while True:
        try:
            fit = _reml(data, y, X, terms, theta0)
        except AnalysisError:
            # not estimable: drop the highest-order participant x within component, retry
            nested = [i for i, (name, _) in enumerate(terms) if name.startswith("participant:")]
            if not nested:
                raise
            worst = max(nested, key=lambda i: terms[i][0].count(":"))
            dropped.append(terms[worst][1])
            steps.append({"component": terms[worst][0], "spec": terms[worst][1],
                          "reason": "not estimable", "variance": np.nan, "LR": np.nan,
                          "df": np.nan, "p": np.nan, "decision": "dropped"})
            terms = terms[:worst] + terms[worst + 1:]
            theta0 = None
            continue
        th = fit.theta
        if not drop_singular:
            return fit, terms
        keep = [i for i, t in enumerate(th) if t >= singular_tol]
        if len(keep) == len(th) or (not keep and len(th) == 1):
            return fit, terms
        if not keep:  # nothing estimable: keep the participant intercept alone
            keep = [0]
        for i in range(len(th)):
            if i not in keep:
                dropped.append(terms[i][1])
                steps.append({"component": terms[i][0], "spec": terms[i][1],
                              "reason": "singular", "variance": float((th[i] * fit.sigma) ** 2),
                              "LR": np.nan, "df": np.nan, "p": np.nan, "decision": "dropped"})
        terms = [terms[i] for i in keep]
        theta0 = th[keep]


def study_model(df: pd.DataFrame, dv: str, factors: Sequence[str], subject: str,
                clip: str | None = None, *, ddf: str = "Satterthwaite",
                simplify: str = "lrt", alpha_lrt: float = 0.20,
                singular_tol: float = 1e-4) -> MixedLMResult:
    """The report's default mixed model for a factorial within-participant rating study.

    Fixed: full factorial of ``factors`` (sum-to-zero). Maximal random part: ``(1|subject)``
    plus ``(1|subject:T)`` for every term T of the within-participant factors whose
    participant x T groups hold more than one observation each on average (so the
    component is not the residual), plus ``(1|clip)`` when ``clip`` is given and has
    several levels. If a structure cannot be fitted at all (numerically singular), its
    highest-order participant x within component is dropped first. Then, by ``simplify``:

    * ``"lrt"`` (default): components estimated at zero (relative SD below
      ``singular_tol``) are dropped, then backward selection as Matuschek, Kliegl,
      Vasishth, Baayen & Bates (2017, J. Mem. Lang. 94:305-315): the component with the
      smallest estimated variance (the participant intercept is never removed) is tested by
      a REML likelihood-ratio test of the model without it (same fixed effects, so REML
      deviances compare; LR = deviance difference, chi-square with 1 df, as R's
      ``anova(m0, m1, refit = FALSE)``); it is dropped when p >= ``alpha_lrt`` (0.20) and
      the next smallest is tested, until one is kept.
    * ``"singular"``: only components estimated at zero are dropped (Bates et al. 2015,
      "Parsimonious mixed models").
    * ``"none"``: the maximal structure is fitted as it is (zero estimates kept).

    ``fit.structure`` states what was kept (lme4 syntax), ``fit.dropped`` what was removed,
    and ``fit.steps`` every step (component, reason, variance, LR, df, p, decision), so a
    pre-registered rule can be checked.
    """
    from analysis.design import effect_terms

    if simplify not in SIMPLIFY:
        raise AnalysisError(f"unknown simplify '{simplify}'", f"use one of {list(SIMPLIFY)}")
    if not 0 < alpha_lrt < 1:
        raise AnalysisError(f"alpha_lrt is {alpha_lrt}", "give a level in (0, 1), e.g. 0.2")
    check_columns(df, [dv, *factors, subject] + ([clip] if clip else []))
    within = [f for f in factors
              if (df.groupby(subject, observed=True)[f].nunique() > 1).any()]
    n = len(df)
    terms: list[tuple[str, str]] = [("participant", subject)]
    for term in effect_terms(within):
        _, n_lev = _codes(df.reset_index(drop=True), ":".join([subject, *term]))
        if n_lev < n:
            terms.append(("participant:" + ":".join(term), ":".join([subject, *term])))
    if clip and df[clip].nunique() > 1:
        terms.append(("clip", clip))
    formula = factorial_formula(dv, factors)
    data, y, X, info, fixed_formula = _prepare(df, formula, [s for _, s in terms])
    if data[subject].nunique() < 2:
        raise AnalysisError(f"only one level of '{subject}'", "a mixed model needs several")
    if ddf not in DDF:
        raise AnalysisError(f"unknown ddf '{ddf}'", f"use one of {list(DDF)}")
    dropped: list[str] = []
    steps: list[dict] = []
    fit, terms = _fit_dropping_singular(data, y, X, terms, None, singular_tol, steps, dropped,
                                        drop_singular=simplify != "none")
    while simplify == "lrt" and len(terms) > 1:
        var = (fit.theta * fit.sigma) ** 2
        cand = [i for i, (name, _) in enumerate(terms) if name != "participant"]
        if not cand:
            break
        j = min(cand, key=lambda i: var[i])
        sub_steps: list[dict] = []
        sub_dropped: list[str] = []
        reduced = terms[:j] + terms[j + 1:]
        fit_r, reduced = _fit_dropping_singular(
            data, y, X, reduced, np.delete(fit.theta, j), singular_tol, sub_steps,
            sub_dropped)
        lr = max(float(fit_r.deviance - fit.deviance), 0.0)
        p = float(stats.chi2.sf(lr, 1))
        keep = p < alpha_lrt
        steps.append({"component": terms[j][0], "spec": terms[j][1],
                      "reason": f"LRT, alpha {alpha_lrt:g}", "variance": float(var[j]),
                      "LR": lr, "df": 1, "p": p, "decision": "kept" if keep else "dropped"})
        if keep:
            break
        dropped.append(terms[j][1])
        dropped += sub_dropped
        steps += sub_steps
        fit, terms = fit_r, reduced
    res = _result(fit, data, info, fixed_formula, terms, ddf, dropped)
    res.simplify = simplify
    res.steps = pd.DataFrame(steps, columns=list(STEP_COLUMNS))
    return res


#: columns of ``MixedLMResult.steps``
STEP_COLUMNS = ("component", "spec", "reason", "variance", "LR", "df", "p", "decision")


def _grid_L(fit: MixedLMResult, spec: Sequence[str]) -> tuple[list, np.ndarray]:
    from patsy import build_design_matrices

    unknown = [s for s in spec if s not in fit.factors]
    if unknown:
        raise AnalysisError(f"{unknown} not a factor of the model ({list(fit.factors)})",
                            "name factors that appear in the formula")
    names = list(fit.factors)
    lv = [fit.factors[n][1] for n in names]
    grid = pd.DataFrame(list(itertools.product(*lv)), columns=names)
    X = np.asarray(build_design_matrices([fit.design_info], grid)[0])
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
    b = fit.fit.beta
    V = fit.cov_beta()
    m = L @ b
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, V, L))
    df = np.array([fit.contrast_df(l) for l in L])
    crit = stats.t.ppf(0.975, df)
    return pd.DataFrame({"level": target, "emmean": m, "SE": se, "df": df,
                         "ci_low": m - crit * se, "ci_high": m + crit * se})


def pairwise(fit: MixedLMResult, spec: str | Sequence[str], adjust: str = "holm"
             ) -> pd.DataFrame:
    """Pairwise contrasts of marginal means: estimate, SE, df, t, p (adjusted)."""
    spec = spec.split(":") if isinstance(spec, str) else list(spec)
    target, L = _grid_L(fit, spec)
    b = fit.fit.beta
    V = fit.cov_beta()
    rows = []
    for i, j in itertools.combinations(range(len(target)), 2):
        c = L[i] - L[j]
        e = float(c @ b)
        se = float(np.sqrt(c @ V @ c))
        df = fit.contrast_df(c)
        t = e / se
        rows.append({"contrast": f"{target[i]} - {target[j]}", "level1": target[i],
                     "level2": target[j], "estimate": e, "SE": se, "df": df, "t": t,
                     "p_unadjusted": float(2 * stats.t.sf(abs(t), df))})
    out = pd.DataFrame(rows)
    out["p"] = adjust_p(out["p_unadjusted"].to_numpy(), adjust)
    return out
