"""Teeth, tongue and mouth cavity: a small separate mesh moved rigidly with the head and jaw.

SMPL-X (and the project's default body, which must keep SMPL-X's 10475 vertices) has no
teeth and no mouth interior: an open mouth shows a hole or stretched lip skin. This module
builds, from a body model's face landmarks (SMPL-X's 51 FLAME-order landmarks: 31-42 the
outer lip contour, 43-50 the inner one), an extra mesh drawn with the body:

* upper teeth, an arch of 16 columns behind the upper lip, rigid to the head joint (15);
* lower teeth, the same behind the lower lip, and a tongue, rigid to the jaw joint (22);
* a dark cavity, the back half of an ellipsoid seen from inside, its upper half on the head
  and its lower half on the jaw (it stretches as the jaw opens).

Posing (:func:`pose_mouth`) applies each vertex's joint's skinning transform (SMPL-X's
forward kinematics, the jaw and head rotations of the clip), so the parts follow the lips
that the same joints move. Units: metres, radians; N vertices of the mouth mesh.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vr_study.body.skinning import rigid_transforms
from vr_study.rotations import axis_angle_to_matrix

HEAD_JOINT, JAW_JOINT = 15, 22
#: Skin colour of a body without vertex colours (as :data:`vr_study.xr.scene.SKIN_RGB`), used
#: when the mouth parts' colours are appended to one colour per vertex.
PLAIN_SKIN_RGB = (0.80, 0.62, 0.52)
#: Linear RGB colours of the mouth parts.
TEETH_RGB = (0.80, 0.77, 0.68)
TONGUE_RGB = (0.45, 0.14, 0.14)
CAVITY_RGB = (0.035, 0.010, 0.010)
#: Teeth: how far behind the front of the lips (m), height of a row (m), columns per arch.
TEETH_BEHIND_LIPS_M = 0.018
TEETH_HEIGHT_M = 0.009
TEETH_COLUMNS = 16


@dataclass
class MouthParts:
    """The mouth mesh in the body's rest frame (metres): ``vertices`` (N, 3) float32,
    ``faces`` (M, 3) uint32, ``colors`` (N, 3) linear RGB, ``joint`` (N,) int64 (15 head,
    22 jaw): the joint each vertex moves with rigidly."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    joint: np.ndarray

    @property
    def num_vertices(self) -> int:
        return int(len(self.vertices))


def _ribbon(x: np.ndarray, z: np.ndarray, y_top: float, y_bottom: float) -> tuple[np.ndarray, np.ndarray]:
    """A two-sided strip along the curve (x, z) from ``y_top`` down to ``y_bottom``: (vertices, faces)."""
    n = len(x)
    top = np.stack([x, np.full(n, y_top), z], 1)
    bottom = np.stack([x, np.full(n, y_bottom), z], 1)
    v = np.concatenate([top, bottom])
    f = []
    for i in range(n - 1):
        a, b, c, d = i, i + 1, n + i, n + i + 1
        f += [(a, c, b), (b, c, d)]   # front (facing +Z, outwards)
    return _two_sided(v, np.array(f, np.int64))


