"""`study validate` catches what would break a study: duplicate keys, alias bombs, attention
checks no one could pass, unscoreable emotions, practice reusing main stimuli, and interaction
clips whose motion was generated from other speech than the turn plays."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from study_helpers import SHORT_SPEC, make_library, make_study, make_turn_clips
from vr_study.study.spec import SpecError, parse_spec

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vr_study.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def _line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


def test_duplicate_top_level_key_is_refused_naming_both_lines(tmp_path):
    text = SHORT_SPEC.format(kind="playback") + "study:\n  id: other_study\n"
    with pytest.raises(SpecError) as e:
        parse_spec(text, "study.yaml")
    first, second = _line_of(text, "study:"), _line_of(text, "study:", 2)
    assert str(e.value).startswith(f"study.yaml:{second}: key 'study' appears twice (lines {first} and {second})")
    nested = SHORT_SPEC.format(kind="playback").replace("  seed: 7", "  seed: 7\n  seed: 8")
    with pytest.raises(SpecError, match=r"key 'seed' appears twice \(lines 4 and 5\)"):
        parse_spec(nested, "study.yaml")
    spec = tmp_path / "study.yaml"
    spec.write_text(text)
    r = cli("study", "validate", str(spec), "--no-library")
    assert r.returncode == 2 and "appears twice" in r.stderr and "Traceback" not in r.stderr


def test_alias_bomb_is_refused_in_well_under_a_second():
    levels = ["a: &a [x,x,x,x,x,x,x,x,x]"] + [
        f"{b}: &{b} [" + ",".join([f"*{a}"] * 9) + "]" for a, b in zip("abcdefgh", "bcdefghi")]
    bomb = "\n".join(levels) + "\n"
    assert 300 < len(bomb) <= 400  # 9**9 = 387 million strings once expanded
    t0 = time.perf_counter()
    with pytest.raises(SpecError, match="expands to more than 100000 nodes through aliases"):
        parse_spec(bomb, "bomb.yaml")
    assert time.perf_counter() - t0 < 0.5
    with pytest.raises(SpecError, match="refers to the node that contains it"):
        parse_spec("study: &s\n  id: x\n  again: *s\n", "loop.yaml")
    # ordinary aliases still work
    ok = SHORT_SPEC.format(kind="playback").replace("  emotion: [happy, neutral]", "  emotion: &emo [happy, neutral]")
    assert parse_spec(ok, "ok.yaml").factors["emotion"] == ["happy", "neutral"]


def test_attention_check_expect_is_checked_against_items_and_scale(tmp_path):
    spec = make_study(tmp_path / "s")
    text = spec.read_text().replace("attention_checks: {after_trials: []}",
                                    "attention_checks:\n    after_trials: [2]\n    instrument: trial_ratings\n"
                                    "    expect: {arousal_realism: 9, arousal: 7}")
    spec.write_text(text)
    r = cli("study", "validate", str(spec))
    assert r.returncode == 2, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and all(x.startswith("error: ") for x in lines)
    line = _line_of(text, "expect:")
    assert f"study.yaml:{line}: trials.attention_checks.expect.arousal_realism: expects 9, but 'arousal_realism' is " \
           "rated 1..7" in lines[0]
    assert "trials.attention_checks.expect.arousal: is not an item of instrument 'trial_ratings'" in lines[1]
    spec.write_text(text.replace(", arousal: 7", "").replace("arousal_realism: 9", "arousal_realism: 7"))
    r = cli("study", "validate", str(spec))
    assert r.returncode == 0, r.stderr
    assert 'attention checks after main trials 2: "Attention check' in r.stdout  # printed for the experimenter
    spec.write_text(text.replace("expect: {arousal_realism: 9, arousal: 7}", "expect: {}"))
    r = cli("study", "validate", str(spec))
    assert r.returncode == 2 and "cannot be scored pass/fail" in r.stderr


def test_emotion_levels_must_be_scoreable_and_practice_needs_its_own_stimuli(tmp_path):
    folder = tmp_path / "s"
    spec = make_study(folder)
    text = spec.read_text()
    spec.write_text(text.replace("emotion: [happy, neutral]", "emotion: [happy, joyful]"))
    make_library(folder / "stimuli", emotions=("joyful",))
    r = cli("study", "validate", str(spec))
    assert r.returncode == 2
    assert f"study.yaml:{_line_of(text, 'emotion: [')}: factors.emotion[1]: emotion 'joyful' is not an option of " \
           "emotion_recognition.emotion" in r.stderr
    spec.write_text(text.replace("practice: {trials: 0}", "practice: {trials: 1}"))
    r = cli("study", "validate", str(spec))
    assert r.returncode == 2 and "the practice would show a main-trial stimulus" in r.stderr
    spec.write_text(text.replace("practice: {trials: 0}", "practice: {trials: 1, utterances: [warmup]}"))
    r = cli("study", "validate", str(spec))
    assert r.returncode == 2 and "no clip of practice utterance 'warmup'" in r.stderr


def test_validate_refuses_interaction_clips_made_from_other_speech(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    spec = folder / "study.yaml"
    spec.write_text(SHORT_SPEC.format(kind="interaction"))
    make_library(folder / "stimuli")  # clips of utterance utt0: not the agent's turn
    r = cli("study", "validate", str(spec))
    assert r.returncode == 2
    assert "interaction.turns[0]: no clip generated from agent turn 'turn1' for method=emage, emotion=happy" in r.stderr
    make_turn_clips(spec, folder / "stimuli")
    assert cli("study", "validate", str(spec)).returncode == 0
    # the turn's words change after the clips were made: the body would move to the old sentence
    spec.write_text(spec.read_text().replace("Hello there, how are you today?", "Good morning, nice to see you."))
    r = cli("study", "validate", str(spec))
    assert r.returncode == 2
    assert "was generated from speech of 'Hello there, how are you today?', not this turn's text" in r.stderr


def test_instrument_files_refuse_duplicate_keys_too(tmp_path):
    from questionnaires.instruments import DEFAULT_INSTRUMENTS_DIR, parse_instrument
    from vr_study.errors import InputError

    text = (DEFAULT_INSTRUMENTS_DIR / "sam.yaml").read_text()
    first = _line_of(text, "title:")
    with pytest.raises(InputError, match=rf"key 'title' appears twice \(lines {first} and "):
        parse_instrument(text + "title: Another title\n", "sam.yaml")
