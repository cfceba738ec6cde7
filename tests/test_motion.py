"""MotionClip: layout, resampling (slerp), trimming, validation, audio length check."""
from __future__ import annotations

import numpy as np
import pytest

from vr_study.errors import InputError
from vr_study.motion import POSE_SLICES, MotionClip, check_audio_length
from vr_study.rotations import (axis_angle_to_matrix, axis_angle_to_quat, matrix_to_axis_angle, quat_to_axis_angle,
                                quat_to_matrix, slerp_axis_angle)


def test_poses_layout_matches_beat2_columns():
    clip = MotionClip.zeros(2)
    clip.jaw_pose[:, 0] = 1.0
    clip.left_hand_pose[:, 0, 2] = 2.0
    clip.right_hand_pose[:, 14, 1] = 3.0
    p = clip.poses()
    assert p.shape == (2, 165) and p.dtype == np.float32
    assert p[0, 66] == 1.0 and p[0, 77] == 2.0 and p[0, 163] == 3.0
    assert POSE_SLICES["body_pose"] == slice(3, 66) and POSE_SLICES["right_hand_pose"] == slice(120, 165)
    back = MotionClip.from_poses(p, clip.transl, clip.expression, clip.betas, 30)
    np.testing.assert_array_equal(back.poses(), p)


def test_rotation_conversions_round_trip():
    rng = np.random.default_rng(1)
    aa = rng.normal(0, 1, (50, 3))
    aa *= np.minimum(1, 3.0 / np.linalg.norm(aa, axis=1, keepdims=True))
    np.testing.assert_allclose(quat_to_axis_angle(axis_angle_to_quat(aa)), aa, atol=1e-9)
    np.testing.assert_allclose(matrix_to_axis_angle(axis_angle_to_matrix(aa)), aa, atol=1e-9)
    np.testing.assert_allclose(quat_to_matrix(axis_angle_to_quat(aa)), axis_angle_to_matrix(aa), atol=1e-12)
    # 90 degrees about y carries +z to +x (right-handed)
    np.testing.assert_allclose(quat_to_matrix(axis_angle_to_quat([0, np.pi / 2, 0])) @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    # slerp halfway between 0 and 90 degrees about x is 45 degrees about x
    half = slerp_axis_angle(np.zeros(3), np.array([np.pi / 2, 0, 0]), 0.5)
    np.testing.assert_allclose(half, [np.pi / 4, 0, 0], atol=1e-12)


def test_resample_uses_slerp_and_keeps_time_span():
    clip = MotionClip.zeros(31, 30.0)
    angle = np.linspace(0, 3.0, 31)  # rotate about y through almost pi
    clip.global_orient[:, 1] = angle
    clip.transl[:, 0] = np.linspace(0, 1, 31)
    up = clip.resample(60.0)
    assert up.num_frames == 61 and up.fps == 60.0
    assert up.duration_s == pytest.approx(61 / 60)
    np.testing.assert_allclose(up.global_orient[1::2, 1], (angle[:-1] + angle[1:]) / 2, atol=1e-5)
    np.testing.assert_allclose(up.transl[:, 0], np.linspace(0, 1, 61), atol=1e-6)
    down = clip.resample(15.0)
    np.testing.assert_allclose(down.global_orient[:, 1], angle[::2], atol=1e-5)


def test_resample_takes_the_short_way_round():
    clip = MotionClip.zeros(2, 1.0)
    clip.global_orient[0, 2] = np.pi - 0.1
    clip.global_orient[1, 2] = -(np.pi - 0.1)  # 0.2 rad apart through pi
    mid = clip.resample(2.0).global_orient[1]
    assert abs(abs(mid[2]) - np.pi) < 1e-4  # passes through pi, not through 0


def test_trim_moves_audio_offset():
    clip = MotionClip.zeros(90, 30.0)
    clip.body_pose[:, 0, 0] = np.arange(90)
    t = clip.trim(1.0, 2.0)
    assert t.num_frames == 30 and t.body_pose[0, 0, 0] == 30
    assert t.meta.audio_offset_s == pytest.approx(1.0)
    with pytest.raises(InputError, match="keeps no frame"):
        clip.trim(5.0, 6.0)


def test_validate_names_the_field():
    clip = MotionClip.zeros(10)
    clip.jaw_pose[3, 1] = np.nan
    with pytest.raises(InputError, match=r"field 'jaw_pose' contains NaN or Inf \(first at frame 3\)"):
        clip.validate("x.npz")
    bad = MotionClip.zeros(10).replace(fps=0.0)
    with pytest.raises(InputError, match="'fps'"):
        bad.validate("x.npz")
    with pytest.raises(InputError, match="zero frames"):
        MotionClip.zeros(0).validate()


def test_audio_length_check():
    clip = MotionClip.zeros(90, 30.0)
    assert check_audio_length(clip, 3.02) == pytest.approx(-0.02)
    with pytest.raises(InputError, match="motion lasts 3.000 s but the audio has 5.000 s"):
        check_audio_length(clip, 5.0)


def test_atomic_writes_get_normal_permissions_not_mkstemps_0600(tmp_path):
    import os
    import stat

    from vr_study.atomic import atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
