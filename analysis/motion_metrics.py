"""Objective motion metrics with EMAGE's definitions, as EMAGE's evaluation code computes them.

Pure functions on joint positions ``joints`` (T, J, 3) in metres at ``fps`` Hz (from the
body model: ``load_body_model().pose_clip(clip).joints``, 55 SMPL-X joints) and on audio
onset times in seconds. Clip-level helpers at the bottom turn a MotionClip into a tidy
row (see :data:`CSV_COLUMNS`).

- Beat consistency (BC): audio onsets from ``librosa.onset.onset_detect`` (16 kHz, hop
  512); motion beats are local minima (order 7 frames) of each joint's speed, kept where
  the speed, divided by a reference mean speed, exceeds ``threshold``; per joint the score
  is the mean over onsets of exp(-d^2 / (2 sigma^2)) with d the distance (s) from the
  onset to the nearest motion beat; joints without beats score 0; the mean over the
  upper-body joints is BC (0..1, higher = motion beats closer to speech onsets).
- L1 diversity: mean over frames of sum |joints_t - mean over frames of joints| (metres).
- Sample diversity: mean over pairs of samples of the mean per-joint distance (metres).
- Mean acceleration (m/s^2) and mean jerk (m/s^3) of the joints.
- Face MSE (m^2) and LVD (L1 of per-frame vertex displacement differences, metres).
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Sequence

import numpy as np
from scipy.signal import argrelextrema

#: EMAGE's upper-body joints (spine1-3, neck, collars, head, shoulders, elbows, wrists)
UPPER_BODY = (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
BC_SIGMA_S = 0.3          # 0.5 for TalkSHOW-style data
BC_ORDER = 7              # frames on each side of a local speed minimum
BC_THRESHOLD = 0.3        # speed / mean speed must exceed this at a motion beat
BC_SKIP_S = 2.0           # seconds ignored at each end (shortened for short clips)
ONSET_SR_HZ = 16000
ONSET_HOP = 512

CSV_COLUMNS = ("clip_id", "method", "emotion", "utterance", "seed", "fps", "duration_s", "bc", "l1div",
               "jerk_mean", "accel_mean", "face_mse", "face_lvd")


# ---------------------------------------------------------------------- kinematics
def joint_speed(joints: np.ndarray, fps: float) -> np.ndarray:
    """(T, J) speed in m/s: forward difference at the first frame, central differences
    inside, backward difference at the last frame (as EMAGE computes it)."""
    x = np.asarray(joints, np.float64)
    if x.shape[0] < 2:
        return np.zeros(x.shape[:2])
    v = np.empty_like(x)
    v[0] = (x[1] - x[0]) * fps
    v[-1] = (x[-1] - x[-2]) * fps
    if x.shape[0] > 2:
        v[1:-1] = (x[2:] - x[:-2]) * (fps / 2.0)
    return np.linalg.norm(v, axis=-1)


def mean_acceleration(joints: np.ndarray, fps: float) -> float:
    """Mean over frames and joints of |second difference| * fps^2 (m/s^2)."""
    x = np.asarray(joints, np.float64)
    if x.shape[0] < 3:
        return float("nan")
    return float(np.linalg.norm(np.diff(x, 2, axis=0), axis=-1).mean() * fps ** 2)


def mean_jerk(joints: np.ndarray, fps: float) -> float:
    """Mean over frames and joints of |third difference| * fps^3 (m/s^3)."""
    x = np.asarray(joints, np.float64)
    if x.shape[0] < 4:
        return float("nan")
    return float(np.linalg.norm(np.diff(x, 3, axis=0), axis=-1).mean() * fps ** 3)


# ---------------------------------------------------------------------- beat consistency
def audio_onsets_s(samples: np.ndarray, sample_rate_hz: int = ONSET_SR_HZ) -> np.ndarray:
    """Onset times (s) by ``librosa.onset.onset_detect`` at 16 kHz, hop 512 (EMAGE's setup)."""
    import librosa

    y = np.asarray(samples, np.float32)
    if sample_rate_hz != ONSET_SR_HZ:
        y = librosa.resample(y, orig_sr=sample_rate_hz, target_sr=ONSET_SR_HZ)
    return np.asarray(librosa.onset.onset_detect(y=y, sr=ONSET_SR_HZ, hop_length=ONSET_HOP, units="time"),
                      np.float64)


def motion_beats(speed: np.ndarray, order: int = BC_ORDER, threshold: float = BC_THRESHOLD,
                 mean_speed: np.ndarray | float | None = None) -> list[np.ndarray]:
    """Per joint, the frames that are local speed minima (``order`` frames each side) where
    speed / ``mean_speed`` > ``threshold``. ``mean_speed``: (J,) or scalar reference speed
    (m/s), default each joint's mean speed in this clip."""
    speed = np.asarray(speed, np.float64)
    ref = speed.mean(axis=0) if mean_speed is None else np.broadcast_to(np.asarray(mean_speed, np.float64),
                                                                          speed.shape[1:])
    norm = speed / np.maximum(ref, 1e-12)
    out = []
    for j in range(speed.shape[1]):
        (minima,) = argrelextrema(norm[:, j], np.less, order=order)
        out.append(minima[norm[minima, j] > threshold])
    return out


def beat_alignment_score(onsets_s: np.ndarray, beats_s: np.ndarray, sigma_s: float = BC_SIGMA_S) -> float:
    """Mean over onsets of exp(-d^2 / (2 sigma^2)), d = distance to the nearest beat (s)."""
    onsets_s = np.asarray(onsets_s, np.float64)
    beats_s = np.asarray(beats_s, np.float64)
    if onsets_s.size == 0:
        return float("nan")
    if beats_s.size == 0:
        return 0.0
    d = np.abs(onsets_s[:, None] - beats_s[None, :]).min(axis=1)
    return float(np.mean(np.exp(-(d ** 2) / (2 * sigma_s ** 2))))


def beat_consistency(joints: np.ndarray, fps: float, onsets_s: np.ndarray, sigma_s: float = BC_SIGMA_S,
                     order: int = BC_ORDER, threshold: float = BC_THRESHOLD,
                     joint_indices: Sequence[int] = UPPER_BODY, skip_s: float = BC_SKIP_S,
                     mean_speed: np.ndarray | float | None = None) -> float:
    """Beat consistency of ``joints`` (T, J, 3) metres at ``fps`` Hz with speech onsets (s).

    The first and last ``skip_s`` seconds are ignored (reduced to a quarter of the clip
    when the clip is shorter than 4 * skip_s). ``mean_speed`` (J,) or scalar (m/s) is the
    reference speed (EMAGE uses the training set's); default each joint's mean speed over
    the analysed window. NaN when there is no onset in the window.
    """
    joints = np.asarray(joints, np.float64)
    T = joints.shape[0]
    duration = T / fps
    skip = min(skip_s, duration / 4.0)
    f0, f1 = int(round(skip * fps)), T - int(round(skip * fps))
    if f1 - f0 < 3:
        return float("nan")
    speed = joint_speed(joints, fps)[f0:f1][:, list(joint_indices)]
    ref = None if mean_speed is None else np.broadcast_to(np.asarray(mean_speed, np.float64),
                                                          (joints.shape[1],))[list(joint_indices)]
    beats = motion_beats(speed, order, threshold, ref)
    on = np.asarray(onsets_s, np.float64)
    on = on[(on >= f0 / fps) & (on < f1 / fps)] - f0 / fps
    if on.size == 0:
        return float("nan")
    scores = [beat_alignment_score(on, b / fps, sigma_s) for b in beats]
    return float(np.sum(scores) / len(joint_indices))


# ---------------------------------------------------------------------- diversity
def l1_diversity(joints: np.ndarray) -> float:
    """EMAGE's L1 diversity: mean over frames of sum |x_t - mean_t x| over joints and axes (m)."""
    x = np.asarray(joints, np.float64).reshape(len(joints), -1)
    if x.shape[0] == 0:
        return float("nan")
    return float(np.abs(x - x.mean(axis=0)).sum() / x.shape[0])


def sample_diversity(samples: Sequence[np.ndarray]) -> float:
    """Diversity across samples of one utterance: mean over pairs of the mean (over frames
    and joints) Euclidean distance between corresponding joints, metres. Samples of
    different lengths are compared over their common first frames. NaN for < 2 samples."""
    if len(samples) < 2:
        return float("nan")
    T = min(len(s) for s in samples)
    xs = [np.asarray(s, np.float64)[:T] for s in samples]
    return float(np.mean([np.linalg.norm(a - b, axis=-1).mean() for a, b in combinations(xs, 2)]))


# ---------------------------------------------------------------------- face
def face_mse(vertices: np.ndarray, reference: np.ndarray) -> float:
    """Mean squared error (m^2) of face vertices (T, V, 3) against a reference (T', V, 3),
    over their common first frames."""
    T = min(len(vertices), len(reference))
    a = np.asarray(vertices, np.float64)[:T]
    b = np.asarray(reference, np.float64)[:T]
    return float(np.mean(np.sum((a - b) ** 2, axis=-1)))


def face_lvd(vertices: np.ndarray, reference: np.ndarray) -> float:
    """Landmark velocity difference: mean L1 (m per frame) between the per-frame vertex
    displacements of ``vertices`` and ``reference`` (T, V, 3), common first frames."""
    T = min(len(vertices), len(reference))
    if T < 2:
        return float("nan")
    va = np.diff(np.asarray(vertices, np.float64)[:T], axis=0)
    vb = np.diff(np.asarray(reference, np.float64)[:T], axis=0)
    return float(np.mean(np.abs(va - vb).sum(axis=-1)))


def nan_to_empty(value: float | None) -> str | float:
    """Tidy-CSV cell: '' for missing/NaN, else the number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value
