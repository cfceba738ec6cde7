"""Stimulus allocation: utterances counterbalanced against conditions (a Latin square rotated by
participant), dedicated practice stimuli, and `study plan` saying what holds and why not."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from vr_study.library import StimulusLibrary
from vr_study.motion import MotionClip
from vr_study.study.allocation import balance, cell_offsets
from vr_study.study.plan import build_plan
from vr_study.study.spec import parse_spec
from vr_study.study.stimuli import clips_by_cell

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("emage", "talkshow", "amuse", "reconstruction")

SPEC = """\
study: {{id: alloc, participants: {n}, participant_pattern: 'P\\d{{2,3}}'}}
factors:
  method: [emage, talkshow, amuse, reconstruction]
  emotion: [happy, neutral]
stimuli: {{library: stimuli, selection: {selection}}}
counterbalancing: {{design: williams}}
trials:
  kind: playback
  practice: {{trials: 2, utterances: [practice]}}
  attention_checks: {{after_trials: []}}
questionnaires: {{after_trial: [trial_ratings], after_session: []}}
"""


def _study(tmp_path: Path, n_utt: int, selection: str = "balanced", n: int = 8):
    """A library with ``n_utt`` utterances in every one of the 8 cells, plus one practice clip."""
    lib = StimulusLibrary.open(tmp_path / "stimuli", create=True)
    for m in METHODS:
        for e in ("happy", "neutral"):
            for k in range(n_utt):
                lib.add_clip(MotionClip.zeros(10, 30.0, num_expression=10, num_betas=10, method=m, emotion=e,
                                              utterance=f"utt{k}", seed=0))
    lib.add_clip(MotionClip.zeros(10, 30.0, num_expression=10, num_betas=10, method="emage", emotion="happy",
                                  utterance="practice", seed=0))
    (tmp_path / "study.yaml").write_text(SPEC.format(n=n, selection=selection))
    spec = parse_spec((tmp_path / "study.yaml").read_text(), str(tmp_path / "study.yaml"), tmp_path)
    return spec, clips_by_cell(spec)


def _mains(plan):
    return [(t.conditions, t.utterance) for t in plan.steps if t.trial_kind == "playback"]


@pytest.mark.parametrize("n_utt", [2, 4, 8])
def test_each_participant_hears_each_utterance_equally_often_within_methods_and_emotions(tmp_path, n_utt):
    spec, lib = _study(tmp_path, n_utt)
    plans = [build_plan(spec, f"P{i:02d}", lib) for i in range(1, 9)]
    for plan in plans:
        mains = _mains(plan)
        counts = Counter(u for _, u in mains)
        assert sorted(counts) == [f"utt{k}" for k in range(n_utt)] and len(set(counts.values())) == 1
        if n_utt <= 4:  # 2 trials per method: 2 utterances fit into each method, 4 into each emotion
            for emo in ("happy", "neutral"):
                c = Counter(u for cell, u in mains if cell["emotion"] == emo)
                assert len(c) == n_utt and len(set(c.values())) == 1, (emo, c)
            for m in METHODS:
                us = [u for cell, u in mains if cell["method"] == m]
                assert len(set(us)) == 2, (m, us)  # never the same sentence twice for one method
    b = balance([_mains(p) for p in plans], spec.factors)
    assert b.per_participant_equal and b.pairings_equal
    assert set(b.pairing_counts.values()) == {8 // n_utt}  # every utterance x condition equally often


def test_rotate_selection_is_the_confound_the_balanced_selection_removes(tmp_path):
    spec, lib = _study(tmp_path, 2, selection="rotate")
    plans = [build_plan(spec, f"P{i:02d}", lib) for i in range(1, 9)]
    assert all(len({u for _, u in _mains(p)}) == 1 for p in plans)  # one sentence in every trial
    b = balance([_mains(p) for p in plans], spec.factors)
    assert not b.per_participant_equal


def test_seeds_rotate_too_and_offsets_are_a_latin_square():
    offs = cell_offsets((4, 2), 4)
    # across 4 consecutive participants every cell meets every utterance exactly once
    seen = {(j, (o + p) % 4) for p in range(4) for j, o in enumerate(offs)}
    assert len(seen) == 8 * 4


def test_practice_stimuli_never_appear_in_main_trials(tmp_path):
    spec, lib = _study(tmp_path, 2)
    for i in range(1, 17):
        plan = build_plan(spec, f"P{i:02d}", lib)
        practice = [t for t in plan.steps if t.trial_kind == "practice"]
        main = [t for t in plan.steps if t.trial_kind == "playback"]
        assert len(practice) == 2 and all(t.utterance == "practice" for t in practice)
        assert not {t.clip_id for t in practice} & {t.clip_id for t in main}
        assert all(t.utterance != "practice" for t in main)


def test_study_plan_prints_utterance_balance_and_why_carryover_fails(tmp_path):
    _study(tmp_path, 2)
    spec_path = tmp_path / "study.yaml"
    r = subprocess.run([sys.executable, "-m", "vr_study.cli", "study", "plan", str(spec_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    assert r.returncode == 0, r.stderr
    assert "P01 row 0: " in r.stdout and ":utt" in r.stdout
    assert "each participant hears each equally often: yes; within every method/emotion level: yes; each " \
           "utterance x condition pairing equally often across participants: yes (4 times)" in r.stdout
    assert "practice clips (never in main trials): emage__practice__happy__s0" in r.stdout
    spec_path.write_text(spec_path.read_text().replace("design: williams}", "design: williams, block_by: emotion}"))
    r = subprocess.run([sys.executable, "-m", "vr_study.cli", "study", "plan", str(spec_path), "--participants", "7"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    assert r.returncode == 0, r.stderr
    assert "carry-over balanced: no (7 participants are not a multiple of the design's 8 rows (incomplete " \
           "replication); blocked by emotion: conditions of different blocks are adjacent only at the block " \
           "boundary" in r.stdout
    assert "7 participants are not a multiple of 2 utterances" in r.stdout
