"""Runners for EMAGE, TalkSHOW and AMUSE against stand-in installations, and the registry.

Each stand-in is a small Python script that parses the method's own command line, checks
that it was given 16 kHz mono speech, and writes its output file in the method's exact
layout (REFERENCE.md section 2).
"""
from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".numba_cache"))

import numpy as np
import pytest
import soundfile as sf
import yaml

from generators.base import Utterance
from generators.external import load_runner
from generators.registry import get_generator
from vr_study.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
GREETING = ROOT / "assets" / "speech" / "greeting.wav"

_COMMON = """
import argparse, glob, os, sys
import numpy as np, soundfile as sf
def speech(path):
    info = sf.info(path)
    if info.samplerate != 16000 or info.channels != 1:
        sys.exit(f"expected 16 kHz mono, got {info.samplerate} Hz x {info.channels}")
    return int(round(info.frames / 16000 * 30))
"""

EMAGE = _COMMON + """
p = argparse.ArgumentParser(); p.add_argument("--audio_folder"); p.add_argument("--save_folder")
a = p.parse_args()
os.makedirs(a.save_folder, exist_ok=True)
for wav in glob.glob(os.path.join(a.audio_folder, "*.wav")):
    T = speech(wav)
    t = np.arange(T) / 30.0
    poses = np.zeros((T, 165), np.float32)
    poses[:, 3 + 3 * 15 + 2] = -1.2 + 0.2 * np.sin(t)      # left shoulder
    poses[:, 66] = 0.1 + 0.05 * np.sin(5 * t)              # jaw
    np.savez(os.path.join(a.save_folder, os.path.basename(wav)[:-4] + "_output.npz"), poses=poses,
             expressions=np.full((T, 100), 0.1, np.float32), trans=np.zeros((T, 3), np.float32),
             betas=np.zeros(300, np.float32), model="smplx2020", gender="neutral", mocap_frame_rate=30)
"""

TALKSHOW = _COMMON + """
p = argparse.ArgumentParser(); p.add_argument("--config_file"); p.add_argument("--infer", action="store_true")
p.add_argument("--audio_file"); p.add_argument("--id", type=int); p.add_argument("--num_sample", type=int)
a = p.parse_args()
assert a.infer and a.config_file.endswith("body_pixel.json")
T = speech(a.audio_file)
out = np.zeros((a.num_sample * T, 265), np.float32)
out[:, 0] = 0.2                      # jaw
out[:, 9:12] = 0.0                   # global orient
out[:, 12 + 3 * 15 + 2] = -1.1       # left shoulder z
out[:, 165] = 0.5 + a.id             # first expression coefficient: which speaker
d = os.path.join("visualise", "video", "body-pixel", os.path.basename(a.audio_file)[:-4])
os.makedirs(d, exist_ok=True)
np.save(os.path.join(d, "result.npy"), out)
"""

AMUSE = _COMMON + """
p = argparse.ArgumentParser(); p.add_argument("--fn"); p.add_argument("--audio"); p.add_argument("--emotion")
p.add_argument("--out")
a = p.parse_args()
assert a.fn == "infer_gesture"
T = speech(a.audio)
if T > 301:
    sys.exit("AMUSE infers at most 10 s")
poses = np.zeros((T, 55, 3), np.float32)
poses[:, 16, 2] = -1.0 if a.emotion == "happy" else -1.3
np.savez(os.path.join(a.out, "gesture.npz"), poses=poses, trans=np.zeros((T, 3), np.float32),
         betas=np.zeros(10, np.float32), gender="neutral", mocap_frame_rate=30)
"""


@pytest.fixture()
def install(tmp_path):
    """Write the stand-in installations and a methods config; return its path."""
    methods = {}
    for name, script, cfg in (
        ("emage", EMAGE, {"command": "{python} test_emage_audio.py --audio_folder {audio_dir} --save_folder {out_dir}",
                          "output": "{out_dir}/{stem}_output.npz"}),
        ("talkshow", TALKSHOW, {"command": "{python} scripts/demo.py --config_file ./config/body_pixel.json --infer "
                                           "--audio_file {audio} --id {speaker} --num_sample 2",
                                "output": "visualise/video/body-pixel/{stem}/*.npy", "speaker": 2,
                                "num_samples": 2}),
        ("amuse", AMUSE, {"command": "{python} main.py --fn infer_gesture --audio {audio} --emotion {emotion_arg} "
                                     "--out {out_dir}",
                          "output": "{out_dir}/*.npz", "face": "prosody"}),
    ):
        work = tmp_path / name
        entry = {"test_emage_audio.py": "emage", "scripts/demo.py": "talkshow", "main.py": "amuse"}
        rel = next(k for k, v in entry.items() if v == name)
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(textwrap.dedent(script))
        methods[name] = {"workdir": str(work), "python": sys.executable, **cfg}
    path = tmp_path / "methods.yaml"
    path.write_text(yaml.safe_dump({"methods": methods}))
    return path


