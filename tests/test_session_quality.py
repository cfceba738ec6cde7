"""Sessions a reviewer can trust: one participant per number, attention checks scored as they
happen, quality columns, exclusions (rules, manual, pilots) in export and analysis, turn clips
made from the turn's own speech, and a pre-registration written from the spec."""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from study_helpers import ANSWERS, make_study
from vr_study.errors import InputError
from vr_study.storage import DuplicateParticipant, StudyDatabase
from vr_study.study.answerers import ScriptedAnswerer, fixed_answers
from vr_study.study.drivers import SimulatedDriver
from vr_study.study.export import ItemInfo, export_study
from vr_study.study.quality import CHECK_RESULT_EVENT
from vr_study.study.session import prepare_session, run_session
from vr_study.study.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
RATING = {("trial_ratings", i): ItemInfo("trial_ratings", i, type="likert", scale_min=1, scale_max=7)
          for i in ANSWERS["trial_ratings"]}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vr_study.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def _with_check(tmp_path, kind="playback", exclude="{attention_failures: 1}"):
    spec_path = make_study(tmp_path / "study", kind=kind)
    text = spec_path.read_text().replace(
        "attention_checks: {after_trials: []}",
        "attention_checks:\n    after_trials: [2]\n    instruction: 'Please tap 7 for the first question.'\n"
        "    expect: {arousal_realism: 7}") + f"exclude: {exclude}\n"
    spec_path.write_text(text)
    spec = load_spec(spec_path)
    return spec, StudyDatabase(spec.database, participant_pattern=spec.study.participant_pattern)


def _answers(check_value):
    def answers_for(prompt):
        out = fixed_answers(ANSWERS)(prompt)
        if prompt.context.get("trial_kind") == "attention_check":
            out["arousal_realism"] = check_value
        return out
    return answers_for


def test_ids_are_normalised_by_number_and_a_second_session_is_refused(tmp_path):
    spec, db = _with_check(tmp_path)
    sid = prepare_session(spec, db, "P4", check_library=True)
    assert db.session(sid).participant_id == "P04"
    for again in ("P04", "P004", "p4"):
        with pytest.raises(DuplicateParticipant, match="P04 already has session"):
            prepare_session(spec, db, again)
    assert prepare_session(spec, db, "P004", resume=True) == sid  # resume finds it under any spelling
    assert prepare_session(spec, db, "P004", redo=[0]) == sid  # --redo continues the stored session
    assert db.trial(sid, 0).attempt == 1
    new = prepare_session(spec, db, "P4", restart=True)
    assert new != sid and db.session(sid).status == "superseded"
    assert [e.kind for e in db.events(sid)].count("session_superseded") == 1
    with pytest.raises(InputError, match="has no session to resume"):
        prepare_session(spec, db, "P05", resume=True)
    # the plan row comes from the number, whatever the spelling
    assert db.session(new).plan_row == 3


def test_failed_attention_check_is_recorded_live_exported_and_excludes(tmp_path):
    spec, db = _with_check(tmp_path)
    log: list[str] = []
    good = run_session(spec, db, "P01", SimulatedDriver(speed=50), answerer=ScriptedAnswerer(db, _answers(7)),
                       speed=50, log=log.append)
    bad = run_session(spec, db, "P02", SimulatedDriver(speed=50), answerer=ScriptedAnswerer(db, _answers(3)),
                      speed=50, log=log.append)
    assert good.status == bad.status == "finished"
    results = {sid: [e.payload for e in db.events(sid, kind=CHECK_RESULT_EVENT)] for sid in (good.session_id,
                                                                                            bad.session_id)}
    assert [r["passed"] for r in results[good.session_id]] == [True]
    assert [r["passed"] for r in results[bad.session_id]] == [False]
    assert results[bad.session_id][0]["failures"] == ["arousal_realism: expected 7, got 3"]
    assert list(db.attention_results(bad.session_id).values()) == [False]  # what the experimenter page reads
    assert any('the tablet shows "Please tap 7 for the first question."' in x for x in log)  # for the experimenter
    assert "  attention check FAILED: arousal_realism: expected 7, got 3" in log
    pilot = run_session(spec, db, "P03", SimulatedDriver(speed=50), answerer=ScriptedAnswerer(db, _answers(7)),
                        speed=50, pilot=True)
    manual = tmp_path / "manual.csv"
    manual.write_text("participant_id,reason\nP1,fell asleep in the headset\n")
    from vr_study.study.quality import read_manual_exclusions

    paths = export_study(db, tmp_path / "out", RATING, spec.study.id, rules=spec.exclude,
                         manual_exclusions=read_manual_exclusions(str(manual)))
    quality = {r["participant_id"]: r for r in csv.DictReader(open(paths["quality.csv"]))}
    assert set(quality) == {"P01", "P02"}  # the pilot is left out
    assert (quality["P01"]["checks_passed"], quality["P01"]["checks_failed"]) == ("1", "0")
    assert (quality["P02"]["checks_passed"], quality["P02"]["checks_failed"]) == ("0", "1")
    assert quality["P02"]["straightlining"] == "0" and float(quality["P02"]["median_rt_s"]) > 0
    excl = {r["participant_id"]: r["reasons"] for r in csv.DictReader(open(paths["exclusions.csv"]))}
    assert excl == {"P01": "manual: fell asleep in the headset",
                    "P02": "failed 1 attention check(s) (rule: exclude at 1)"}
    rows = list(csv.DictReader(open(paths["responses.csv"])))
    checks = [r for r in rows if r["trial_kind"] == "attention_check"]
    assert {(r["participant_id"], r["check_passed"]) for r in checks} == {("P01", "1"), ("P02", "0")}
    assert {r["excluded"] for r in rows} == {"1"} and {r["pilot"] for r in rows} == {"0"}
    # the pilot only with include_pilots
    paths = export_study(db, tmp_path / "out2", RATING, spec.study.id, include_pilots=True)
    rows = list(csv.DictReader(open(paths["responses.csv"])))
    assert {r["participant_id"] for r in rows if r["pilot"] == "1"} == {"P03"}
    assert pilot.session_id in db.pilot_sessions()


