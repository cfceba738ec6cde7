"""How an emotion and a seed shape the prosody generator's motion.

:class:`Style` holds the emotion presets (happy = larger, faster, more open gestures, a
Duchenne smile (FACS AU6 cheek raiser + AU12 lip corner puller) and raised brows, a higher head; neutral = smaller, slower, relaxed face).
:class:`Traits` are what a seed changes: handedness, gesture size and rhythm, where the
hands wander, idle-motion phases. Angles in radians, times in seconds, rates in Hz.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Style:
    gesture_amp: float          # scales beat strokes (1 = full)
    stroke_min_interval_s: float
    stroke_rise_s: float        # onset of stroke to its apex
    stroke_fall_s: float        # apex back to the gesture space
    both_hands_prob: float      # chance a strong beat uses both hands
    space_elbow_rad: float      # forearm lift while speaking
    space_shoulder_rad: float   # upper-arm forward lift while speaking
    open_rad: float             # upper-arm abduction while speaking (open posture)
    hand_curl_rad: float        # finger curl per joint at rest
    head_pitch_rad: float       # + = chin down
    nod_amp_rad: float
    nod_min_interval_s: float
    pitch_follow_rad: float     # chin up by this much per octave above the speaker's mean
    jaw_gain: float
    smile: float                # expression units: AU12 lip corner puller
    cheek: float                # expression units: AU6 cheek raiser (with AU12: a Duchenne smile)
    brow_base: float
    brow_accent: float
    sway_amp_rad: float         # weight-shift sway of the trunk
    breath_rate_hz: float
    arm_smoothing_s: float      # time constant of the arm filter (smaller = snappier)
    head_smoothing_s: float
    blink_interval_s: tuple[float, float]
    gaze_interval_s: tuple[float, float]
    gaze_range_rad: float


STYLES: dict[str, Style] = {
    "happy": Style(
        gesture_amp=1.0, stroke_min_interval_s=0.30, stroke_rise_s=0.12, stroke_fall_s=0.30,
        both_hands_prob=0.35, space_elbow_rad=1.05, space_shoulder_rad=0.32, open_rad=0.30,
        hand_curl_rad=0.18, head_pitch_rad=-0.10, nod_amp_rad=0.13, nod_min_interval_s=0.45,
        pitch_follow_rad=0.10, jaw_gain=1.2, smile=1.6, cheek=1.0, brow_base=0.15, brow_accent=0.8,
        sway_amp_rad=0.035, breath_rate_hz=0.30, arm_smoothing_s=0.040, head_smoothing_s=0.05,
        blink_interval_s=(2.0, 4.5), gaze_interval_s=(0.8, 2.2), gaze_range_rad=0.20),
    "neutral": Style(
        gesture_amp=0.5, stroke_min_interval_s=0.55, stroke_rise_s=0.17, stroke_fall_s=0.45,
        both_hands_prob=0.10, space_elbow_rad=0.70, space_shoulder_rad=0.15, open_rad=0.08,
        hand_curl_rad=0.35, head_pitch_rad=0.03, nod_amp_rad=0.06, nod_min_interval_s=0.8,
        pitch_follow_rad=0.04, jaw_gain=0.9, smile=0.0, cheek=0.0, brow_base=0.0, brow_accent=0.25,
        sway_amp_rad=0.02, breath_rate_hz=0.22, arm_smoothing_s=0.050, head_smoothing_s=0.08,
        blink_interval_s=(2.5, 6.0), gaze_interval_s=(1.2, 3.5), gaze_range_rad=0.12),
}


@dataclass(frozen=True)
class Traits:
    """Per-seed variation: same style, a different but equally plausible speaker."""

    right_handed: float         # probability a one-handed beat uses the right hand
    amp_scale: float
    interval_scale: float
    space_scale: tuple[float, float]   # (left, right) gesture-space lift scale
    drift_freq_hz: np.ndarray   # (4,) slow wandering of the hands and head
    drift_phase: np.ndarray     # (4,)
    breath_phase: float
    sway_freq_hz: float
    sway_phase: float
    nod_sign_bias: float        # head tilts lean to one side for this seed

    @classmethod
    def from_seed(cls, seed: int) -> "Traits":
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
        rh = float(rng.uniform(0.25, 0.85))
        return cls(
            right_handed=rh,
            amp_scale=float(rng.uniform(0.8, 1.2)),
            interval_scale=float(rng.uniform(0.85, 1.25)),
            space_scale=(float(rng.uniform(0.6, 1.1)), float(rng.uniform(0.6, 1.1))),
            drift_freq_hz=rng.uniform(0.08, 0.35, size=4),
            drift_phase=rng.uniform(0.0, 2 * np.pi, size=4),
            breath_phase=float(rng.uniform(0, 2 * np.pi)),
            sway_freq_hz=float(rng.uniform(0.05, 0.12)),
            sway_phase=float(rng.uniform(0, 2 * np.pi)),
            nod_sign_bias=float(rng.uniform(-0.6, 0.6)),
        )
