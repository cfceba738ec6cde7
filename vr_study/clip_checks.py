"""Checks that catch clips which would spoil a trial, before participants see them.

Each check is a pure function of a clip (and, for the speech and jerk checks, of a number
taken from elsewhere) that returns :class:`ClipWarning` objects; :func:`clip_warnings` runs
all single-clip checks, :func:`jerk_outliers` compares clips against their library.
``vr-study library add`` and ``vr-study library preview`` print and show the same warnings.

What is checked (thresholds are keyword arguments; defaults are the module constants):

* ``speech``: the motion is shorter or longer than its speech (after ``audio_offset_s``)
  by more than :data:`SPEECH_TOLERANCE_S` seconds;
* ``jerk``: the clip's mean joint jerk (m/s^3) is an outlier against the library's median:
  robust z = 0.6745 (x - median) / MAD beyond :data:`JERK_ROBUST_Z` (Iglewicz and Hoaglin's
  modified z-score, 3.5), the MAD at least :data:`JERK_MIN_MAD_FRACTION` of the median;
* ``drift``: the root translation wanders more than :data:`ROOT_DRIFT_M` metres from its
  first-frame position;
* ``frozen``: no joint moves faster than :data:`FROZEN_SPEED_M_S` m/s for more than
  :data:`FROZEN_MIN_S` seconds (a held pose, repeated frames, a generator that stalled);
* ``orientation``: the body is upside down, lying or faces away (:mod:`vr_study.orientation`);
* ``expression``: an expression coefficient beyond :data:`EXPRESSION_ABS_MAX` in absolute value.

Joint positions come from forward kinematics on the default body's rest skeleton
(:func:`vr_study.body.skeleton.default_rest_joints`), so the numbers are comparable across
clips whatever body they will be shown on. Units: metres, seconds, Hz.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from vr_study.motion import MotionClip

#: Largest |motion duration - speech duration| (seconds) that is not warned about. About one
#: short syllable: a longer mismatch leaves a body moving in silence or speech over a still body.
SPEECH_TOLERANCE_S = 0.2
#: Modified z-score beyond which a clip's mean jerk is an outlier (Iglewicz & Hoaglin 1993).
JERK_ROBUST_Z = 3.5
#: Smallest MAD used for the jerk z-score, as a fraction of the median: in a library of
#: near-identical clips the MAD is tiny and harmless differences would look like outliers.
#: With 0.1, a clip must differ from the median by at least 52 % to be flagged.
JERK_MIN_MAD_FRACTION = 0.1
#: Fewest clips with a jerk value before outliers are looked for (a median of 2 means little).
JERK_MIN_CLIPS = 5
#: Largest distance (metres) the root may wander from its first-frame position.
ROOT_DRIFT_M = 0.3
#: A joint slower than this (m/s) counts as still.
FROZEN_SPEED_M_S = 0.005
#: Longest time (seconds) every joint may stay still before the clip is called frozen.
FROZEN_MIN_S = 1.0
#: Largest |expression coefficient| in range. SMPL-X / FLAME expression components are scaled
#: to unit variance over their training scans, so 3 is three standard deviations (beyond it
#: faces tear or turn to caricature); the default body's basis means 1 = the full action.
EXPRESSION_ABS_MAX = 3.0


@dataclass(frozen=True)
class ClipWarning:
    """One way a clip would spoil a trial: ``kind`` (one of :data:`KINDS`) and a readable line."""

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


KINDS = ("speech", "jerk", "drift", "frozen", "orientation", "expression")


# ----------------------------------------------------------------------------- measures
def joint_positions(clip: MotionClip) -> np.ndarray:
    """(T, 55, 3) world joint positions in metres: FK of the clip on the default rest skeleton.

    Translation is applied to the root, shape (betas) is ignored.
    """
    from vr_study.body.skeleton import PARENTS, default_rest_joints
    from vr_study.body.skinning import forward_kinematics

    rest, _ = default_rest_joints()
    return forward_kinematics(clip.full_pose(), rest, PARENTS, clip.transl)


def mean_jerk(clip: MotionClip) -> float:
    """Mean over frames and joints of the joint jerk magnitude, m/s^3 (third finite difference).

    0.0 for clips shorter than 4 frames.
    """
    if clip.num_frames < 4:
        return 0.0
    p = joint_positions(clip)
    jerk = np.diff(p, n=3, axis=0) * clip.fps ** 3
    return float(np.linalg.norm(jerk, axis=-1).mean())


def robust_z(values: np.ndarray, min_mad: float = 0.0) -> np.ndarray:
    """Modified z-scores 0.6745 (x - median) / max(MAD, min_mad); zeros when that is 0.

    With ``min_mad`` 0, falls back to the mean absolute deviation (times 1.2533, its ratio to the standard
    deviation for normal data, as 0.6745 is the MAD's) when the MAD is 0 but values differ.
    """
    x = np.asarray(values, np.float64)
    med = np.median(x)
    mad = max(float(np.median(np.abs(x - med))), float(min_mad))
    if mad > 0:
        return 0.6745 * (x - med) / mad
    meanad = np.mean(np.abs(x - med))
    if meanad > 0:
        return (x - med) / (1.2533 * meanad)
    return np.zeros_like(x)


# ----------------------------------------------------------------------------- checks
def speech_warnings(clip: MotionClip, audio_duration_s: float | None,
                    tolerance_s: float = SPEECH_TOLERANCE_S) -> list[ClipWarning]:
    """Motion shorter or longer than its speech (after ``meta.audio_offset_s``) by > tolerance_s."""
    if audio_duration_s is None:
        return []
    remaining = float(audio_duration_s) - float(clip.meta.audio_offset_s)
    diff = clip.duration_s - remaining
    if abs(diff) <= tolerance_s:
        return []
    word = "longer" if diff > 0 else "shorter"
    return [ClipWarning("speech", f"motion lasts {clip.duration_s:.2f} s but its speech {remaining:.2f} s: "
                                  f"{abs(diff):.2f} s {word} (tolerance {tolerance_s:g} s); trim or regenerate "
                                  "the clip, or pair it with the right audio")]


def drift_warnings(clip: MotionClip, max_drift_m: float = ROOT_DRIFT_M) -> list[ClipWarning]:
    """The root translation moves more than ``max_drift_m`` metres from its first frame."""
    t = np.asarray(clip.transl, np.float64)
    dist = np.linalg.norm(t - t[0], axis=-1)
    worst = int(np.argmax(dist))
    if dist[worst] <= max_drift_m:
        return []
    return [ClipWarning("drift", f"the root drifts {dist[worst]:.2f} m from where it starts (at "
                                 f"{worst / clip.fps:.2f} s; limit {max_drift_m:g} m): the body walks or slides "
                                 "out of its place; zero the translation or pick another take")]


def frozen_segments(clip: MotionClip, speed_m_s: float = FROZEN_SPEED_M_S,
                    min_s: float = FROZEN_MIN_S) -> list[tuple[float, float]]:
    """(start_s, end_s) of every stretch longer than ``min_s`` in which no joint moves faster
    than ``speed_m_s`` (joint speed from consecutive frames)."""
    if clip.num_frames < 2:
        return []
    p = joint_positions(clip)
    speed = np.linalg.norm(np.diff(p, axis=0), axis=-1).max(axis=1) * clip.fps  # (T-1,) fastest joint
    still = speed < speed_m_s
    out = []
    start = None
    for i, s in enumerate(np.append(still, False)):
        if s and start is None:
            start = i
        elif not s and start is not None:
            # intervals i..i+1 for i in [start, end): frames start..i are still
            t0, t1 = start / clip.fps, i / clip.fps
            if t1 - t0 > min_s:
                out.append((t0, t1))
            start = None
    return out


def frozen_warnings(clip: MotionClip, speed_m_s: float = FROZEN_SPEED_M_S,
                    min_s: float = FROZEN_MIN_S) -> list[ClipWarning]:
    """One warning listing the frozen stretches (see :func:`frozen_segments`)."""
    segs = frozen_segments(clip, speed_m_s, min_s)
    if not segs:
        return []
    where = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in segs)
    total = sum(b - a for a, b in segs)
    return [ClipWarning("frozen", f"the body is frozen for {total:.2f} s ({where}): no joint moves faster than "
                                  f"{speed_m_s * 1000:g} mm/s for more than {min_s:g} s")]


def orientation_check(clip: MotionClip) -> list[ClipWarning]:
    """Upside-down, lying or facing-away bodies (:func:`vr_study.orientation.orientation_warnings`)."""
    from vr_study.orientation import orientation_warnings

    return [ClipWarning("orientation", w) for w in orientation_warnings(clip)]


def expression_warnings(clip: MotionClip, abs_max: float = EXPRESSION_ABS_MAX) -> list[ClipWarning]:
    """Expression coefficients whose absolute value exceeds ``abs_max``."""
    e = np.asarray(clip.expression, np.float64)
    if e.size == 0:
        return []
    a = np.abs(e)
    if a.max() <= abs_max:
        return []
    frame, k = np.unravel_index(int(np.argmax(a)), a.shape)
    cols = np.nonzero((a > abs_max).any(axis=0))[0]
    frames = int((a > abs_max).any(axis=1).sum())
    names = ", ".join(str(int(c)) for c in cols[:8]) + (", ..." if len(cols) > 8 else "")
    return [ClipWarning("expression", f"expression coefficient {int(k)} reaches {e[frame, k]:+.2f} at "
                                      f"{frame / clip.fps:.2f} s (range +-{abs_max:g}; {frames} frames, "
                                      f"coefficients {names}): the face will distort; regenerate or clip the values")]


def clip_warnings(clip: MotionClip, audio_duration_s: float | None = None, *,
                  speech_tolerance_s: float = SPEECH_TOLERANCE_S, max_drift_m: float = ROOT_DRIFT_M,
                  frozen_speed_m_s: float = FROZEN_SPEED_M_S, frozen_min_s: float = FROZEN_MIN_S,
                  expression_abs_max: float = EXPRESSION_ABS_MAX) -> list[ClipWarning]:
    """Every single-clip check (all but ``jerk``) in the order of :data:`KINDS`.

    ``audio_duration_s``: the length of the clip's speech in seconds (None: not checked).
    """
    return (speech_warnings(clip, audio_duration_s, speech_tolerance_s)
            + drift_warnings(clip, max_drift_m)
            + frozen_warnings(clip, frozen_speed_m_s, frozen_min_s)
            + orientation_check(clip)
            + expression_warnings(clip, expression_abs_max))


def jerk_outliers(jerks: Mapping[str, float], max_z: float = JERK_ROBUST_Z,
                  min_clips: int = JERK_MIN_CLIPS) -> dict[str, ClipWarning]:
    """Clips whose mean jerk (m/s^3, :func:`mean_jerk`) is a robust-z outlier among ``jerks``.

    ``jerks``: {clip id: mean jerk} for the whole library. Returns {clip id: warning} for
    the outliers; nothing when fewer than ``min_clips`` clips are given.
    """
    ids = list(jerks)
    if len(ids) < min_clips:
        return {}
    values = np.array([jerks[i] for i in ids], np.float64)
    med = float(np.median(values))
    z = robust_z(values, JERK_MIN_MAD_FRACTION * abs(med))
    out = {}
    for cid, v, zi in zip(ids, values, z):
        if abs(zi) > max_z:
            word = "jerkier" if zi > 0 else "smoother"
            out[cid] = ClipWarning("jerk", f"mean jerk {v:.1f} m/s^3 is {word} than the library's median "
                                           f"{med:.1f} m/s^3 (robust z {zi:+.1f}, limit {max_z:g}): look for "
                                           "jitter, pops or a frozen body")
    return out
