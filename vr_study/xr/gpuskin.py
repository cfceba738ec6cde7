"""GPU skinning for the XR renderer: what is uploaded once per avatar and computed per frame.

The vertex shader in :mod:`vr_study.xr.scene` does expression blend shapes and linear blend
skinning (LBS) of positions and normals; the CPU only runs forward kinematics (55 joint
transforms) and passes the expression coefficients. This module holds that split in numpy:

* :func:`build_rig` (once per body model and betas): the shaped rest template, its normals,
  the expression basis (only the vertices it moves, only the model's coefficients), the
  skinning weights, and the rest joints.
* :func:`joint_transforms` (per frame): the (55, 4, 4) skinning transforms, i.e. SMPL-X's
  ``batch_rigid_transform`` via :mod:`vr_study.body.skinning`, with the clip's translation
  and the lift that puts the feet on the floor folded in.
* :func:`skin_reference` does in numpy exactly what the shader does (tests compare it with
  :meth:`vr_study.body.BodyModel.pose_frame`).

Weights: ``"top4"`` keeps each vertex's 4 largest weights, renormalised to sum 1 (vertex
attributes); it is used only if, over a fixed set of test poses, it moves no vertex more
than ``TOP4_TOLERANCE_M`` from full 55-joint LBS. Otherwise ``"list"``: every non-zero
weight, as a per-vertex (offset, count) into a list of (joint, weight) pairs in a texture
buffer (exact). Pose-corrective blend shapes (``posedirs``, real SMPL-X files) are done on
the GPU too: per frame the CPU computes SMPL-X's 486-number pose feature (each of joints
1-54's rotation matrix minus the identity, :func:`pose_feature`), the shader adds
``posedirs . feature`` to every vertex the correctives move, after the expression offsets and
before skinning (SMPL-X's ``lbs`` order). The basis is stored as :data:`POSE_GROUPS` groups
of 4 features per vertex and coordinate (``pose_basis`` (R, 3, 122, 4)), so the shader reads
it with 366 RGBA texel fetches and dot products per moved vertex. Normals are the rest
normals skinned (the correctives, millimetres, do not re-shade).

Units: metres, radians (axis-angle). V vertices, E expression coefficients, 55 joints.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vr_study.body.skinning import rigid_transforms, tree_levels
from vr_study.rotations import axis_angle_to_matrix

NUM_JOINTS = 55
#: The largest number of expression coefficients the shader's uniform block holds.
MAX_EXPRESSION = 100
#: SMPL-X's pose feature: 54 joints (all but the pelvis) x a 3x3 rotation minus identity.
NUM_POSE_FEATURES = 486
#: Groups of 4 pose features (486 padded to 488) in the shader's uniform block.
POSE_GROUPS = (NUM_POSE_FEATURES + 3) // 4
#: Largest vertex error (m) vs full LBS at which the top-4 weight compression is accepted.
TOP4_TOLERANCE_M = 1e-4
SKINNING_MODES = ("auto", "gpu", "cpu")


@dataclass
class SkinRig:
    """What the GPU needs of one body model + betas, uploaded once per avatar.

    rest_vertices (V, 3) float32 m: shaped template (betas applied, expression zero).
    rest_normals (V, 3) float32: unit vertex normals of the rest template.
    faces (F, 3) uint32.
    weight_mode: "top4" or "list".
    joint_index (V, 4) int32 / joint_weight (V, 4) float32: top-4 mode.
    weight_offset (V,) int32, weight_count (V,) int32, weight_pairs (N, 2) float32 (joint,
    weight): list mode (also filled in top-4 mode, unused there).
    expr_row (V,) int32: row of a vertex in ``expr_basis`` or -1 (not moved by expressions).
    expr_basis (R, E, 3) float32 m per unit coefficient.
    pose_row (V,) int32: row of a vertex in ``pose_basis`` or -1 (no pose corrective).
    pose_basis (P, 3, POSE_GROUPS, 4) float32 m per unit pose feature (P = 0: none).
    joints (55, 3) float64 m rest joints; joints_expr (55, 3, E) their shift per coefficient.
    parents (55,) int64; ground_offset_m: lift that puts the rest pose's feet at y = 0.
    top4_error_m: largest vertex distance (m) top-4 LBS vs full LBS over the test poses.
    colors (V, 3) linear RGB: the body model's vertex colours (None: one albedo).
    """

    rest_vertices: np.ndarray
    rest_normals: np.ndarray
    faces: np.ndarray
    weight_mode: str
    joint_index: np.ndarray
    joint_weight: np.ndarray
    weight_offset: np.ndarray
    weight_count: np.ndarray
    weight_pairs: np.ndarray
    expr_row: np.ndarray
    expr_basis: np.ndarray
    pose_row: np.ndarray
    pose_basis: np.ndarray
    joints: np.ndarray
    joints_expr: np.ndarray
    parents: np.ndarray
    ground_offset_m: float
    top4_error_m: float
    levels: list
    colors: np.ndarray | None = None    # (V, 3) float32 linear RGB vertex colours, if the model has them
    uvs: np.ndarray | None = None       # (V, 2) float32 texture coordinates (textured rigs)
    texture: np.ndarray | None = None   # (H, W, 3) uint8 sRGB base-colour image (textured rigs)

    @property
    def num_vertices(self) -> int:
        return int(self.rest_vertices.shape[0])

    @property
    def num_expression(self) -> int:
        return int(self.expr_basis.shape[1])

    @property
    def has_pose_correctives(self) -> bool:
        return bool(self.pose_basis.shape[0])


def gpu_skinning_supported(model: Any) -> tuple[bool, str]:
    """(whether ``model`` can be skinned by the shader, why not).

    Needs an SMPL-X :class:`~vr_study.body.BodyModel` (not the proxy figure) with at most
    :data:`MAX_EXPRESSION` coefficients; pose correctives (``posedirs``) are fine.
    """
    for attr in ("weights", "parents", "exprdirs", "shaped"):
        if not hasattr(model, attr):
            return False, f"{type(model).__name__} is not an SMPL-X body model"
    posedirs = getattr(model, "posedirs", None)
    if posedirs is not None and np.shape(posedirs)[0] != NUM_POSE_FEATURES:
        return False, f"the body model's posedirs have {np.shape(posedirs)[0]} pose features, not {NUM_POSE_FEATURES}"
    if model.num_expression > MAX_EXPRESSION:
        return False, f"the body model has {model.num_expression} expression coefficients (> {MAX_EXPRESSION})"
    return True, ""


def resolve_skinning(mode: str, model: Any) -> tuple[str, str]:
    """('gpu' or 'cpu', reason) for ``mode`` in :data:`SKINNING_MODES`.

    'auto' picks the GPU when :func:`gpu_skinning_supported`; 'gpu' raises ValueError if not.
    """
    if mode not in SKINNING_MODES:
        raise ValueError(f"skinning must be one of {SKINNING_MODES}, not {mode!r}")
    if mode == "cpu":
        return "cpu", "asked for"
    ok, why = gpu_skinning_supported(model)
    if ok:
        return "gpu", ""
    if mode == "gpu":
        raise ValueError(f"GPU skinning is not possible: {why}")
    return "cpu", why


def sample_poses(count: int = 8, seed: int = 0) -> np.ndarray:
    """(count, 55, 3) radians: the rest pose and seeded random poses (0.4 rad s.d. per axis)."""
    rng = np.random.default_rng(seed)
    poses = rng.normal(0.0, 0.4, size=(count, NUM_JOINTS, 3))
    poses[0] = 0.0
    return poses


def _top_k(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.argsort(-weights, axis=1, kind="stable")[:, :k].astype(np.int32)
    w = np.take_along_axis(weights, idx, axis=1).astype(np.float64)
    w /= np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    return idx, w.astype(np.float32)


def _lbs(transforms: np.ndarray, points: np.ndarray, joint_index: np.ndarray, joint_weight: np.ndarray
         ) -> np.ndarray:
    """Points (V, 3) skinned by (55, 4, 4) transforms with K weights per vertex."""
    m = np.einsum("vk,vkab->vab", joint_weight, transforms[joint_index][:, :, :3, :])  # (V, 3, 4)
    return np.einsum("vab,vb->va", m[:, :, :3], points) + m[:, :, 3]


def build_rig(model: Any, betas: np.ndarray | None = None, weight_mode: str = "auto",
              tolerance_m: float = TOP4_TOLERANCE_M) -> SkinRig:
    """The :class:`SkinRig` of ``model`` (a BodyModel) shaped by ``betas`` (None: zeros).

    ``weight_mode``: "auto" (top-4 when its error over :func:`sample_poses` is at most
    ``tolerance_m`` metres, else the exact list), "top4" or "list".
    """
    if weight_mode not in ("auto", "top4", "list"):
        raise ValueError(f"weight_mode must be auto, top4 or list, not {weight_mode!r}")
    from vr_study.render.normals import VertexNormals

    sh = model.shaped(betas)
    v = np.ascontiguousarray(sh.v_shaped, np.float32)
    faces = np.ascontiguousarray(model.faces, np.uint32)
    normals = VertexNormals(faces, len(v))(v)
    W = np.asarray(model.weights, np.float32)
    parents = np.asarray(model.parents, np.int64)
    levels = tree_levels(parents)
    # every non-zero weight, per vertex in a contiguous run of (joint, weight) pairs
    rows, cols = np.nonzero(W)
    counts = np.bincount(rows, minlength=len(W)).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
    pairs = np.stack([cols.astype(np.float32), W[rows, cols]], axis=1).astype(np.float32)
    idx4, w4 = _top_k(W, 4)
    pose_row, pose_basis = _pose_basis(getattr(model, "posedirs", None), len(v))
    # top-4 error vs full LBS over the test poses (the body model's own pose_frame)
    err = 0.0
    for pose in sample_poses():
        rot = axis_angle_to_matrix(pose[None])
        _, A = rigid_transforms(rot, sh.joints[None], parents, levels)
        T = np.zeros((NUM_JOINTS, 4, 4), np.float64)
        T[:, :3, :] = A[0]
        T[:, 3, 3] = 1.0
        full = model.pose_frame(pose, None, None, betas)
        rest = v.astype(np.float64)
        if len(pose_basis):  # the correctives come before skinning, in both
            rest = rest + _correctives(pose_row, pose_basis, pose_feature(pose))
        err = max(err, float(np.max(np.linalg.norm(_lbs(T, rest, idx4, w4) - full, axis=1))))
    if weight_mode == "auto":
        weight_mode = "top4" if err <= tolerance_m else "list"
    exprdirs = np.asarray(model.exprdirs, np.float32)  # (V, 3, E)
    moved = np.nonzero(np.any(exprdirs != 0, axis=(1, 2)))[0]
    expr_row = np.full(len(v), -1, np.int32)
    expr_row[moved] = np.arange(len(moved), dtype=np.int32)
    basis = np.ascontiguousarray(exprdirs[moved].transpose(0, 2, 1), np.float32)  # (R, E, 3)
    colors = getattr(model, "vertex_colors", None)
    colors = None if colors is None else np.asarray(colors, np.float32)
    ground = float(-np.min(v[:, 1]))
    uvs = image = None
    tex = getattr(model, "texture", None)
    if tex is not None:
        # split at the UV seams: each split vertex carries its original vertex's attributes,
        # and the rows it reads in the expression, pose and weight-list buffers are the original's
        g = np.asarray(tex.split.vertex, np.int64)
        v, normals, idx4, w4 = v[g], normals[g], idx4[g], w4[g]
        offsets, counts, expr_row, pose_row = offsets[g], counts[g], expr_row[g], pose_row[g]
        faces = np.ascontiguousarray(tex.split.faces, np.uint32)
        uvs, image, colors = np.asarray(tex.split.uv, np.float32), tex.image, None
    from vr_study.body.mouth import PLAIN_SKIN_RGB, mouth_for
    mouth = mouth_for(model, betas)
    if mouth is not None:
        # teeth, tongue and cavity: extra vertices skinned to one joint with weight 1, no blend shapes
        m = mouth.num_vertices
        n_body = len(v)
        from vr_study.render.normals import VertexNormals as _VN
        mouth_n = _VN(mouth.faces, m)(mouth.vertices)
        j = mouth.joint.astype(np.int32)
        v = np.concatenate([v, mouth.vertices]).astype(np.float32)
        normals = np.concatenate([normals, mouth_n]).astype(np.float32)
        idx4 = np.concatenate([idx4, np.stack([j, j, j, j], 1)]).astype(np.int32)
        w4 = np.concatenate([w4, np.tile(np.array([1, 0, 0, 0], np.float32), (m, 1))])
        offsets = np.concatenate([offsets, len(pairs) + np.arange(m, dtype=np.int32)]).astype(np.int32)
        counts = np.concatenate([counts, np.ones(m, np.int32)])
        pairs = np.concatenate([pairs, np.stack([j.astype(np.float32), np.ones(m, np.float32)], 1)])
        expr_row = np.concatenate([expr_row, np.full(m, -1, np.int32)])
        pose_row = np.concatenate([pose_row, np.full(m, -1, np.int32)])
        faces = np.concatenate([faces, mouth.faces + n_body]).astype(np.uint32)
        if colors is None:
            colors = np.tile(np.asarray((1.0,) * 3 if tex is not None else PLAIN_SKIN_RGB, np.float32), (n_body, 1))
        colors = np.concatenate([colors, mouth.colors]).astype(np.float32)
        if uvs is not None:  # u < 0: not textured
            uvs = np.concatenate([uvs, np.full((m, 2), -1.0, np.float32)])
    return SkinRig(rest_vertices=v, rest_normals=normals, faces=faces, weight_mode=weight_mode,
                   joint_index=idx4, joint_weight=w4, weight_offset=offsets, weight_count=counts,
                   weight_pairs=pairs, expr_row=expr_row, expr_basis=basis,
                   pose_row=pose_row, pose_basis=pose_basis,
                   joints=np.asarray(sh.joints, np.float64), joints_expr=np.asarray(sh.joints_expr, np.float64),
                   parents=parents, ground_offset_m=ground, top4_error_m=err, levels=levels,
                   colors=colors, uvs=uvs, texture=image)


def _pose_basis(posedirs: np.ndarray | None, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """(pose_row (V,) int32, pose_basis (P, 3, POSE_GROUPS, 4) float32) from SMPL-X posedirs.

    ``posedirs``: (486, 3V) as :class:`~vr_study.body.BodyModel` holds it (None: no correctives).
    Only vertices with a non-zero corrective get a row.
    """
    row = np.full(num_vertices, -1, np.int32)
    if posedirs is None:
        return row, np.zeros((0, 3, POSE_GROUPS, 4), np.float32)
    pd = np.asarray(posedirs, np.float32).reshape(NUM_POSE_FEATURES, num_vertices, 3)
    moved = np.nonzero(np.any(pd != 0, axis=(0, 2)))[0]
    row[moved] = np.arange(len(moved), dtype=np.int32)
    padded = np.zeros((len(moved), 3, POSE_GROUPS * 4), np.float32)
    padded[:, :, :NUM_POSE_FEATURES] = pd[:, moved].transpose(1, 2, 0)
    return row, np.ascontiguousarray(padded.reshape(len(moved), 3, POSE_GROUPS, 4))


def _correctives(pose_row: np.ndarray, pose_basis: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(V, 3) float32 pose-corrective offsets (m) for ``features`` (POSE_GROUPS * 4,)."""
    out = np.zeros((len(pose_row), 3), np.float32)
    rows = pose_row >= 0
    f = np.asarray(features, np.float32).reshape(POSE_GROUPS, 4)
    out[rows] = np.einsum("rcgk,gk->rc", pose_basis, f)[pose_row[rows]]
    return out


