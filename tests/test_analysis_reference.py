"""Our statistics against reference values from R (scripts/r_reference.R).

The datasets (tests/fixtures/analysis/*.csv) and R's numbers (r_reference.json) are
committed; regenerate both with ``python scripts/make_analysis_fixtures.py`` (needs R).
Tolerances met are stated per test (relative unless marked absolute).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis

FIX = Path(__file__).parent / "fixtures" / "analysis"
R = json.loads((FIX / "r_reference.json").read_text())


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / name, keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    return _read("study16.csv")


@pytest.fixture(scope="module")
def nat(study) -> pd.DataFrame:
    return study[study["item"] == "naturalness"].reset_index(drop=True)


def _close(ours, ref, rtol, atol=0.0):
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(ref, float),
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize("key,file,dv,factors,subject", [
    ("art_naturalness", "study16.csv", "value", ["method", "emotion"], "participant_id"),
    ("art_within3", "within3.csv", "y", ["A", "B", "C"], "subject"),
    ("art_mixed_design", "mixed_design.csv", "y", ["group", "cond"], "subject"),
])
def test_art_matches_r_aov_error_strata(key, file, dv, factors, subject):
    """ART F, df and p equal R's aov(ranks ~ A*B + Error(S)) per effect (rtol 1e-9)."""
    df = _read(file)
    if file == "study16.csv":
        df = df[df["item"] == "naturalness"]
    ours = analysis.art(df, dv, factors, subject, error="pooled")
    ref = pd.DataFrame(R[key])
    assert list(ours["term"]) == list(ref["term"])
    _close(ours["F"], ref["F"], 1e-9)
    assert list(ours["df1"]) == list(ref["df1"]) and list(ours["df2"]) == list(ref["df2"])
    _close(ours["p"], ref["p"], 1e-8, 1e-15)
    assert list(ours["error"]) == list(ref["error"])  # Within vs subject stratum


@pytest.mark.parametrize("key,file,dv,factors,subject,term", [
    ("artcon_naturalness_method", "study16.csv", "value", ["method", "emotion"],
     "participant_id", "method"),
    ("artcon_naturalness_interaction", "study16.csv", "value", ["method", "emotion"],
     "participant_id", "method:emotion"),
    ("artcon_within3_AC", "within3.csv", "y", ["A", "B", "C"], "subject", "A:C"),
])
def test_art_contrasts_match_r_emmeans(key, file, dv, factors, subject, term):
    """ART-C estimates, SE, t, df and Holm p equal R's emmeans pairs (rtol 1e-9)."""
    df = _read(file)
    if file == "study16.csv":
        df = df[df["item"] == "naturalness"]
    ours = analysis.art_contrasts(df, dv, factors, subject, term, adjust="holm",
                                  error="pooled")
    ref = pd.DataFrame(R[key])
    assert list(ours["level1"]) == list(ref["level1"])
    assert list(ours["level2"]) == list(ref["level2"])
    _close(ours["estimate"], ref["estimate"], 1e-9, 1e-9)
    _close(ours["SE"], ref["SE"], 1e-9)
    _close(ours["t"], ref["t"], 1e-9, 1e-9)
    assert (ours["df"] == ref["df"]).all()
    _close(ours["p"], ref["p"], 1e-7, 1e-12)


def test_art_contrasts_between_and_within_in_a_mixed_design():
    """Within factor: within stratum; between factor: subject mean ranks (rtol 1e-9)."""
    md = _read("mixed_design.csv")
    cond = analysis.art_contrasts(md, "y", ["group", "cond"], "subject", "cond", error="pooled")
    ref = R["artcon_mixed_cond"]
    _close(cond["estimate"], ref["estimate"], 1e-9)
    _close(cond["SE"], ref["SE"], 1e-9)
    _close(cond["p"], ref["p"], 1e-8)
    assert list(cond["df"]) == ref["df"]
    grp = analysis.art_contrasts(md, "y", ["group", "cond"], "subject", "group",
                                 error="pooled").iloc[0]
    ref = R["artcon_mixed_group"]
    assert grp["estimate"] == pytest.approx(ref["estimate"], rel=1e-9)
    assert grp["SE"] == pytest.approx(ref["SE"], rel=1e-9)
    assert grp["df"] == ref["df"]
    assert grp["p"] == pytest.approx(ref["p"], rel=1e-8)


