"""Runners for EMAGE, TalkSHOW, AMUSE and FaceFormer against stand-in installations.

Each stand-in mirrors its real script's command-line parser (flags the real parser rejects
are rejected), where it must be run from, and its save path and file layout, at the pinned
commits (cited in each stand-in). The runner config gives only workdir and python: the
commands and output locations are the runner's built-in defaults.
"""
from __future__ import annotations

import json
import os
import pickle
import subprocess
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
SPEECH = ROOT / "assets" / "speech"
GREETING = SPEECH / "greeting.wav"

_COMMON = """
import argparse, glob, json, os, sys
import numpy as np, soundfile as sf
def speech(path):
    info = sf.info(path)
    if info.samplerate != 16000 or info.channels != 1:
        sys.exit(f"expected 16 kHz mono, got {info.samplerate} Hz x {info.channels}")
    x, _ = sf.read(path, dtype="float32")
    return x, int(round(info.frames / 16000 * 30))
def envelope(x, T):
    # per-frame RMS of the speech (the stand-ins' motion follows it)
    hop = max(1, len(x) // max(T, 1))
    return np.array([np.sqrt(np.mean(x[i * hop:(i + 1) * hop] ** 2) + 1e-12) for i in range(T)])
"""

# PantoMatrix/PantoMatrix c7356f3 test_emage_audio.py:71-76 (parser), :96 (every .wav in
# --audio_folder), :54 (save path <stem>_output.npz); emage_utils/motion_io.py:154-162
# (saved keys; betas[0] -> shape (300,)).
EMAGE = _COMMON + """
p = argparse.ArgumentParser()
p.add_argument("--audio_folder", type=str, default="./examples/audio")
p.add_argument("--save_folder", type=str, default="./examples/motion")
p.add_argument("--visualization", action="store_true")
p.add_argument("--nopytorch3d", action="store_true")
a = p.parse_args()
os.makedirs(a.save_folder, exist_ok=True)
for f in os.listdir(a.audio_folder):
    if not f.endswith(".wav"):
        continue
    x, T = speech(os.path.join(a.audio_folder, f))
    t = np.arange(T) / 30.0
    poses = np.zeros((T, 165), np.float32)
    poses[:, 3 + 3 * 15 + 2] = -1.2 + 0.2 * np.sin(t)      # left shoulder
    poses[:, 66] = 0.1 + 0.05 * np.sin(5 * t)              # jaw
    np.savez(os.path.join(a.save_folder, f"{os.path.splitext(os.path.basename(f))[0]}_output.npz"),
             betas=np.zeros((T, 300), np.float32)[0], poses=poses,
             expressions=np.full((T, 100), 0.1, np.float32), trans=np.zeros((T, 3), np.float32),
             model="smplx2020", gender="neutral", mocap_frame_rate=30)
"""

# yhw-yhw/TalkSHOW 9aef82d trainer/options.py:3-37 (the parser demo.py uses), scripts/demo.py:
# 243-245 (save path 'visualise/video/' + Log.name + '/' + name; np.save adds .npy; the name is
# cut at the first dot), :236-242 (num_sample samples stacked along rows), :169 (global orient
# [3.0747, -0.0158, -0.0152]), :247 (renders after saving), config/body_pixel.json:60 (Log.name
# "body-pixel2"), visualise/rendering.py:101-102 (the output folder is made at start).
TALKSHOW = _COMMON + """
from argparse import ArgumentParser
parser = ArgumentParser()
parser.add_argument('--gpu', default=0, type=int)
parser.add_argument('--save_dir', default='experiments', type=str)
parser.add_argument('--exp_name', default='smplx_S2G', type=str)
parser.add_argument('--speakers', nargs='+')
parser.add_argument('--seed', default=1, type=int)
parser.add_argument('--model_name', type=str)
parser.add_argument('--use_template', action='store_true')
parser.add_argument('--template_length', default=0, type=int)
parser.add_argument('--resume', action='store_true')
parser.add_argument('--pretrained_pth', default=None, type=str)
parser.add_argument('--style_layer_norm', action='store_true')
parser.add_argument('--config_file', default='./config/style_gestures.json', type=str)
parser.add_argument('--audio_file', default=None, type=str)
parser.add_argument('--id', default=0, type=int)
parser.add_argument('--only_face', action='store_true')
parser.add_argument('--stand', action='store_true')
parser.add_argument('--whole_body', action='store_true')
parser.add_argument('--num_sample', default=1, type=int)
parser.add_argument('--face_model_name', default='s2g_face', type=str)
parser.add_argument('--face_model_path', default='./experiments/x/ckpt-99.pth', type=str)
parser.add_argument('--body_model_name', default='s2g_body_pixel', type=str)
parser.add_argument('--body_model_path', default='./experiments/y/ckpt-99.pth', type=str)
parser.add_argument('--infer', action='store_true')
args = parser.parse_args()
config = json.load(open(args.config_file))
out_dir = 'visualise/video/' + config['Log']['name']
os.makedirs(out_dir, exist_ok=True)
assert args.infer, "train mode"
x, T = speech(args.audio_file)
rows = []
rng = np.random.default_rng()                       # no seed: every run draws new samples
for i in range(args.num_sample):
    s = np.zeros((T, 265), np.float32)
    s[:, 0] = 0.2                                   # jaw
    s[:, 9:12] = [3.0747, -0.0158, -0.0152]         # global orient, camera frame
    s[:, 12 + 3 * 15 + 2] = -1.1 + 0.05 * rng.standard_normal()   # left shoulder z
    s[:, 12 + 3 * 0] = 0.0 if args.stand else -1.5  # seated legs without --stand
    s[:, 165] = 0.5 + args.id                       # first expression coefficient: which speaker
    rows.append(s)
name = args.audio_file.split('\\\\')[-1].split('.')[-2].split('/')[-1]
np.save(out_dir + '/' + name, np.concatenate(rows, axis=0))
raise RuntimeError("pyrender: cannot create an OpenGL context")   # the renderer after saving
"""

