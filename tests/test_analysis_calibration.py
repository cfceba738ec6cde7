"""Calibration and power: design-shaped null worlds, false-positive rates, power, CLI.

Few simulations and a wide band here (the 1000-study numbers are benchmarks/calibration.py,
recorded in docs/analysis.md); every generator is seeded, so the numbers are fixed.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.calibration import calibrate, rates_table, run_tests, wilson
from analysis.design import AnalysisError
from analysis.power import clip_limited_power, n_for_power, parse_effects, power
from analysis.worlds import World, design_from_levels, simulate
from vr_study.cli import main

FIX = Path(__file__).parent / "fixtures" / "analysis"
LEVELS = {"method": ["m1", "m2", "m3", "m4"], "emotion": ["happy", "neutral"]}


@pytest.fixture(scope="module")
def design():
    return design_from_levels(LEVELS, 20, 2)


def test_simulator_shapes_scale_and_seed(design):
    w = World(4.0, {"participant": 0.6, "clip": 0.5, "residual": 1.0})
    Y = simulate(design, w, 7, np.random.default_rng(5))
    assert Y.shape == (7, 20 * 8 * 2)
    assert set(np.unique(Y)) <= set(range(1, 8))
    np.testing.assert_array_equal(Y, simulate(design, w, 7, np.random.default_rng(5)))
    # an effect world moves the levels by the requested rating points
    cont = design_from_levels(LEVELS, 20, 2, scale=None)   # latent scale, no rounding
    eff = World(4.0, {"residual": 0.3}, parse_effects(["method=1.5"], cont))
    Yc = simulate(cont, eff, 50, np.random.default_rng(1))
    m = pd.Series(Yc.mean(axis=0)).groupby(cont.frame["method"].to_numpy()).mean()
    assert m["m4"] - m["m1"] == pytest.approx(1.5, abs=0.1)


def test_null_world_with_method_preferences(design):
    """Participant x method slopes: per-stratum ART, RM-ANOVA GG and Friedman keep alpha;
    ARTool's pooled Error(S) form does not (it ignores the slopes)."""
    w = World(4.0, {"participant": 0.6, "participant:method": 0.5, "residual": 1.0})
    Y = simulate(design, w, 400, np.random.default_rng(11))
    t = rates_table(run_tests(design, Y, ["art", "art_pooled", "rm_anova", "friedman"],
                              0.05), 0.05).set_index(["test", "term"])
    for test in ("art", "rm_anova"):
        for term in ("method", "emotion", "method:emotion"):
            assert 0.015 <= t.loc[(test, term), "rate"] <= 0.09, (test, term)
    assert 0.015 <= t.loc[("friedman", "method"), "rate"] <= 0.09
    assert t.loc[("art_pooled", "method"), "rate"] > 0.12
    assert t.loc[("art_pooled", "method"), "verdict"] == "too many false positives"


def test_null_world_with_clip_effects(design):
    """Clips differ: by-participant tests reject far too often (they hold only for the
    clips used); the crossed mixed model keeps alpha."""
    w = World(4.0, {"participant": 0.6, "clip": 0.5, "residual": 1.0})
    Y = simulate(design, w, 300, np.random.default_rng(12))
    rej = run_tests(design, Y, ["art", "rm_anova"], 0.05)
    rej.update(run_tests(design, Y, ["mixed"], 0.05, n_mixed=25))
    t = rates_table(rej, 0.05, clip_sd=0.5).set_index(["test", "term"])
    assert t.loc[("art", "method"), "rate"] > 0.4
    assert t.loc[("art", "method"), "verdict"] == "only for the clips used"
    assert t.loc[("mixed", "method"), "n_sims"] == 25
    for term in ("method", "emotion", "method:emotion"):
        assert t.loc[("mixed", term), "rejections"] <= 4, term   # 25 fits, expected 1.25
        assert t.loc[("mixed", term), "verdict"] == "ok"


