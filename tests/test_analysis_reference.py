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
RL = json.loads((FIX / "r_reference_lmm.json").read_text())  # scripts/r_reference_lmm.R


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
    """(1|participant): REML fixed effects (abs 1e-8), (X'V^-1X)^-1 SEs and variances
    (rtol 1e-6), Satterthwaite F/df/p (rtol 1e-5), EMMs and Holm pairwise t tests with
    Satterthwaite df equal lmerTest + emmeans (scripts/r_reference_lmm.R)."""
    ref = RL["lmer_p"]
    fit = analysis.mixedlm(nat, analysis.factorial_formula("value", ["method", "emotion"]),
                           "participant_id")
    _close(fit.fixed["coef"], ref["fixef"], 0, 1e-8)
    _close(fit.fixed["SE"], ref["se"], 1e-6)
    var = fit.variance_components
    _close([var["participant"], var["residual"]],
           [ref["var"]["participant_id"], ref["var"]["residual"]], 1e-6)
    assert fit.structure == "(1 | participant_id)"
    sat = ref["satterthwaite"]
    assert list(fit.tests["term"]) == sat["term"]
    assert list(fit.tests.columns) == ["term", "F", "df1", "df2", "p"]
    _close(fit.tests["F"], sat["F"], 1e-6)
    _close(fit.tests["df2"], sat["df2"], 1e-6)
    _close(fit.tests["p"], sat["p"], 1e-5)
    emm = fit.emmeans("method")
    assert list(emm["level"]) == ref["emm_level"]
    _close(emm["emmean"], ref["emmean"], 1e-9)
    _close(emm["SE"], ref["emm_se"], 1e-6)
    _close(emm["df"], ref["emm_df"], 1e-4)
    pw = fit.pairwise("method", "holm")
    _close(pw["estimate"], ref["pair_estimate"], 1e-9)
    _close(pw["t"], ref["pair_t"], 1e-6)
    _close(pw["df"], ref["pair_df"], 1e-4)
    _close(pw["p"], ref["pair_p"], 1e-5)


@pytest.mark.parametrize("key,drop,tol", [("lmer_pm_clip", False, 1e-4),
                                          ("lmer_unbalanced", True, 5e-4)])
def test_mixedlm_crossed_components_match_lmertest(nat, key, drop, tol):
    """(1|participant) + (1|participant:method) + (1|clip), balanced and unbalanced:
    variances, SEs, Kenward-Roger F/df2/p within rtol 1e-4 of lmerTest::anova(type = 3,
    ddf = "Kenward-Roger") / pbkrtest; Satterthwaite F/df2/p and coefficient and EMM df
    within ``tol``. On the unbalanced data the clip SD is small (theta = 0.05) and
    lmerTest's numDeriv Hessian (Richardson steps from 10 % of each parameter) is
    itself off by ~5e-5 relative in the df: ours uses the analytic REML gradient, and a
    step-size study (1e-3 .. 1e-4) confirms our Hessian to 1e-6."""
    ref = RL[key]
    d = nat[nat["trial_index"] % 7 != 0] if drop else nat
    vc = {"participant:method": "participant_id:method", "clip": "clip_id"}
    fit = analysis.mixedlm(d, analysis.factorial_formula("value", ["method", "emotion"]),
                           "participant_id", vc=vc)
    var = fit.variance_components
    _close([var["participant"], var["participant:method"], var["clip"], var["residual"]],
           [ref["var"]["participant_id"], ref["var"]["participant_id:method"],
            ref["var"]["clip_id"], ref["var"]["residual"]], 1e-4)
    _close(fit.fixed["coef"], ref["fixef"], 0, 1e-6)
    _close(fit.fixed["SE"], ref["se"], 1e-4)
    _close(fit.fixed["df"], ref["coef_df"], tol)
    for ddf, name in (("Satterthwaite", "satterthwaite"), ("Kenward-Roger", "kenward_roger")):
        tests = fit.tests if ddf == "Satterthwaite" else analysis.mixedlm(
            d, analysis.factorial_formula("value", ["method", "emotion"]), "participant_id",
            vc=vc, ddf=ddf).tests
        r = ref[name]
        assert list(tests["term"]) == r["term"] and list(tests["df1"]) == r["df1"]
        t = tol if ddf == "Satterthwaite" else 1e-4
        _close(tests["F"], r["F"], 1e-4)
        _close(tests["df2"], r["df2"], t)
        _close(tests["p"], r["p"], t)
    _close(fit.emmeans("method")["df"], ref["emm_df"], tol)
    kr = analysis.mixedlm(d, analysis.factorial_formula("value", ["method", "emotion"]),
                          "participant_id", vc=vc, ddf="Kenward-Roger").emmeans("method")
    _close(kr["df"], ref["emm_df_kr"], 1e-4)
    _close(kr["SE"], ref["emm_se_kr"], 1e-4)
    # the same model written in lme4 syntax gives the same fit
    f2 = analysis.mixedlm(d, "value ~ C(method, Sum)*C(emotion, Sum) + (1|participant_id) + "
                             "(1|participant_id:method) + (1|clip_id)")
    _close(f2.tests["F"], fit.tests["F"], 1e-8)


