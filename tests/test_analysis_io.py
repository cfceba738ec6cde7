"""`vr-study analyze` input layouts and honest secondary outputs.

* The same ratings saved by PsychoPy (one data file per participant), jsPsych (survey
  answers as a JSON object) and Qualtrics (one row per respondent, two extra header rows)
  give the report numbers of the long export (fixtures written from study16.csv by
  scripts/make_layout_fixtures.py).
* Ambiguous input is refused with one `error:` line that names the fix (exit 2).
* Cronbach's alpha only over declared subscales; n < k and small-N warnings; block-level
  questionnaires analysed by their block factor; CIs within the rating scale; APA prose
  with typographic symbols in HTML/LaTeX; the confusion matrices fit a 1280 px page.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.tidy import apply_item_info
from vr_study.cli import main

FIX = Path(__file__).parent / "fixtures" / "analysis"
LAY = FIX / "layouts"
QUALTRICS_PATTERN = r"(?P<method>[^_]+)_(?P<emotion>[^_]+)_(?P<clip>u\d+)_(?P<item>.+)"
FAST = ["--no-figures", "--no-ordinal"]  # every item column is read and analysed


def _run(capsys, args) -> tuple[int, str, str]:
    rc = main(["analyze", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture(scope="module")
def long_report(tmp_path_factory):
    """The report of the long export (with figures: also used for the browser check)."""
    out = tmp_path_factory.mktemp("long") / "report"
    assert main(["analyze", str(FIX / "study16.csv"), "-o", str(out), "--no-ordinal",
                 "--items", "naturalness"]) == 0
    return json.loads((out / "results.json").read_text()), out


def _same_numbers(a: dict, b: dict, *, clip_ids_equal: bool = True) -> None:
    x, y = a["items"]["naturalness"], b["items"]["naturalness"]
    for key, cols in (("descriptives", ["n", "mean", "sd", "ci_low", "ci_high"]),
                      ("rm_anova", ["F", "df1", "df2", "p_gg", "partial_eta2"])):
        np.testing.assert_allclose(pd.DataFrame(x[key])[cols].to_numpy(float),
                                   pd.DataFrame(y[key])[cols].to_numpy(float), rtol=1e-10)
    np.testing.assert_allclose(pd.DataFrame(x["art"]["anova"])[["F", "p"]].to_numpy(float),
                               pd.DataFrame(y["art"]["anova"])[["F", "p"]].to_numpy(float),
                               rtol=1e-10)
    for f in ("method", "emotion"):
        assert x["friedman"][f]["chi2"] == pytest.approx(y["friedman"][f]["chi2"], rel=1e-10)
    if clip_ids_equal:
        np.testing.assert_allclose(
            pd.DataFrame(x["mixedlm"]["fixed"]).iloc[:, 1].to_numpy(float),
            pd.DataFrame(y["mixedlm"]["fixed"]).iloc[:, 1].to_numpy(float), rtol=1e-6)
    ra = {r["scale"].split("/")[-1]: r for r in a["reliability"]}
    rb = {r["scale"].split("/")[-1]: r for r in b["reliability"]}
    assert set(ra) == set(rb) == {"realism", "engagement"}
    for s in ra:
        assert (ra[s]["alpha"], ra[s]["n"], ra[s]["k"]) == \
            pytest.approx((rb[s]["alpha"], rb[s]["n"], rb[s]["k"]), rel=1e-12)


@pytest.mark.parametrize("name,extra,tool", [
    ("psychopy", [], "PsychoPy"),
    ("jspsych.csv", ["--columns", "response_text=perceived_emotion"], "jsPsych"),
    ("qualtrics.csv", ["--pattern", QUALTRICS_PATTERN], "Qualtrics"),
])
def test_other_tools_give_the_numbers_of_the_long_export(tmp_path, capsys, long_report,
                                                         name, extra, tool):
    ref, _ = long_report
    out = tmp_path / "r"
    rc, stdout, err = _run(capsys, [str(LAY / name), "-o", str(out), *FAST, *extra,
                                    "--codebook", str(LAY / "codebook.csv")])
    assert rc == 0, err
    line = stdout.splitlines()[0]
    assert line.startswith("input: wide layout") and tool in line and "--items" in line
    if tool == "Qualtrics":
        assert "note: 1 Qualtrics preview/test/spam response(s) dropped" in stdout
    res = json.loads((out / "results.json").read_text())
    assert res["meta"]["n_participants"] == 16
    # how the file was read is kept with the numbers (and shown under Source)
    inp = res["meta"]["input"]
    assert inp["kind"] == ("participant" if tool == "Qualtrics" else "wide")
    assert inp["tool"] == tool and inp["note"].startswith(line)
    assert len(inp["items"]) == 5 and len(inp["item_columns"]) == 5
    assert (out / "index.html").read_text().count("input: wide layout") == 1
    assert ref["meta"]["input"]["kind"] == "long" and \
        ref["meta"]["input"]["tool"] == "vr-study export"
    _same_numbers(ref, res, clip_ids_equal=tool != "Qualtrics")
    if tool == "jsPsych":  # the recognition answer (a label in the survey JSON)
        assert "note: 256 emotion-recognition answer(s) from column 'response{perceived_" \
            "emotion}'" in stdout
        assert res["recognition"]["chance"] == ref["recognition"]["chance"] == 0.25
        for key in ("accuracy", "accuracy_by_method"):
            got, want = pd.DataFrame(res["recognition"][key]), pd.DataFrame(ref["recognition"][key])
            pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
        assert res["recognition"]["confusion"] == ref["recognition"]["confusion"]


def test_wide_columns_are_picked_or_refused_with_the_fix(tmp_path, capsys):
    long = pd.read_csv(FIX / "study16.csv", dtype=str, keep_default_na=False)
    long = long[long["item"].isin(["naturalness", "arousal_realism"])]
    wide = long.pivot_table(index=["participant_id", "trial_index", "method", "emotion",
                                   "clip_id"], columns="item", values="value",
                            aggfunc="first").reset_index()
    wide = wide.rename(columns={"participant_id": "subject", "method": "condition"})
    wide["age"] = wide["subject"].str[-2:]                    # constant per participant
    wide["duration_s"] = np.linspace(3.1, 4.9, len(wide)).round(3)  # not a rating
    path = tmp_path / "published.csv"
    wide.to_csv(path, index=False)
    out = str(tmp_path / "r")
    # a duration column next to integer ratings: ambiguous, refused, the fix named
    rc, _, err = _run(capsys, [str(path), "-o", out, "--columns", "method=condition"])
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error:")
    assert "duration_s" in err and "--items arousal_realism,naturalness" in err
    # the named fix works, and the one-line explanation says what was used
    rc, stdout, err = _run(capsys, [str(path), "-o", out, "--columns", "method=condition",
                                    "--items", "arousal_realism,naturalness", "--no-figures",
                                    "--no-ordinal", "--scale", "1,7"])
    assert rc == 0, err
    line = stdout.splitlines()[0]
    assert "wide layout detected" in line and "participant_id = column 'subject'" in line
    res = json.loads((tmp_path / "r" / "results.json").read_text())
    assert res["meta"]["items"] == ["arousal_realism", "naturalness"]
    ref = analysis.art(long[long["item"] == "naturalness"], "value", ["method", "emotion"],
                       "participant_id")
    np.testing.assert_allclose([r["F"] for r in res["items"]["naturalness"]["art"]["anova"]],
                               ref["F"], rtol=1e-12)
    # without a codebook no subscale is declared: alpha is not computed over the 2 items
    assert res["reliability"] == []
    assert any("no subscales declared" in s["reason"] for s in res["skipped"])
    # a one-factor study (no emotion column): emotion is one level, dropped from the models
    one = tmp_path / "one_factor.csv"
    wide.drop(columns=["emotion", "duration_s"]).to_csv(one, index=False)
    rc, stdout, err = _run(capsys, [str(one), "-o", str(tmp_path / "r1"), "--columns",
                                    "method=condition", "--no-figures", "--no-ordinal"])
    assert rc == 0, err
    assert "note: no emotion column: every trial counts as emotion 'all'" in stdout
    res1 = json.loads((tmp_path / "r1" / "results.json").read_text())
    assert [r["term"] for r in res1["items"]["naturalness"]["art"]["anova"]] == ["method"]
    # neither layout
    bad = tmp_path / "neither.csv"
    bad.write_text("who,what,score\nA,x,3\n")
    rc, _, err = _run(capsys, [str(bad), "-o", out])
    assert rc == 2 and err.count("\n") == 1 and "--columns participant_id=" in err
    # an item that is not a column
    rc, _, err = _run(capsys, [str(path), "-o", out, "--columns", "method=condition",
                               "--items", "naturalnes"])
    assert rc == 2 and "naturalnes" in err and "the file has columns" in err


def test_label_answers_are_not_taken_for_ratings():
    data, layout = analysis.read_responses(LAY / "jspsych.csv")
    assert "perceived_emotion" not in layout.items and len(layout.items) == 5
    assert any("--columns response_text=perceived_emotion" in n for n in layout.notes)
    assert set(data["item"]) == set(layout.items)


def test_ambiguous_long_and_json_and_qualtrics_without_pattern(tmp_path, capsys):
    mixed = tmp_path / "mixed.csv"
    mixed.write_text('participant_id,method,emotion,item,value,response\n'
                     'P1,a,happy,naturalness,5,"{""enjoyment"": 3}"\n')
    rc, _, err = _run(capsys, [str(mixed), "-o", str(tmp_path / "r")])
    assert rc == 2 and "ambiguous" in err and "--layout long or --layout wide" in err
    rc, _, err = _run(capsys, [str(LAY / "qualtrics.csv"), "-o", str(tmp_path / "r")])
    assert rc == 2 and "Qualtrics" in err and "--pattern" in err and err.count("\n") == 1
    rc, _, err = _run(capsys, [str(LAY / "qualtrics.csv"), "-o", str(tmp_path / "r"),
                               "--pattern", "(?P<method>[^_]+)_(?P<rating>.+)"])
    assert rc == 2 and "--pattern" in err and "item" in err


def _session_frame(n_participants: int, items: list[str], subscale: str) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for p in range(n_participants):
        base = rng.integers(2, 6)
        for it in items:
            rows.append({"participant_id": f"P{p}", "method": "", "emotion": "",
                         "instrument": "q", "item": it, "subscale": subscale,
                         "value": str(int(np.clip(base + rng.integers(-1, 2), 1, 7))),
                         "trial_index": "9", "scale_min": "1", "scale_max": "7"})
    return pd.DataFrame(rows)


def test_alpha_warns_when_fewer_response_sets_than_items_and_small_n(tmp_path):
    items = [f"i{k}" for k in range(6)]
    df = _session_frame(5, items, "s")
    res = analysis.build_report(df, tmp_path / "r",
                                options=analysis.ReportOptions(figures=False, ordinal=False))
    (rel,) = res["reliability"]
    assert rel["scale"] == "q/s" and rel["k"] == 6 and rel["n"] == 5
    assert any("q/s" in w and "n > k" in w for w in res["warnings"])
    assert any(w.startswith("only 5 participants") for w in res["warnings"])
    page = (tmp_path / "r" / "index.html").read_text()
    assert "only 5 participants" in page
    # items without a declared subscale are never pooled into one alpha
    res2 = analysis.build_report(_session_frame(20, items, ""), tmp_path / "r2",
                                 options=analysis.ReportOptions(figures=False, ordinal=False))
    assert res2["reliability"] == [] and not any("participants" in w for w in res2["warnings"])


def test_block_questionnaire_is_analysed_by_its_block_factor(tmp_path):
    df = pd.read_csv(FIX / "study16.csv", dtype=str, keep_default_na=False)
    df = df[df["item"] == "naturalness"]
    rng = np.random.default_rng(0)
    sam = []
    for pid in sorted(df["participant_id"].unique()):
        for emo, mu in (("happy", 7.0), ("neutral", 4.5)):
            for it in ("valence", "arousal", "dominance"):
                v = int(np.clip(round(mu + rng.normal(0, 1)), 1, 9)) if it == "valence" \
                    else int(rng.integers(3, 7))
                sam.append({"participant_id": pid, "trial_index": f"99{emo}", "method": "",
                            "emotion": emo, "trial_kind": "questionnaire", "instrument": "sam",
                            "item": it, "subscale": it, "value": str(v),
                            "value_scored": str(v), "scale_min": "1", "scale_max": "9"})
    data = pd.concat([df, pd.DataFrame(sam)], ignore_index=True).fillna("")
    res = analysis.build_report(data, tmp_path / "r", options=analysis.ReportOptions(
        figures=False, ordinal=False))
    val = res["block_items"]["valence"]
    assert val["factor"] == "emotion"
    assert [r["emotion"] for r in val["descriptives"]] == ["happy", "neutral"]
    assert val["descriptives"][0]["mean"] > val["descriptives"][1]["mean"] + 1.5
    assert val["rm_anova"][0]["p"] < 0.001 and val["friedman"][0]["p"] < 0.001
    assert "valence" not in res["items"] and "session_items" not in res
    assert any(s.startswith("valence, RM-ANOVA, emotion: F(1, 15)") for s in res["sentences"])
    # single-item subscales (SAM's, and realism with only naturalness here): no alpha, said so
    assert res["reliability"] == []
    assert any("single-item subscale(s)" in s["reason"] and "sam/valence" in s["reason"]
               for s in res["skipped"])


def test_cis_stay_within_the_rating_scale(tmp_path):
    rows = []
    for p in range(8):
        for e, k in (("happy", 0), ("neutral", 1)):
            for m, v in (("a", 7 if p or k else 5), ("b", 4 + (p + k) % 3)):
                rows.append({"participant_id": f"P{p}", "method": m, "emotion": e,
                             "item": "naturalness", "value": str(v), "trial_index": "1",
                             "scale_min": "1", "scale_max": "7"})
    res = analysis.build_report(pd.DataFrame(rows), tmp_path / "r",
                                options=analysis.ReportOptions(ordinal=False))
    desc = pd.DataFrame(res["items"]["naturalness"]["descriptives"])
    assert desc["ci_high"].max() <= 7 and desc["ci_low"].min() >= 1
    top = desc[desc["method"] == "a"].iloc[0]
    assert top["ci_high"] == 7 and bool(top["ci_clipped"])
    unclipped = analysis.describe(pd.DataFrame(rows), "value", ["method", "emotion"])
    assert unclipped["ci_high"].max() > 7  # the t interval alone leaves the scale
    page = (tmp_path / "r" / "index.html").read_text()
    assert "clipped to the scale 1..7" in page


def test_apa_prose_has_symbols_in_html_and_latex_and_plain_markdown(long_report):
    _, out = long_report
    page = (out / "index.html").read_text()
    section = page.split('<div class="apa">', 1)[1].split("</div>", 1)[0]
    assert re.search(r"The main effect of method was significant, <i>F</i>\(3, 45\) = "
                     r"\d+\.\d\d, <i>p</i> &lt; \.001, &eta;<span class=\"ss\"><sup>2</sup><sub>p</sub>"
                     r"</span> = \.\d\d",
                     section)
    assert "&chi;<sup>2</sup>(" in section and "&times;" in section
    tex = (out / "results_apa.tex").read_text()
    assert re.search(r"\$F\$\(3, 45\) = \d+\.\d\d, \$p <\$ \.001, \$\\eta\^2_p\$", tex)
    assert r"$\chi^2$" in tex and r"method $\times$ emotion" in tex
    assert "%" not in tex.replace(r"\%", "")
    md = (out / "results_apa.md").read_text()
    assert "partial eta^2" in md and "<i>" not in md and "$" not in md
    assert md.count("\n\n") >= 4  # paragraphs, not a list of sentences
    table = (out / "tables" / "naturalness_rm_anova.tex").read_text()
    assert r"term & $F$ & df1 & df2 & $p$" in table and r"$\eta^2_p$" in table
    assert "| term | F | df1 | df2 | p |" in (out / "tables" / "naturalness_rm_anova.md").read_text()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian package chromium is not installed")
def test_report_fits_1280px_and_confusion_matrix_is_not_shrunk(long_report):
    sync_api = pytest.importorskip("playwright.sync_api")
    _, out = long_report
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1280, "height": 900})
        page.goto((out / "index.html").as_uri())
        page.wait_for_load_state("load")
        sizes = page.evaluate("""() => ({
            scroll: document.documentElement.scrollWidth,
            client: document.documentElement.clientWidth,
            conf: [...document.images].filter(i => i.src.endsWith('confusion.png'))
                  .map(i => [i.clientWidth, i.naturalWidth, i.getBoundingClientRect().right])})""")
        b.close()
    assert sizes["scroll"] <= sizes["client"], sizes  # no horizontal scrolling
    ((shown, natural, right),) = sizes["conf"]
    assert natural > 900 and shown >= 0.95 * natural  # drawn for the page, not scaled down
    assert right <= sizes["client"]


def test_codebook_from_instrument_definitions_gives_subscales_and_reverse_keying(tmp_path):
    from questionnaires.instruments import DEFAULT_INSTRUMENTS_DIR, load_instrument
    god = load_instrument(DEFAULT_INSTRUMENTS_DIR / "godspeed.yaml")
    rng = np.random.default_rng(5)
    rows = []
    for p in range(12):
        for m in ("EMAGE", "reconstruction"):
            like = rng.normal(3 + (m == "reconstruction"), 0.5)
            rows.append({"participant": f"P{p:02d}", "method": m, "emotion": "happy",
                         **{it.id: int(np.clip(round(like + rng.normal(0, 0.6)), 1, 5))
                            for it in god.items}})
    path = tmp_path / "godspeed_wide.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    # what `--codebook godspeed` does (the CLI reads the instrument, analysis gets a table)
    from vr_study.cli.analyze import _codebook
    data, layout = analysis.read_responses(path)
    assert layout.kind == "wide" and len(layout.items) == 24
    data = apply_item_info(data, _codebook("godspeed"))
    res = analysis.build_report(data, tmp_path / "r", options=analysis.ReportOptions(
        items=["like_awful_nice"], figures=False, ordinal=False))
    rel = {r["scale"]: r for r in res["reliability"]}
    assert set(rel) == {f"godspeed/{s.id}" for s in god.subscales}
    assert rel["godspeed/animacy"]["k"] == 6 and rel["godspeed/animacy"]["n"] == 24
    # 1..5 from the instrument: CIs clipped to it
    desc = res["items"]["like_awful_nice"]["descriptives"]
    assert all(1 <= r["ci_low"] and r["ci_high"] <= 5 for r in desc)
    # reverse keying from a codebook: value_scored = min + max - value
    df = pd.DataFrame({"item": ["a", "b"], "value": ["2", "2"]})
    cb = pd.DataFrame({"item": ["a", "b"], "scale_min": ["1", "1"], "scale_max": ["7", "7"],
                       "reversed": ["1", "0"], "subscale": ["s", "s"]})
    out = apply_item_info(df, cb)
    assert out["value_scored"].tolist() == ["6", "2"] and out["subscale"].tolist() == ["s", "s"]
