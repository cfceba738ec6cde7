"""Mixed models: study_model's structure choice, error messages and null calibration.

Agreement with lmerTest / pbkrtest / ordinal / lme4 is in test_analysis_reference.py; here
we check behaviour a user relies on: the default model holds its 5 % level when
participants differ in how much they like each method, the kept structure is stated, and
bad input gives a clear AnalysisError.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.design import AnalysisError


def _null_study(rng, participants=10, reps=2, slope_sd=0.8, clip_sd=0.0):
    """Ratings with no method or emotion effect; participant x method slopes (SD
    ``slope_sd``), optional clip effects (``reps`` clips per cell), residual SD 1."""
    rows = []
    clip = {(m, e, c): rng.normal(0, clip_sd) for m in range(4) for e in range(2)
            for c in range(reps)}
    for p in range(participants):
        up = rng.normal(0, 0.7)
        um = rng.normal(0, slope_sd, 4)
        for m in range(4):
            for e in range(2):
                for c in range(reps):
                    rows.append((f"P{p:02d}", f"M{m}", f"E{e}", f"M{m}_E{e}_{c}",
                                 4 + up + um[m] + clip[m, e, c] + rng.normal()))
    return pd.DataFrame(rows, columns=["pid", "method", "emotion", "clip", "y"])


def test_study_model_holds_alpha_with_participant_method_slopes():
    """200 null studies (10 participants, 4 x 2 cells, 2 trials per cell, participant x
    method SD 0.8): study_model's method F test rejects at .05 in 1-10 % of them; the
    random-intercept-only model (the old report default) rejects far more often."""
    rng = np.random.default_rng(9)
    rej_default, rej_intercept = [], []
    for i in range(200):
        d = _null_study(rng)
        fit = analysis.study_model(d, "y", ["method", "emotion"], "pid")
        rej_default.append(fit.tests.set_index("term").loc["method", "p"] < 0.05)
        if i < 40:
            only = analysis.mixedlm(d, analysis.factorial_formula("y", ["method", "emotion"]),
                                    "pid")
            rej_intercept.append(only.tests.set_index("term").loc["method", "p"] < 0.05)
    assert 0.01 <= np.mean(rej_default) <= 0.10, np.mean(rej_default)
    assert np.mean(rej_intercept) > 0.2, np.mean(rej_intercept)


def test_study_model_structure_keeps_what_the_data_support():
    rng = np.random.default_rng(3)
    d = _null_study(rng, participants=16, slope_sd=1.0, clip_sd=0.8)
    fit = analysis.study_model(d, "y", ["method", "emotion"], "pid", clip="clip")
    assert fit.structure.startswith("(1 | pid) + (1 | pid:method)")
    assert "(1 | clip)" in fit.structure
    vc = fit.variance_components
    assert vc["participant:method"] > 0.3 and vc["clip"] > 0.1 and vc["residual"] > 0.5
    # every component is either kept (in the structure) or listed as dropped
    for spec in ("pid:emotion", "pid:method:emotion"):
        assert (f"(1 | {spec})" in fit.structure) != (spec in fit.dropped)
    assert list(fit.tests.columns) == ["term", "F", "df1", "df2", "p"]
    # one trial per cell: no participant x method x emotion component can exist
    one = d.groupby(["pid", "method", "emotion"], as_index=False)["y"].mean()
    f1 = analysis.study_model(one, "y", ["method", "emotion"], "pid")
    assert "pid:method:emotion" not in f1.structure + " ".join(f1.dropped)
    # emmeans and pairwise carry Satterthwaite df
    assert (f1.emmeans("method")["df"] > 1).all()
    pw = f1.pairwise("method")
    assert {"estimate", "SE", "df", "t", "p"} <= set(pw.columns)


def test_kenward_roger_option_and_bad_input():
    rng = np.random.default_rng(4)
    d = _null_study(rng, participants=8)
    kr = analysis.study_model(d, "y", ["method", "emotion"], "pid", ddf="Kenward-Roger")
    sat = analysis.study_model(d, "y", ["method", "emotion"], "pid")
    assert kr.ddf == "Kenward-Roger" and kr.structure == sat.structure
    assert np.all(np.isfinite(kr.tests["df2"]))
    with pytest.raises(AnalysisError, match="unknown ddf"):
        analysis.study_model(d, "y", ["method", "emotion"], "pid", ddf="asymptotic")
    with pytest.raises(AnalysisError, match="not in the data"):
        analysis.mixedlm(d, "y ~ C(method, Sum)", "participant")
    with pytest.raises(AnalysisError, match="no random effects"):
        analysis.mixedlm(d, "y ~ C(method, Sum)")
    bad = d.assign(y=d["y"].astype(object))
    bad.loc[3, "y"] = "n/a"
    with pytest.raises(AnalysisError, match="'y' has 1 missing or non-numeric"):
        analysis.mixedlm(bad, "y ~ C(method, Sum)", "pid")


def test_study_model_with_clips_holds_alpha_when_clips_differ():
    """100 null studies where clips differ (SD 0.8, 2 clips per cell) and participants do
    not prefer methods: with the clip column, every term rejects at .05 in 1-11 % of them;
    without it (by-participant generalisation only) the null is rejected far more often."""
    rng = np.random.default_rng(12)
    rej, rej_noclip = [], []
    for i in range(100):
        d = _null_study(rng, participants=10, slope_sd=0.0, clip_sd=0.8)
        fit = analysis.study_model(d, "y", ["method", "emotion"], "pid", clip="clip")
        assert ("(1 | clip)" in fit.structure) != ("clip" in fit.dropped)  # kept or said
        rej.append((fit.tests["p"] < 0.05).to_numpy())
        if i < 20:
            nc = analysis.study_model(d, "y", ["method", "emotion"], "pid")
            rej_noclip.append((nc.tests["p"] < 0.05).to_numpy())
    rate = np.mean(rej, axis=0)
    assert np.all((rate >= 0.01) & (rate <= 0.11)), rate
    assert np.mean(rej_noclip) > 0.25, np.mean(rej_noclip)


def test_reml_blocks_equal_brute_force_with_missing_cells():
    """The batched per-participant factorisation gives the textbook REML deviance
    (log|V| + log|X'V^-1X| + r'V^-1 r + (n-p) log 2pi, dense n x n) and its gradient,
    also when participants lack whole cells (padded blocks of unequal size)."""
    import patsy

    from analysis import lmm

    rng = np.random.default_rng(5)
    d = _null_study(rng, participants=6, clip_sd=0.5)
    d = d[~((d["pid"] == "P00") & (d["method"] == "M1"))
          & ~((d["pid"] == "P02") & (d["emotion"] == "E0"))].reset_index(drop=True)
    X = np.asarray(patsy.dmatrix("C(method, Sum)*C(emotion, Sum)", d))
    y = d["y"].to_numpy()
    blocks = []
    for name, key in (("clip", d["clip"]), ("pm", d["pid"] + d["method"]), ("p", d["pid"]),
                      ("pe", d["pid"] + d["emotion"])):
        codes, u = pd.factorize(key)
        blocks.append(lmm.VCBlock(name, codes, len(u)))
    theta, sigma = np.array([0.4, 0.6, 0.9, 0.3]), 1.3
    S = lmm._suffstats(y, X, blocks)
    assert (S.idx < 0).any()  # unequal block sizes were padded
    E = lmm._Eval(S, theta)
    n, p = X.shape
    V = np.eye(n) * sigma ** 2
    for b, t in zip(blocks, theta):
        Z = np.eye(b.n_levels)[b.codes]
        V += (t * sigma) ** 2 * Z @ Z.T
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    brute = (np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + r @ Vi @ r
             + (n - p) * np.log(2 * np.pi))
    assert E.deviance(sigma) == pytest.approx(brute, rel=1e-10)
    np.testing.assert_allclose(E.beta(), beta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sigma ** 2 * E.cov_beta_unscaled(), np.linalg.inv(XtViX),
                               rtol=1e-9, atol=1e-14)
    g = E.grad(theta, sigma)
    vp = np.r_[theta, sigma]
    for i in range(len(vp)):
        e = np.zeros(len(vp))
        e[i] = 1e-6
        num = (lmm._Eval(S, (vp + e)[:-1]).deviance((vp + e)[-1])
               - lmm._Eval(S, (vp - e)[:-1]).deviance((vp - e)[-1])) / 2e-6
        assert g[i] == pytest.approx(num, rel=1e-6, abs=1e-6)


def _world_study(seed, sd, participants=20, clips=2):
    """One simulated study (continuous ratings) of the 4 x 2 design with the given SDs."""
    from analysis.worlds import World, design_from_levels, simulate

    design = design_from_levels({"method": ["m1", "m2", "m3", "m4"],
                                 "emotion": ["happy", "neutral"]}, participants, clips,
                                scale=None)
    y = simulate(design, World(4.0, sd), 1, np.random.default_rng(seed))[0]
    return design.frame.assign(y=y)


def test_lrt_rule_drops_null_components_keeps_real_ones():
    """Known truth: participant x method SD 0.6 (real), clip and participant x emotion SD 0
    (absent). Over 20 studies the LRT rule (alpha 0.2) keeps participant x method every
    time and drops the clip component in most; every step is recorded and consistent (p
    from the LR statistic, decision from alpha, dropped components absent from the
    structure, LR = the REML deviance difference of the two structures fitted directly)."""
    from scipy import stats

    kept_pm, dropped_clip = 0, 0
    for seed in range(20):
        d = _world_study(seed, {"participant": 0.6, "participant:method": 0.6,
                                "residual": 1.0})
        fit = analysis.study_model(d, "y", ["method", "emotion"], "participant_id",
                                   clip="clip_id")
        assert fit.simplify == "lrt"
        kept_pm += "(1 | participant_id:method)" in fit.structure
        dropped_clip += "clip_id" in fit.dropped
        st = fit.steps
        assert list(st.columns) == ["component", "spec", "reason", "variance", "LR", "df",
                                    "p", "decision"]
        lrt = st[st["reason"].str.startswith("LRT")]
        assert len(lrt) >= 1 and lrt["decision"].iloc[-1] in ("kept", "dropped")
        np.testing.assert_allclose(lrt["p"], stats.chi2.sf(lrt["LR"], 1))
        assert ((lrt["p"] < 0.2) == (lrt["decision"] == "kept")).all()
        assert (lrt["decision"].iloc[:-1] == "dropped").all()   # stops at the first kept
        for spec in st.loc[st["decision"] == "dropped", "spec"]:
            assert f"(1 | {spec})" not in fit.structure and spec in fit.dropped
        if seed == 0:   # the last test's LR is the deviance difference of the two models
            last = lrt.iloc[-1]
            specs = [s.strip()[4:-1].strip() for s in fit.structure.split("+")]
            with_ = specs if last["decision"] == "kept" else specs + [last["spec"]]
            without = [s for s in with_ if s != last["spec"]]
            dev = [analysis.mixedlm(d, analysis.factorial_formula("y", ["method", "emotion"])
                                    + "".join(f" + (1|{s})" for s in ss)).fit.deviance
                   for ss in (with_, without)]
            assert last["LR"] == pytest.approx(max(dev[1] - dev[0], 0), abs=1e-5)
        assert "LRT, alpha 0.2" in fit.selection_text()
    assert kept_pm == 20
    assert dropped_clip >= 14, dropped_clip


def test_lrt_rule_keeps_a_real_clip_component_and_options():
    """A real clip SD (0.8) survives the LRT; ``simplify="singular"`` and ``"none"`` keep
    the former behaviour and the maximal structure; an unknown rule is refused."""
    d = _world_study(3, {"participant": 0.6, "clip": 0.8, "residual": 1.0})
    lrt = analysis.study_model(d, "y", ["method", "emotion"], "participant_id", clip="clip_id")
    assert "(1 | clip_id)" in lrt.structure
    assert lrt.steps["decision"].iloc[-1] == "kept"
    none = analysis.study_model(d, "y", ["method", "emotion"], "participant_id",
                                clip="clip_id", simplify="none")
    assert none.structure.count("(1 |") == 5 and none.steps.empty and not none.dropped
    sing = analysis.study_model(d, "y", ["method", "emotion"], "participant_id",
                                clip="clip_id", simplify="singular")
    assert set(sing.steps["reason"]) <= {"singular", "not estimable"}
    # the LRT never removes more than needed to reach a model the data support
    assert lrt.fit.deviance >= sing.fit.deviance - 1e-6
    with pytest.raises(AnalysisError, match="unknown simplify"):
        analysis.study_model(d, "y", ["method", "emotion"], "participant_id",
                             simplify="aic")
    with pytest.raises(AnalysisError, match="alpha_lrt"):
        analysis.study_model(d, "y", ["method", "emotion"], "participant_id", alpha_lrt=1.5)
