"""BEAT2 / EMAGE ``.npz``: the canonical motion layout, as EMAGE and BEAT2 write it.

Keys: ``poses`` (T,165) axis-angle radians in the order global_orient, body 21, jaw,
left eye, right eye, left hand 15, right hand 15; ``expressions`` (T,100); ``trans`` (T,3)
metres; ``betas`` (300,); ``model`` = 'smplx2020'; ``gender``; ``mocap_frame_rate`` (Hz).
We add ``vr_study_meta``: a JSON string with the clip's :class:`MotionMeta`; readers that
do not know it ignore it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vr_study.atomic import atomic_path
from vr_study.errors import InputError
from vr_study.motion import POSE_DIM, MotionClip, MotionMeta

from ._npz import check_shape, fps_value, load_arrays, require, text

NUM_EXPRESSION = 100
NUM_BETAS = 300
META_KEY = "vr_study_meta"


def matches(path: Path, keys: set[str]) -> bool:
    return "poses" in keys and ("mocap_frame_rate" in keys or META_KEY in keys or "expressions" in keys)


def read(path: Path, **_: object) -> MotionClip:
    arrays = load_arrays(Path(path))
    poses = require(arrays, path, "poses", "a BEAT2 file needs 'poses' (T, 165)")
    check_shape(poses, path, "poses", (None, POSE_DIM))
    T = poses.shape[0]
    if T == 0:
        raise InputError(path, "poses", "has zero frames", "give a clip with at least one frame")
    trans = require(arrays, path, "trans", "a BEAT2 file needs 'trans' (T, 3) in metres")
    check_shape(trans, path, "trans", (T, 3))
    expr = arrays.get("expressions")
    if expr is None:
        expr = np.zeros((T, NUM_EXPRESSION), np.float32)
    else:
        expr = require(arrays, path, "expressions", "")
        check_shape(expr, path, "expressions", (T, None))
    betas = require(arrays, path, "betas", "") if "betas" in arrays else np.zeros(NUM_BETAS, np.float32)
    fps = fps_value(arrays, Path(path), ["mocap_frame_rate", "mocap_framerate"], None)
    meta = MotionMeta(method="unknown")
    if META_KEY in arrays:
        try:
            meta = MotionMeta.from_dict(json.loads(str(arrays[META_KEY])))
        except (json.JSONDecodeError, TypeError) as e:
            raise InputError(path, META_KEY, f"is not valid JSON ({e})", "rewrite the file with vr-study") from None
    gender = text(arrays, ["gender"], "neutral")
    return MotionClip.from_poses(poses, trans, expr, betas.ravel(), fps, gender, meta)


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad the last axis of ``a`` up to ``n`` (never truncates)."""
    if a.shape[-1] >= n:
        return a
    pad = [(0, 0)] * (a.ndim - 1) + [(0, n - a.shape[-1])]
    return np.pad(a, pad)


def to_arrays(clip: MotionClip) -> dict[str, np.ndarray]:
    """The BEAT2 arrays for ``clip`` (expressions padded to 100, betas to 300)."""
    return {
        "poses": clip.poses(),
        "expressions": _pad(clip.expression.astype(np.float32), NUM_EXPRESSION),
        "trans": clip.transl.astype(np.float32),
        "betas": _pad(clip.betas.astype(np.float32).ravel(), NUM_BETAS),
        "model": np.array("smplx2020"),
        "gender": np.array(clip.gender),
        "mocap_frame_rate": np.array(int(round(clip.fps)) if float(clip.fps).is_integer() else clip.fps),
        META_KEY: np.array(json.dumps(clip.meta.to_dict(), default=str)),
    }


def write(clip: MotionClip, path: str | Path) -> None:
    """Validate and write ``clip`` to ``path`` as BEAT2 ``.npz``, atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        raise InputError(path, None, "does not end in .npz", "name the output file *.npz")
    clip.validate(str(path))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **to_arrays(clip))
