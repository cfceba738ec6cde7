"""SMPL-X linear blend skinning in numpy: the same math as ``smplx.lbs``, arranged for speed.

Pure functions. Rotations are axis-angle in radians, positions in metres. Shapes: T frames,
J = 55 joints, V vertices.
"""
from __future__ import annotations

import numpy as np


def rodrigues(aa: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from axis-angle vectors (..., 3) in radians."""
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    small = angle < 1e-12
    axis = aa / np.where(small, 1.0, angle)
    c = np.cos(angle)[..., None]
    s = np.sin(angle)[..., None]
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    K = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    eye = np.eye(3)
    return eye + s * K + (1.0 - c) * (K @ K)


def tree_levels(parents: np.ndarray) -> list[np.ndarray]:
    """Joint indices grouped by depth in the tree (root first), for level-wise chaining."""
    depth = np.zeros(len(parents), dtype=np.int64)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    return [np.nonzero(depth == d)[0] for d in range(1, depth.max() + 1)]


def rigid_transforms(rot: np.ndarray, joints: np.ndarray, parents: np.ndarray,
                     levels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """World transforms of every joint, as smplx's ``batch_rigid_transform``.

    rot: (T, J, 3, 3) local rotations; joints: (T, J, 3) or (J, 3) rest joint positions.
    Returns posed joint positions (T, J, 3) and the skinning transforms (T, J, 3, 4) that
    carry a rest-pose point to its posed position.
    """
    T, nj = rot.shape[0], len(parents)
    joints = np.broadcast_to(joints, (T, nj, 3))
    local = np.zeros((nj, T, 4, 4))  # joint-major so that each level is one stacked matmul
    local[..., :3, :3] = rot.transpose(1, 0, 2, 3)
    rel = joints.transpose(1, 0, 2).copy()
    rel[1:] -= joints.transpose(1, 0, 2)[parents[1:]]
    local[..., :3, 3] = rel
    local[..., 3, 3] = 1.0
    world = local.copy()
    for lev in levels:
        world[lev] = world[parents[lev]] @ local[lev]
    world = world.transpose(1, 0, 2, 3)  # (T, J, 4, 4)
    posed = world[..., :3, 3].copy()
    A = world[..., :3, :].copy()
    A[..., 3] -= np.einsum("tjab,tjb->tja", world[..., :3, :3], joints)
    return posed, A


def apply_transforms(A_v: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per-vertex affine transforms applied to points, frames on the last axis.

    A_v: (V, 4, 3, T), column k of each vertex's 3x4 transform per frame (column 3 is the
    translation); v: (V, 3, T) points. Returns (V, 3, T).
    """
    out = A_v[:, 3].copy()
    tmp = np.empty_like(out)
    for k in range(3):
        np.multiply(A_v[:, k], v[:, k:k + 1, :], out=tmp)
        out += tmp
    return out
