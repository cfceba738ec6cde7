"""Readers against files constructed in each format's exact layout, and bad input."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vr_study.errors import InputError
from vr_study.formats import detect_format, read_motion, write_motion
from vr_study.motion import MotionClip

RNG = np.random.default_rng(7)


def rand_clip(T=20, fps=30.0) -> MotionClip:
    poses = RNG.normal(0, 0.3, (T, 165)).astype(np.float32)
    return MotionClip.from_poses(poses, RNG.normal(0, 0.1, (T, 3)), RNG.normal(0, 1, (T, 100)),
                                 RNG.normal(0, 1, 300), fps)


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vr_study.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_beat2_round_trip_keeps_everything(tmp_path):
    clip = rand_clip()
    clip.meta.method, clip.meta.emotion, clip.meta.seed = "prosody", "happy", 3
    write_motion(clip, tmp_path / "c.npz")
    z = np.load(tmp_path / "c.npz")
    assert z["poses"].shape == (20, 165) and z["expressions"].shape == (20, 100)
    assert z["betas"].shape == (300,) and str(z["model"]) == "smplx2020" and int(z["mocap_frame_rate"]) == 30
    back = read_motion(tmp_path / "c.npz")
    assert detect_format(tmp_path / "c.npz") == "beat2"
    np.testing.assert_array_equal(back.poses(), clip.poses())
    np.testing.assert_array_equal(back.expression, clip.expression)
    assert (back.meta.method, back.meta.emotion, back.meta.seed) == ("prosody", "happy", 3)


def test_beat2_as_emage_writes_it(tmp_path):
    """EMAGE's own output: no vr_study_meta key, int frame rate."""
    T = 12
    np.savez(tmp_path / "x_output.npz", poses=np.ones((T, 165)) * 0.1, expressions=np.zeros((T, 100)),
             trans=np.zeros((T, 3)), betas=np.zeros(300), model="smplx2020", gender="neutral", mocap_frame_rate=30)
    clip = read_motion(tmp_path / "x_output.npz")
    assert clip.num_frames == T and clip.fps == 30 and clip.jaw_pose[0, 0] == pytest.approx(0.1)


def test_talkshow_column_order_and_hand_mean(tmp_path):
    """TalkSHOW's column order (yhw-yhw/TalkSHOW 9aef82d scripts/demo.py:130-140) with its real
    constant camera-frame global orient (demo.py:155): read Y-up, within 4 degrees of identity."""
    from scipy.spatial.transform import Rotation

    T, N = 10, 2
    arr = np.zeros((N * T, 265), np.float32)
    arr[:, 0] = 0.5      # jaw x (the face is the same in every sample)
    arr[:, 9:12] = [3.0747, -0.0158, -0.0152]  # global orient, camera frame (y down)
    arr[:, 12] = 0.125   # first body joint x
    arr[:, 75] = 0.05    # left hand first value (offset from mean)
    arr[:, 165] = 2.0    # first expression
    arr[T:, 13] = 0.7    # second sample's body differs
    np.save(tmp_path / "ts.npy", arr)
    mean_l, mean_r = np.full((15, 3), 0.1), np.full((15, 3), -0.1)
    clip = read_motion(tmp_path / "ts.npy", num_samples=2, sample=1, hands_mean=(mean_l, mean_r))
    assert clip.num_frames == T
    assert clip.jaw_pose[0, 0] == pytest.approx(0.5) and clip.body_pose[0, 0, 1] == pytest.approx(0.7)
    expected = np.diag([1.0, -1.0, -1.0]) @ Rotation.from_rotvec([3.0747, -0.0158, -0.0152]).as_matrix()
    np.testing.assert_allclose(Rotation.from_rotvec(clip.global_orient[0]).as_matrix(), expected, atol=1e-5)
    assert np.linalg.norm(clip.global_orient[0]) < 0.07
    assert clip.body_pose[0, 0, 0] == pytest.approx(0.125) and clip.expression[0, 0] == 2.0
    assert clip.left_hand_pose[0, 0, 0] == pytest.approx(0.15) and clip.right_hand_pose[0, 0, 0] == pytest.approx(-0.1)
    assert clip.meta.extra["hand_pose_convention"] == "flat"


def test_amuse_layout(tmp_path):
    T = 8
    poses = np.zeros((T, 55, 3), np.float32)
    poses[:, 16, 2] = -1.0  # left shoulder
    np.savez(tmp_path / "a.npz", poses=poses, trans=np.zeros((T, 3)), betas=np.zeros(300), gender="neutral",
             mocap_frame_rate=np.array(30.0))  # AMUSE's betas are (300,), its frame rate a float64
    assert detect_format(tmp_path / "a.npz") == "amuse"
    clip = read_motion(tmp_path / "a.npz")
    assert clip.body_pose[0, 15, 2] == -1.0 and clip.meta.method == "amuse"
    assert not clip.expression.any() and clip.betas.shape == (300,)


