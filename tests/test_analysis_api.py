"""The analysis API on constructed data: effects found, bad input explained."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.design import AnalysisError


def _design(n=12, reps=1, seed=0, effect=1.0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n):
        u = rng.normal()
        for a in ("a1", "a2", "a3"):
            for b in ("b1", "b2"):
                for r in range(reps):
                    y = u + effect * (a == "a3") + rng.normal()
                    rows.append({"pid": f"p{s}", "A": a, "B": b, "rep": r,
                                 "y": int(np.clip(np.rint(4 + y), 1, 7))})
    return pd.DataFrame(rows)


def test_art_finds_built_in_effect_and_not_absent_one():
    df = _design(n=20, reps=2, effect=1.5)
    t = analysis.art(df, "y", ["A", "B"], "pid").set_index("term")
    assert t.loc["A", "p"] < 1e-6
    assert t.loc["B", "p"] > 0.01
    assert set(t.columns) >= {"F", "df1", "df2", "p", "partial_eta2"}
    c = analysis.art_contrasts(df, "y", ["A", "B"], "pid", "A")
    assert len(c) == 3
    sig = c[c["p"] < 0.05]
    assert set(sig["level2"]) == {"a3"}  # only a3 differs


def test_rm_anova_gg_and_effect_sizes_in_range():
    df = _design(n=15, reps=2)
    t = analysis.rm_anova(df, "y", ["A", "B"], "pid")
    assert ((t["eps_gg"] >= 0.5 - 1e-9) & (t["eps_gg"] <= 1)).all()  # >= 1/(k-1)
    one_df = t["df1"] == 1
    assert (t.loc[one_df, "p_gg"] == t.loc[one_df, "p"]).all()
    big = t["F"] > 2  # in the upper tail, fewer df -> a larger p
    assert (t.loc[big, "p_gg"] >= t.loc[big, "p"]).all()
    assert ((t["ges"] > 0) & (t["ges"] <= t["partial_eta2"])).all()


@pytest.mark.parametrize("method", ["holm", "bonferroni", "fdr_bh"])
def test_adjust_p_equals_r_p_adjust(method):
    """Against R's p.adjust (ties and a missing value included), rtol 1e-12."""
    ref = json.loads((Path(__file__).parent / "fixtures" / "analysis" / "r_reference.json")
                     .read_text())["p_adjust"]
    p = np.array([np.nan if v is None else v for v in ref["p"]], dtype=float)
    want = np.array([np.nan if v is None else v for v in ref[method]], dtype=float)
    np.testing.assert_allclose(analysis.adjust_p(p, method), want, rtol=1e-12)


def test_unbalanced_data_gets_a_clear_message():
    df = _design(reps=2)
    df = df.drop(index=df.index[0])  # one cell of one participant has a single replicate
    with pytest.raises(AnalysisError, match="unbalanced.*mixed model"):
        analysis.art(df, "y", ["A", "B"], "pid", error="pooled")
    # the default (per-stratum ART on cell means) averages what is there and says where
    short = analysis.art(df, "y", ["A", "B"], "pid").attrs["fewer_replicates"]
    assert short == [{"A": "a1", "B": "b1", "min": 1, "max": 2, "participants_with_fewer": 1}]
    # the mixed model accepts it
    fit = analysis.mixedlm(df, analysis.factorial_formula("y", ["A", "B"]), "pid")
    assert fit.n_obs == len(df)


def test_empty_cells_single_level_all_equal_non_numeric():
    df = _design()
    gap = df[~((df["pid"] == "p0") & (df["A"] == "a1"))]
    with pytest.raises(AnalysisError, match="empty cells"):
        analysis.art(gap, "y", ["A", "B"], "pid")
    with pytest.raises(AnalysisError, match="empty cells"):
        analysis.rm_anova(gap, "y", ["A", "B"], "pid")
    with pytest.raises(AnalysisError, match="empty cells"):
        analysis.friedman(gap, "y", "A", "pid")
    one = df[df["B"] == "b1"]
    with pytest.raises(AnalysisError, match="single level"):
        analysis.art(one, "y", ["A", "B"], "pid")
    flat = df.assign(y=4)
    with pytest.raises(AnalysisError, match="all values .* are equal"):
        analysis.art(flat, "y", ["A", "B"], "pid")
    with pytest.raises(AnalysisError, match="equal"):
        analysis.rm_anova(flat, "y", ["A", "B"], "pid")
    text = df.astype({"y": object})
    text.loc[3, "y"] = "very"
    with pytest.raises(AnalysisError, match="non-numeric.*'very'"):
        analysis.art(text, "y", ["A", "B"], "pid")
    with pytest.raises(AnalysisError, match="not in the data"):
        analysis.art(df, "rating", ["A", "B"], "pid")


def test_wilcoxon_effect_sizes_and_direction():
    df = _design(n=20, effect=2.0)
    w = analysis.wilcoxon_pairwise(df, "y", "A", "pid").set_index(["level1", "level2"])
    r = w.loc[("a1", "a3")]
    assert r["rank_biserial"] < -0.5 and r["z"] < 0 and r["p"] < 0.01
    assert r["V"] + r["W_minus"] == r["n"] * (r["n"] + 1) / 2


def test_simulated_study_has_the_papers_effects():
    d = analysis.simulate_study(participants=24, seed=5)
    assert d["study_id"].str.startswith("SIMULATED").all()
    assert d["participant_id"].nunique() == 24 and d["clip_id"].nunique() == 16
    rat = d[d["instrument"] == "animation_rating"]
    means = rat.groupby(["item", "method"])["value"].mean()
    assert means["face_quality"].idxmax() == "reconstruction"
    emo = rat[rat["item"] == "naturalness"].groupby("emotion")["value"].mean()
    assert emo["happy"] > emo["neutral"]
    assert rat.groupby("item")["value"].mean()[["enjoyment", "interaction_quality"]].max() < 3.5
    rec = d[d["instrument"] == "emotion_recognition"]
    acc = rec.groupby("method")["correct"].mean()
    assert acc["AMUSE+FaceFormer"] > acc["EMAGE"] and acc["AMUSE+FaceFormer"] > acc["TalkSHOW"]
    # deterministic for a seed
    pd.testing.assert_frame_equal(d, analysis.simulate_study(participants=24, seed=5))