def _two_sided(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The surface and a copy of it facing the other way (own vertices: own normals)."""
    return np.concatenate([v, v]), np.concatenate([f, f[:, ::-1] + len(v)])


def _ellipsoid_back(center: np.ndarray, radii: np.ndarray, rings: int = 10, segments: int = 20
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The back half (z <= centre) of an ellipsoid, faces turned inwards (seen from the front)."""
    th = np.linspace(0.1, np.pi - 0.1, rings + 1)     # polar, from near +Y to near -Y (no degenerate poles)
    ph = np.linspace(np.pi, 2 * np.pi, segments + 1)  # from -X round the back (-Z) to +X
    T, P = np.meshgrid(th, ph, indexing="ij")
    unit = np.stack([np.sin(T) * np.cos(P), np.cos(T), np.sin(T) * np.sin(P)], -1).reshape(-1, 3)
    v = center + unit * radii
    f = []
    w = segments + 1
    for i in range(rings):
        for j in range(segments):
            a, b, c, d = i * w + j, i * w + j + 1, (i + 1) * w + j, (i + 1) * w + j + 1
            f += [(a, b, c), (b, d, c)]
    return _two_sided(v, np.array(f, np.int64))


def mouth_for(model: Any, betas: np.ndarray | None = None) -> MouthParts | None:
    """:func:`build_mouth` for an SMPL-X body model with the 51 face landmarks, else None."""
    if not hasattr(model, "landmarks") or len(getattr(model, "lmk_faces_idx", ())) < 51:
        return None
    return build_mouth(model, betas)


def build_mouth(model: Any, betas: np.ndarray | None = None) -> MouthParts:
    """The mouth mesh of ``model`` (a :class:`~vr_study.body.BodyModel`) shaped by ``betas``."""
    v = model.shaped(betas).v_shaped
    lm = model.landmarks(np.asarray(v, np.float64)[None])[0]
    outer, inner = lm[31:43], lm[43:51]
    corners = outer[[0, 6]]
    center = inner.mean(axis=0)
    half_w = 0.5 * float(np.linalg.norm(corners[1] - corners[0]))
    front_z = float(outer[:, 2].max())
    parting_y = float(inner[:, 1].mean())
    # the arch: across 80 % of the mouth's width, curving back like the lips (from the landmarks:
    # corner depth behind the front)
    corner_back = max(0.006, front_z - float(corners[:, 2].mean()))
    s = np.linspace(-1.0, 1.0, TEETH_COLUMNS + 1)
    x = center[0] + 0.62 * half_w * s
    arch_back = (corner_back + 0.004) * s ** 2
    parts_v, parts_f, parts_c, parts_j = [], [], [], []

    def add(vv, ff, rgb, joint):
        parts_f.append(ff + sum(len(p) for p in parts_v))
        parts_v.append(vv)
        parts_c.append(np.tile(np.asarray(rgb, np.float32), (len(vv), 1)))
        parts_j.append(np.asarray(joint, np.int64) * np.ones(len(vv), np.int64))

    z_upper = front_z - TEETH_BEHIND_LIPS_M - arch_back
    add(*_ribbon(x, z_upper, parting_y + 0.0025 + TEETH_HEIGHT_M, parting_y + 0.0025), TEETH_RGB, HEAD_JOINT)
    z_lower = z_upper - 0.0015
    add(*_ribbon(x * 0.95, z_lower, parting_y - 0.0025, parting_y - 0.0025 - TEETH_HEIGHT_M * 0.8),
        TEETH_RGB, JAW_JOINT)
    # tongue: a flat ellipse-shaped plate behind the lower teeth
    ring = np.linspace(0, 2 * np.pi, 25)[:-1]
    tc = np.array([center[0], parting_y - TEETH_HEIGHT_M * 1.1, z_lower.min() - 0.014])
    rim = tc + np.stack([0.75 * half_w * np.cos(ring), np.zeros_like(ring), 0.016 * np.sin(ring)], 1)
    tv = np.concatenate([tc[None], rim])
    tf = np.array([(0, 1 + (k + 1) % len(ring), 1 + k) for k in range(len(ring))], np.int64)
    tv, tf = _two_sided(tv, tf)
    add(tv, tf, TONGUE_RGB, JAW_JOINT)
    # cavity behind everything: upper half on the head, lower half on the jaw
    cav_c = np.array([center[0], parting_y - 0.004, front_z - 0.015])
    cv, cf = _ellipsoid_back(cav_c, np.array([1.05 * half_w, 0.024, 0.030]))
    add(cv, cf, CAVITY_RGB, np.where(cv[:, 1] >= parting_y, HEAD_JOINT, JAW_JOINT))
    return MouthParts(np.concatenate(parts_v).astype(np.float32), np.concatenate(parts_f).astype(np.uint32),
                      np.concatenate(parts_c), np.concatenate(parts_j))


def skinning_transforms(model: Any, full_pose: np.ndarray, transl: np.ndarray | None = None,
                        expression: np.ndarray | None = None, betas: np.ndarray | None = None) -> np.ndarray:
    """(T, 55, 3, 4) float64 rest-point -> posed-point transforms (SMPL-X's forward kinematics,
    as :meth:`~vr_study.body.BodyModel.pose_batch` uses). full_pose (T, 55, 3) radians,
    transl (T, 3) metres, expression (T, E') coefficients (they shift the joints slightly)."""
    pose = np.asarray(full_pose, np.float64).reshape(-1, 55, 3)
    sh = model.shaped(betas)
    J = np.broadcast_to(sh.joints, (len(pose), 55, 3))
    if expression is not None and model.num_expression:
        e = model._fit_expression(np.asarray(expression).reshape(len(pose), -1), len(pose)).astype(np.float64)
        J = J + (e @ sh.joints_expr.reshape(-1, model.num_expression).T).reshape(len(pose), 55, 3)
    _, A = rigid_transforms(axis_angle_to_matrix(pose), J, model.parents, model._levels)
    if transl is not None:
        A = A.copy()
        A[:, :, :, 3] += np.asarray(transl, np.float64).reshape(-1, 1, 3)
    return A


def pose_mouth(parts: MouthParts, transforms: np.ndarray) -> np.ndarray:
    """(T, N, 3) float32 posed mouth vertices from (T, 55, 3, 4) skinning transforms."""
    A = np.asarray(transforms)[:, parts.joint]  # (T, N, 3, 4)
    v = parts.vertices.astype(np.float64)
    return (np.einsum("tnab,nb->tna", A[..., :3], v) + A[..., 3]).astype(np.float32)
