"""Human joint limits for SMPL-X, as bounds on axis-angle components (radians).

Bounds are per joint and per component of the parent-relative axis-angle vector in
SMPL-X's rest frame (T-pose, y up, the body facing +z, the person's left towards +x).
They are deliberately generous: they stop impossible poses (knees or elbows bending
backwards, heads turned past the shoulders, fingers bent back) rather than describe a
particular person. The same table is used as a soft penalty while fitting and as a hard
clamp on the result.
"""
from __future__ import annotations

import numpy as np

_BIG = np.pi

#: (55,3) lower and upper bounds in radians for each SMPL-X joint (0 = pelvis, unbounded).
LOWER_RAD = np.full((55, 3), -_BIG, np.float32)
UPPER_RAD = np.full((55, 3), _BIG, np.float32)


def _set(joint: int, lo: tuple[float, float, float], hi: tuple[float, float, float]) -> None:
    LOWER_RAD[joint] = lo
    UPPER_RAD[joint] = hi


# legs: hips flex forward with negative x; left hip abducts with positive z
_set(1, (-2.3, -0.9, -0.5), (0.7, 0.9, 1.3))
_set(2, (-2.3, -0.9, -1.3), (0.7, 0.9, 0.5))
for _j in (4, 5):  # knees bend backwards only (positive x)
    _set(_j, (-0.05, -0.3, -0.3), (2.7, 0.3, 0.3))
for _j in (7, 8):  # ankles
    _set(_j, (-0.9, -0.6, -0.6), (0.9, 0.6, 0.6))
for _j in (10, 11):  # feet
    _set(_j, (-0.5, -0.5, -0.5), (0.5, 0.5, 0.5))
for _j in (3, 6, 9):  # spine: forward bend is positive x
    _set(_j, (-0.5, -0.6, -0.5), (0.9, 0.6, 0.5))
_set(12, (-0.6, -0.9, -0.6), (0.9, 0.9, 0.6))   # neck
_set(15, (-0.6, -0.9, -0.6), (0.9, 0.9, 0.6))   # head
for _j in (13, 14):  # collars
    _set(_j, (-0.4, -0.5, -0.6), (0.4, 0.5, 0.6))
# shoulders: the left arm lowers with negative z and swings forward with negative y
_set(16, (-1.6, -2.2, -1.8), (1.6, 1.0, 1.4))
_set(17, (-1.6, -1.0, -1.4), (1.6, 2.2, 1.8))
# elbows bend forward only: left with negative y, right with positive y
_set(18, (-1.2, -2.8, -0.7), (1.2, 0.05, 0.7))
_set(19, (-1.2, -0.05, -0.7), (1.2, 2.8, 0.7))
for _j in (20, 21):  # wrists
    _set(_j, (-1.4, -1.2, -1.4), (1.4, 1.2, 1.4))
_set(22, (-0.1, -0.2, -0.2), (0.7, 0.2, 0.2))   # jaw opens with positive x
for _j in (23, 24):  # eyes
    _set(_j, (-0.5, -0.6, -0.3), (0.5, 0.6, 0.3))
# fingers (index, middle, pinky, ring: 3 joints each) curl towards the palm: left hand with
# negative z, right hand with positive z; thumbs (last 3 of each hand) are looser
for _base, _sign in ((25, -1.0), (40, 1.0)):
    for _k in range(12):
        lo_z, hi_z = (-2.0, 0.4) if _sign < 0 else (-0.4, 2.0)
        _set(_base + _k, (-0.5, -0.6, lo_z), (0.5, 0.6, hi_z))
    for _k in range(12, 15):
        _set(_base + _k, (-1.3, -1.3, -1.3), (1.3, 1.3, 1.3))
del _j, _base, _sign, _k


def clamp_pose(full_pose: np.ndarray) -> np.ndarray:
    """(..., 55, 3) axis-angle radians clipped into the limits (returns a new array)."""
    return np.clip(full_pose, LOWER_RAD, UPPER_RAD).astype(np.float32)


def within_limits(full_pose: np.ndarray, tol_rad: float = 1e-4) -> np.ndarray:
    """(..., 55) bool: whether each joint's rotation lies inside its bounds."""
    ok = (full_pose >= LOWER_RAD - tol_rad) & (full_pose <= UPPER_RAD + tol_rad)
    return ok.all(axis=-1)