# kiranchhatre/amuse 1978d3a scripts/main.py:229-243 (folder must be named amuse; parser
# --cfg --wandb --fn only), :261-266 (config rewritten), :78 (fixseed(TRAIN_PARAM.seed));
# scripts/trainer.py:505-539 (every wav in custom_audios; Custom_audios_<stamp>_E<epoch>/rep<r>/
# rst_0); models/diffusion/viz/visualizer.py:309-370 (seq_<i>/<actor>_seq_<i>_<6 chars>
# _motion_smplx.npz: poses (T, 55, 3), trans zeros, betas, gender, mocap_frame_rate; then Blender).
AMUSE = _COMMON + """
import random, string, subprocess, time
from pathlib import Path
dirname = Path.cwd().parent
EXEC_ON_CLUSTER = False if dirname.name == "amuse" else True
dirname = Path.cwd().parents[2] if EXEC_ON_CLUSTER else dirname
parser = argparse.ArgumentParser(description='AMUSE')
parser.add_argument("--cfg", default=str(Path(dirname, "configs/base_new.json")), type=argparse.FileType("r"))
parser.add_argument("--wandb", default=str(Path(dirname, "configs/logger.json")), type=argparse.FileType("r"))
parser.add_argument("--fn", nargs="*", required=True)
args = parser.parse_args()
cfg_path = Path(dirname, "configs", "base_new.json")
config = json.load(open(cfg_path))
config["TRAIN_PARAM"]["pretrained_infer"] = True     # the override merge, written back
json.dump(config, open(cfg_path, "w"), indent=4)
seed = config["TRAIN_PARAM"]["seed"]
random.seed(seed)
rng = np.random.default_rng(seed)
r = config["TRAIN_PARAM"]["baselines"]["renders"]
stamp = time.strftime("%Y%m%d-%H%M%S")
for audio in Path(r["custom_audios"]).glob("*.wav"):
    x, T = speech(str(audio))
    if T > 300:
        sys.exit("make sure each audio is a 10 sec wav file")
    env = envelope(x, 300) if T else np.zeros(300)
    level = float(np.sqrt(np.mean(x ** 2)))
    feat = np.zeros((300, 55, 3), np.float32)        # fixed 10 s: the audio features are padded
    feat[:, 16, 2] = -1.3 + 4.0 * level              # louder (happier) speech: arm higher
    feat[:, 16, 0] = 0.3 * env / (env.max() + 1e-9) + 0.02 * rng.standard_normal()
    seq = Path(r["custom_renders"]) / f"Custom_audios_{stamp}_E6000" / "rep0" / "rst_0" / "seq_0"
    seq.mkdir(parents=True, exist_ok=True)
    tag = ''.join(random.choice(string.ascii_letters + string.digits) for _ in range(6))
    np.savez(seq / f"scott_seq_0_{tag}_motion_smplx.npz", poses=feat, trans=np.zeros((300, 3)),
             gender="male", betas=np.zeros(300, np.float32), mocap_frame_rate=np.array(30, dtype="float64"))
    subprocess.call(["/nonexistent/blender-3.6.0-linux-x64/blender", "-b"])   # rendering step
"""

