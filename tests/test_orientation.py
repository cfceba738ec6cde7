"""Up and facing directions of a clip, the warnings about them, and the CLI that shows them."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from vr_study.formats import read_motion, write_motion
from vr_study.library import StimulusLibrary
from vr_study.motion import MotionClip, orientation_warnings
from vr_study.orientation import axis_rotation, body_directions, clip_orientation, rotate_world
from vr_study.rotations import matrix_to_axis_angle


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vr_study.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def turned(axis: str, degrees: float, T: int = 5) -> MotionClip:
    clip = MotionClip.zeros(T, num_expression=10, num_betas=10)
    clip.global_orient[:] = matrix_to_axis_angle(axis_rotation(axis, degrees))
    return clip


@pytest.mark.parametrize("axis, deg, posture, facing, warned", [
    ("x", 0, "upright", "viewer (+Z)", []),
    ("x", 180, "upside down", "away (-Z)", ["upside down", "faces away"]),
    ("x", 90, "lying", "up or down", ["lying"]),      # Z-up data read as Y-up
    ("x", -90, "lying", "up or down", ["lying"]),
    ("y", 180, "upright", "away (-Z)", ["faces away"]),
    ("y", 90, "upright", "sideways (+X)", []),
    ("y", -60, "upright", "sideways (-X)", []),
    ("y", 30, "upright", "viewer (+Z)", []),
])
def test_postures_and_facing_words(axis, deg, posture, facing, warned):
    o = clip_orientation(turned(axis, deg))
    assert (o.posture, o.facing_word) == (posture, facing)
    assert np.linalg.norm(o.up) == pytest.approx(1.0)
    w = orientation_warnings(turned(axis, deg))
    assert len(w) == len(warned) and all(k in line for k, line in zip(warned, w))


def test_up_follows_the_spine_not_only_the_pelvis():
    """A pelvis tipped forward 90 degrees with the spine bent back 90 degrees stands upright."""
    clip = MotionClip.zeros(2, num_expression=10, num_betas=10)
    clip.global_orient[:] = [np.pi / 2, 0, 0]
    assert clip_orientation(clip).posture == "lying"
    clip.body_pose[:, 2] = [-np.pi / 2, 0, 0]  # spine1 (joint 3)
    up, _ = body_directions(clip.global_orient, clip.body_pose)
    assert up[0, 1] > 0.9 and clip_orientation(clip).posture == "upright"


def test_a_clip_that_turns_around_has_no_single_facing():
    clip = MotionClip.zeros(36, num_expression=10, num_betas=10)
    clip.global_orient[:] = [[0, a, 0] for a in np.linspace(0, 2 * np.pi, 36, endpoint=False)]
    o = clip_orientation(clip)
    assert o.facing_word == "varies" and not o.facing.any() and orientation_warnings(clip) == []


def test_rotate_world_keeps_the_pelvis_where_the_world_rotation_puts_it():
    from vr_study.body import load_body_model

    body = load_body_model()
    clip = turned("x", 90, T=3)
    clip.transl[:] = [[0.1, -0.3, 0.9], [0.2, -0.2, 0.9], [0.3, -0.1, 0.95]]
    R = axis_rotation("x", -90)
    go, tr = rotate_world(clip.global_orient, clip.transl, R, body.rest_joints(clip.betas)[0])
    before = body.pose_clip(clip).joints.astype(np.float64)
    after = body.pose_clip(clip.replace(global_orient=go, transl=tr)).joints.astype(np.float64)
    np.testing.assert_allclose(after, before @ R.T, atol=2e-4)


def camera_frame_clip(tmp_path):
    """A body as TalkSHOW/PIXIE give it (y down camera frame), saved as BEAT2 as is."""
    clip = MotionClip.zeros(30, num_expression=10, num_betas=10)
    clip.global_orient[:] = [3.0747, -0.0158, -0.0152]
    clip.meta.method = "talkshow"
    write_motion(clip, tmp_path / "upside.npz")
    return tmp_path / "upside.npz"


def test_info_prints_up_and_facing(tmp_path):
    good = MotionClip.zeros(30, num_expression=10, num_betas=10)
    write_motion(good, tmp_path / "good.npz")
    r = cli("motion", "info", tmp_path / "good.npz")
    assert r.returncode == 0 and "up (0.00, 1.00, -0.01) upright (0 degrees from +Y)" in r.stdout
    assert "facing (0.00, 0.00, 1.00) viewer (+Z)" in r.stdout and r.stderr == ""
    bad = cli("motion", "info", camera_frame_clip(tmp_path), "--json")
    assert bad.returncode == 0
    import json

    o = json.loads(bad.stdout)["orientation"]
    assert o["posture"] == "upside down" and o["facing_word"] == "away (-Z)" and o["up"][1] < -0.99
    assert "warning:" in bad.stderr and "upside down" in bad.stderr


def test_convert_warns_and_rotate_fixes(tmp_path):
    src = camera_frame_clip(tmp_path)
    r = cli("motion", "convert", src, tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 2 and "upside down" in lines[0] and "faces away" in lines[1] and str(src) in lines[0]
    assert "--rotate x:180" in lines[0]
    fixed = cli("motion", "convert", src, tmp_path / "fixed.npz", "--rotate", "x:180")
    assert fixed.returncode == 0 and "warning" not in fixed.stderr, fixed.stderr
    clip = read_motion(tmp_path / "fixed.npz")
    o = clip_orientation(clip)
    assert (o.posture, o.facing_word) == ("upright", "viewer (+Z)") and clip.meta.extra["rotated"] == ["x:180"]
    bad = cli("motion", "convert", src, tmp_path / "x.npz", "--rotate", "q:90")
    assert bad.returncode == 2 and "--rotate" in bad.stderr and bad.stderr.count("\n") == 1
    assert not (tmp_path / "x.npz").exists()


def test_library_add_warns_about_an_upside_down_clip(tmp_path):
    src = camera_frame_clip(tmp_path)
    sf.write(tmp_path / "greeting.wav", np.zeros(16000, np.float32), 16000)
    r = cli("library", "add", tmp_path / "lib", src, "--emotion", "happy", "--audio", tmp_path / "greeting.wav")
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stderr and "upside down" in r.stderr and "faces away" in r.stderr
    assert len(StimulusLibrary.open(tmp_path / "lib")) == 1
