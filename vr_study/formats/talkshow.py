"""TalkSHOW ``.npy``: (N*T, 265) float, 30 Hz, columns in TalkSHOW's own order:

[0:3] jaw, [3:6] left eye, [6:9] right eye, [9:12] global_orient, [12:75] body (21 joints),
[75:120] left hand (15), [120:165] right hand (15), [165:265] expression (100).

TalkSHOW builds SMPL-X with ``flat_hand_mean=False``: its hand poses are offsets from the
body model's mean hand pose. Pass that model's ``hands_mean`` ((15,3), (15,3)) to get the
full (flat-hand convention) pose that MotionClip stores; without it the offsets are kept
as they are and ``meta.extra['hand_pose_convention']`` says so. ``--num-samples``/``sample``
pick one of the N stacked samples.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vr_study.errors import InputError
from vr_study.motion import MotionClip, MotionMeta

from ._npz import load_arrays

NUM_COLUMNS = 265
FPS = 30.0


def read(path: Path, hands_mean: tuple[np.ndarray, np.ndarray] | None = None, num_samples: int = 1,
         sample: int = 0, fps: float = FPS, **_: object) -> MotionClip:
    arr = load_arrays(Path(path))["array"]
    if arr.ndim != 2 or arr.shape[1] != NUM_COLUMNS:
        raise InputError(path, "array", f"has shape {arr.shape}", f"a TalkSHOW file holds (N*T, {NUM_COLUMNS})")
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(path, "array", f"has dtype {arr.dtype}", "expected floating point numbers")
    if arr.shape[0] == 0:
        raise InputError(path, "array", "has zero frames", "give a clip with at least one frame")
    if num_samples < 1 or arr.shape[0] % num_samples:
        raise InputError(path, "--num-samples", f"{num_samples} does not divide {arr.shape[0]} rows",
                         "give the --num_sample value TalkSHOW was run with")
    if not 0 <= sample < num_samples:
        raise InputError(path, "--sample", f"{sample} is out of range", f"choose 0..{num_samples - 1}")
    T = arr.shape[0] // num_samples
    a = arr[sample * T:(sample + 1) * T].astype(np.float32)
    poses = np.concatenate([a[:, 9:12], a[:, 12:75], a[:, 0:3], a[:, 3:6], a[:, 6:9], a[:, 75:120], a[:, 120:165]],
                           axis=1)
    convention = "offset from model hand mean (flat_hand_mean=False)"
    if hands_mean is not None:
        left, right = (np.asarray(h, np.float32).reshape(45) for h in hands_mean)
        poses[:, 75:120] += left
        poses[:, 120:165] += right
        convention = "flat"
    return MotionClip.from_poses(poses, np.zeros((T, 3), np.float32), a[:, 165:265], np.zeros(300, np.float32),
                                 fps, "neutral",
                                 MotionMeta(method="talkshow", extra={"hand_pose_convention": convention,
                                                                      "sample": sample}))