# EvelynFan/FaceFormer dfaea81 demo.py:180-199 (parser), :32-60 (template from
# <dataset>/<template_path>[subject]; prediction = template + offsets saved as
# <result_path>/<wav name up to the first dot>.npy, (T, V*3)), :141-178 (rendering).
FACEFORMER = """
import argparse, os, pickle
import numpy as np, soundfile as sf
def test_model(args):
    if not os.path.exists(args.result_path):
        os.makedirs(args.result_path)
    with open(os.path.join(args.dataset, args.template_path), 'rb') as fin:
        templates = pickle.load(fin, encoding='latin1')
    train = args.train_subjects.split(" ")
    train.index(args.condition)                      # ValueError for an unknown speaking style
    template = templates[args.subject].reshape(-1)
    x, sr = sf.read(args.wav_path, dtype="float32")
    T = int(round(len(x) / sr * args.fps))
    hop = len(x) // T
    env = np.array([np.sqrt(np.mean(x[i * hop:(i + 1) * hop] ** 2)) for i in range(T)])
    a = env / env.max()                              # mouth opening follows loudness
    np.save(os.path.join(args.dataset, "standin_mouth.npy"), a)
    basis = np.load(os.path.join(args.dataset, "standin_jaw_basis.npy")).reshape(-1)
    pred = template[None] + a[:, None] * basis[None]
    assert pred.shape[1] == args.vertice_dim
    np.save(os.path.join(args.result_path, os.path.basename(args.wav_path).split(".")[0]), pred)
def render_sequence(args):
    raise RuntimeError("pyrender: failed to create an OSMesa context")
def main():
    parser = argparse.ArgumentParser(description='FaceFormer')
    parser.add_argument("--model_name", type=str, default="biwi")
    parser.add_argument("--dataset", type=str, default="BIWI")
    parser.add_argument("--fps", type=float, default=25)
    parser.add_argument("--feature_dim", type=int, default=128)
    parser.add_argument("--period", type=int, default=25)
    parser.add_argument("--vertice_dim", type=int, default=23370*3)
    parser.add_argument("--device", type=str, default="cuda")
    parser.add_argument("--train_subjects", type=str, default="F2 F3 F4 M3 M4 M5")
    parser.add_argument("--test_subjects", type=str, default="F1 F5 F6 F7 F8 M1 M2 M6")
    parser.add_argument("--output_path", type=str, default="demo/output")
    parser.add_argument("--wav_path", type=str, default="demo/wav/test.wav")
    parser.add_argument("--result_path", type=str, default="demo/result")
    parser.add_argument("--condition", type=str, default="M3")
    parser.add_argument("--subject", type=str, default="M1")
    parser.add_argument("--background_black", type=bool, default=True)
    parser.add_argument("--template_path", type=str, default="templates.pkl")
    parser.add_argument("--render_template_path", type=str, default="templates")
    args = parser.parse_args()
    test_model(args)
    render_sequence(args)
if __name__ == "__main__":
    main()
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture(scope="module")
def flame_head():
    """A FLAME-topology head the test builds from the default body: 5023 head vertices (with
    repeats) moved into a FLAME-like frame (other origin, 5% larger, slightly turned), and the
    offsets of a 0.2 rad jaw opening at those vertices, in the same frame."""
    from scipy.spatial.transform import Rotation

    from generators.face_fit import FLAME_VERTICES, head_vertices
    from vr_study.body import load_body_model

    body = load_body_model()
    rng = np.random.default_rng(3)
    ids = rng.choice(head_vertices(body), FLAME_VERTICES)
    pose = np.zeros((2, 55, 3))
    pose[1, 22, 0] = 0.2
    v = body.pose_batch(pose).vertices.astype(np.float64)
    R = Rotation.from_rotvec([0.03, -0.02, 0.01]).as_matrix()
    scale, shift = 1.05, np.array([0.0, -1.6, 0.02])
    template = scale * v[0, ids] @ R.T + shift
    basis = scale * (v[1, ids] - v[0, ids]) @ R.T
    return {"ids": ids, "template": template, "basis": basis, "body": body}


@pytest.fixture()
def install(tmp_path, flame_head):
    """Stand-in checkouts for the four methods and a methods config naming only workdir and python."""
    emage, talkshow, amuse, ff = (tmp_path / n for n in ("PantoMatrix", "TalkSHOW", "amuse", "FaceFormer"))
    _write(emage / "test_emage_audio.py", EMAGE)
    _write(talkshow / "scripts" / "demo.py", TALKSHOW)
    _write(talkshow / "config" / "body_pixel.json", json.dumps({"Log": {"name": "body-pixel2"}}))
    _write(amuse / "scripts" / "main.py", AMUSE)
    _write(amuse / "configs" / "logger.json", "{}")
    _write(amuse / "configs" / "base_new.json", json.dumps({"TRAIN_PARAM": {
        "seed": 2024, "test": {"replication_times": 1}, "pretrained_infer": False,
        "baselines": {"renders": {"task": "custom_renders", "subtask": None,
                                  "custom_audios": "/home/kchhatre/Work1/code/amuse/viz_dump/test/speech",
                                  "custom_renders": "/home/kchhatre/Work1/code/amuse/viz_dump/test/gesture"}}}},
        indent=4))
    _write(ff / "demo.py", FACEFORMER)
    (ff / "vocaset").mkdir()
    with open(ff / "vocaset" / "templates.pkl", "wb") as fh:
        pickle.dump({"FaceTalk_170809_00138_TA": flame_head["template"]}, fh, protocol=2)
    np.save(ff / "vocaset" / "standin_jaw_basis.npy", flame_head["basis"])
    methods = {name: {"workdir": str(d), "python": sys.executable}
               for name, d in (("emage", emage), ("talkshow", talkshow), ("amuse", amuse), ("faceformer", ff))}
    methods["talkshow"]["speaker"] = 2
    methods["talkshow"]["num_samples"] = 2      # two samples stacked along rows; sample 0 is taken
    methods["faceformer"]["device"] = "cpu"
    path = tmp_path / "methods.yaml"
    path.write_text(yaml.safe_dump({"methods": methods}))
    return path


def _short(tmp_path: Path, src: Path, seconds: float, name: str | None = None) -> Path:
    x, sr = sf.read(str(src), dtype="float32")
    out = tmp_path / (name or src.name)
    sf.write(str(out), x[: int(seconds * sr)], sr, subtype="PCM_16")
    return out


@pytest.fixture()
def stereo44(tmp_path):
    """The greeting as a 44.1 kHz stereo file: runners must resample and mix it down."""
    from vr_study.audio import read_audio

    a = read_audio(GREETING).resampled(44100)
    path = tmp_path / "greeting.v2.wav"      # a dot in the name: TalkSHOW would cut it there
    sf.write(str(path), np.stack([a.samples, a.samples], 1), 44100, subtype="PCM_16")
    return path


def test_emage_defaults_import_its_output(install, stereo44):
    clip = load_runner("emage", install).generate(Utterance(stereo44, emotion="happy", seed=0))
    dur = sf.info(str(stereo44)).duration
    assert abs(clip.duration_s - dur) < 1 / 30 + 1e-6
    assert clip.meta.method == "emage" and clip.meta.emotion == "happy"
    assert clip.meta.source_format == "beat2" and clip.betas.shape == (300,)
    assert np.allclose(clip.expression, 0.1)
    assert clip.body_pose[:, 15, 2].min() < -1.3  # the stand-in's shoulder motion came through
    notes = " ".join(clip.meta.extra["notes"])
    assert "16000 Hz" in notes and "mono" in notes and "no emotion input" in notes


def test_talkshow_defaults_survive_its_renderer_and_pick_speaker(install, stereo44):
    clip = get_generator("talkshow", config=install).generate(Utterance(stereo44, emotion="neutral"))
    assert np.allclose(clip.jaw_pose[:, 0], 0.2)
    assert np.allclose(clip.expression[:, 0], 2.5)  # speaker id 2 from the config
    assert np.allclose(clip.body_pose[:, 0, 0], 0.0)  # --stand: standing legs
    assert any("exited with code 1 after writing its output" in n for n in clip.meta.extra["notes"])
    spk = get_generator("talkshow", config=install).generate(Utterance(GREETING, emotion="neutral", speaker=0))
    assert np.allclose(spk.expression[:, 0], 0.5)
    # its own output folder in the checkout, the real name (body-pixel2)
    out = Path(yaml.safe_load(install.read_text())["methods"]["talkshow"]["workdir"]) / "visualise/video/body-pixel2"
    assert len(list(out.glob("*.npy"))) == 2


def test_talkshow_crash_before_output_is_an_error(install):
    ts = Path(yaml.safe_load(install.read_text())["methods"]["talkshow"]["workdir"]) / "scripts" / "demo.py"
    ts.write_text("import sys; sys.exit('CUDA out of memory')")
    with pytest.raises(InputError, match="CUDA out of memory"):
        load_runner("talkshow", install).generate(Utterance(GREETING, emotion="happy"))


def test_amuse_wrapper_reads_emotion_from_speech_and_seed_from_config(install):
    cfg = Path(yaml.safe_load(install.read_text())["methods"]["amuse"]["workdir"]) / "configs" / "base_new.json"
    before = cfg.read_text()
    run = load_runner("amuse", install)
    happy = run.generate(Utterance(SPEECH / "greeting_happy.wav", emotion="happy", seed=0))
    neutral = run.generate(Utterance(SPEECH / "greeting_neutral.wav", emotion="neutral", seed=0))
    again = run.generate(Utterance(SPEECH / "greeting_happy.wav", emotion="happy", seed=0))
    other = run.generate(Utterance(SPEECH / "greeting_happy.wav", emotion="happy", seed=1))
    assert happy.meta.source_format == "amuse"
    assert abs(happy.duration_s - sf.info(str(SPEECH / "greeting_happy.wav")).duration) < 1 / 30 + 1e-6
    # louder, higher speech -> the stand-in raises the arm: emotion came from the audio itself
    assert happy.body_pose[:, 15, 2].mean() > neutral.body_pose[:, 15, 2].mean() + 0.05
    assert np.allclose(happy.body_pose, again.body_pose)            # same seed, same motion
    assert not np.allclose(happy.body_pose, other.body_pose)        # TRAIN_PARAM.seed reached AMUSE
    assert any("Blender rendering step failed" in n for n in happy.meta.extra["notes"])
    assert cfg.read_text() == before                                # its config restored


def test_amuse_chunks_long_speech(install, tmp_path):
    from vr_study.audio import read_audio

    a = read_audio(GREETING)
    path = tmp_path / "long.wav"
    sf.write(str(path), np.concatenate([a.samples] * 3), 16000, subtype="PCM_16")  # about 14.5 s
    clip = load_runner("amuse", install).generate(Utterance(path, emotion="happy"))
    assert abs(clip.duration_s - 3 * a.samples.shape[0] / 16000) < 1 / 30 + 1e-6
    assert len(clip.meta.extra["outputs"]) == 2


def test_amuse_checkout_must_be_named_amuse(install, tmp_path):
    cfg = yaml.safe_load(install.read_text())
    wrong = Path(cfg["methods"]["amuse"]["workdir"]).rename(tmp_path / "AMUSE-main")
    cfg["methods"]["amuse"]["workdir"] = str(wrong)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="named 'amuse'"):
        load_runner("amuse", bad).generate(Utterance(GREETING, emotion="happy"))


def test_stand_ins_reject_what_the_real_parsers_reject(install, tmp_path):
    """The flags earlier docs suggested (--audio --emotion --out) end AMUSE's main.py."""
    cfg = yaml.safe_load(install.read_text())["methods"]
    proc = subprocess.run([sys.executable, "main.py", "--fn", "infer_gesture", "--audio", "x.wav", "--emotion",
                           "happy"], cwd=Path(cfg["amuse"]["workdir"]) / "scripts", capture_output=True, text=True)
    assert proc.returncode == 2 and "unrecognized arguments: --audio" in proc.stderr
    old = {"methods": {"amuse": {**cfg["amuse"], "command": "{python} scripts/main.py --fn infer_gesture --audio "
                                 "{audio} --emotion {emotion_arg} --out {out_dir}", "output": "{out_dir}/*.npz"}}}
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(old))
    # run from the checkout root it even fails before parsing: cluster paths (main.py:229-235)
    with pytest.raises(InputError, match="exited with code 2: main.py: error"):
        load_runner("amuse", path).generate(Utterance(GREETING, emotion="happy"))