def test_analysis_drops_the_excluded_and_pilots_and_takes_manual_decisions(tmp_path):
    from analysis.exclusions import apply_exclusions

    spec, db = _with_check(tmp_path)
    for pid, value, pilot in (("P01", 7, False), ("P02", 3, False), ("P03", 7, True), ("P04", 7, False)):
        run_session(spec, db, pid, SimulatedDriver(speed=50), answerer=ScriptedAnswerer(db, _answers(value)),
                    speed=50, pilot=pilot)
    paths = export_study(db, tmp_path / "out", RATING, spec.study.id, rules=spec.exclude, include_pilots=True)
    data = pd.read_csv(paths["responses.csv"], dtype=str, keep_default_na=False)
    manual = tmp_path / "manual.txt"
    manual.write_text("# decided before unblinding\nP4 simulator sickness\n")
    kept, table = apply_exclusions(data, paths["responses.csv"], exclude_file=str(manual))
    assert set(kept["participant_id"]) == {"P01"}
    assert dict(zip(table.participant_id, table.reason)) == {
        "P02": "failed 1 attention check(s) (rule: exclude at 1)", "P03": "pilot session",
        "P04": "manual: simulator sickness"}
    kept, table = apply_exclusions(data, paths["responses.csv"], include_pilots=True, keep_excluded=True)
    assert set(kept["participant_id"]) == {"P01", "P02", "P03", "P04"} and table.empty


def test_interaction_turns_play_the_clip_made_from_their_own_speech(tmp_path):
    spec_path = make_study(tmp_path / "study", kind="interaction")
    spec = load_spec(spec_path)
    db = StudyDatabase(spec.database, participant_pattern=spec.study.participant_pattern)
    out = run_session(spec, db, "P01", SimulatedDriver(speed=50), answerer=ScriptedAnswerer(db, fixed_answers(ANSWERS)),
                      speed=50)
    from vr_study.library import StimulusLibrary

    lib = StimulusLibrary.open(tmp_path / "study" / "stimuli")
    ends = [e for e in db.events(out.session_id, kind="agent_turn_end")]
    assert len(ends) == 4
    for e in ends:
        trial = db.trial(out.session_id, e.trial_index)
        entry = lib.entry(e.payload["clip_id"])
        assert entry.utterance == "turn1" and (entry.method, entry.emotion) == (trial.method, trial.emotion)
        assert entry.transcript == "Hello there, how are you today?"
        assert Path(e.payload["wav"]) == lib.root / entry.audio  # the speech played is the clip's own audio


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (scripts/install.sh installs it)")
def test_generate_batch_from_the_spec_then_validate_and_preregister(tmp_path):
    folder = tmp_path / "s"
    spec_path = make_study(folder)  # playback library exists; switch to interaction with prosody
    text = (spec_path.read_text().replace("kind: playback", "kind: interaction")
            .replace("[emage, reconstruction]", "[prosody]").replace("library: stimuli", "library: turns")
            .replace("practice: {trials: 0}", "practice: {trials: 1, agent: 'This is a practice.'}")
            .replace("tts: {backend: none}", "tts: {backend: espeak-ng}")
            .replace("  seed: 7", "  seed: 7\n  participants: 24"))
    text += "analysis: {n_justification: 'simulation: 90% power for f = 0.25 at N = 24'}\n"
    spec_path.write_text(text)
    r = cli("generate", "batch", str(spec_path), "-o", str(folder / "turns"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "4 generated" in r.stdout  # (turn1 + practice) x 2 emotions, after TTS of both
    r = cli("study", "validate", str(spec_path))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "prereg.md"
    r = cli("study", "preregister", str(spec_path), "-o", str(out))
    assert r.returncode == 0, r.stderr
    md = out.read_text()
    for heading in ("## Design", "## Sample size", "## Order of conditions", "## Stimulus allocation",
                    "## Data exclusion", "## Planned analyses"):
        assert heading in md
    assert "N = 24 participants" in md and "N is a multiple of 2" in md and "Justification: simulation: 90% power" in md
    assert "failed 1 or more of the 0 attention checks" not in md and "- No automatic exclusion rule" in md
    assert "carry-over balanced: yes" in md and "generated from its own speech" in md
    assert "Practice uses dedicated utterances (practice)" in md
