"""Camera framing: where to put a camera so that the whole body, the upper body or the face fills the image.

Pure functions on joint and vertex positions (metres, SMPL-X coordinates: Y up). The
camera looks at the front of the body, whichever way the body is turned about the
vertical axis, and stays still for the whole clip (it frames every sampled frame).
"""
from __future__ import annotations

import math

import numpy as np

from vr_study.errors import InputError
from vr_study.render.scene import CameraSpec

VIEWS = ("full", "upper", "face")

#: SMPL-X joint indices used for framing.
PELVIS, LEFT_HIP, RIGHT_HIP, NECK, HEAD, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 1, 2, 12, 15, 16, 17
LEFT_EYE, RIGHT_EYE = 23, 24

#: The face view frames the same box in every panel, whatever the clip or body does: this
#: height and width (metres), centred this far below the eyes' midpoint (the middle of an
#: adult face from hairline to chin), so faces in side-by-side panels share one scale.
FACE_FRAME_HEIGHT_M = 0.30
FACE_FRAME_WIDTH_M = 0.24
FACE_CENTRE_BELOW_EYES_M = 0.025

#: Vertical field of view (radians), margin (fraction of the framed size) and camera
#: elevation (radians above the target, looking down) of each view.
VIEW_SETTINGS: dict[str, dict[str, float]] = {
    "full": {"yfov_rad": 0.60, "margin": 0.10, "elevation_rad": math.radians(6.0)},
    "upper": {"yfov_rad": 0.50, "margin": 0.10, "elevation_rad": math.radians(3.0)},
    "face": {"yfov_rad": 0.35, "margin": 0.12, "elevation_rad": 0.0},
}


def check_view(view: str) -> str:
    """Return ``view`` if it is one of :data:`VIEWS`, else raise :class:`InputError`."""
    if view not in VIEWS:
        raise InputError(None, "--view", f"'{view}' is not a known view", f"use one of {', '.join(VIEWS)}")
    return view


def facing_yaw_rad(joints: np.ndarray) -> float:
    """Heading of the body about +Y (radians; 0 = facing +Z) from hips and shoulders.

    ``joints`` (T, 55, 3) or (55, 3), metres; the heading of the mean left-right axis.
    """
    j = np.asarray(joints, np.float64).reshape(-1, joints.shape[-2], 3)
    left = (j[:, LEFT_HIP] - j[:, RIGHT_HIP]) + (j[:, LEFT_SHOULDER] - j[:, RIGHT_SHOULDER])
    left = left.mean(axis=0)
    forward = np.cross(left, [0.0, 1.0, 0.0])  # left x up = forward
    if math.hypot(forward[0], forward[2]) < 1e-6:
        return 0.0
    return math.atan2(forward[0], forward[2])


def _rot_y(angle_rad: float) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def frame_camera(view: str, joints: np.ndarray, vertices: np.ndarray, aspect: float) -> CameraSpec:
    """A still camera framing ``view`` of a body over the given frames.

    ``joints`` (T, 55, 3) and ``vertices`` (T, V, 3) in metres (a sample of the clip's frames
    is enough); ``aspect`` = image width / height. The face view ignores the vertices: it
    frames :data:`FACE_FRAME_HEIGHT_M` around the face (from the eye joints) in every panel.
    """
    check_view(view)
    settings = VIEW_SETTINGS[view]
    joints = np.asarray(joints, np.float64).reshape(-1, joints.shape[-2], 3)
    vertices = np.asarray(vertices, np.float64).reshape(-1, vertices.shape[-2], 3)
    yaw = facing_yaw_rad(joints)
    to_local = _rot_y(-yaw)  # body-local frame: the body faces +Z
    local_v = vertices @ to_local.T
    local_j = joints @ to_local.T

    tan_half = math.tan(settings["yfov_rad"] / 2.0)
    if view == "face":  # centred on the face from the eye joints, at one fixed scale
        eyes = (local_j[:, LEFT_EYE] + local_j[:, RIGHT_EYE]) / 2.0
        center = eyes.mean(axis=0) - np.array([0.0, FACE_CENTRE_BELOW_EYES_M, 0.0])
        distance = max(FACE_FRAME_HEIGHT_M / 2.0 / tan_half, FACE_FRAME_WIDTH_M / 2.0 / (tan_half * aspect))
    else:
        if view == "full":
            pts = local_v.reshape(-1, 3)
        else:
            low = local_j[:, PELVIS, 1].mean() - 0.12
            pts = local_v.reshape(-1, 3)
            pts = pts[pts[:, 1] >= low]
            if len(pts) == 0:
                pts = local_v.reshape(-1, 3)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        center = (lo + hi) / 2.0
        height = (hi[1] - lo[1]) * (1.0 + 2.0 * settings["margin"])
        width = (hi[0] - lo[0]) * (1.0 + 2.0 * settings["margin"])
        distance = max(height / 2.0 / tan_half, width / 2.0 / (tan_half * aspect)) + (hi[2] - center[2])
    elevation = settings["elevation_rad"]
    eye_local = center + np.array([0.0, distance * math.sin(elevation), distance * math.cos(elevation)])
    to_world = _rot_y(yaw)
    eye = to_world @ eye_local
    target = to_world @ center
    return CameraSpec(position=tuple(float(x) for x in eye), target=tuple(float(x) for x in target),
                      yfov_rad=settings["yfov_rad"], znear_m=max(0.01, 0.05 * distance),
                      zfar_m=distance * 10.0 + 20.0, aspect=float(aspect))
