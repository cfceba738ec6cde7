"""Signed distance primitives and their smooth union: the implicit shape of the default body.

Pure functions on points (N, 3) in metres returning signed distances (N,) in metres
(negative inside). The ellipsoid and tapered-capsule distances are the usual close
bounds, not exact distances; that is all marching cubes and blending need.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Primitive:
    """One solid piece of the body.

    kind: 'ellipsoid' (a = centre, r = radii, rot = 3x3 world-from-local), 'capsule' (a to b,
    radius ra at a and rb at b) or 'box' (a = centre, r = half extents, ra = rounding).
    blend_m: smooth-union radius with what came before (metres). subtract: carve it out.
    bones: the joints whose bones this piece may be skinned to.
    """

    name: str
    kind: str
    a: tuple[float, float, float]
    b: tuple[float, float, float] = (0.0, 0.0, 0.0)
    r: tuple[float, float, float] = (0.0, 0.0, 0.0)
    ra: float = 0.0
    rb: float = 0.0
    rot: tuple[tuple[float, float, float], ...] | None = None
    blend_m: float = 0.02
    subtract: bool = False
    bones: tuple[int, ...] = field(default_factory=tuple)

    def distance(self, p: np.ndarray) -> np.ndarray:
        a = np.asarray(self.a)
        if self.kind == "ellipsoid":
            q = p - a
            if self.rot is not None:
                q = q @ np.asarray(self.rot)
            r = np.asarray(self.r)
            k0 = np.linalg.norm(q / r, axis=-1)
            k1 = np.linalg.norm(q / (r * r), axis=-1)
            return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)
        if self.kind == "capsule":
            b = np.asarray(self.b)
            ba = b - a
            t = np.clip(((p - a) @ ba) / float(ba @ ba), 0.0, 1.0)
            closest = a + t[:, None] * ba
            return np.linalg.norm(p - closest, axis=-1) - (self.ra + t * (self.rb - self.ra))
        if self.kind == "box":
            q = p - a
            if self.rot is not None:
                q = q @ np.asarray(self.rot)
            q = np.abs(q) - (np.asarray(self.r) - self.ra)
            outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
            return outside + np.minimum(q.max(axis=-1), 0.0) - self.ra
        raise ValueError(self.kind)


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum with blend radius k (metres); exact min when k == 0."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


def union_distance(p: np.ndarray, prims: list[Primitive], floor_y: float | None = None) -> np.ndarray:
    """Signed distance (N,) of points p (N, 3) to the blended union of ``prims``, metres."""
    d = np.full(len(p), 1e3)
    for prim in prims:
        di = prim.distance(p)
        if prim.subtract:
            d = -smooth_min(-d, di, prim.blend_m)
        else:
            d = smooth_min(d, di, prim.blend_m)
    if floor_y is not None:  # flat soles: intersect with the half space above the floor
        d = -smooth_min(-d, p[:, 1] - floor_y, 0.004)
    return d
