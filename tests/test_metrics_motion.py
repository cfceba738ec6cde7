"""Objective motion metrics on constructed signals whose answers are known."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".numba_cache"))

import numpy as np
import pytest

from analysis import motion_metrics as mm

FPS = 30.0


def beat_motion(onsets_s, duration_s=10.0, joints=55, dip_width_s=0.05):
    """Joints moving along +x whose speed dips (to 40% of normal) exactly at ``onsets_s``."""
    from scipy.special import erf

    t = np.arange(int(duration_s * FPS)) / FPS
    x = t.copy()  # the integral of speed(t) = 1 - 0.6 * sum of Gaussian dips
    for o in onsets_s:
        x -= 0.6 * dip_width_s * np.sqrt(np.pi / 2) * (1 + erf((t - o) / (np.sqrt(2) * dip_width_s)))
    out = np.zeros((len(t), joints, 3))
    out[:, :, 0] = x[:, None]
    return out


ONSETS = np.arange(2.5, 8.0, 1.0)  # inside the analysed window (first and last 2 s skipped)


def test_beats_on_onsets_score_one_and_shifted_beats_score_less():
    aligned = mm.beat_consistency(beat_motion(ONSETS), FPS, ONSETS)
    assert aligned > 0.99
    shifted = mm.beat_consistency(beat_motion(ONSETS + 0.3), FPS, ONSETS)
    assert shifted == pytest.approx(math.exp(-0.3 ** 2 / (2 * 0.3 ** 2)), abs=0.03)
    far = mm.beat_consistency(beat_motion(ONSETS + 0.5), FPS, ONSETS)
    assert far == pytest.approx(math.exp(-0.5 ** 2 / (2 * 0.3 ** 2)), abs=0.03)
    assert aligned > shifted > far
    # TalkSHOW's wider sigma forgives more
    assert mm.beat_consistency(beat_motion(ONSETS + 0.3), FPS, ONSETS, sigma_s=0.5) > shifted


def test_bc_averages_over_all_upper_body_joints_and_ignores_slow_minima():
    j = beat_motion(ONSETS)
    j[:, 15] = 0.0  # a still head has no motion beats: it scores 0
    assert mm.beat_consistency(j, FPS, ONSETS) == pytest.approx(12 / 13, abs=0.01)
    # dips to (near) standstill are below the 0.3 * mean-speed threshold: no beats, BC 0
    deep = np.zeros_like(j)
    t = np.arange(len(j)) / FPS
    deep[:, :, 0] = (t - 0.5 * np.sin(2 * np.pi * (t - ONSETS[0]) + np.pi / 2) / (2 * np.pi) * 2)[:, None]
    assert mm.beat_consistency(deep, FPS, ONSETS) < 0.05
    # no onsets in the window: undefined
    assert math.isnan(mm.beat_consistency(j, FPS, np.array([0.5, 9.8])))


def test_motion_beats_and_speed_follow_emage():
    j = beat_motion([3.0, 5.0], joints=2)
    speed = mm.joint_speed(j, FPS)
    assert speed.shape == (len(j), 2)
    assert speed[30, 0] == pytest.approx(1.0, rel=1e-3)  # m/s away from the dips
    beats = mm.motion_beats(speed)
    assert [list(b) for b in beats] == [[90, 150], [90, 150]]


def test_frozen_clip_has_zero_diversity_and_known_values_otherwise():
    frozen = np.repeat(np.random.default_rng(0).normal(size=(1, 55, 3)), 60, axis=0)
    assert mm.l1_diversity(frozen) == pytest.approx(0.0, abs=1e-9)
    assert mm.sample_diversity([frozen, frozen.copy(), frozen.copy()]) == 0.0
    assert mm.mean_acceleration(frozen, FPS) == 0.0 and mm.mean_jerk(frozen, FPS) == 0.0
    alt = frozen.copy()
    alt[::2, 3, 1] += 0.1
    alt[1::2, 3, 1] -= 0.1
    assert mm.l1_diversity(alt) == pytest.approx(0.1)  # metres per frame, summed over joints
    moved = frozen + np.array([0.0, 0.0, 0.05])
    assert mm.sample_diversity([frozen, moved]) == pytest.approx(0.05)
    assert math.isnan(mm.sample_diversity([frozen]))


def test_acceleration_and_jerk_of_a_sinusoid():
    A, w = 0.1, 2 * np.pi * 1.0  # 10 cm at 1 Hz
    t = np.arange(300) / FPS
    j = np.zeros((300, 1, 3))
    j[:, 0, 0] = A * np.sin(w * t)
    assert mm.mean_acceleration(j, FPS) == pytest.approx(A * w ** 2 * 2 / np.pi, rel=0.02)
    assert mm.mean_jerk(j, FPS) == pytest.approx(A * w ** 3 * 2 / np.pi, rel=0.03)


def test_face_mse_and_lvd():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(20, 50, 3)) * 0.01
    assert mm.face_mse(ref, ref) == 0.0 and mm.face_lvd(ref, ref) == 0.0
    shifted = ref + np.array([0.003, 0.0, 0.004])  # 5 mm everywhere, same motion
    assert mm.face_mse(shifted, ref) == pytest.approx(0.005 ** 2)
    assert mm.face_lvd(shifted, ref) == pytest.approx(0.0, abs=1e-12)
    still = np.repeat(ref[:1], 20, axis=0)
    assert mm.face_lvd(still, ref) == pytest.approx(np.abs(np.diff(ref, axis=0)).sum(-1).mean())


def test_forward_kinematics_places_joints():
    rest = np.array([[0, 0, 0], [0.2, 0, 0], [0.5, 0, 0]], float)
    parents = np.array([-1, 0, 1])
    pose = np.zeros((1, 3, 3))
    pose[0, 1, 2] = -np.pi / 2  # joint 1 turns its child down (about -z)
    from vr_study.body.skinning import forward_kinematics

    out = forward_kinematics(pose, rest, parents, transl=np.array([[0, 1.0, 0]]))
    np.testing.assert_allclose(out[0], [[0, 1, 0], [0.2, 1, 0], [0.2, 0.7, 0]], atol=1e-9)


@pytest.mark.slow
def test_audio_onsets_find_clicks():
    sr = 16000
    y = np.zeros(sr * 4, np.float32)
    clicks = [0.5, 1.3, 2.2, 3.1]
    rng = np.random.default_rng(0)
    for c in clicks:
        i = int(c * sr)
        y[i:i + 800] += rng.normal(size=800).astype(np.float32) * np.exp(-np.arange(800) / 150)
    found = mm.audio_onsets_s(y, sr)
    d = np.abs(found[:, None] - np.asarray(clicks)[None, :])
    assert d.min(axis=0).max() < 0.05  # every click is found, within one 32 ms hop or so
    assert d.min(axis=1).max() < 0.06  # and nothing else


@pytest.mark.slow
def test_metrics_cli_writes_tidy_csv(tmp_path):
    from generators.batch import fill_library, read_utterance_list
    from vr_study.cli import main

    root = Path(__file__).resolve().parent.parent
    lib = tmp_path / "lib"
    fill_library(lib, read_utterance_list(root / "assets" / "speech" / "utterances.yaml")[:1], ["prosody"],
                 ["happy", "neutral"], [0, 1], progress=False)
    out, groups = tmp_path / "m.csv", tmp_path / "g.csv"
    assert main(["metrics", "--library", str(lib), "--skip-s", "0.5", "-o", str(out), "--groups", str(groups)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0]) == list(mm.CSV_COLUMNS) and len(rows) == 4
    for r in rows:
        assert r["clip_id"].startswith("prosody__greeting__")
        assert 0.0 < float(r["bc"]) <= 1.0 and float(r["l1div"]) > 0 and float(r["jerk_mean"]) > 0
        assert r["face_mse"] == "" and r["face_lvd"] == ""
    happy = [float(r["accel_mean"]) for r in rows if r["emotion"] == "happy"]
    neutral = [float(r["accel_mean"]) for r in rows if r["emotion"] == "neutral"]
    assert min(happy) > max(neutral)
    g = list(csv.DictReader(open(groups)))
    assert {r["emotion"] for r in g} == {"happy", "neutral"} and all(float(r["sample_div_m"]) > 0 for r in g)
    # a single clip file copied out of the library finds its audio through meta.audio_path
    clip_file = lib / "clips" / "prosody" / f"{rows[0]['clip_id']}.npz"
    assert main(["metrics", str(clip_file), "-o", str(tmp_path / "one.csv")]) == 0
    one = list(csv.DictReader(open(tmp_path / "one.csv")))
    assert one[0]["clip_id"] == rows[0]["clip_id"] and one[0]["bc"] != ""  # audio found beside the clip
    # face error against a reference clip: zero for itself, positive for another emotion
    other = lib / "clips" / "prosody" / "prosody__greeting__neutral__s0.npz"
    assert main(["metrics", str(clip_file), str(other), "--reference", str(clip_file),
                 "-o", str(tmp_path / "face.csv")]) == 0
    face = {r["clip_id"]: r for r in csv.DictReader(open(tmp_path / "face.csv"))}
    assert float(face[clip_file.stem]["face_mse"]) == 0.0 and float(face[clip_file.stem]["face_lvd"]) == 0.0
    assert float(face[other.stem]["face_mse"]) > 0.0 and float(face[other.stem]["face_lvd"]) > 0.0