@pytest.fixture()
def stereo44(tmp_path):
    """The greeting as a 44.1 kHz stereo file: runners must resample and mix it down."""
    from vr_study.audio import read_audio

    a = read_audio(GREETING).resampled(44100)
    path = tmp_path / "greeting.wav"
    sf.write(str(path), np.stack([a.samples, a.samples], 1), 44100, subtype="PCM_16")
    return path


def test_emage_runner_imports_its_output(install, stereo44):
    clip = load_runner("emage", install).generate(Utterance(stereo44, emotion="happy", seed=4))
    dur = sf.info(str(stereo44)).duration
    assert abs(clip.duration_s - dur) < 1 / 30 + 1e-6
    assert clip.meta.method == "emage" and clip.meta.emotion == "happy" and clip.meta.seed == 4
    assert clip.meta.source_format == "beat2"
    assert np.allclose(clip.expression, 0.1)
    assert clip.body_pose[:, 15, 2].min() < -1.3  # the stand-in's shoulder motion came through
    notes = " ".join(clip.meta.extra["notes"])
    assert "16000 Hz" in notes and "mono" in notes


def test_talkshow_runner_reorders_columns_and_picks_speaker(install):
    clip = get_generator("talkshow", config=install).generate(Utterance(GREETING, emotion="neutral"))
    assert np.allclose(clip.jaw_pose[:, 0], 0.2)
    assert np.allclose(clip.body_pose[:, 15, 2], -1.1)
    assert np.allclose(clip.expression[:, 0], 2.5)  # speaker id 2 from the config
    spk = get_generator("talkshow", config=install).generate(Utterance(GREETING, emotion="neutral", speaker=0))
    assert np.allclose(spk.expression[:, 0], 0.5)


def test_amuse_runner_chunks_long_speech_and_merges_a_face(install, tmp_path):
    from vr_study.audio import read_audio

    a = read_audio(GREETING)
    long = np.concatenate([a.samples] * 3)  # about 14.5 s: two AMUSE chunks
    path = tmp_path / "long.wav"
    sf.write(str(path), long, 16000, subtype="PCM_16")
    clip = load_runner("amuse", install).generate(Utterance(path, emotion="happy"))
    assert abs(clip.duration_s - len(long) / 16000) < 1 / 30 + 1e-6
    assert len(clip.meta.extra["outputs"]) == 2
    assert np.allclose(clip.body_pose[:, 15, 2], -1.0)  # emotion passed through {emotion_arg}
    assert clip.meta.extra["face_method"] == "prosody"
    assert clip.jaw_pose[:, 0].max() > 0.05  # AMUSE has no face: the jaw comes from prosody


def test_missing_installation_and_bad_output_are_clear(install, tmp_path):
    cfg = yaml.safe_load(install.read_text())
    cfg["methods"]["emage"]["workdir"] = str(tmp_path / "nowhere")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="workdir.*does not exist"):
        load_runner("emage", bad).generate(Utterance(GREETING, emotion="happy"))

    cfg = yaml.safe_load(install.read_text())
    cfg["methods"]["emage"]["output"] = "{out_dir}/{stem}_missing.npz"
    bad.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="matched no file"):
        load_runner("emage", bad).generate(Utterance(GREETING, emotion="happy"))

    # output in the wrong layout (TalkSHOW's .npy read as EMAGE's .npz)
    cfg = yaml.safe_load(install.read_text())
    cfg["methods"]["talkshow"]["format"] = "amuse"
    cfg["methods"]["talkshow"]["output"] = "visualise/video/body-pixel/{stem}/*.npy"
    bad.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="not what was expected"):
        load_runner("talkshow", bad).generate(Utterance(GREETING, emotion="happy"))

    # the method itself fails
    script = Path(cfg["methods"]["emage"]["workdir"]) / "test_emage_audio.py"
    script.write_text("import sys; sys.exit('CUDA out of memory')")
    with pytest.raises(InputError, match="CUDA out of memory"):
        load_runner("emage", install).generate(Utterance(GREETING, emotion="happy"))

    with pytest.raises(InputError, match="methods config"):
        get_generator("emage", config=None)
    with pytest.raises(InputError, match="angry"):
        load_runner("amuse", install).generate(Utterance(GREETING, emotion="angry"))


class StillGenerator:
    """A lab's own generator, named in a study spec as module:Class."""

    name = "still"
    emotions = ("happy", "neutral")

    def __init__(self, frames: int = 10):
        self.frames = frames

    def generate(self, utterance):
        from generators.base import stamp_meta
        from vr_study.motion import MotionClip

        return stamp_meta(MotionClip.zeros(self.frames, 30.0), self.name, utterance)


def test_registry_loads_a_labs_own_class():
    gen = get_generator("test_generators_external:StillGenerator", frames=12)
    clip = gen.generate(Utterance(GREETING, emotion="happy", seed=2))
    assert clip.num_frames == 12 and clip.meta.method == "still" and clip.meta.seed == 2
    with pytest.raises(InputError, match="not a known generator"):
        get_generator("nosuch")
    with pytest.raises(InputError, match="cannot import"):
        get_generator("no_such_module_xyz:Gen")
    with pytest.raises(InputError, match="has no"):
        get_generator("test_generators_external:Missing")
