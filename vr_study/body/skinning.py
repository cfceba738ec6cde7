"""SMPL-X linear blend skinning in numpy: the same math as ``smplx.lbs``, arranged for speed.

Pure functions. Rotations are axis-angle in radians, positions in metres. Shapes: T frames,
J = 55 joints, V vertices.
"""
from __future__ import annotations

import numpy as np

from vr_study.rotations import axis_angle_to_matrix


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


def forward_kinematics(full_pose: np.ndarray, rest_joints: np.ndarray, parents: np.ndarray,
                       transl: np.ndarray | None = None) -> np.ndarray:
    """Joint positions (T, J, 3) in metres: the skeleton posed by ``full_pose`` (T, J, 3)
    parent-relative axis-angle in radians, from rest joint positions ``rest_joints`` (J, 3)
    metres, ``parents`` (J,) (-1 for the root) and an optional root translation ``transl``
    (T, 3) metres. Joints only, no skinning (:func:`rigid_transforms` does the work)."""
    pose = np.asarray(full_pose, np.float64)
    parents = np.asarray(parents)
    posed, _ = rigid_transforms(axis_angle_to_matrix(pose), np.asarray(rest_joints, np.float64), parents,
                                tree_levels(parents))
    if transl is not None:
        posed += np.asarray(transl, np.float64).reshape(-1, 1, 3)
    return posed


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