def test_amass_smplh_and_smplx(tmp_path):
    T = 6
    h = np.zeros((T, 156), np.float32)
    h[:, 66] = 0.3    # first left-hand value
    h[:, 111] = -0.3  # first right-hand value
    np.savez(tmp_path / "h.npz", poses=h, trans=np.zeros((T, 3)), betas=np.zeros(16), gender="female",
             mocap_framerate=120.0)
    assert detect_format(tmp_path / "h.npz") == "amass"
    clip = read_motion(tmp_path / "h.npz")
    assert clip.fps == 120 and clip.gender == "female"
    assert clip.left_hand_pose[0, 0, 0] == pytest.approx(0.3) and clip.right_hand_pose[0, 0, 0] == pytest.approx(-0.3)
    assert not clip.jaw_pose.any()
    x = np.zeros((T, 165), np.float32)
    x[:, 66] = 0.2
    np.savez(tmp_path / "x.npz", poses=x, trans=np.zeros((T, 3)), betas=np.zeros(16), gender="male",
             mocap_frame_rate=60.0, surface_model_type="smplx")
    assert read_motion(tmp_path / "x.npz").jaw_pose[0, 0] == pytest.approx(0.2)
    # AMASS is Z-up: a zero root (lying along -Y there) turns into -pi/2 about x here
    np.testing.assert_allclose(clip.global_orient[0], [-np.pi / 2, 0, 0], atol=1e-6)


def test_cli_info_and_convert_with_resample(tmp_path):
    clip = rand_clip(T=30)
    write_motion(clip, tmp_path / "c.npz")
    info = run_cli("motion", "info", tmp_path / "c.npz")
    assert info.returncode == 0 and "30 frames at 30 Hz = 1.000 s" in info.stdout
    out = run_cli("motion", "convert", tmp_path / "c.npz", tmp_path / "d.npz", "--fps", 60)
    assert out.returncode == 0, out.stderr
    assert read_motion(tmp_path / "d.npz").num_frames == 59


def write_bad(tmp_path: Path, name: str) -> Path:
    T = 5
    p = tmp_path / f"{name}.npz"
    good = dict(poses=np.zeros((T, 165)), trans=np.zeros((T, 3)), mocap_frame_rate=30)
    if name == "missing_key":
        good.pop("trans")
    elif name == "wrong_shape":
        good["poses"] = np.zeros((T, 160))
    elif name == "nan":
        good["poses"][2, 4] = np.nan
    elif name == "zero_frames":
        good = dict(poses=np.zeros((0, 165)), trans=np.zeros((0, 3)), mocap_frame_rate=30)
    elif name == "absurd_fps":
        good["mocap_frame_rate"] = 1e6
    elif name == "object":
        good["poses"] = np.array([{"a": 1}] * 5, dtype=object)
    elif name == "not_npz":
        p.write_bytes(b"this is not a zip file")
        return p
    np.savez(p, **good)
    return p


@pytest.mark.parametrize("name, expect", [
    ("missing_key", "field 'trans' is missing"),
    ("wrong_shape", "field 'poses' has shape (5, 160)"),
    ("nan", "contains NaN or Inf"),
    ("zero_frames", "zero frames"),
    ("absurd_fps", "mocap_frame_rate"),
    ("object", "pickle"),
    ("not_npz", "not a readable .npz"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, name, expect):
    src = write_bad(tmp_path, name)
    if name != "object" and name != "not_npz":
        with pytest.raises(InputError):
            read_motion(src, "beat2")
    out_file = tmp_path / "out.npz"
    r = run_cli("motion", "convert", src, out_file, *(["--from", "beat2"] if name in ("object",) else []))
    assert r.returncode == 2, r.stdout + r.stderr
    assert expect in r.stderr and str(src) in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert not out_file.exists()
    assert not list(tmp_path.glob(".out.npz*"))


def test_unknown_format_and_audio_mismatch(tmp_path):
    (tmp_path / "m.bvh").write_text("HIERARCHY")
    r = run_cli("motion", "info", tmp_path / "m.bvh")
    assert r.returncode == 2 and "--from" in r.stderr
    write_motion(rand_clip(T=30), tmp_path / "c.npz")
    import soundfile as sf

    sf.write(tmp_path / "long.wav", np.zeros(16000 * 4, np.float32), 16000)
    r = run_cli("motion", "convert", tmp_path / "c.npz", tmp_path / "o.npz", "--audio", tmp_path / "long.wav")
    assert r.returncode == 2 and "motion lasts 1.000 s but the audio has 4.000 s" in r.stderr
    assert not (tmp_path / "o.npz").exists()
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
    r = run_cli("motion", "convert", tmp_path / "c.npz", tmp_path / "o.npz", "--audio", tmp_path / "bad.wav")
    assert r.returncode == 2 and "not readable audio" in r.stderr


def test_source_fps_for_files_that_do_not_record_one(tmp_path):
    np.save(tmp_path / "ts.npy", np.zeros((30, 265), np.float32))
    r = run_cli("motion", "convert", tmp_path / "ts.npy", tmp_path / "o.npz", "--source-fps", 15, "--fps", 30)
    assert r.returncode == 0, r.stderr
    clip = read_motion(tmp_path / "o.npz")
    assert clip.fps == 30 and clip.num_frames == 59  # 2 s of 15 Hz frames, resampled
