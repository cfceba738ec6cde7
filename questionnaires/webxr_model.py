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
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Skin colour (linear RGB) of models without vertex colours, as in the XR renderer.
SKIN_RGB = (0.80, 0.62, 0.52)


@dataclass(frozen=True)
class WebModel:
    """The two files the page loads: ``meta`` (JSON-able dict) and ``blob`` (bytes)."""

    meta: dict[str, Any]
    blob: bytes

    def meta_json(self) -> bytes:
        return json.dumps(self.meta, separators=(",", ":")).encode("utf-8")


def web_model(model: Any, betas: np.ndarray | None = None) -> WebModel:
    """Pack ``model`` (a :class:`vr_study.body.BodyModel`) shaped by ``betas`` for the page."""
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
    return WebModel(meta, b"".join(parts))
