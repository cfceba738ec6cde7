"""Pure camera math for stereo rendering: OpenXR poses and fields of view to GL matrices.

Conventions: right-handed, metres, Y up, the viewer looks down -Z (OpenXR and OpenGL).
Matrices are (4, 4) float32, row-major in numpy (upload with ``transpose=GL_TRUE``).
Quaternions here are (x, y, z, w) as OpenXR writes them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vr_study.rotations import quat_to_matrix as quat_to_matrix_wxyz


@dataclass(frozen=True)
class Pose:
    """A rigid pose: ``position`` (3,) metres, ``orientation`` (4,) unit quaternion (x, y, z, w)."""

    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class Fov:
    """Field of view half-angles in radians (left and down are negative), as XrFovf."""

    angle_left: float = -0.785398
    angle_right: float = 0.785398
    angle_up: float = 0.785398
    angle_down: float = -0.785398


def quat_to_matrix(q: tuple[float, float, float, float]) -> np.ndarray:
    """(x, y, z, w) unit quaternion (OpenXR's order) -> (3, 3) rotation matrix."""
    x, y, z, w = (float(v) for v in q)
    return quat_to_matrix_wxyz(np.array([w, x, y, z]))


def pose_matrix(pose: Pose) -> np.ndarray:
    """(4, 4) matrix taking points from the pose's frame to its parent frame."""
    m = np.eye(4)
    m[:3, :3] = quat_to_matrix(pose.orientation)
    m[:3, 3] = pose.position
    return m


def view_matrix(eye: Pose) -> np.ndarray:
    """(4, 4) world -> eye matrix for an eye at ``eye`` (in world/STAGE coordinates)."""
    return np.linalg.inv(pose_matrix(eye)).astype(np.float32)


def projection_matrix(fov: Fov, near_m: float = 0.05, far_m: float = 100.0) -> np.ndarray:
    """(4, 4) OpenGL clip matrix for an asymmetric frustum given as XrFovf half-angles."""
    left, right = np.tan(fov.angle_left), np.tan(fov.angle_right)
    up, down = np.tan(fov.angle_up), np.tan(fov.angle_down)
    w, h = right - left, up - down
    m = np.zeros((4, 4))
    m[0, 0] = 2.0 / w
    m[0, 2] = (right + left) / w
    m[1, 1] = 2.0 / h
    m[1, 2] = (up + down) / h
    m[2, 2] = -(far_m + near_m) / (far_m - near_m)
    m[2, 3] = -2.0 * far_m * near_m / (far_m - near_m)
    m[3, 2] = -1.0
    return m.astype(np.float32)


def stereo_eyes(head: Pose, ipd_m: float = 0.063) -> tuple[Pose, Pose]:
    """Left and right eye poses for a head pose, eyes ``ipd_m`` apart along the head's X axis."""
    r = quat_to_matrix(head.orientation)
    p = np.asarray(head.position, dtype=float)
    half = 0.5 * ipd_m * r[:, 0]
    return (Pose(tuple(p - half), head.orientation), Pose(tuple(p + half), head.orientation))


def yaw_quat(yaw_rad: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) quaternion for a rotation of ``yaw_rad`` about +Y."""
    return (0.0, float(np.sin(yaw_rad / 2)), 0.0, float(np.cos(yaw_rad / 2)))


def parse_pose(text: str) -> Pose:
    """Parse ``"x,y,z"`` or ``"x,y,z,qx,qy,qz,qw"`` (metres; unit quaternion) into a Pose."""
    parts = [float(v) for v in text.split(",")]
    if len(parts) not in (3, 7):
        raise ValueError("a head pose is 'x,y,z' or 'x,y,z,qx,qy,qz,qw'")
    q = np.asarray(parts[3:] if len(parts) == 7 else (0.0, 0.0, 0.0, 1.0), dtype=float)
    if np.linalg.norm(q) < 1e-6:
        raise ValueError("the head orientation quaternion is zero")
    q = q / np.linalg.norm(q)
    return Pose(tuple(parts[:3]), tuple(float(v) for v in q))