def pose_feature(full_pose: np.ndarray) -> np.ndarray:
    """(POSE_GROUPS * 4,) float32: SMPL-X's pose feature (R_j - I for joints 1-54, row-major,
    486 numbers) zero-padded to the shader's 488. full_pose (55, 3) axis-angle radians."""
    rot = axis_angle_to_matrix(np.asarray(full_pose, np.float64).reshape(1, NUM_JOINTS, 3))[0]
    out = np.zeros(POSE_GROUPS * 4, np.float32)
    out[:NUM_POSE_FEATURES] = (rot[1:] - np.eye(3)).reshape(-1)
    return out


def fit_expression(rig: SkinRig, expression: np.ndarray | None) -> np.ndarray:
    """(E,) float32: ``expression`` padded with zeros or truncated to the rig's E."""
    e = np.zeros(rig.num_expression, np.float32)
    if expression is not None:
        src = np.asarray(expression, np.float32).reshape(-1)[: rig.num_expression]
        e[: len(src)] = src
    return e


def joint_transforms(rig: SkinRig, full_pose: np.ndarray, transl: np.ndarray | None = None,
                     expression: np.ndarray | None = None) -> np.ndarray:
    """(55, 4, 4) float32 skinning transforms (rest-pose point -> posed point, metres).

    full_pose (55, 3) axis-angle radians (SMPL-X order, flat-hand convention); transl (3,)
    metres; expression (E',) coefficients (they move the jaw and eye joints slightly).
    The rig's ground offset is added to the translation (feet on the floor).
    """
    e = fit_expression(rig, expression).astype(np.float64)
    J = rig.joints + rig.joints_expr @ e if rig.num_expression else rig.joints
    rot = axis_angle_to_matrix(np.asarray(full_pose, np.float64).reshape(1, NUM_JOINTS, 3))
    _, A = rigid_transforms(rot, J[None], rig.parents, rig.levels)
    out = np.zeros((NUM_JOINTS, 4, 4), np.float32)
    out[:, :3, :] = A[0]
    out[:, 3, 3] = 1.0
    out[:, 1, 3] += rig.ground_offset_m
    if transl is not None:
        out[:, :3, 3] += np.asarray(transl, np.float32).reshape(3)
    return out


