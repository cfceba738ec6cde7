"""What a rendered avatar scene contains, as plain data: floor, lights, colours, camera.

Nothing here imports OpenGL; :mod:`vr_study.render.gl_scene` turns a :class:`SceneSpec`
and a :class:`CameraSpec` into a pyrender scene, and the XR renderer can build its own
scene from the same description (every field is a float, a string or a tuple of floats,
so :func:`dataclasses.asdict` gives JSON).

Coordinates are SMPL-X's: metres, Y up, the body faces +Z. Colours are linear RGB in [0, 1].
"""
from __future__ import annotations

import numpy as np
from dataclasses import dataclass

Vec3 = tuple[float, float, float]
RGB = tuple[float, float, float]


@dataclass(frozen=True)
class LightSpec:
    """One light. ``kind`` is 'directional' (shines along ``direction``) or 'point' (at ``position``).

    ``intensity`` is in pyrender's units: W/m^2 for directional lights, candela for point lights.
    """

    kind: str
    color: RGB = (1.0, 1.0, 1.0)
    intensity: float = 1.0
    direction: Vec3 = (0.0, -1.0, 0.0)
    position: Vec3 = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class MaterialSpec:
    """A metallic-roughness material: base colour (linear RGB), metallic and roughness in [0, 1]."""

    base_color: RGB
    metallic: float = 0.0
    roughness: float = 0.7


@dataclass(frozen=True)
class FloorSpec:
    """A square floor of side ``size_m`` metres whose top surface lies at height ``y_m``."""

    y_m: float
    size_m: float = 8.0
    thickness_m: float = 0.02
    material: MaterialSpec = MaterialSpec((0.50, 0.52, 0.55), roughness=0.9)


#: Soft studio lighting: a key light from the front left, a fill from the front right, a
#: rim light from behind and a soft top light, plus ambient light, so no side goes black.
DEFAULT_LIGHTS: tuple[LightSpec, ...] = (
    LightSpec("directional", (1.0, 0.97, 0.92), 2.0, direction=(0.45, -0.55, -0.70)),   # key
    LightSpec("directional", (0.92, 0.95, 1.0), 0.7, direction=(-0.55, -0.25, -0.80)),  # fill
    LightSpec("directional", (1.0, 1.0, 1.0), 1.0, direction=(0.0, -0.40, 0.92)),      # rim
    LightSpec("directional", (1.0, 1.0, 1.0), 0.4, direction=(0.0, -1.0, 0.0)),        # top
)


@dataclass(frozen=True)
class SceneSpec:
    """Background, ambient light, lights, the avatar's material and an optional floor."""

    background: RGB = (0.90, 0.91, 0.93)
    ambient: RGB = (0.22, 0.22, 0.24)
    lights: tuple[LightSpec, ...] = DEFAULT_LIGHTS
    body_material: MaterialSpec = MaterialSpec((0.80, 0.74, 0.68), roughness=0.6)
    floor: FloorSpec | None = None


#: The floor sits this far below the lowest vertex, so soles never tie in depth with it.
FLOOR_GAP_M = 0.002


def floor_height_m(vertices: np.ndarray) -> float:
    """Floor height (metres) under a body: just below its lowest vertex (V, 3)."""
    return float(np.asarray(vertices)[..., 1].min()) - FLOOR_GAP_M


def default_scene(floor_y_m: float | None) -> SceneSpec:
    """The default avatar scene; a floor at height ``floor_y_m`` metres (None: no floor)."""
    return SceneSpec(floor=None if floor_y_m is None else FloorSpec(float(floor_y_m)))


@dataclass(frozen=True)
class CameraSpec:
    """A pinhole camera at ``position`` looking at ``target`` (metres), vertical field of view in radians."""

    position: Vec3
    target: Vec3
    up: Vec3 = (0.0, 1.0, 0.0)
    yfov_rad: float = 0.6
    znear_m: float = 0.05
    zfar_m: float = 50.0
    aspect: float = 4.0 / 3.0  # width / height

    def pose_matrix(self) -> np.ndarray:
        """(4, 4) camera-to-world matrix in the OpenGL convention (the camera looks along -Z)."""
        eye = np.asarray(self.position, np.float64)
        back = eye - np.asarray(self.target, np.float64)
        back /= np.linalg.norm(back)
        right = np.cross(np.asarray(self.up, np.float64), back)
        right /= np.linalg.norm(right)
        up = np.cross(back, right)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, back, eye
        return pose


    def project(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """Pixel coordinates (N, 2) as (column, row) of world points (N, 3) metres, top-left origin."""
        pose = self.pose_matrix()
        p = (np.asarray(points, np.float64).reshape(-1, 3) - pose[:3, 3]) @ pose[:3, :3]  # camera frame
        t = np.tan(self.yfov_rad / 2.0)
        depth = -p[:, 2]
        x_ndc = p[:, 0] / depth / (t * self.aspect)
        y_ndc = p[:, 1] / depth / t
        return np.stack([(x_ndc + 1.0) / 2.0 * width, (1.0 - y_ndc) / 2.0 * height], axis=1)