def test_calibrate_on_a_study_estimates_its_world():
    d = analysis.simulate_study(16, seed=3)
    d = d[d["item"] == "naturalness"].assign(value=lambda x: x["value"].astype(float))
    cal = calibrate(d, "value", ["method", "emotion"], "participant_id", "clip_id",
                    n_sims=60, n_mixed=3, seed=1)
    assert cal.design["participants"] == 16 and cal.design["clips_per_cell"]["max"] == 2
    assert cal.design["scale"] == [1, 7]
    assert cal.world.effects == {} and cal.world.sd["residual"] == pytest.approx(1.0, abs=0.25)
    assert "clip_id" in cal.structure
    tab = cal.table
    assert set(tab["test"]) == {"art", "art_pooled", "rm_anova", "friedman", "mixed"}
    assert (tab.loc[tab["test"] != "mixed", "n_sims"] == 60).all()
    again = calibrate(d, "value", ["method", "emotion"], "participant_id", "clip_id",
                      n_sims=60, n_mixed=3, seed=1)
    pd.testing.assert_frame_equal(tab, again.table)
    json.dumps(cal.to_dict(), default=float)
    with pytest.raises(AnalysisError, match="alpha"):
        calibrate(d, "value", ["method"], "participant_id", alpha=5)


def test_power_and_n_for_power(design):
    w = World(4.0, {"participant": 0.6, "residual": 1.0}, parse_effects(["method=1.0"], design))
    t = power(design, w, n_sims=200, tests=["art", "rm_anova"]).set_index(["test", "term"])
    assert t.loc[("art", "method"), "power"] > 0.9
    assert t.loc[("art", "emotion"), "power"] < 0.12
    n = n_for_power(design, w, "art", "method", n_sims=100, seed=2)
    assert 4 <= n <= 20
    # clips limit the power of a test that generalises over them
    wc = World(4.0, {"participant": 0.6, "clip": 0.5, "residual": 1.0},
               parse_effects(["method=0.3"], design))
    assert clip_limited_power(design, wc, "method") < 0.3
    assert n_for_power(design, wc, "mixed", "method") is None
    assert clip_limited_power(design, w, "method") == 1.0


def test_parse_effects_explicit_levels_and_errors(design):
    e = parse_effects(["method=m4:0.5", "emotion=0.4"], design)
    assert e == {"method": {"m4": 0.5}, "emotion": {"happy": -0.2, "neutral": 0.2}}
    with pytest.raises(AnalysisError, match="not a factor"):
        parse_effects(["speed=1"], design)
    with pytest.raises(AnalysisError, match="unknown level"):
        parse_effects(["method=m9:1"], design)
    with pytest.raises(AnalysisError, match="not a number"):
        parse_effects(["method=big"], design)



def test_power_for_the_interaction(design):
    """An interaction effect (difference of differences of the corner cells = 1.6 rating
    points) is simulated as asked, gives power to the interaction test and not to the
    main effects' (beyond what the corner cells imply), has an N for 80 % power, and its
    clip-limited power falls when clips vary; explicit cells and bad cells are handled."""
    e = parse_effects(["method:emotion=1.6"], design)
    assert e == {"method:emotion": {"m1,happy": 0.4, "m4,neutral": 0.4, "m1,neutral": -0.4,
                                    "m4,happy": -0.4}}
    cont = design_from_levels(LEVELS, 20, 2, scale=None)
    Yc = simulate(cont, World(4.0, {"residual": 0.3}, e), 50, np.random.default_rng(2))
    cell = pd.Series(Yc.mean(axis=0)).groupby(
        [cont.frame["method"].to_numpy(), cont.frame["emotion"].to_numpy()]).mean()
    dd = (cell["m1", "happy"] - cell["m1", "neutral"]) - (cell["m4", "happy"]
                                                         - cell["m4", "neutral"])
    assert dd == pytest.approx(1.6, abs=0.1)
    w = World(4.0, {"participant": 0.6, "residual": 1.0}, e)
    t = power(design, w, n_sims=200, tests=["art", "rm_anova"]).set_index(["test", "term"])
    assert t.loc[("rm_anova", "method:emotion"), "power"] > 0.8
    assert t.loc[("rm_anova", "emotion"), "power"] < 0.12
    n = n_for_power(design, w, "rm_anova", "method:emotion", n_sims=100, seed=2)
    assert 4 <= n <= 20
    wc = World(4.0, {"participant": 0.6, "clip": 0.5, "residual": 1.0},
               parse_effects(["method:emotion=0.8"], design))
    assert 0 < clip_limited_power(design, wc, "method:emotion") < 0.5
    assert clip_limited_power(design, w, "method:emotion") == 1.0
    assert parse_effects(["method:emotion=m4*happy:0.5"], design) == {
        "method:emotion": {"m4,happy": 0.5}}
    with pytest.raises(AnalysisError, match="unknown cell"):
        parse_effects(["method:emotion=m4:0.5"], design)
    with pytest.raises(AnalysisError, match="not a factor"):
        parse_effects(["method:speed=1"], design)

