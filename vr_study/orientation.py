"""Which way a clip's body is up and which way it faces, and moving whole clips between frames.

The project's one convention (SMPL-X's): metres, **Y up**, and a body that faces its
camera or viewer faces **+Z** (the subject's left is +X). Every reader in
:mod:`vr_study.formats` returns clips in this convention; :func:`orientation_warnings`
tells a user when a clip breaks it (upside down, lying, facing away), which is what a
camera-frame (y down) or Z-up source imported as is looks like.

Pure functions on numpy arrays. Rotations are axis-angle in radians, positions in metres.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vr_study.rotations import axis_angle_to_matrix, matrix_to_axis_angle

if TYPE_CHECKING:  # pragma: no cover
    from vr_study.motion import MotionClip

#: Rotation that turns a camera frame (x right, y down, z into the scene: OpenCV's, used by
#: TalkSHOW and PIXIE) into Y-up: pi about x. A body that faces the camera ends up facing +Z.
CAMERA_TO_Y_UP = np.diag([1.0, -1.0, -1.0])

#: Rotation that turns a Z-up world (AMASS, Blender; the subject faces -Y when it faces the
#: viewer) into Y-up facing +Z: -pi/2 about x.
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

#: Joints from the pelvis to the head in SMPL-X order: pelvis, spine1, spine2, spine3, neck, head.
SPINE_CHAIN = (0, 3, 6, 9, 12, 15)

#: Largest angle (degrees) between the body's up direction and +Y that still counts as upright;
#: beyond 180 minus it the body is upside down, in between it is lying.
UPRIGHT_MAX_DEG = 45.0
#: Largest angle (degrees) between the facing direction on the ground and +Z that counts as
#: facing the viewer; beyond 180 minus it the body faces away, in between it is sideways.
FACING_MAX_DEG = 45.0
#: Below this length the frames' mean facing direction on the ground has no clear direction.
MIN_FACING_CONSISTENCY = 0.25


@dataclass(frozen=True)
class Orientation:
    """A clip's mean body directions in its world frame (unit vectors) and what they mean.

    ``up``: pelvis-to-head direction (3,). ``facing``: the direction the pelvis faces,
    projected onto the ground (y = 0) and normalised (3,); zeros when it has no clear
    direction. ``posture``: 'upright', 'upside down' or 'lying'. ``facing_word``:
    'viewer (+Z)', 'away (-Z)', 'sideways (+X)', 'sideways (-X)', 'up or down' (the body's
    front points along y) or 'varies' (it turns around during the clip).
    ``up_angle_deg``: angle between ``up`` and +Y.
    """

    up: np.ndarray
    facing: np.ndarray
    posture: str
    facing_word: str
    up_angle_deg: float

    def to_dict(self) -> dict:
        return {"up": [round(float(v), 4) for v in self.up], "posture": self.posture,
                "up_angle_deg": round(self.up_angle_deg, 2),
                "facing": [round(float(v), 4) for v in self.facing], "facing_word": self.facing_word}


def _spine_offsets() -> np.ndarray:
    """(5, 3) rest offsets (metres) of spine1, spine2, spine3, neck and head from their parents."""
    from vr_study.body.skeleton import default_rest_joints

    joints, _ = default_rest_joints()
    chain = joints[list(SPINE_CHAIN)]
    return chain[1:] - chain[:-1]


def body_directions(global_orient: np.ndarray, body_pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame up and facing directions of SMPL-X poses (no translation needed).

    global_orient: (T, 3) axis-angle radians; body_pose: (T, 21, 3). Up is the unit vector
    from the pelvis to the head by forward kinematics along the spine (pelvis, spine1-3, neck,
    head) with the default body's rest skeleton, so a bent spine counts. Facing is the
    pelvis rotation applied to +Z (the rest body's front). Returns ``(up (T, 3), facing (T, 3))``.
    """
    go = np.asarray(global_orient, np.float64).reshape(-1, 3)
    bp = np.asarray(body_pose, np.float64).reshape(len(go), -1, 3)
    rots = axis_angle_to_matrix(np.concatenate([go[:, None], bp[:, [j - 1 for j in SPINE_CHAIN[1:-1]]]], axis=1))
    offsets = _spine_offsets()
    world = rots[:, 0]
    head = world @ offsets[0]
    for k in range(1, len(offsets)):
        world = world @ rots[:, k]
        head = head + world @ offsets[k]
    up = head / np.maximum(np.linalg.norm(head, axis=-1, keepdims=True), 1e-12)
    facing = rots[:, 0, :, 2]  # R @ (0, 0, 1)
    return up, facing


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0))))


