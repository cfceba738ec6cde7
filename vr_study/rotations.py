"""Rotation math on arrays of axis-angle vectors (radians), vectorised over any leading shape.

Pure functions. Quaternions are (..., 4) in (w, x, y, z) order, unit length.
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-8


def axis_angle_to_quat(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle in radians -> (..., 4) unit quaternion (w, x, y, z)."""
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(half)/angle -> 0.5 as angle -> 0
    scale = np.where(angle > _EPS, np.sin(half) / np.maximum(angle, _EPS), 0.5 - angle**2 / 48.0)
    return np.concatenate([np.cos(half), aa * scale], axis=-1)


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternion (w, x, y, z) -> (..., 3) axis-angle in radians, angle in [0, pi]."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)  # shortest rotation
    w = np.clip(q[..., :1], -1.0, 1.0)
    xyz = q[..., 1:]
    sin_half = np.linalg.norm(xyz, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, w)
    scale = np.where(sin_half > _EPS, angle / np.maximum(sin_half, _EPS), 2.0 / np.maximum(w, _EPS))
    return xyz * scale


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternion (w, x, y, z), normalised here -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    n = np.sum(q * q, axis=-1)
    s = np.where(n > 0, 2.0 / np.where(n > 0, n, 1.0), 0.0)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
            s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
            s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)]
    return np.stack(rows, axis=-1).reshape(q.shape[:-1] + (3, 3))


def quat_slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical linear interpolation between unit quaternions, shortest path.

    ``q0``, ``q1``: (..., 4); ``t``: scalar or broadcastable to (..., 1) in [0, 1].
    """
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if t.ndim < q0.ndim:
        t = t.reshape(t.shape + (1,) * (q0.ndim - t.ndim))
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / np.where(near, 1.0, sin_theta))
    w1 = np.where(near, t, np.sin(t * theta) / np.where(near, 1.0, sin_theta))
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def slerp_axis_angle(aa0: np.ndarray, aa1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Slerp between two arrays of axis-angle rotations (radians); returns axis-angle."""
    return quat_to_axis_angle(quat_slerp(axis_angle_to_quat(aa0), axis_angle_to_quat(aa1), t))


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle in radians -> (..., 3, 3) rotation matrices (Rodrigues)."""
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)[..., None]  # (...,1,1)
    axis = aa / np.maximum(np.linalg.norm(aa, axis=-1, keepdims=True), _EPS)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def matrix_to_axis_angle(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle in radians."""
    from scipy.spatial.transform import Rotation

    m = np.asarray(m, dtype=np.float64)
    flat = m.reshape(-1, 3, 3)
    return Rotation.from_matrix(flat).as_rotvec().reshape(m.shape[:-2] + (3,))