def test_amuse_with_faceformer_face_is_the_papers_condition(install, tmp_path, flame_head):
    """Body from AMUSE, jaw + expression fitted from FaceFormer's FLAME vertices."""
    wav = _short(tmp_path, SPEECH / "greeting_happy.wav", 2.0)
    cfg = yaml.safe_load(install.read_text())
    cfg["methods"]["amuse"]["face"] = "faceformer"
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(cfg))
    clip = load_runner("amuse", path).generate(Utterance(wav, emotion="happy"))
    assert clip.meta.extra["face_method"] == "faceformer"
    assert clip.body_pose[:, 15, 2].mean() < -0.5                  # the body is AMUSE's
    mouth = np.load(Path(cfg["methods"]["faceformer"]["workdir"]) / "vocaset" / "standin_mouth.npy")
    T = min(len(mouth), clip.num_frames)
    jaw = clip.jaw_pose[:T, 0]
    assert np.corrcoef(jaw, mouth[:T])[0, 1] > 0.95                 # the jaw follows FaceFormer's mouth
    assert abs(jaw.max() - 0.2) < 0.05                              # fully open = the 0.2 rad it was made with
    notes = " ".join(clip.meta.extra["notes"])
    assert "faceformer: FaceFormer FLAME vertices fitted" in notes and "computed by nearest" in notes