def test_clip_variance_small_df_issue_example():
    """Issue 9's example: with 2 clips per cell and clip effects, lmerTest gives the
    crossed model's tests ~8 denominator df (rtol 1e-4); a participant-only model calls
    the null interaction p < 1e-15, and an asymptotic chi-square on the crossed model's
    Wald statistic is anti-conservative by orders of magnitude."""
    d = _read("clips20.csv")
    ref = RL["lmer_clips20"]
    f = analysis.mixedlm(d, analysis.factorial_formula("rating", ["method", "emotion"]),
                         "participant", vc={"clip": "clip_id"})
    sat = ref["satterthwaite"]
    _close(f.tests["F"], sat["F"], 1e-4)
    _close(f.tests["df2"], sat["df2"], 1e-4)
    _close(f.tests["p"], sat["p"], 1e-4)
    assert (f.tests["df2"] < 9).all()
    _close(f.tests["F"] * f.tests["df1"], ref["wald_chisq"], 1e-4)  # same Wald statistic
    only = analysis.mixedlm(d, analysis.factorial_formula("rating", ["method", "emotion"]),
                            "participant")
    _close(only.tests["p"], RL["lmer_clips20_participant_only"]["satterthwaite"]["p"], 1e-4)
    assert only.tests.set_index("term").loc["method:emotion", "p"] < 1e-15
    assert f.tests.set_index("term").loc["method:emotion", "p"] > 0.1
    # with a real method effect (column rating_fx) the asymptotic chi-square p of the same
    # crossed model is 1e4 times smaller than lmerTest's Satterthwaite p (df 8)
    fx = RL["lmer_clips20_effect"]
    e = analysis.mixedlm(d, analysis.factorial_formula("rating_fx", ["method", "emotion"]),
                         "participant", vc={"clip": "clip_id"})
    _close(e.tests["F"], fx["satterthwaite"]["F"], 1e-4)
    _close(e.tests["df2"], fx["satterthwaite"]["df2"], 1e-4)
    _close(e.tests["p"], fx["satterthwaite"]["p"], 1e-4)
    m = e.tests.set_index("term").loc["method"]
    assert m["p"] > 1e-3 and fx["wald_p"][0] < 1e-6
    # the default study model keeps the clip intercept and says so
    sm = analysis.study_model(d, "rating", ["method", "emotion"], "participant", clip="clip_id")
    assert "(1 | clip_id)" in sm.structure
    assert sm.variance_components["clip"] == pytest.approx(ref["var"]["clip_id"], rel=0.05)


RLRT = json.loads((FIX / "r_reference_lrt.json").read_text())  # scripts/r_reference_lrt.R


@pytest.mark.parametrize("key", ["naturalness", "arousal_realism", "face_quality", "clips20"])
def test_study_model_lrt_selection_matches_lme4(study, key):
    """study_model's likelihood-ratio simplification equals the same rule run with lme4
    (scripts/r_reference_lrt.R: REMLcrit, anova(m0, m1, refit = FALSE)): the maximal
    model's REML criterion (rtol 1e-7), every step (component, reason, decision; LR abs
    1e-4, p rtol 1e-4), the kept structure and its lmerTest Satterthwaite F tests (rtol
    1e-4)."""
    ref = RLRT[key]
    if key == "clips20":
        d, dv, subject = _read("clips20.csv"), "rating", "participant"
    else:
        d, dv, subject = study[study["item"] == key].reset_index(drop=True), "value", \
            "participant_id"
    args = (d, dv, ["method", "emotion"], subject)
    maximal = analysis.study_model(*args, clip="clip_id", simplify="none")
    assert maximal.fit.deviance == pytest.approx(ref["maximal_reml"], rel=1e-7)
    fit = analysis.study_model(*args, clip="clip_id")
    steps = fit.steps
    assert list(steps["spec"]) == [s["spec"] for s in ref["steps"]]
    for ours, r in zip(steps.itertuples(), ref["steps"]):
        if r["reason"] == "singular":
            assert ours.reason == "singular" and ours.decision == "dropped"
            continue
        assert ours.reason.startswith("LRT") and ours.decision == r["decision"]
        assert ours.LR == pytest.approx(r["LR"], abs=1e-4)
        assert ours.p == pytest.approx(r["p"], rel=1e-4)
        assert ours.variance == pytest.approx(r["variance"], rel=1e-3, abs=1e-6)
    kept = [s.strip()[4:-1].strip() for s in fit.structure.split("+")]
    assert sorted(kept) == sorted(ref["kept"])
    assert fit.fit.deviance == pytest.approx(ref["reml"], rel=1e-7)
    sat = ref["satterthwaite"]
    _close(fit.tests["F"], sat["F"], 1e-4)
    _close(fit.tests["df2"], sat["df2"], 1e-4)
    _close(fit.tests["p"], sat["p"], 1e-4)


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


