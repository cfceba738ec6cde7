"""`vr-study analyze`: the whole report, its files, bad input, and the simulate command."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from vr_study.cli import main

FIX = Path(__file__).parent / "fixtures" / "analysis"


def _strict_json(path: Path) -> dict:
    def bad(c):
        raise ValueError(f"non-JSON constant {c}")
    return json.loads(path.read_text(), parse_constant=bad)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "report"
    rc = main(["analyze", str(FIX / "study16.csv"), "-o", str(out),
               "--metrics", str(FIX / "metrics16.csv")])
    assert rc == 0
    return out


def test_report_has_every_section_and_links_resolve(report):
    res = _strict_json(report / "results.json")
    assert res["meta"]["simulated"] is True
    assert res["meta"]["n_participants"] == 16
    assert sorted(res["items"]) == ["arousal_realism", "enjoyment", "face_quality",
                                    "interaction_quality", "naturalness"]
    nat = res["items"]["naturalness"]
    for key in ("descriptives", "art", "rm_anova", "mixedlm", "friedman", "wilcoxon",
                "ordinal", "figures"):
        assert nat[key], key
    assert nat["mixedlm"]["random"] == ["participant", "clip"]
    assert set(nat["art"]["contrasts"]) == {"method", "emotion", "method:emotion"}
    assert res["recognition"]["chance"] == 0.25 and res["recognition"]["gee"]["tests"]
    assert [r["scale"] for r in res["reliability"]] == ["animation_rating/engagement",
                                                      "animation_rating/realism"]
    assert {r["metric"] for r in res["objective"]} >= {"bc", "l1div", "jerk_mean"}
    assert res["skipped"] == [] and res["warnings"] == []
    # per-stratum ART: method against participant x method, F(3, 3 x 15)
    assert any(re.search(r"ART ANOVA, method: F\(3, 45\) = \d+\.\d\d", s)
               for s in res["sentences"])
    # clips are replicated: the crossed mixed model leads, with the clip caveat in words
    assert nat["primary"]["test"] == "mixed model"
    assert "generalise only to the clips used" in nat["primary"]["text"]
    # the random part is chosen by likelihood-ratio tests and every step is recorded: on
    # naturalness the clip variance is not supported (lme4 agrees: LR 0.48, p .49), so the
    # report says it dropped the clip term; on face_quality it is kept
    sel = {r["spec"]: r for r in nat["mixedlm"]["selection"]}
    assert nat["mixedlm"]["simplify"] == "lrt"
    assert sel["clip_id"]["decision"] == "dropped" and sel["clip_id"]["p"] > 0.2
    assert "clip_id" not in nat["primary"]["structure"]
    assert "clip term was dropped" in nat["primary"]["text"] and "LR = 0.48" in \
        nat["primary"]["text"]
    fq = res["items"]["face_quality"]
    assert "(1 | clip_id)" in fq["primary"]["structure"]
    assert "estimated clip variance" in fq["primary"]["text"]
    assert nat["art"]["error"] == "strata"
    # the validity panel calibrates every rated item (few mixed fits per item, stated)
    cal = res["calibration"]
    assert sorted(cal["items"]) == sorted(res["items"]) and cal["n_mixed"] == 10
    for item, c in cal["items"].items():
        rates = {(r["test"], r["term"]): r for r in c["rates"]}
        assert rates[("art", "method")]["n_sims"] == 200, item
        assert rates[("mixed", "method")]["n_sims"] == 10, item
    panel = pd.read_csv(report / "tables" / "validity_panel.csv")
    assert set(panel["item"]) == set(res["items"])
    page = (report / "index.html").read_text()
    assert "SIMULATED DATA" in page
    assert "Validity of the tests on this design" in page and "primary test" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    links = re.findall(r'(?:href|src)="([^"#]+)"', page)
    assert len(links) > 100
    for link in links:
        assert (report / link).is_file(), link
    tex = (report / "tables" / "naturalness_art.tex").read_text()
    assert r"\begin{tabular}" in tex and "method:emotion" in tex
    md = (report / "tables" / "naturalness_art.md").read_text().splitlines()
    assert md[0].startswith("| term | F | df1 | df2 | p |")
    png = (report / "figures" / "naturalness_violin.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_command_and_api_give_the_same_numbers(report):
    res = _strict_json(report / "results.json")
    df = pd.read_csv(FIX / "study16.csv", keep_default_na=False)
    nat = df[df["item"] == "naturalness"]
    api = analysis.art(nat, "value_scored", ["method", "emotion"], "participant_id")
    cli = pd.DataFrame(res["items"]["naturalness"]["art"]["anova"])
    np.testing.assert_allclose(cli["F"], api["F"], rtol=1e-12)
    rm = analysis.rm_anova(nat, "value_scored", ["method", "emotion"], "participant_id")
    np.testing.assert_allclose(pd.DataFrame(res["items"]["naturalness"]["rm_anova"])["p_gg"],
                               rm["p_gg"], rtol=1e-12)
    csv = pd.read_csv(report / "tables" / "naturalness_art.csv")
    np.testing.assert_allclose(csv["F"], api["F"], rtol=1e-12)


def test_bad_input_is_reported_and_the_rest_still_runs(tmp_path):
    df = pd.read_csv(FIX / "study16.csv", dtype=str, keep_default_na=False)
    rat = df["instrument"] == "animation_rating"
    df.loc[rat & (df["item"] == "enjoyment"), "value_scored"] = "4"          # all equal
    bad_rows = df.index[rat & (df["item"] == "naturalness")][:3]
    df.loc[bad_rows, "value_scored"] = "n/a"                                 # non-numeric
    df.loc[df.index[rat & (df["item"] == "face_quality")][:6], "item"] = "dropped"
    free = df[rat & (df["item"] == "arousal_realism")].copy()
    free["item"], free["value"], free["value_scored"] = "comment", "nice", "nice"
    df = pd.concat([df, free], ignore_index=True)                          # free-text item
    df.loc[df["item"] == "arousal_realism", "item"] = "realism/arousal?"  # unsafe file name
    gap = (df["item"] == "interaction_quality") & (df["participant_id"] == "P001") & \
        (df["method"] == "EMAGE")
    df = df[~gap]                                                          # empty cells
    res = analysis.build_report(df, tmp_path / "r", options=analysis.ReportOptions(
        figures=False, ordinal=False))
    reasons = {(s["analysis"], s["item"]): s["reason"] for s in res["skipped"]}
    assert "equal" in reasons[("inferential tests", "enjoyment")]
    assert "free text" in reasons[("all", "comment")]
    assert "empty cells" in reasons[("ART ANOVA", "interaction_quality")]
    assert "mixed model" in reasons[("ART ANOVA", "interaction_quality")]  # what to do
    assert "empty cells" in reasons[("RM-ANOVA", "interaction_quality")]
    assert any("non-numeric" in w and "naturalness" in w for w in res["warnings"])
    # what could run, ran
    assert res["items"]["interaction_quality"]["mixedlm"]["tests"]
    assert "mixed model" in reasons[("ART ANOVA", "naturalness")]  # 3 answers excluded
    assert res["items"]["naturalness"]["mixedlm"]["n_obs"] == 256 - 3
    assert res["items"]["realism/arousal?"]["art"]["anova"]
    assert (tmp_path / "r" / "tables" / "realism_arousal_art.csv").is_file()
    assert res["recognition"]["accuracy"]
    page = (tmp_path / "r" / "index.html").read_text()
    assert "Skipped analyses" in page and "free text" in page
    _strict_json(tmp_path / "r" / "results.json")


def test_single_emotion_drops_the_factor(tmp_path):
    df = pd.read_csv(FIX / "study16.csv", dtype=str, keep_default_na=False)
    df = df[df["emotion"] == "happy"]
    res = analysis.build_report(df, tmp_path / "r", options=analysis.ReportOptions(
        figures=False, ordinal=False, items=["naturalness"]))
    assert any("single level" in s["reason"] for s in res["skipped"])
    terms = [r["term"] for r in res["items"]["naturalness"]["art"]["anova"]]
    assert terms == ["method"]


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["analyze", str(tmp_path / "missing.csv"), "-o", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "does not exist" in err and "\n" not in err
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\xff\xfe\x00\x01" * 100)
    assert main(["analyze", str(garbage), "-o", out]) == 2
    assert "cannot be read as CSV" in capsys.readouterr().err
    assert main(["analyze", str(FIX / "study16.csv"), "-o", out, "--columns", "subjekt=pid"]) == 2
    assert "unknown column name 'subjekt'" in capsys.readouterr().err
    assert main(["analyze", str(FIX / "metrics16.csv"), "-o", out]) == 2
    err = capsys.readouterr().err
    assert "participant_id" in err and "--columns" in err


def test_cli_column_mapping_for_other_tools(tmp_path):
    df = pd.read_csv(FIX / "study16.csv", dtype=str, keep_default_na=False)
    other = df.rename(columns={"participant_id": "pid", "method": "condition",
                               "value_scored": "score"})
    other = other[["pid", "condition", "emotion", "item", "value", "score", "clip_id"]]
    other = other[other["item"] == "naturalness"]
    path = tmp_path / "other.csv"
    other.to_csv(path, index=False)
    rc = main(["analyze", str(path), "-o", str(tmp_path / "r"), "--no-figures",
               "--no-ordinal", "--columns",
               "participant=pid,method=condition,value_scored=score"])
    assert rc == 0
    res = _strict_json(tmp_path / "r" / "results.json")
    ref = analysis.art(df[df["item"] == "naturalness"], "value_scored",
                       ["method", "emotion"], "participant_id")
    np.testing.assert_allclose(
        [r["F"] for r in res["items"]["naturalness"]["art"]["anova"]], ref["F"], rtol=1e-12)
    assert res["meta"]["simulated"] is False


def test_simulate_command(tmp_path, capsys):
    out = tmp_path / "sim" / "data.csv"
    assert main(["analyze", "simulate", "-o", str(out), "--participants", "4",
                 "--seed", "9"]) == 0
    data = pd.read_csv(out, keep_default_na=False)
    assert len(data) == 4 * 16 * 6
    assert list(data.columns) == list(analysis.simulate_study(2).columns)
    met = pd.read_csv(tmp_path / "sim" / "data_metrics.csv")
    assert set(met["clip_id"]) == set(data["clip_id"])
    assert "SIMULATED" in capsys.readouterr().out


def test_parallel_items_give_identical_results(tmp_path):
    df = pd.read_csv(FIX / "study16.csv", dtype=str, keep_default_na=False)
    opts = dict(figures=False, ordinal=False, items=["naturalness", "enjoyment"])
    one = analysis.build_report(df, tmp_path / "a", options=analysis.ReportOptions(**opts))
    two = analysis.build_report(df, tmp_path / "b", options=analysis.ReportOptions(jobs=2, **opts))
    assert _strict_json(tmp_path / "a" / "results.json")["items"] == \
        _strict_json(tmp_path / "b" / "results.json")["items"]
    assert one["sentences"] == two["sentences"]
    assert sorted(p.name for p in (tmp_path / "b" / "tables").iterdir()) == \
        sorted(p.name for p in (tmp_path / "a" / "tables").iterdir())