def test_faceformer_with_smplx_flame_vertex_ids(install, tmp_path, flame_head):
    """The licensed SMPL-X download's SMPL-X__FLAME_vertex_ids.npy is used when given."""
    wav = _short(tmp_path, GREETING, 1.5)
    ids_path = tmp_path / "SMPL-X__FLAME_vertex_ids.npy"
    np.save(ids_path, flame_head["ids"])
    cfg = yaml.safe_load(install.read_text())
    cfg["methods"]["faceformer"]["flame_vertex_ids"] = str(ids_path)
    path = tmp_path / "licensed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    clip = load_runner("faceformer", path).generate(Utterance(wav, emotion="neutral"))
    mouth = np.load(Path(cfg["methods"]["faceformer"]["workdir"]) / "vocaset" / "standin_mouth.npy")
    assert np.corrcoef(clip.jaw_pose[:len(mouth), 0], mouth[:clip.num_frames])[0, 1] > 0.95
    assert "SMPL-X's FLAME correspondence" in clip.meta.extra["face_fit_correspondence"]
    np.save(ids_path, np.arange(10))
    with pytest.raises(InputError, match="5023"):
        load_runner("faceformer", path).generate(Utterance(wav, emotion="neutral"))


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

    # output in the wrong layout (TalkSHOW's .npy read as AMUSE's .npz)
    cfg = yaml.safe_load(install.read_text())
    cfg["methods"]["talkshow"]["format"] = "amuse"
    bad.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="not what was expected"):
        load_runner("talkshow", bad).generate(Utterance(GREETING, emotion="happy"))

    # a method that is not built in needs its command and output
    cfg["methods"]["mymethod"] = {"workdir": str(tmp_path), "python": sys.executable}
    bad.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match="not built in"):
        load_runner("mymethod", bad)

    # the method itself fails
    script = Path(cfg["methods"]["emage"]["workdir"]) / "test_emage_audio.py"
    script.write_text("import sys; sys.exit('CUDA out of memory')")
    with pytest.raises(InputError, match="CUDA out of memory"):
        load_runner("emage", install).generate(Utterance(GREETING, emotion="happy"))

    with pytest.raises(InputError, match="methods config"):
        get_generator("emage", config=None)
    with pytest.raises(InputError, match="angry"):
        load_runner("amuse", install).generate(Utterance(GREETING, emotion="angry"))


