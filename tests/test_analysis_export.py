"""End to end: simulated sessions -> study database -> `vr-study export` CSV -> analysis.

Uses the real session runner, SQLite database and exporter, so the analysis is checked on
exactly what the export writes (practice-free design, per-trial ratings, the
emotion-recognition choice item with ``correct``, end-of-session SAM items).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from study_helpers import make_study
from vr_study.cli import main
from vr_study.cli.study import _instruments, item_info_from_instruments
from vr_study.storage import StudyDatabase
from vr_study.study.answerers import ScriptedAnswerer
from vr_study.study.drivers import SimulatedDriver
from vr_study.study.export import export_study
from vr_study.study.session import run_session
from vr_study.study.spec import load_spec


@pytest.mark.slow
def test_analysis_of_a_real_export(tmp_path):
    spec = load_spec(make_study(tmp_path / "study"))
    db = StudyDatabase(spec.database, participant_pattern=spec.study.participant_pattern)
    rng = np.random.default_rng(4)
    for p in range(6):
        def answers_for(prompt, p=p):
            ctx = prompt.context
            if prompt.instrument_id == "trial_ratings":
                base = 5 if ctx.get("method") == "reconstruction" else 3
                return {k: int(np.clip(base + (ctx.get("emotion") == "happy") + rng.integers(-1, 2),
                                       1, 7))
                        for k in ("arousal_realism", "naturalness", "enjoyment", "diversity",
                                  "interaction_quality")}
            if prompt.instrument_id == "emotion_recognition":
                right = rng.random() < (0.9 if ctx.get("method") == "reconstruction" else 0.5)
                other = "neutral" if ctx.get("emotion") == "happy" else "happy"
                return {"emotion": ctx.get("emotion") if right else other,
                        "confidence": int(rng.integers(1, 8))}
            return {"valence": int(rng.integers(1, 10)), "arousal": int(rng.integers(1, 10)),
                    "dominance": int(rng.integers(1, 10))}
        run_session(spec, db, f"P{p + 1:02d}", SimulatedDriver(speed=50),
                    answerer=ScriptedAnswerer(db, answers_for))
    info = item_info_from_instruments(_instruments(spec))
    paths = export_study(db, tmp_path / "export", info, spec.study.id)
    out = tmp_path / "report"
    assert main(["analyze", str(paths["responses.csv"]), "-o", str(out), "--no-figures"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["meta"]["n_participants"] == 6 and res["meta"]["simulated"] is False
    assert set(res["meta"]["methods"]) == {"emage", "reconstruction"}
    assert "naturalness" in res["items"] and "confidence" in res["items"]
    art = {r["term"]: r for r in res["items"]["naturalness"]["art"]["anova"]}
    assert art["method"]["df1"] == 1 and art["method"]["p"] < 0.01  # reconstruction rated higher
    # one clip per condition: no clip random effect
    assert res["items"]["naturalness"]["mixedlm"]["random"] == ["participant"]
    rec = res["recognition"]
    assert rec["chance"] == pytest.approx(1 / 7)  # the instrument offers seven emotions
    assert sum(r["n"] for r in rec["accuracy"]) == 6 * 4
    # the end-of-session SAM items are described, not put into method x emotion models
    assert {r["item"] for r in res["session_items"]} == {"valence", "arousal", "dominance"}
    assert "valence" not in res["items"]
    assert any("session-level" in n for n in res["notes"])
