"""The study's avatar body model for the WebXR page: one JSON description plus one binary blob.

The page skins the SMPL-X mesh on its GPU (three.js ``SkinnedMesh``) exactly as the XR
renderer's shader does (:mod:`vr_study.xr.gpuskin`): each vertex's 4 largest skinning
weights (renormalised), expression blend shapes as relative morph targets, joint
transforms from forward kinematics of the 55 joints. What it needs is sent once:

``model.json``: ``vertices`` V, ``faces`` F, ``expression`` E, ``parents`` (55,),
``joints`` (55, 3) rest joints (m), ``joints_expr`` (55, 3, E) their shift per expression
coefficient (m), ``ground_offset_m`` (lift that puts the rest pose's feet at y = 0),
``top4_error_m`` (largest vertex error of the top-4 weights vs full skinning over test
poses) and ``arrays``: name -> {dtype, offset (bytes), shape} into ``model.bin``.

``model.bin`` arrays (little endian): ``positions`` float32 (V, 3) m; ``index`` uint16 or
uint32 (F, 3); ``skin_index`` uint16 (V, 4); ``skin_weight`` float32 (V, 4); ``expr_vertices``
uint32 (R,) the vertices expressions move; ``expr_basis`` float32 (R, E, 3) m per unit
coefficient; ``colors`` uint8 (V, 3) linear RGB x 255 (the model's vertex colours, or the
XR renderer's skin colour).

Pose correctives (only when the body model has ``posedirs``, as a real SMPL-X file does;
the default body has none and its files are unchanged): ``pose_row`` int32 (V,) each
vertex's row in ``pose_basis`` (-1: no corrective) and ``pose_basis`` (P, 3, 122, 4) m per
unit pose feature for the P vertices the correctives move: per vertex and coordinate the 486
numbers of SMPL-X's pose feature (``R_j - I`` of joints 1-54, row-major, the order of
``smplx.lbs.lbs``) padded to 122 groups of 4, as the XR renderer's texture buffer
(:func:`vr_study.xr.gpuskin.build_rig`); float16 when that moves no vertex more than
:data:`HALF_TOLERANCE_M` from float32 over :func:`vr_study.xr.gpuskin.sample_poses`, else
float32 (the page reads it as a data texture, 8 float16 or 4 float32 per texel).
``model.json`` then has ``pose_correctives``: {``rows`` P, ``groups`` 122, ``dtype``,
``error_m`` (largest vertex error of that dtype vs float32 over the test poses), ``bytes``
(both arrays' size)}.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Skin colour (linear RGB) of models without vertex colours, as in the XR renderer.
SKIN_RGB = (0.80, 0.62, 0.52)
#: Largest vertex error (m) at which the pose-corrective basis is sent as float16 (half the bytes).
HALF_TOLERANCE_M = 1e-4


@dataclass(frozen=True)
class WebModel:
    """The two files the page loads: ``meta`` (JSON-able dict) and ``blob`` (bytes)."""

    meta: dict[str, Any]
    blob: bytes

    def meta_json(self) -> bytes:
        return json.dumps(self.meta, separators=(",", ":")).encode("utf-8")

    @functools.cached_property
    def etag(self) -> str:
        """HTTP entity tag of the pair (a real SMPL-X model's blob is tens of MB: a reloading
        page revalidates it instead of fetching it again)."""
        h = hashlib.sha256(self.meta_json())
        h.update(self.blob)
        return f'"{h.hexdigest()[:32]}"'


def web_model(model: Any, betas: np.ndarray | None = None, half_tolerance_m: float = HALF_TOLERANCE_M
              ) -> WebModel:
    """Pack ``model`` (a :class:`vr_study.body.BodyModel`) shaped by ``betas`` for the page.

    The pose-corrective basis goes as float16 when that moves no vertex more than
    ``half_tolerance_m`` (m) over the test poses, else as float32 (0: always float32).
    """
    from vr_study.xr.gpuskin import build_rig

    rig = build_rig(model, betas, weight_mode="top4")
    V = rig.num_vertices
    colors = getattr(model, "vertex_colors", None)
    if colors is None:
        colors = np.broadcast_to(np.asarray(SKIN_RGB, np.float32), (V, 3))
    rows = np.nonzero(rig.expr_row >= 0)[0]
    arrays = {
        "positions": np.asarray(rig.rest_vertices, "<f4"),
        "index": np.asarray(rig.faces, "<u2" if V <= 65535 else "<u4"),
        "skin_index": np.asarray(rig.joint_index, "<u2"),
        "skin_weight": np.asarray(rig.joint_weight, "<f4"),
        "expr_vertices": rows.astype("<u4"),
        "expr_basis": np.asarray(rig.expr_basis[rig.expr_row[rows]], "<f4"),
        "colors": np.clip(np.round(np.asarray(colors, np.float32) * 255.0), 0, 255).astype(np.uint8),
    }
    correctives = None
    if rig.has_pose_correctives:
        half, error_m = pose_basis_half(rig.pose_basis)
        use_half = error_m < half_tolerance_m
        arrays["pose_row"] = np.asarray(rig.pose_row, "<i4")
        arrays["pose_basis"] = half if use_half else np.asarray(rig.pose_basis, "<f4")
        correctives = {"rows": int(rig.pose_basis.shape[0]), "groups": int(rig.pose_basis.shape[2]),
                       "dtype": arrays["pose_basis"].dtype.name, "error_m": error_m if use_half else 0.0,
                       "bytes": int(arrays["pose_basis"].nbytes + arrays["pose_row"].nbytes)}
    parts, table, offset = [], {}, 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        pad = (-offset) % 4                      # typed arrays need aligned offsets
        parts.append(b"\0" * pad)
        offset += pad
        table[name] = {"dtype": a.dtype.name, "offset": offset, "shape": list(a.shape)}
        parts.append(a.tobytes())
        offset += a.nbytes
    meta = {"vertices": V, "faces": int(len(rig.faces)), "expression": rig.num_expression,
            "parents": [int(p) for p in rig.parents], "joints": np.round(rig.joints, 7).tolist(),
            "joints_expr": np.round(rig.joints_expr, 9).tolist(), "ground_offset_m": rig.ground_offset_m,
            "top4_error_m": rig.top4_error_m, "arrays": table}
    if correctives is not None:
        meta["pose_correctives"] = correctives
    return WebModel(meta, b"".join(parts))


def pose_basis_half(pose_basis: np.ndarray) -> tuple[np.ndarray, float]:
    """(``pose_basis`` (P, 3, G, 4) m rounded to little-endian float16, the largest vertex
    error (m) that rounding causes over :func:`vr_study.xr.gpuskin.sample_poses`)."""
    from vr_study.xr.gpuskin import pose_feature, sample_poses

    half = np.ascontiguousarray(pose_basis, "<f2")
    diff = half.astype(np.float32) - np.asarray(pose_basis, np.float32)
    error_m = 0.0
    for pose in sample_poses():
        f = pose_feature(pose).reshape(diff.shape[2], 4)
        error_m = max(error_m, float(np.max(np.linalg.norm(np.einsum("rcgk,gk->rc", diff, f), axis=1))))
    return half, error_m
