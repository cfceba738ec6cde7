"""`vr-study library add|list|verify`: clips made elsewhere enter a stimulus library."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import soundfile as sf

from vr_study.formats import write_motion
from vr_study.library import StimulusLibrary
from vr_study.motion import MotionClip


def cli(*args):
    return subprocess.run([sys.executable, "-m", "vr_study.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_add_list_verify_and_tamper(tmp_path):
    clip = MotionClip.zeros(60, 60.0)  # 1 s at 60 Hz: resampled to 30 Hz on the way in
    clip.jaw_pose[:, 0] = np.linspace(0, 0.3, 60)
    write_motion(clip, tmp_path / "rec.npz")
    sf.write(tmp_path / "greeting.wav", np.zeros(16000, np.float32), 16000)
    r = cli("library", "add", tmp_path / "lib", tmp_path / "rec.npz", "--method", "reconstruction",
            "--emotion", "happy", "--audio", tmp_path / "greeting.wav")
    assert r.returncode == 0, r.stderr
    lib = StimulusLibrary.open(tmp_path / "lib")
    (e,) = lib.find(method="reconstruction")
    assert (e.emotion, e.utterance, e.fps, e.frames) == ("happy", "greeting", 30.0, 30)
    assert lib.audio_of(e.id).is_file()
    assert "1 clips" in cli("library", "list", tmp_path / "lib").stdout
    assert cli("library", "verify", tmp_path / "lib").returncode == 0
    with open(lib.path_of(e.id), "ab") as fh:  # a changed file no longer matches its hash
        fh.write(b"x")
    v = cli("library", "verify", tmp_path / "lib")
    assert v.returncode == 1 and "does not match its sha256" in v.stdout


def test_add_refuses_unlabelled_clip_and_leaves_library_alone(tmp_path):
    write_motion(MotionClip.zeros(10), tmp_path / "x.npz")
    r = cli("library", "add", tmp_path / "lib", tmp_path / "x.npz")
    assert r.returncode == 2 and "--method" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "lib" / "manifest.json").exists()