def test_art_alignment_checks_pass(nat):
    checks = analysis.art_checks(nat, "value", ["method", "emotion"], "participant_id")
    assert analysis.art_checks(nat, "value", ["method", "emotion"], "participant_id",
                               error="pooled")["ok"].all()
    assert checks["ok"].all()
    assert (checks["aligned_sum"].abs() < 1e-8).all()


@pytest.mark.parametrize("key,file,dv,within,subject", [
    ("rm_anova_naturalness", "study16.csv", "value", ["method", "emotion"], "participant_id"),
    ("rm_anova_within3", "within3.csv", "y", ["A", "B", "C"], "subject"),
])
def test_rm_anova_matches_afex(key, file, dv, within, subject):
    """F, p, GG epsilon and p, partial and generalized eta^2 equal afex::aov_ez (rtol 1e-9)."""
    df = _read(file)
    if file == "study16.csv":
        df = df[df["item"] == "naturalness"]
    ours = analysis.rm_anova(df, dv, within, subject)
    ref = R[key]
    assert list(ours["term"]) == ref["term"]
    _close(ours["F"], ref["F"], 1e-9)
    _close(ours["df2"], ref["df2"], 0)
    _close(ours["p"], ref["p"], 1e-8)
    _close(ours["partial_eta2"], ref["pes"], 1e-9)
    _close(ours["ges"], ref["ges"], 1e-9)
    _close(ours["p_gg"], ref["p_gg"], 1e-8)
    eps = ours.set_index("term").loc[ref["eps_term"], "eps_gg"]
    _close(eps, ref["eps_gg"], 1e-9)
    if "mauchly_p" in ref:
        # car's Mauchly p uses the number of cells in one term of its second-order
        # correction; we use the textbook (stats::mauchly.test) form: |diff| < 1e-3.
        m = ours.set_index("term").loc[ref["mauchly_term"]]
        _close(m["mauchly_W"], ref["mauchly_W"], 1e-9)
        _close(m["mauchly_p"], ref["mauchly_p"], 0, 1e-3)


def test_mixedlm_matches_lmer(nat):
    """REML fixed effects (abs 1e-9), SEs and variances (rtol 1e-6), Wald chi2 (rtol 1e-6),
    EMMs and Holm pairwise z tests (rtol 1e-6) equal lme4 + car::Anova + emmeans."""
    ref = R["lmer_naturalness"]
    fit = analysis.mixedlm(nat, analysis.factorial_formula("value", ["method", "emotion"]),
                           "participant_id")
    _close(fit.fixed["coef"], ref["fixef"], 0, 1e-9)
    _close(fit.fixed["SE"], ref["se"], 1e-6)
    var = fit.variances.set_index("component")["variance"]
    _close([var["participant"], var["residual"]], [ref["var_group"], ref["var_resid"]], 1e-6)
    assert list(fit.tests["term"]) == ref["anova_term"][1:]
    _close(fit.tests["chi2"], ref["chisq"][1:], 1e-6)
    _close(fit.tests["p"], ref["chisq_p"][1:], 1e-5)
    emm = fit.emmeans("method")
    assert list(emm["level"]) == ref["emm_level"]
    _close(emm["emmean"], ref["emmean"], 1e-9)
    _close(emm["SE"], ref["emm_se"], 1e-6)
    pw = fit.pairwise("method", "holm")
    _close(pw["estimate"], ref["pair_estimate"], 1e-9)
    _close(pw["z"], ref["pair_z"], 1e-6)
    _close(pw["p"], ref["pair_p"], 1e-5)


def test_mixedlm_crossed_clip_matches_lmer(nat):
    """(1|participant) + (1|clip): variances and Wald chi2 within rtol 1e-4 of lme4."""
    ref = R["lmer_crossed_naturalness"]
    fit = analysis.mixedlm(nat, analysis.factorial_formula("value", ["method", "emotion"]),
                           "participant_id", vc={"clip": "clip_id"})
    var = fit.variances.set_index("component")["variance"]
    _close([var["participant"], var["clip"], var["residual"]],
           [ref["var_participant"], ref["var_clip"], ref["var_resid"]], 1e-4)
    _close(fit.fixed["coef"], ref["fixef"], 0, 1e-9)
    _close(fit.fixed["SE"], ref["se"], 1e-4)
    _close(fit.tests["chi2"], ref["chisq"][1:], 1e-4)


