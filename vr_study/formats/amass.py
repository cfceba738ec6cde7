"""AMASS ``.npz``: SMPL-H (``poses`` (T,156)) or SMPL-X (``poses`` (T,165)) motion.

Keys: ``poses``, ``trans`` (T,3) metres, ``betas`` (16,), ``gender``, and the frame rate as
``mocap_framerate`` (SMPL-H releases) or ``mocap_frame_rate`` (SMPL-X releases), in Hz.
SMPL-H order: root, 21 body joints, 15 left-hand joints, 15 right-hand joints (no jaw or
eyes: those stay zero). SMPL-X order is BEAT2's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vr_study.errors import InputError
from vr_study.motion import POSE_DIM, MotionClip, MotionMeta

from ._npz import check_shape, fps_value, load_arrays, require, scalar

SMPLH_DIM = 156


def matches(path: Path, keys: set[str]) -> bool:
    return "poses" in keys and ("mocap_framerate" in keys or "surface_model_type" in keys)


def read(path: Path, **_: object) -> MotionClip:
    arrays = load_arrays(Path(path))
    poses = require(arrays, path, "poses", "an AMASS file needs 'poses' (T, 156) or (T, 165)")
    if poses.ndim != 2 or poses.shape[1] not in (SMPLH_DIM, POSE_DIM):
        raise InputError(path, "poses", f"has shape {poses.shape}", "expected (T, 156) SMPL-H or (T, 165) SMPL-X")
    T = poses.shape[0]
    if T == 0:
        raise InputError(path, "poses", "has zero frames", "give a clip with at least one frame")
    if poses.shape[1] == SMPLH_DIM:
        full = np.zeros((T, POSE_DIM), np.float32)
        full[:, :66] = poses[:, :66]          # root + 21 body joints
        full[:, 75:165] = poses[:, 66:156]    # hands; jaw and eyes stay zero
        poses = full
    trans = require(arrays, path, "trans", "an AMASS file needs 'trans' (T, 3) in metres")
    check_shape(trans, path, "trans", (T, 3))
    betas = require(arrays, path, "betas", "") if "betas" in arrays else np.zeros(16, np.float32)
    fps = fps_value(arrays, Path(path), ["mocap_framerate", "mocap_frame_rate"], None)
    gender = str(scalar(arrays, ["gender"], "neutral"))
    if "expressions" in arrays:
        expr = require(arrays, path, "expressions", "")
        check_shape(expr, path, "expressions", (T, None))
    else:
        expr = np.zeros((T, 10), np.float32)
    model = "smplh" if arrays["poses"].shape[1] == SMPLH_DIM else "smplx"
    return MotionClip.from_poses(poses, trans, expr, betas.ravel(), fps, gender,
                                 MotionMeta(method="mocap", extra={"amass_model": model}))