def test_clmm_matches_ordinal_clmm(nat):
    """Cumulative link mixed model (Laplace) with the method x emotion interaction:
    thresholds and coefficients (abs 1e-4), their SEs incl. thresholds (rtol 1e-3),
    participant SD and log-likelihood (rtol 1e-5) equal ordinal::clmm."""
    ref = RL["clmm_naturalness"]
    c = analysis.clmm(nat, "value", ["method", "emotion"], "participant_id")
    assert list(c.loc[c["kind"] == "threshold", "term"]) == ref["names"][:6]
    _close(c["estimate"], ref["coef"], 0, 1e-4)
    _close(c["SE"], ref["se"], 1e-3)
    assert c.attrs["sd_participant"] == pytest.approx(ref["sd_participant"], rel=1e-4)
    assert c.attrs["loglik"] == pytest.approx(ref["logLik"], rel=1e-5)
    assert list(c.attrs["tests"]["term"]) == ["method", "emotion", "method:emotion"]


@pytest.mark.parametrize("key,clip", [("glmer_recog20", None), ("glmer_recog20_clip", "clip_id")])
def test_recognition_glmm_matches_glmer(key, clip):
    """Binomial GLMM (Laplace) on a study with participant and clip variation. Against
    glmer with its penalised IRLS converged fully (``tolPwrss = 1e-12``): fixed effects
    and variances within abs 1e-4, SEs and Wald chi-square within rtol 1e-4,
    log-likelihood within rtol 1e-7. Against glmer's defaults (``tolPwrss = 1e-7``, whose
    Laplace deviance is ~1e-4 off): coefficients and variances within abs 1e-3, SEs
    within abs 2e-3 (lme4's Hessian-based SEs move by up to 0.6 % with that tolerance)."""
    r = _read("recog20.csv")
    g = analysis.recognition_glmm(r, subject="participant", clip=clip)
    tight = RL[key + "_tight"]
    _close(g.fixed["coef"], tight["coef"], 0, 1e-4)
    _close(g.fixed["SE"], tight["se"], 1e-4)
    _close(g.variances["participant"], tight["var"]["participant"], 0, 1e-4)
    assert g.loglik == pytest.approx(tight["logLik"], rel=1e-7)
    _close(g.tests["chi2"], tight["wald_chisq"], 1e-4)
    ref = RL[key]
    _close(g.fixed["coef"], ref["coef"], 0, 1e-3)
    _close(g.fixed["SE"], ref["se"], 0, 2e-3)
    _close(g.variances["participant"], ref["var"]["participant"], 0, 1e-3)
    if clip:
        _close(g.variances["clip"], tight["var"]["clip_id"], 0, 1e-4)
        _close(g.variances["clip"], ref["var"]["clip_id"], 0, 1e-3)
        assert g.structure == "(1 | participant) + (1 | clip_id)"


def test_recognition_glmm_near_zero_participant_variance(study):
    """study16's recognition answers barely differ by participant (variance 0.004) and not
    by clip (glmer: singular, 0): still equal to glmer (abs 1e-4)."""
    rec = study[study["instrument"] == "emotion_recognition"]
    for key, clip in (("glmer_recognition", None), ("glmer_recognition_clip", "clip_id")):
        ref = RL[key]
        g = analysis.recognition_glmm(rec, clip=clip)
        _close(g.fixed["coef"], ref["coef"], 0, 1e-4)
        _close(g.fixed["SE"], ref["se"], 0, 1e-4)
        _close(g.variances["participant"], ref["var"]["participant_id"], 0, 1e-4)
        if clip:
            assert g.variances["clip"] < 1e-6


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
    assert (coef["cov_struct"] == "independence").all()
    # the default exchangeable working correlation is estimated and reported
    ex, _ = analysis.gee_binomial(rec)
    assert (ex["cov_struct"] == "exchangeable").all()
    assert ex["working_corr"].nunique() == 1 and -0.2 < ex["working_corr"].iloc[0] < 0.5


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
