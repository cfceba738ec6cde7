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