def test_friedman_and_wilcoxon_match_r(nat):
    """friedman.test and wilcox.test(paired, exact=FALSE, correct=TRUE) + Holm (rtol 1e-9)."""
    fr = analysis.friedman(nat, "value", "method", "participant_id").iloc[0]
    ref = R["friedman_naturalness_method"]
    _close(fr["chi2"], ref["statistic"], 1e-9)
    _close(fr["p"], ref["p"], 1e-8)
    assert fr["kendall_w"] == pytest.approx(ref["statistic"] / (16 * 3))
    w = analysis.wilcoxon_pairwise(nat, "value", "method", "participant_id")
    rw = R["wilcoxon_naturalness_method"]
    assert list(w["level1"]) == rw["level1"] and list(w["level2"]) == rw["level2"]
    _close(w["V"], rw["V"], 0)
    _close(w["p_unadjusted"], rw["p_unadjusted"], 1e-9)
    _close(w["p"], rw["p"], 1e-9)
    assert ((w["rank_biserial"] >= -1) & (w["rank_biserial"] <= 1)).all()


def test_ordered_logit_matches_clm(nat):
    """Proportional-odds coefficients/thresholds within abs 1e-5, SEs rtol 1e-4 of clm."""
    ref = R["clm_naturalness"]
    ol = analysis.ordered_logit(nat, "value", ["method", "emotion"])
    coef = ol[ol["kind"] == "coef"]
    thr = ol[ol["kind"] == "threshold"]
    _close(coef["estimate"], ref["coef"][6:], 0, 1e-5)
    _close(coef["SE"], ref["se"][6:], 1e-4)
    _close(thr["estimate"], ref["coef"][:6], 0, 1e-5)
    assert list(thr["term"]) == ref["names"][:6]
    assert ol.attrs["loglik"] == pytest.approx(ref["logLik"], rel=1e-8)


def test_ordinal_gee_runs_with_participant_clusters(nat):
    og = analysis.ordinal_gee(nat, "value", ["method", "emotion"], "participant_id")
    assert len(og) == 4 and np.isfinite(og["SE"]).all()
    # neutral is rated lower than happy in the data; the GEE agrees in sign
    assert og.set_index("term").loc["emotion[T.neutral]", "estimate"] < 0


def test_recognition_matches_binom_test_and_glm(study):
    """binom.test p and Clopper-Pearson CI (rtol 1e-9); GEE (independence) = glm (abs 1e-6)."""
    rec = study[study["instrument"] == "emotion_recognition"]
    acc = analysis.accuracy(rec, ("method", "emotion"))
    ref = pd.DataFrame(R["binom_recognition"])
    assert (acc["chance"] == 0.25).all()
    assert list(acc["correct"]) == list(ref["k"])
    _close(acc["p"], ref["p"], 1e-9)
    _close(acc["ci_low"], ref["ci_low"], 1e-9)
    _close(acc["ci_high"], ref["ci_high"], 1e-9)
    coef, tests = analysis.gee_binomial(rec, cov_struct="independence")
    _close(coef["coef"], R["glm_recognition"]["coef"], 0, 1e-6)
    assert list(tests["term"]) == ["method", "emotion", "method:emotion"]


def test_cronbach_alpha_and_correlations_match_r(study, nat):
    a = analysis.cronbach_alpha(study[study["instrument"] == "animation_rating"])
    assert a["alpha"] == pytest.approx(R["alpha_animation_rating"]["alpha"], rel=1e-9)
    assert a["k"] == 5
    met = _read("metrics16.csv")
    cor = analysis.objective_correlations(nat, met).set_index("metric")
    ref = pd.DataFrame(R["cor_naturalness"]).set_index("metric")
    for m in ref.index:
        assert cor.loc[m, "rho"] == pytest.approx(ref.loc[m, "rho"], rel=1e-9)
        assert cor.loc[m, "rho_p"] == pytest.approx(ref.loc[m, "rho_p"], rel=1e-6)
        assert cor.loc[m, "tau"] == pytest.approx(ref.loc[m, "tau"], rel=1e-9)
        assert cor.loc[m, "tau_p"] == pytest.approx(ref.loc[m, "tau_p"], rel=1e-6)