def skin_reference(rig: SkinRig, transforms: np.ndarray, expression: np.ndarray | None = None,
                   pose_features: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What the vertex shader computes, in numpy: posed vertices and normals (V, 3) float32.

    Expression offsets and then pose correctives (``pose_features`` from
    :func:`pose_feature`; None: none) are added to the rest template, then each vertex is moved by the
    weighted sum of its joints' transforms (top-4 or the full list); normals by that
    matrix's 3x3 part (then normalised; the fragment shader normalises too).
    """
    e = fit_expression(rig, expression)
    p = rig.rest_vertices.copy()
    rows = rig.expr_row >= 0
    if rig.num_expression and np.any(e):
        p[rows] += np.einsum("rec,e->rc", rig.expr_basis, e)[rig.expr_row[rows]]
    if rig.has_pose_correctives and pose_features is not None:
        p += _correctives(rig.pose_row, rig.pose_basis, pose_features)
    T = np.asarray(transforms, np.float32)
    if rig.weight_mode == "top4":
        idx, w = rig.joint_index, rig.joint_weight
    else:  # dense (V, 55) from the list: the same sum
        V = rig.num_vertices
        count = rig.weight_count.astype(np.int64)
        vert = np.repeat(np.arange(V), count)
        # each vertex's run of pairs starts at its offset (split vertices share their original's run)
        start = np.cumsum(count) - count
        pair = np.repeat(rig.weight_offset.astype(np.int64) - start, count) + np.arange(count.sum())
        dense = np.zeros((V, NUM_JOINTS), np.float32)
        dense[vert, rig.weight_pairs[pair, 0].astype(np.int64)] = rig.weight_pairs[pair, 1]
        idx = np.broadcast_to(np.arange(NUM_JOINTS, dtype=np.int32), (V, NUM_JOINTS))
        w = dense
    m = np.einsum("vk,vkab->vab", w, T[idx][:, :, :3, :])
    verts = np.einsum("vab,vb->va", m[:, :, :3], p) + m[:, :, 3]
    n = np.einsum("vab,vb->va", m[:, :, :3], rig.rest_normals)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return verts.astype(np.float32), n.astype(np.float32)


@dataclass
class SkinnedAvatar:
    """One GPU-skinned avatar: its rig, where it stands, and the clip's first translation.

    ``transl`` is taken relative to the first one this avatar saw (as
    :class:`~vr_study.xr.avatar.AvatarMesh` does), so a clip's global offset does not move
    the avatar away from its place.
    """

    rig: SkinRig
    placement: Any
    _transl_ref: np.ndarray | None = None

    @property
    def faces(self) -> np.ndarray:
        return self.rig.faces

    @property
    def num_vertices(self) -> int:
        return self.rig.num_vertices

    def pose(self, full_pose: np.ndarray, transl: np.ndarray, expression: np.ndarray | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(55, 4, 4) joint transforms, (E,) expression coefficients and the pose feature
        (:func:`pose_feature`; None when the rig has no pose correctives) for the shader."""
        transl = np.asarray(transl, np.float32)
        if self._transl_ref is None:
            self._transl_ref = transl.copy()
        return (joint_transforms(self.rig, full_pose, transl - self._transl_ref, expression),
                fit_expression(self.rig, expression),
                pose_feature(full_pose) if self.rig.has_pose_correctives else None)