def classify(up: np.ndarray, facing: np.ndarray) -> Orientation:
    """Name mean directions: ``up`` (3,) and ``facing`` (3,) (neither need be unit length).

    ``facing`` is projected onto the ground; a projection shorter than
    :data:`MIN_FACING_CONSISTENCY` (times the length of ``facing`` before the mean was taken,
    i.e. 1 for unit vectors) has no clear direction.
    """
    up = np.asarray(up, np.float64)
    u = up / max(float(np.linalg.norm(up)), 1e-12)
    angle = _angle_deg(u, np.array([0.0, 1.0, 0.0]))
    posture = ("upright" if angle <= UPRIGHT_MAX_DEG else
               "upside down" if angle >= 180.0 - UPRIGHT_MAX_DEG else "lying")
    f = np.asarray(facing, np.float64).copy()
    full = float(np.linalg.norm(f))
    f[1] = 0.0
    ground = float(np.linalg.norm(f))
    if ground < MIN_FACING_CONSISTENCY:
        word = "up or down" if full >= 0.5 else "varies"
        f = np.zeros(3)
    else:
        f /= ground
        a = _angle_deg(f, np.array([0.0, 0.0, 1.0]))
        word = ("viewer (+Z)" if a <= FACING_MAX_DEG else "away (-Z)" if a >= 180.0 - FACING_MAX_DEG
                else "sideways (+X)" if f[0] > 0 else "sideways (-X)")
    return Orientation(up=u, facing=f, posture=posture, facing_word=word, up_angle_deg=angle)


def clip_orientation(clip: "MotionClip") -> Orientation:
    """The clip's orientation: the mean over frames of its up and facing directions, named."""
    up, facing = body_directions(clip.global_orient, clip.body_pose)
    return classify(up.mean(axis=0), facing.mean(axis=0))


def _vec(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{round(float(x), 2) + 0.0:.2f}" for x in v) + ")"  # + 0.0: no "-0.00"


def orientation_warnings(clip: "MotionClip") -> list[str]:
    """One line per way ``clip`` breaks the Y-up, facing +Z convention (empty when it keeps it).

    Warns when the body is upside down, lying, or faces away from the viewer (-Z); each
    line says what was found and how to fix it. A clip facing sideways or turning around
    is not warned about (it may be meant).
    """
    o = clip_orientation(clip)
    up = _vec(o.up)
    out = []
    if o.posture == "upside down":
        out.append(f"the body is upside down (head below pelvis, up direction {up}): the source is probably "
                   "in a camera frame with y down; read it with its own format (--from talkshow or pixie) "
                   "or rotate it with `vr-study motion convert --rotate x:180`")
    elif o.posture == "lying":
        out.append(f"the body is lying (up direction {up}, {o.up_angle_deg:.0f} degrees from +Y): the source "
                   "is probably Z-up (AMASS, Blender); read it with --from amass or rotate it with "
                   "`vr-study motion convert --rotate x:-90`")
    if o.facing_word == "away (-Z)":
        fix = ("the rotation that fixes the up direction may fix this too" if o.posture != "upright"
               else "rotate it with `vr-study motion convert --rotate y:180`")
        out.append(f"the body faces away from the viewer (facing {_vec(o.facing)}, -Z; the viewer is at +Z): {fix}")
    return out


def rotate_root(global_orient: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Pre-multiply every root rotation by ``rotation`` (3, 3): the body turns about its pelvis.

    global_orient: (T, 3) axis-angle radians; returns (T, 3) float32. Right for sources
    without a world translation (TalkSHOW, PIXIE: translation zero).
    """
    go = np.asarray(global_orient, np.float64).reshape(-1, 3)
    R = np.asarray(rotation, np.float64)
    return matrix_to_axis_angle(R[None] @ axis_angle_to_matrix(go)).astype(np.float32)


def rotate_world(global_orient: np.ndarray, transl: np.ndarray, rotation: np.ndarray,
                 rest_pelvis_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate whole posed bodies about the world origin: new root rotation and translation.

    SMPL-X rotates the body about its rest pelvis joint ``J0`` (3,) metres, which is not at
    the origin, so the pelvis sits at ``J0 + transl``. Rotating the world by ``R`` moves it
    to ``R (J0 + transl)``: the new translation is ``R (transl + J0) - J0`` and the new root
    rotation ``R @ root``. global_orient, transl: (T, 3). Returns float32 (T, 3), (T, 3).
    """
    R = np.asarray(rotation, np.float64)
    J0 = np.asarray(rest_pelvis_m, np.float64).reshape(3)
    t = np.asarray(transl, np.float64).reshape(-1, 3)
    new_t = (t + J0) @ R.T - J0
    return rotate_root(global_orient, R), new_t.astype(np.float32)


def axis_rotation(axis: str, degrees: float) -> np.ndarray:
    """(3, 3) rotation of ``degrees`` about the world ``axis`` ('x', 'y' or 'z'), right-handed."""
    idx = {"x": 0, "y": 1, "z": 2}[axis]
    aa = np.zeros(3)
    aa[idx] = np.radians(degrees)
    return axis_angle_to_matrix(aa)
