"""vr_study.clip_checks: each warning fires on a purposely bad clip and stays silent on a good one."""
from __future__ import annotations

import numpy as np
import pytest

from vr_study import clip_checks as cc
from vr_study.motion import MotionClip


def speaking(seconds: float = 2.0, fps: float = 30.0, phase: float = 0.0) -> MotionClip:
    """A clip like a talking, gesturing person: arms, elbow, head and jaw move smoothly."""
    T = int(round(seconds * fps))
    t = np.arange(T) / fps
    c = MotionClip.zeros(T, fps, num_expression=10)
    c.body_pose[:, 15, 2] = -1.0 + 0.3 * np.sin(2 * np.pi * 0.8 * t + phase)  # left shoulder
    c.body_pose[:, 16, 2] = 1.0 + 0.3 * np.sin(2 * np.pi * 0.7 * t + phase)   # right shoulder
    c.body_pose[:, 17, 1] = -0.5 + 0.4 * np.sin(2 * np.pi * 1.1 * t)          # left elbow
    c.body_pose[:, 11, 0] = 0.2 * np.sin(2 * np.pi * 0.5 * t)                 # head nod
    c.jaw_pose[:, 0] = 0.15 * (1 + np.sin(2 * np.pi * 4 * t))
    c.expression[:, 1] = 0.5 * (1 + np.sin(2 * np.pi * 0.3 * t))
    return c


def kinds(ws) -> list[str]:
    return [w.kind for w in ws]


def test_good_clip_has_no_warning():
    assert cc.clip_warnings(speaking(), audio_duration_s=2.0) == []


def test_speech_length_mismatch_both_ways_and_offset():
    clip = speaking(3.0)
    (w,) = cc.clip_warnings(clip, audio_duration_s=2.0)
    assert w.kind == "speech" and "1.00 s longer" in w.message
    (w,) = cc.speech_warnings(speaking(1.0), 2.0)
    assert "1.00 s shorter" in w.message
    assert cc.speech_warnings(speaking(2.1), 2.0) == []  # inside the 0.2 s tolerance
    clip = speaking(2.0)
    clip.meta.audio_offset_s = 1.0  # plays from 1 s into a 3 s wav: 2 s left, matches
    assert cc.speech_warnings(clip, 3.0) == []
    assert cc.speech_warnings(clip, None) == []  # no speech: nothing to compare


def test_root_drift():
    clip = speaking()
    clip.transl[:, 0] = np.linspace(0.0, 1.0, clip.num_frames)  # slides 1 m sideways
    assert kinds(cc.clip_warnings(clip, 2.0)) == ["drift"]
    clip.transl[:, 0] = np.linspace(0.0, 0.1, clip.num_frames)  # 10 cm sway: fine
    assert cc.drift_warnings(clip) == []


def test_frozen_segment():
    clip = speaking(3.0)
    clip.body_pose[30:] = clip.body_pose[30]  # every joint holds still from 1 s to the end
    (w,) = cc.clip_warnings(clip, 3.0)
    assert w.kind == "frozen" and "1.00-2.97 s" in w.message
    assert cc.frozen_segments(clip) == [(1.0, pytest.approx(89 / 30))]
    short = speaking(3.0)
    short.body_pose[30:54] = short.body_pose[30]  # 0.8 s hold: a pause, not a frozen body
    assert cc.frozen_warnings(short) == []


def test_upside_down_and_facing_away():
    clip = speaking()
    clip.global_orient[:, 0] = np.pi  # camera frame (y down) imported as is
    ws = cc.clip_warnings(clip, 2.0)
    assert kinds(ws) == ["orientation", "orientation"]
    assert "upside down" in ws[0].message and "faces away" in ws[1].message
    clip = speaking()
    clip.global_orient[:, 1] = np.pi  # turned round: faces away only
    (w,) = cc.clip_warnings(clip, 2.0)
    assert w.kind == "orientation" and "faces away" in w.message


def test_expression_out_of_range():
    clip = speaking()
    clip.expression[20:25, 3] = -5.0
    (w,) = cc.clip_warnings(clip, 2.0)
    assert w.kind == "expression" and "coefficient 3 reaches -5.00" in w.message and "5 frames" in w.message
    clip.expression[20:25, 3] = 2.9  # within +-3
    assert cc.expression_warnings(clip) == []
    assert cc.expression_warnings(MotionClip.zeros(5, num_expression=0)) == []


def test_jerk_outlier_against_library_median():
    library = {f"good{i}": cc.mean_jerk(speaking(phase=i)) for i in range(5)}
    assert cc.jerk_outliers(library) == {}  # near-identical clips: no outlier (MAD floor)
    jittery = speaking()
    jittery.body_pose += np.random.default_rng(0).normal(0, 0.05, jittery.body_pose.shape).astype(np.float32)
    library["jittery"] = cc.mean_jerk(jittery)
    out = cc.jerk_outliers(library)
    assert list(out) == ["jittery"] and "jerkier than the library's median" in out["jittery"].message
    # fewer than JERK_MIN_CLIPS clips: no median to compare with
    assert cc.jerk_outliers({k: library[k] for k in ("good0", "good1", "jittery")}) == {}


def test_mean_jerk_units():
    """A point moving with constant jerk j along x has mean jerk j (m/s^3) for the root joint."""
    fps = 30.0
    t = np.arange(30) / fps
    clip = MotionClip.zeros(30, fps)
    clip.transl[:, 0] = 2.0 * t ** 3 / 6.0  # x''' = 2 m/s^3 for every joint (rigid translation)
    assert cc.mean_jerk(clip) == pytest.approx(2.0, rel=1e-3)
    assert cc.mean_jerk(MotionClip.zeros(3)) == 0.0


def test_robust_z():
    z = cc.robust_z(np.array([1.0, 1.1, 0.9, 1.0, 10.0]))
    assert z[-1] > 3.5 and abs(z[0]) < 1
    assert cc.robust_z(np.ones(4)).tolist() == [0, 0, 0, 0]
