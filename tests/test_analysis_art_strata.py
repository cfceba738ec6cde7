"""Per-stratum ART (the default) against R's ARTool and against RM-ANOVA of the ranks.

R numbers: scripts/r_art_strata.R (ARTool 0.11.2, github mjskay/ARTool @ 4dbe6e3,
emmeans 1.8.4) on participant x cell means of the committed fixtures, stored in
tests/fixtures/analysis/r_art_strata.json.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.aligned_rank import align, art_arrays, art_rank
from analysis.design import AnalysisError, factor_codes
from analysis.strata import cell_means

FIX = Path(__file__).parent / "fixtures" / "analysis"
R = json.loads((FIX / "r_art_strata.json").read_text())


def _read(name: str) -> pd.DataFrame:
    d = pd.read_csv(FIX / name, keep_default_na=False, na_values=[""])
    return d[d["item"] == "naturalness"] if name == "study16.csv" else d


CASES = {"naturalness": ("study16.csv", "value", ["method", "emotion"], "participant_id"),
         "within3": ("within3.csv", "y", ["A", "B", "C"], "subject"),
         "mixed_design": ("mixed_design.csv", "y", ["group", "cond"], "subject")}


@pytest.mark.parametrize("key", list(CASES))
def test_art_strata_matches_artool_error_strata(key):
    """F, df, p and stratum equal anova(art(y ~ A*B + Error(S/(A*B)))) on cell means."""
    file, dv, factors, subject = CASES[key]
    ours = analysis.art(_read(file), dv, factors, subject)
    ref = pd.DataFrame(R[key])
    assert list(ours["term"]) == list(ref["term"])
    np.testing.assert_allclose(ours["F"], ref["F"], rtol=1e-9)
    np.testing.assert_allclose(ours["p"], ref["p"], rtol=1e-8, atol=1e-15)
    assert list(ours["df1"]) == list(ref["df1"]) and list(ours["df2"]) == list(ref["df2"])
    assert list(ours["error"]) == list(ref["error"])
    assert ours.attrs["error"] == "strata"


def _pairs(ref_rows):
    out = {}
    for r in ref_rows:
        a, b = (x.strip().strip("()").replace(" ", ",") for x in r["contrast"].split(" - "))
        out[(a, b)] = r
    return out


@pytest.mark.parametrize("key,case,term,adjust", [
    ("naturalness_con_method_holm", "naturalness", "method", "holm"),
    ("naturalness_con_method_tukey", "naturalness", "method", "tukey"),
    ("naturalness_con_interaction_holm", "naturalness", "method:emotion", "holm"),
    ("naturalness_con_interaction_tukey", "naturalness", "method:emotion", "tukey"),
    ("within3_con_AC_holm", "within3", "A:C", "holm"),
    ("mixed_design_con_cond_holm", "mixed_design", "cond", "holm"),
])
def test_art_c_strata_matches_emmeans(key, case, term, adjust):
    """Estimates, SE, (Satterthwaite) df, t and adjusted p equal ARTool/emmeans."""
    file, dv, factors, subject = CASES[case]
    ours = analysis.art_contrasts(_read(file), dv, factors, subject, term, adjust)
    ref = _pairs(R[key])
    assert len(ours) == len(ref)
    for r in ours.itertuples():
        a, b = str(r.level1).replace(" ", ","), str(r.level2).replace(" ", ",")
        sign = 1.0
        if (a, b) in ref:
            want = ref[(a, b)]
        else:
            want, sign = ref[(b, a)], -1.0
        assert r.estimate == pytest.approx(sign * want["estimate"], rel=1e-9, abs=1e-9)
        assert r.SE == pytest.approx(want["SE"], rel=1e-9)
        assert r.df == pytest.approx(want["df"], rel=1e-6)
        assert r.t == pytest.approx(sign * want["t"], rel=1e-9, abs=1e-9)
        assert r.p == pytest.approx(want["p"], rel=1e-4, abs=1e-6)


def test_art_strata_equals_rm_anova_of_aligned_ranked_cell_means():
    """What ARTool computes: for each effect, RM-ANOVA (uncorrected F) of the cell means
    aligned and ranked for that effect; checked with our rm_anova and statsmodels AnovaRM."""
    from statsmodels.stats.anova import AnovaRM

    file, dv, factors, subject = CASES["within3"]
    d = _read(file)
    ours = analysis.art(d, dv, factors, subject).set_index("term")
    cm = cell_means(d, dv, factors, subject)
    long = cm.long()
    codes, nl = factor_codes(long, factors)
    for term in [("A",), ("B",), ("A", "C"), ("A", "B", "C")]:
        name = ":".join(term)
        ranked = long.assign(r=art_rank(align(long["y"].to_numpy(), codes, nl, factors, term)))
        rm = analysis.rm_anova(ranked, "r", factors, subject).set_index("term")
        # statsmodels refuses a factor named C (patsy's contrast function)
        sm = AnovaRM(ranked.rename(columns={"C": "Cf"}), "r", subject,
                     within=["A", "B", "Cf"]).fit().anova_table
        smname = name.replace("C", "Cf")
        assert ours.loc[name, "F"] == pytest.approx(rm.loc[name, "F"], rel=1e-9)
        assert ours.loc[name, "F"] == pytest.approx(sm.loc[smname, "F Value"], rel=1e-9)
        assert ours.loc[name, "p"] == pytest.approx(sm.loc[smname, "Pr > F"], rel=1e-8)


def test_art_arrays_equal_the_dataframe_path_for_many_datasets():
    rng = np.random.default_rng(3)
    Y = rng.integers(1, 8, size=(5, 10, 8)).astype(float)  # 5 data sets, 10 x (4 x 2)
    fast = art_arrays(Y, ["method", "emotion"], [4, 2])
    for s in range(5):
        rows = [{"pid": i, "method": f"m{c // 2}", "emotion": f"e{c % 2}", "y": Y[s, i, c]}
                for i in range(10) for c in range(8)]
        slow = analysis.art(pd.DataFrame(rows), "y", ["method", "emotion"], "pid")
        for r in slow.itertuples():
            assert fast[r.term][0][s] == pytest.approx(r.F, rel=1e-10)
            assert fast[r.term][1][s] == pytest.approx(r.p, rel=1e-8)


def test_replicates_averaged_unbalanced_cells_named():
    """Unequal clips per cell: strata ART runs on cell means and names the short cells;
    the pooled form refuses (it needs equal replicates)."""
    rng = np.random.default_rng(0)
    rows = [{"pid": f"p{s}", "A": a, "B": b, "rep": r, "y": int(rng.integers(1, 8))}
            for s in range(12) for a in ("a1", "a2", "a3") for b in ("b1", "b2")
            for r in range(2)]
    df = pd.DataFrame(rows)
    short = df.drop(index=df.index[(df["pid"] == "p0") & (df["A"] == "a2")
                                   & (df["B"] == "b1") & (df["rep"] == 1)])
    t = analysis.art(short, "y", ["A", "B"], "pid")
    assert t.attrs["fewer_replicates"] == [
        {"A": "a2", "B": "b1", "min": 1, "max": 2, "participants_with_fewer": 1}]
    means = short.groupby(["pid", "A", "B"], as_index=False)["y"].mean()
    pd.testing.assert_frame_equal(t, analysis.art(means, "y", ["A", "B"], "pid"),
                                  check_like=True)
    with pytest.raises(AnalysisError, match="unbalanced"):
        analysis.art(short, "y", ["A", "B"], "pid", error="pooled")
    with pytest.raises(AnalysisError, match="error='strata'"):
        analysis.art(df, "y", ["A", "B"], "pid", error="Error(S)")


def test_report_names_the_art_form_and_the_cells_with_fewer_clips(tmp_path):
    from analysis.report import ReportOptions, build_report
    from analysis.tidy import load_responses

    data = load_responses(FIX / "study16.csv")
    opts = dict(items=["naturalness"], figures=False, ordinal=False, calibration_sims=0)
    nat = data.index[(data["item"] == "naturalness")]
    short = data.drop(index=nat[0])       # one participant misses one clip of one cell
    res = build_report(short, tmp_path / "a", options=ReportOptions(**opts))
    assert res["items"]["naturalness"]["art"]["error"] == "strata"
    row = data.loc[nat[0]]
    assert any(f"cell method {row['method']}, emotion {row['emotion']} holds fewer "
               "observations for 1 participant(s) (1 instead of 2)" in w
               for w in res["warnings"])
    pooled = build_report(data, tmp_path / "b", options=ReportOptions(**opts,
                                                                      art_error="pooled"))
    art = pooled["items"]["naturalness"]["art"]
    assert art["error"] == "pooled" and "published ARTool form" in art["label"]
    assert art["anova"][0]["df2"] == 233   # trial rows in one pooled stratum
    page = (tmp_path / "b" / "index.html").read_text()
    assert "pooled Error(participant) on trials (published ARTool form" in page
