"""`vr-study generate` and the stimulus library: manifest, hashes, resuming, bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".numba_cache"))

import numpy as np
import pytest
import soundfile as sf
import yaml

from generators.batch import demo_library, fill_library, read_utterance_list
from vr_study.cli import main
from vr_study.errors import InputError
from vr_study.formats import read_motion
from vr_study.library import StimulusLibrary, clip_id, sha256_file

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "assets" / "speech"


def test_bundled_utterances_are_short_16k_mono_speech():
    utts = read_utterance_list(SPEECH / "utterances.yaml")
    assert len(utts) == 3
    for u in utts:
        info = sf.info(str(u.wav))
        assert info.samplerate == 16000 and info.channels == 1
        assert 3.0 <= info.duration <= 6.0
        assert u.text and len(u.text.split()) > 5


def test_generate_one_clip_cli(tmp_path, capsys):
    out = tmp_path / "clip.npz"
    rc = main(["generate", "prosody", "--audio", str(SPEECH / "weather.wav"), "--emotion", "happy", "--seed", "7",
               "--transcript", "The weather today", "-o", str(out)])
    assert rc == 0
    clip = read_motion(out)
    assert (clip.meta.method, clip.meta.emotion, clip.meta.seed, clip.meta.utterance) == ("prosody", "happy", 7, "weather")
    assert clip.meta.extra["transcript"] == "The weather today"
    assert clip.moving_parts()["arms"] > 0.2


@pytest.mark.parametrize("argv, message", [
    (["generate", "prosody", "--audio", "{speech}/greeting.wav", "--emotion", "angry"], "angry"),
    (["generate", "nosuch", "--audio", "{speech}/greeting.wav", "--emotion", "happy"], "nosuch"),
    (["generate", "prosody", "--audio", "{tmp}/silent.wav", "--emotion", "happy"], "silent"),
    (["generate", "prosody", "--audio", "{tmp}/missing.wav", "--emotion", "happy"], "does not exist"),
    (["generate", "emage", "--audio", "{speech}/greeting.wav", "--emotion", "happy"], "methods config"),
])
def test_generate_bad_input_exits_2_and_writes_nothing(tmp_path, argv, message):
    sf.write(str(tmp_path / "silent.wav"), np.zeros(16000, np.float32), 16000)
    out = tmp_path / "out.npz"
    argv = [a.format(speech=SPEECH, tmp=tmp_path) for a in argv] + ["-o", str(out)]
    proc = subprocess.run([sys.executable, "-m", "vr_study.cli", *argv], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1] and "Traceback" not in proc.stderr
    assert not out.exists()


def test_batch_fills_library_and_resumes(tmp_path):
    lib_dir = tmp_path / "lib"
    lst = tmp_path / "utts.csv"
    lst.write_text(f"id,wav,text\ng,{SPEECH / 'greeting.wav'},Hello there\nw,{SPEECH / 'weather.wav'},The weather\n")
    rc = main(["generate", "batch", str(lst), "--methods", "prosody", "--emotions", "happy", "neutral",
               "--seeds", "0", "1", "-o", str(lib_dir), "--no-progress"])
    assert rc == 0
    lib = StimulusLibrary.open(lib_dir)
    assert len(lib) == 8 and not lib.verify()
    e = lib.entry(clip_id("prosody", "g", "happy", 1))
    assert (e.method, e.emotion, e.utterance, e.seed, e.fps) == ("prosody", "happy", "g", 1, 30.0)
    assert e.sha256 == sha256_file(lib_dir / e.file) and e.transcript == "Hello there"
    assert (lib_dir / e.audio).is_file() and e.audio_sha256 == sha256_file(SPEECH / "greeting.wav")
    clip = lib.read_clip(e.id)
    assert clip.meta.seed == 1 and abs(clip.duration_s - e.duration_s) < 1e-6

    # resuming: valid clips are skipped, a damaged one is regenerated
    damaged = lib_dir / lib.entry(clip_id("prosody", "w", "neutral", 0)).file
    damaged.write_bytes(damaged.read_bytes()[:100])
    mtimes = {p: p.stat().st_mtime_ns for p in (lib_dir / "clips").rglob("*.npz") if p != damaged}
    result = fill_library(lib_dir, read_utterance_list(lst), ["prosody"], ["happy", "neutral"], [0, 1], progress=False)
    assert result.generated == [clip_id("prosody", "w", "neutral", 0)] and len(result.skipped) == 7
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
    assert not StimulusLibrary.open(lib_dir).verify()


def test_batch_checks_every_input_before_writing(tmp_path):
    lib_dir = tmp_path / "lib"
    sf.write(str(tmp_path / "silent.wav"), np.zeros(16000, np.float32), 16000)
    lst = tmp_path / "utts.yaml"
    lst.write_text(yaml.safe_dump({"utterances": [{"id": "ok", "wav": str(SPEECH / "story.wav")},
                                                  {"id": "quiet", "wav": "silent.wav"}]}))
    with pytest.raises(InputError, match="silent"):
        fill_library(lib_dir, read_utterance_list(lst), ["prosody"], ["happy"], [0], progress=False)
    assert not (lib_dir / "manifest.json").exists()
    with pytest.raises(InputError, match="sad"):
        fill_library(lib_dir, read_utterance_list(SPEECH / "utterances.yaml"), ["prosody"], ["sad"], [0],
                     progress=False)
    bad = tmp_path / "dup.yaml"
    bad.write_text(yaml.safe_dump({"utterances": [{"id": "a", "wav": str(SPEECH / "story.wav")},
                                                  {"id": "a", "wav": str(SPEECH / "story.wav")}]}))
    with pytest.raises(InputError, match="twice"):
        read_utterance_list(bad)


def test_manifest_survives_a_crash_mid_batch(tmp_path, monkeypatch):
    """A failure while writing clip N leaves clips 1..N-1 recorded and no partial file."""
    from vr_study import library as library_mod

    lib_dir = tmp_path / "lib"
    calls = {"n": 0}
    real = library_mod.StimulusLibrary.add_clip

    def flaky(self, clip, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, clip, *a, **k)

    monkeypatch.setattr(library_mod.StimulusLibrary, "add_clip", flaky)
    with pytest.raises(OSError):
        fill_library(lib_dir, read_utterance_list(SPEECH / "utterances.yaml"), ["prosody"], ["happy"], [0, 1],
                     progress=False)
    data = json.loads((lib_dir / "manifest.json").read_text())
    assert len(data["clips"]) == 2
    assert not list(lib_dir.rglob(".*.npz*"))  # no temporary files left
    monkeypatch.undo()
    result = fill_library(lib_dir, read_utterance_list(SPEECH / "utterances.yaml"), ["prosody"], ["happy"], [0, 1],
                          progress=False)
    assert len(result.skipped) == 2 and len(result.generated) == 4


def test_library_rejects_a_broken_manifest(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        StimulusLibrary.open(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "vr-study-library", "version": 1,
                                                        "clips": {"x": {"file": "a.npz"}}}))
    with pytest.raises(InputError, match="sha256"):
        StimulusLibrary.open(tmp_path)
    with pytest.raises(InputError, match="not a stimulus library"):
        StimulusLibrary.open(tmp_path / "nothing")


@pytest.mark.slow
def test_demo_library_has_happy_and_neutral_with_two_seeds(tmp_path):
    lib = demo_library(tmp_path / "demo", progress=False)
    assert len(lib) == 3 * 2 * 2
    for u in ("greeting", "weather", "story"):
        for e in ("happy", "neutral"):
            assert [x.seed for x in lib.find(method="prosody", emotion=e, utterance=u)] == [0, 1]
    from generators.batch import demo_comparison

    panels = demo_comparison(lib, "weather")
    assert [c for c, _ in panels] == ["prosody / happy / seed 0", "prosody / happy / seed 1",
                                      "prosody / neutral / seed 0", "prosody / neutral / seed 1"]
    assert all(p.is_file() and "weather" in p.name for _, p in panels)
