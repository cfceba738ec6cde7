"""AMASS ``.npz``: SMPL-H (``poses`` (T,156)) or SMPL-X (``poses`` (T,165)) motion capture.

Keys: ``poses`` axis-angle radians, ``trans`` (T,3) metres, ``betas`` (16,), ``gender``, and
the frame rate as ``mocap_framerate`` (SMPL-H releases) or ``mocap_frame_rate`` (SMPL-X
releases), in Hz. SMPL-H order: root, 21 body joints, 15 left-hand joints, 15 right-hand
joints (no jaw or eyes: those stay zero). SMPL-X order is BEAT2's.

Real SMPL-X releases also carry ``markers_latent_vids``, an object array (it would need
pickle), next to ``markers_latent``, ``latent_labels``, ``root_orient``, ``pose_body``,
``pose_hand``, ``pose_jaw``, ``pose_eye``, ``num_betas``, ``surface_model_type`` and
``mocap_time_length``: only the keys this reader needs are loaded, so those never stop it
and nothing is unpickled.

AMASS is **Z-up** (a subject standing upright has ``root_orient`` near (pi/2, 0, 0) and,
facing the viewer, faces -Y). The reader turns it into the project's Y-up, facing +Z
frame by rotating the whole world by -pi/2 about x: the root rotation is pre-multiplied
and the translation is rotated about the origin with SMPL-X's pelvis offset accounted
for (``trans' = R (trans + J0) - J0``, J0 the rest pelvis joint of the body model the clip
is shown with: the default body unless ``body_model`` is given).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vr_study.errors import InputError
from vr_study.motion import POSE_DIM, MotionClip, MotionMeta
from vr_study.orientation import Z_UP_TO_Y_UP, rotate_world

from ._npz import check_shape, fps_value, load_arrays, require, text

if TYPE_CHECKING:  # pragma: no cover
    from vr_study.body import BodyModel

SMPLH_DIM = 156
#: The keys read; anything else in the file (object arrays included) is never loaded.
KEYS = ("poses", "trans", "betas", "gender", "mocap_framerate", "mocap_frame_rate", "surface_model_type",
        "expressions")


def matches(path: Path, keys: set[str]) -> bool:
    return "poses" in keys and ("mocap_framerate" in keys or "surface_model_type" in keys)


def read(path: Path, body_model: "BodyModel | None" = None, **_: object) -> MotionClip:
    """Read an AMASS file and convert it from Z-up to Y-up (see the module docstring).

    ``body_model``: the model whose rest pelvis joint (for the clip's betas) places the
    rotated body; default: the project's default body.
    """
    path = Path(path)
    arrays = load_arrays(path, KEYS)
    poses = require(arrays, path, "poses", "an AMASS file needs 'poses' (T, 156) or (T, 165)")
    if poses.ndim != 2 or poses.shape[1] not in (SMPLH_DIM, POSE_DIM):
        raise InputError(path, "poses", f"has shape {poses.shape}", "expected (T, 156) SMPL-H or (T, 165) SMPL-X")
    T = poses.shape[0]
    if T == 0:
        raise InputError(path, "poses", "has zero frames", "give a clip with at least one frame")
    model = "smplh" if poses.shape[1] == SMPLH_DIM else "smplx"
    if model == "smplh":
        full = np.zeros((T, POSE_DIM), np.float32)
        full[:, :66] = poses[:, :66]          # root + 21 body joints
        full[:, 75:165] = poses[:, 66:156]    # hands; jaw and eyes stay zero
        poses = full
    trans = require(arrays, path, "trans", "an AMASS file needs 'trans' (T, 3) in metres")
    check_shape(trans, path, "trans", (T, 3))
    betas = require(arrays, path, "betas", "") if "betas" in arrays else np.zeros(16, np.float32)
    fps = fps_value(arrays, path, ["mocap_framerate", "mocap_frame_rate"], None)
    gender = text(arrays, ["gender"], "neutral")
    if "expressions" in arrays:
        expr = require(arrays, path, "expressions", "")
        check_shape(expr, path, "expressions", (T, None))
    else:
        expr = np.zeros((T, 10), np.float32)
    clip = MotionClip.from_poses(poses, trans, expr, betas.ravel(), fps, gender,
                                 MotionMeta(method="mocap", extra={"amass_model": model}))
    if body_model is None:
        from vr_study.body import load_body_model

        body_model = load_body_model()
    pelvis = body_model.rest_joints(clip.betas)[0]
    clip.global_orient, clip.transl = rotate_world(clip.global_orient, clip.transl, Z_UP_TO_Y_UP, pelvis)
    clip.meta.extra["orientation_fix"] = "Z-up to Y-up: world rotated by -pi/2 about x"
    return clip
