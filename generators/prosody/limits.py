"""Human joint limits for generated poses: one table, one clamp.

Limits are per axis-angle component (radians) of SMPL-X's parent-relative joint rotations,
for an upright speaker (the generator never needs more). Axes are SMPL-X's: x points to
the subject's left, y up, z forward; +x on neck/head nods the head down, +z on the left
shoulder raises the left arm. Right-side limits are the left ones mirrored (y, z negated).
Joints not listed (legs, pelvis) are held at zero by the generator.
"""
from __future__ import annotations

import numpy as np

from vr_study.motion import NUM_JOINTS

_JOINT = {
    "spine1": 3, "spine2": 6, "spine3": 9, "neck": 12, "left_collar": 13, "right_collar": 14,
    "head": 15, "left_shoulder": 16, "right_shoulder": 17, "left_elbow": 18, "right_elbow": 19,
    "left_wrist": 20, "right_wrist": 21, "jaw": 22, "left_eye": 23, "right_eye": 24,
}

#: left-side / central joints: name -> ((min x, y, z), (max x, y, z)) in radians
LIMITS_RAD: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "spine1": ((-0.20, -0.25, -0.15), (0.30, 0.25, 0.15)),
    "spine2": ((-0.15, -0.20, -0.12), (0.25, 0.20, 0.12)),
    "spine3": ((-0.15, -0.20, -0.12), (0.25, 0.20, 0.12)),
    "neck": ((-0.40, -0.50, -0.30), (0.45, 0.50, 0.30)),
    "head": ((-0.40, -0.60, -0.35), (0.45, 0.60, 0.35)),
    "left_collar": ((-0.20, -0.30, -0.25), (0.20, 0.30, 0.35)),
    "left_shoulder": ((-1.60, -1.00, -1.65), (0.60, 1.00, 0.60)),
    "left_elbow": ((-0.60, -2.40, -0.40), (0.60, 0.00, 0.40)),
    "left_wrist": ((-0.90, -0.50, -1.00), (0.90, 0.50, 1.00)),
    "jaw": ((0.00, -0.10, -0.05), (0.45, 0.10, 0.05)),
    "left_eye": ((-0.35, -0.50, -0.05), (0.35, 0.50, 0.05)),
}
#: finger joints (every joint of both hands): curl about z, small spread/twist
FINGER_LIMITS_RAD = ((-0.35, -0.35, -1.60), (0.35, 0.35, 1.60))


def limit_table() -> tuple[np.ndarray, np.ndarray]:
    """(55, 3) lower and upper limits in radians; unlisted joints are fixed at 0."""
    lo = np.zeros((NUM_JOINTS, 3), np.float32)
    hi = np.zeros((NUM_JOINTS, 3), np.float32)
    mirror = np.array([1.0, -1.0, -1.0], np.float32)
    for name, (a, b) in LIMITS_RAD.items():
        a, b = np.array(a, np.float32), np.array(b, np.float32)
        lo[_JOINT[name]], hi[_JOINT[name]] = a, b
        if name.startswith("left_"):
            ra, rb = a * mirror, b * mirror
            j = _JOINT["right_" + name[5:]]
            lo[j], hi[j] = np.minimum(ra, rb), np.maximum(ra, rb)
    lo[25:55], hi[25:55] = FINGER_LIMITS_RAD
    return lo, hi


def clamp_pose(full_pose: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> np.ndarray:
    """Clamp (..., 55, 3) axis-angle radians to the table's limits (returns a new array)."""
    if lo is None or hi is None:
        lo, hi = limit_table()
    return np.clip(full_pose, lo, hi)


def within_limits(full_pose: np.ndarray, tol_rad: float = 1e-5) -> bool:
    """True when every component of (..., 55, 3) lies inside the limits."""
    lo, hi = limit_table()
    return bool(np.all(full_pose >= lo - tol_rad) and np.all(full_pose <= hi + tol_rad))