def test_wilson_interval():
    lo, hi = wilson(50, 1000)
    assert lo == pytest.approx(0.0381, abs=1e-3) and hi == pytest.approx(0.0653, abs=1e-3)


def test_cli_calibrate_and_power(tmp_path, capsys):
    data = tmp_path / "d.csv"
    assert main(["analyze", "simulate", "-o", str(data), "--participants", "8"]) == 0
    out = tmp_path / "cal.json"
    assert main(["analyze", "calibrate", str(data), "--items", "naturalness", "--sims", "40",
                 "--mixed-sims", "2", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "false-positive rate" in text and "ART, per-stratum" in text
    res = json.loads(out.read_text())
    assert res["items"]["naturalness"]["design"]["participants"] == 8
    spec = tmp_path / "study.yaml"
    spec.write_text("study: {id: pw, participants: 12}\n"
                    "factors: {method: [emage, talkshow, amuse, reconstruction], emotion: [happy, neutral]}\n"
                    "trials: {kind: playback, repetitions: 2}\n")
    pj = tmp_path / "p.json"
    assert main(["analyze", "power", str(spec), "--effect", "method=1.0", "--sd",
                 "clip=0", "--sims", "60", "--mixed-sims", "2", "--test", "art",
                 "-o", str(pj)]) == 0
    text = capsys.readouterr().out
    assert "power at N = 12" in text and "N for 80% power (art, method)" in text
    p = json.loads(pj.read_text())
    assert p["clips_per_cell"] == 2 and p["n_for_power"]["method"] <= 12
    # the interaction has a power line and an N, as the main effects do
    assert main(["analyze", "power", str(spec), "--effect", "method:emotion=2.0", "--sd",
                 "clip=0", "--sims", "60", "--mixed-sims", "2", "--test", "rm_anova",
                 "-o", str(pj)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"RM-ANOVA.*method:emotion\s+[01]\.\d+\s+n=60 \(effect\)", text), text
    assert "N for 80% power (rm_anova, method:emotion)" in text
    assert json.loads(pj.read_text())["n_for_power"]["method:emotion"] <= 24


@pytest.mark.parametrize("argv,needle", [
    (["analyze", "calibrate"], "needs the data CSV"),
    (["analyze", "calibrate", "MISSING.csv"], "does not exist"),
    (["analyze", "calibrate", "DATA", "--items", "nope"], "has no item(s)"),
    (["analyze", "calibrate", "DATA", "--alpha", "2"], "--alpha"),
    (["analyze", "power", "SPEC"], "no effect given"),
    (["analyze", "power", "SPEC", "--effect", "speed=1"], "not a factor"),
    (["analyze", "power", "SPEC", "--effect", "method=1", "--sd", "clip"], "NAME=SD"),
    (["analyze", "power", "SPEC", "--effect", "method=1", "--power-target", "80"],
     "--power-target"),
    (["analyze", "power", "MISSING.yaml", "--effect", "method=1"], "does not exist"),
])
def test_cli_bad_input_is_one_error_line(tmp_path, capsys, argv, needle):
    spec = tmp_path / "study.yaml"
    spec.write_text("study: {id: pw}\nfactors: {method: [emage, talkshow], emotion: [happy, neutral]}\n"
                    "trials: {kind: playback}\n")
    argv = [str(spec) if a == "SPEC" else str(FIX / "study16.csv") if a == "DATA" else
            str(tmp_path / a) if a.startswith("MISSING") else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