def _cli(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "vr_study.cli", *args], capture_output=True, text=True, env=env,
                          cwd=str(ROOT))


def test_batch_refuses_labels_a_method_ignores(install, tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump({"utterances": [{"id": "greeting", "wav": str(GREETING)}]}))
    r = _cli(["generate", "batch", str(one), "--methods", "emage", "--emotions", "happy", "neutral",
              "--methods-config", str(install), "-o", str(tmp_path / "lib"), "--no-progress"])
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "'emage' ignores the emotion label" in lines[0]
    assert "greeting_happy.wav" in lines[0]  # the fix names per-emotion recordings
    assert not (tmp_path / "lib" / "manifest.json").exists()

    per = tmp_path / "per.yaml"
    per.write_text(yaml.safe_dump({"utterances": [{"id": "greeting", "wav": {
        "happy": str(SPEECH / "greeting_happy.wav"), "neutral": str(SPEECH / "greeting_neutral.wav")}}]}))
    r = _cli(["generate", "batch", str(per), "--methods", "emage", "--seeds", "0", "1",
              "--methods-config", str(install), "-o", str(tmp_path / "lib"), "--no-progress"])
    assert r.returncode == 2 and "method 'emage' has no seed input" in r.stderr and "--seeds 0" in r.stderr

    r = _cli(["generate", "batch", str(per), "--methods", "emage", "--emotions", "happy", "angry",
              "--methods-config", str(install), "-o", str(tmp_path / "lib"), "--no-progress"])
    assert r.returncode == 2 and "angry" in r.stderr

    r = _cli(["generate", "batch", str(per), "--methods", "emage", "--methods-config", str(install),
              "-o", str(tmp_path / "lib"), "--no-progress"])
    assert r.returncode == 0, r.stderr
    from vr_study.library import StimulusLibrary, sha256_file

    lib = StimulusLibrary.open(tmp_path / "lib")
    happy = lib.find(method="emage", emotion="happy")[0]
    assert happy.audio_sha256 == sha256_file(SPEECH / "greeting_happy.wav")
    assert lib.find(method="emage", emotion="neutral")[0].audio_sha256 == sha256_file(SPEECH / "greeting_neutral.wav")


