"""Pure geometry of pointers and panels: where a panel goes, and where a ray hits it.

Conventions as :mod:`vr_study.xr.viewmath`: STAGE coordinates, metres, Y up, a pose's
forward direction is its -Z axis (OpenXR aim poses and views point down -Z). Panel
coordinates as :mod:`vr_study.xr.panel_source`: ``u`` 0 at the left edge to 1 at the right,
``v`` 0 at the top edge to 1 at the bottom, seen from the front.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vr_study.xr.viewmath import Pose, quat_to_matrix

RAY_LENGTH_M = 2.0
"""How far a pointer ray is drawn when it hits no panel (metres)."""


@dataclass(frozen=True)
class PanelPlacement:
    """A world-locked panel: ``center`` (3,) STAGE metres, turned ``yaw_rad`` about +Y (0: its
    front faces +Z), ``width_m`` x ``height_m``. Its front (the side with the image) faces
    the participant who was at the head pose it was placed for."""

    center: tuple[float, float, float]
    yaw_rad: float
    width_m: float
    height_m: float

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right, up, normal) unit vectors (3,) in STAGE; normal points out of the front."""
        c, s = np.cos(self.yaw_rad), np.sin(self.yaw_rad)
        return np.array([c, 0.0, -s]), np.array([0.0, 1.0, 0.0]), np.array([s, 0.0, c])

    def matrix(self) -> np.ndarray:
        """(4, 4) panel -> STAGE: the unit square's local x right, y up, front facing +z."""
        right, up, normal = self.axes()
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2] = right, up, normal
        m[:3, 3] = self.center
        return m

    def point_at(self, u: float, v: float) -> np.ndarray:
        """The STAGE point (3,) at panel coordinates (u, v)."""
        right, up, _ = self.axes()
        return (np.asarray(self.center) + (u - 0.5) * self.width_m * right
                + (0.5 - v) * self.height_m * up)


def forward_ray(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """(origin (3,), unit direction (3,)) of the pose's -Z axis, in the pose's parent frame."""
    r = quat_to_matrix(pose.orientation)
    d = -r[:, 2]
    return np.asarray(pose.position, float), d / np.linalg.norm(d)


def place_panel(head: Pose, width_m: float, height_m: float, distance_m: float, drop_m: float) -> PanelPlacement:
    """Place a panel ``distance_m`` in front of ``head`` along its horizontal forward
    direction, its centre ``drop_m`` below eye height, facing the head (upright)."""
    _, fwd = forward_ray(head)
    flat = np.array([fwd[0], 0.0, fwd[2]])
    n = np.linalg.norm(flat)
    flat = flat / n if n > 1e-6 else np.array([0.0, 0.0, -1.0])  # looking straight up or down
    center = np.asarray(head.position, float) + distance_m * flat - np.array([0.0, drop_m, 0.0])
    yaw = float(np.arctan2(-flat[0], -flat[2]))  # the panel's front (+z) faces back along flat
    return PanelPlacement(tuple(float(v) for v in center), yaw, float(width_m), float(height_m))


def intersect_panel(origin: np.ndarray, direction: np.ndarray, panel: PanelPlacement
                    ) -> tuple[tuple[float, float], float] | None:
    """Where a ray from ``origin`` (3,) along ``direction`` (3,) hits the panel's front:
    ((u, v), distance in metres along the unit direction), or None (parallel, behind the
    origin, from behind the panel, or outside its edges)."""
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    right, up, normal = panel.axes()
    denom = float(d @ normal)
    if denom >= -1e-9:  # parallel, or reaching the panel from behind
        return None
    c = np.asarray(panel.center, float)
    t = float((c - np.asarray(origin, float)) @ normal) / denom
    if t < 0:
        return None
    rel = np.asarray(origin, float) + t * d - c
    u = float(rel @ right) / panel.width_m + 0.5
    v = 0.5 - float(rel @ up) / panel.height_m
    if not (0.0 <= u <= 1.0 and 0.0 <= v <= 1.0):
        return None
    return (u, v), t
