"""AMUSE ``.npz``: ``poses`` (T,55,3) axis-angle radians in SMPL-X joint order, ``trans``
(T,3) metres, ``betas``, ``gender``, ``mocap_frame_rate`` (30 Hz).

As AMUSE (kiranchhatre/amuse 1978d3a) writes it, ``<subject>_<name>_motion_smplx.npz``
(``models/diffusion/viz/visualizer.py:215-225``): ``poses`` float32 (T,55,3) with the jaw
zeroed (``visualizer.py:196-197``), ``trans`` all zeros when its config sets ``zero_trans``
(``visualizer.py:200-201``), ``betas`` of shape (300,) and ``gender`` of the BEAT speaker it
imitates (``dm/utils/ldm_evals.py:67-71``, e.g. ``wayne`` at ``ldm_evals.py:1041``),
``mocap_frame_rate`` a float64 0-d array. Its bodies are already Y-up facing +Z (its Blender
script turns the armature by 90 degrees about x into Blender's Z-up,
``models/diffusion/viz/render_smpl.py:104``), so nothing is rotated. AMUSE has no face:
expressions come back as zeros (pair the clip with a face from FaceFormer).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vr_study.errors import InputError
from vr_study.motion import NUM_JOINTS, MotionClip, MotionMeta

from ._npz import check_shape, fps_value, load_arrays, require, text


def matches(path: Path, keys: set[str]) -> bool:
    if "poses" not in keys:
        return False
    with np.load(path, allow_pickle=False) as z:
        try:
            return z["poses"].ndim == 3
        except ValueError:
            return False


def read(path: Path, **_: object) -> MotionClip:
    arrays = load_arrays(Path(path))
    poses = require(arrays, path, "poses", "an AMUSE file needs 'poses' (T, 55, 3)")
    check_shape(poses, path, "poses", (None, NUM_JOINTS, 3))
    T = poses.shape[0]
    if T == 0:
        raise InputError(path, "poses", "has zero frames", "give a clip with at least one frame")
    trans = require(arrays, path, "trans", "") if "trans" in arrays else np.zeros((T, 3), np.float32)
    check_shape(trans, path, "trans", (T, 3))
    betas = require(arrays, path, "betas", "") if "betas" in arrays else np.zeros(10, np.float32)
    fps = fps_value(arrays, Path(path), ["mocap_frame_rate", "mocap_framerate"], 30.0)
    gender = text(arrays, ["gender"], "neutral")
    return MotionClip.from_poses(poses.reshape(T, -1), trans, np.zeros((T, 100), np.float32), betas.ravel(),
                                 fps, gender, MotionMeta(method="amuse"))