def test_utterance_lists_with_per_emotion_wavs(tmp_path):
    from generators.batch import read_utterance_list

    utts = read_utterance_list(SPEECH / "utterances.yaml")
    assert [u.id for u in utts] == ["greeting", "weather", "story"]
    assert utts[0].wav_for("happy").name == "greeting_happy.wav"
    assert utts[0].wav_for("neutral").name == "greeting_neutral.wav"
    csv = tmp_path / "list.csv"
    csv.write_text(f"id,text,wav_happy,wav_neutral\ng,Hi,{SPEECH / 'greeting_happy.wav'},"
                   f"{SPEECH / 'greeting_neutral.wav'}\n")
    (u,) = read_utterance_list(csv)
    assert u.wav_for("happy").name == "greeting_happy.wav" and u.wav_for("angry") is None
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"utterances": [{"id": "g", "wav": {"happy": "missing.wav"}}]}))
    with pytest.raises(InputError, match=r"wav\.happy.*does not exist"):
        read_utterance_list(bad)


def test_bundled_speech_differs_by_emotion_in_pitch_and_energy():
    """Happy is higher and louder than neutral (docs/generators.md has pyin's numbers, range
    included; YIN's median on loud frames here, as pyin's first call compiles for a minute)."""
    import librosa

    def measure(path):
        y, sr = librosa.load(str(path), sr=16000)
        f0 = librosa.yin(y, fmin=60, fmax=300, sr=sr, frame_length=1024)
        rms = librosa.feature.rms(y=y, frame_length=1024, hop_length=256)[0][: len(f0)]
        f0 = f0[rms[: len(f0)] > 0.3 * rms.max()]       # voiced (loud) frames
        return np.median(f0), 20 * np.log10(np.sqrt(np.mean(y ** 2)))

    for utt in ("greeting", "weather", "story"):
        h, n = measure(SPEECH / f"{utt}_happy.wav"), measure(SPEECH / f"{utt}_neutral.wav")
        assert h[0] > 1.5 * n[0]        # median f0, Hz
        assert h[1] > n[1] + 4          # RMS level, dB


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


def test_speaker_ids_per_method(install, tmp_path):
    """TalkSHOW's speaker ids (0-3) and FaceFormer's styles (VOCASET subjects) differ: an
    utterance gives each method its own; an id a method cannot take is one error line."""
    wav = _short(tmp_path, GREETING, 1.5)
    both = {"talkshow": 3, "faceformer": "FaceTalk_170728_03272_TA"}
    ts = get_generator("talkshow", config=install).generate(Utterance(wav, emotion="neutral", speaker=both))
    assert np.allclose(ts.expression[:, 0], 3.5) and ts.meta.extra["speaker"] == 3     # --id 3 reached TalkSHOW
    ff = load_runner("faceformer", install).generate(Utterance(wav, emotion="neutral", speaker=both))
    assert ff.meta.extra["speaker"] == "FaceTalk_170728_03272_TA"     # the stand-in refuses unknown --condition
    # a mapping that does not name the method: the configured default (talkshow: 2)
    ts = get_generator("talkshow", config=install).generate(Utterance(wav, emotion="neutral",
                                                                      speaker={"faceformer": both["faceformer"]}))
    assert np.allclose(ts.expression[:, 0], 2.5)
    # one id for every method: FaceFormer cannot take "2" (checked before anything runs)
    with pytest.raises(InputError, match=r"'2' is not a faceformer speaker.*mapping per method"):
        load_runner("faceformer", install).generate(Utterance(wav, emotion="neutral", speaker="2"))
    # ... and a method without a speaker input ignores one id for all, refuses one meant for it
    emage = load_runner("emage", install).generate(Utterance(wav, emotion="neutral", speaker="2"))
    assert "speaker" not in emage.meta.extra
    with pytest.raises(InputError, match="no speaker input"):
        load_runner("emage", install).generate(Utterance(wav, emotion="neutral", speaker={"emage": 1}))
    # the methods config is checked too
    cfg = yaml.safe_load(install.read_text())
    cfg["methods"]["talkshow"]["speaker"] = 7
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError, match=r"methods\.talkshow\.speaker.*one of 0, 1, 2, 3"):
        load_runner("talkshow", bad)


def test_batch_speaker_mapping_is_checked_before_generating(install, tmp_path):
    from generators.batch import read_utterance_list

    def batch(speaker, methods=("talkshow", "faceformer")):
        lst = tmp_path / "list.yaml"
        lst.write_text(yaml.safe_dump({"utterances": [{"id": "greeting", "wav": str(GREETING), "speaker": speaker}]}))
        return _cli(["generate", "batch", str(lst), "--methods", *methods, "--emotions", "neutral",
                     "--methods-config", str(install), "-o", str(tmp_path / "lib"), "--no-progress"])

    for speaker, message in [("2", "'2' is not a faceformer speaker/style id"),
                             ({"talkshow": 9}, "speaker.talkshow' '9' is not a talkshow speaker"),
                             ({"talksho": 2}, "names unknown method(s) talksho"),
                             ({"talkshow": [1]}, "not a speaker id")]:
        r = batch(speaker)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.stderr
        assert message in lines[0], lines[0]
        assert not (tmp_path / "lib" / "manifest.json").exists()       # nothing generated
    r = batch({"emage": 1}, methods=("emage",))
    assert r.returncode == 2 and "no speaker input" in r.stderr
    # CSV: speaker_<method> columns
    csv = tmp_path / "list.csv"
    csv.write_text(f"id,wav,speaker_talkshow,speaker_faceformer\ng,{GREETING},1,FaceTalk_170725_00137_TA\n")
    (u,) = read_utterance_list(csv)
    assert u.speaker == {"talkshow": "1", "faceformer": "FaceTalk_170725_00137_TA"}
    r = batch({"talkshow": 1}, methods=("talkshow",))
    assert r.returncode == 0, r.stderr
    from vr_study.library import StimulusLibrary

    lib = StimulusLibrary.open(tmp_path / "lib")
    (entry,) = lib.find(method="talkshow")
    clip = lib.read_clip(entry.id)
    assert clip.expression[0, 0] == pytest.approx(1.5) and clip.meta.extra["speaker"] == "1"


def test_talkshow_sample_count_is_read_from_its_file(install, tmp_path):
    """The runner passes num_samples=None to the reader: the stacked samples are counted from
    the repeated face; a file whose count differs from the config is read by its own count."""
    wav = _short(tmp_path, GREETING, 1.5)
    cfg = yaml.safe_load(install.read_text())
    demo = Path(cfg["methods"]["talkshow"]["workdir"]) / "scripts" / "demo.py"
    # real TalkSHOW: one face predicted from the speech, repeated in every sample
    demo.write_text(demo.read_text().replace("s[:, 0] = 0.2                                   # jaw",
                                             "s[:, 0] = 0.2 * envelope(x, T) / (envelope(x, T).max() + 1e-9)"))
    clip = load_runner("talkshow", install).generate(Utterance(wav, emotion="neutral"))
    assert abs(clip.duration_s - 1.5) < 0.05                         # one sample, not two stacked
    assert not any("sample" in n for n in clip.meta.extra["notes"])  # found 2 = configured 2
    cfg["methods"]["talkshow"]["command"] = ("{python} scripts/demo.py --config_file ./config/body_pixel.json "
                                             "--infer --audio_file {audio} --id {speaker} --num_sample 3 --stand")
    other = tmp_path / "three.yaml"
    other.write_text(yaml.safe_dump(cfg))
    clip = load_runner("talkshow", other).generate(Utterance(wav, emotion="neutral"))
    assert abs(clip.duration_s - 1.5) < 0.05
    assert any("holds 3 stacked samples, not the configured num_samples 2" in n for n in clip.meta.extra["notes"])
